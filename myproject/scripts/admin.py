"""``myproject-admin CONFIG COMMAND ...``: manage users and tokens.

    myproject-admin development.ini add-user alice [--admin]
    myproject-admin development.ini list-users
    myproject-admin development.ini new-token alice [--label phone]
    myproject-admin development.ini list-tokens alice
    myproject-admin development.ini revoke-token alice TOKEN_ID
    myproject-admin development.ini remove-user alice
    myproject-admin development.ini evolve

``evolve`` brings a database written by an earlier version to the stored
layout this version reads (myproject/evolve.py); the server refuses to
start on one that needs it.

A new token is printed once and never stored in clear.  It logs nothing
but errors unless ``-v`` (then the .ini file's logging applies).
"""
import argparse
import logging
import os
import sys

import transaction
from pyramid.paster import bootstrap, setup_logging

from ..request import Request
from ..resources import create_user, root_factory, serve_site, zodb_databases
from ..settings import app_settings
from ..startup import DatabaseLocked, StartupError


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="myproject-admin", description="Manage users and their tokens.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log as the .ini file says (else errors only)")
    parser.add_argument("config_uri", help="the .ini file, e.g. development.ini")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add-user", help="create a user, print a token")
    add.add_argument("user_id")
    add.add_argument("--admin", action="store_true",
                     help="the user may reach every tree and the admin API")
    commands.add_parser("list-users", help="list users")
    new = commands.add_parser("new-token", help="print a new token for a user")
    new.add_argument("user_id")
    new.add_argument("--label", default="")
    tokens = commands.add_parser("list-tokens", help="list a user's tokens")
    tokens.add_argument("user_id")
    revoke = commands.add_parser("revoke-token", help="revoke a token")
    revoke.add_argument("user_id")
    revoke.add_argument("token_id")
    remove = commands.add_parser("remove-user", help="delete a user")
    remove.add_argument("user_id")
    commands.add_parser("evolve", help="bring the database's stored layout "
                        "up to this version's")
    return parser.parse_args(argv)


def run(args, site, settings, out):
    """Carry out one command on the site; return the exit status.

    settings are the app's parsed ``Settings``."""
    users = site.users
    if args.command == "evolve":
        return _evolve(site, out)
    if args.command == "list-users":
        for user in users.values():
            flag = "  (admin)" if user.admin else ""
            print(f"{user.id}  generation {user.tree.generation}{flag}",
                  file=out)
        return 0
    if args.command == "add-user":
        try:
            user = create_user(users, settings, args.user_id,
                               admin=args.admin)
        except ValueError as e:
            return _fail(str(e))
        except KeyError:
            return _fail(f"user {args.user_id!r} exists already")
        print(user.new_token("created with the user"), file=out)
        return 0
    user = users.get(args.user_id)
    if user is None:
        return _fail(f"no user {args.user_id!r}")
    if args.command == "new-token":
        print(user.new_token(args.label), file=out)
    elif args.command == "list-tokens":
        for token in user.tokens.values():
            used = token.last_used.isoformat() if token.last_used else "never"
            print(f"{token.id}  created {token.created.isoformat()}  "
                  f"last used {used}  {token.label}", file=out)
    elif args.command == "revoke-token":
        try:
            user.revoke_token(args.token_id)
        except KeyError:
            return _fail(f"user {args.user_id!r} has no token {args.token_id!r}")
        print(f"revoked {args.token_id}", file=out)
    elif args.command == "remove-user":
        users.remove(user.id)
        print(f"removed {user.id}", file=out)
    return 0


def _evolve(site, out):
    from ..evolve import LATEST, evolve, layout_of, too_new
    before = layout_of(site)
    if before > LATEST:
        return _fail(f"cannot start: {too_new(before)}")
    ran = evolve(site)
    if not ran:
        print(f"the database is at layout {before}: nothing to do", file=out)
    for number, what, result in ran:
        print(f"layout {number}: {what} ({result})", file=out)
    if ran:
        print(f"evolved from layout {before} to {LATEST}", file=out)
    return 0


def _fail(message):
    print(f"myproject-admin: {message}", file=sys.stderr)
    return 1


def main(argv=None, out=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    path = args.config_uri.split("#", 1)[0]
    if "://" not in path and not os.path.isfile(path):
        return _fail(f"no such file: {path}")
    if args.verbose:
        setup_logging(args.config_uri)
        return _main(args, out)
    logging.disable(logging.WARNING)  # errors only
    try:
        return _main(args, out)
    finally:
        logging.disable(logging.NOTSET)


def _main(args, out):
    try:
        # evolve opens a database that main() would refuse to serve.
        evolving = args.command == "evolve"
        # A manager of its own, not the app's explicit one: bootstrap runs
        # the root factory, which creates the Site of a new database,
        # before any transaction begins.
        request = Request.blank(
            "/", environ={"tm.manager": transaction.TransactionManager()})
        env = bootstrap(args.config_uri, request=request,
                        options={"myproject.evolving": "1"}
                        if evolving else None)
    except DatabaseLocked as exc:
        return _fail(f"cannot start: {exc}, or use the users API "
                     "(POST /users)")
    except StartupError as exc:
        return _fail(f"cannot start: {exc}")
    registry = env["registry"]
    try:
        request = env["request"]
        with request.tm:
            # Looked up again inside the transaction: beginning it aborted
            # the one bootstrap ran the root factory in.
            serve_site(request, None)
            status = run(args, root_factory(request), app_settings(registry),
                         out or sys.stdout)
            if status:
                request.tm.abort()
    finally:
        env["closer"]()
        service = getattr(registry, "push_service", None)
        if service is not None:
            service.stop()
        for db in zodb_databases(registry).values():
            db.close()
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
