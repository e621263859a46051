"""``python -m myproject.scripts.hash_password``: hash the admin password.

Prints the value for ``myproject.admin.password_hash`` (see the admin
pages in README.txt)::

    $ python -m myproject.scripts.hash_password
    Password:
    Again:
    scrypt:16384:8:1:<salt>:<hash>

With ``--stdin`` the password is read from the first line of standard
input instead of the terminal.  The hashing is ``myproject.passwords``'.
"""
import argparse
import getpass
import sys

from ..passwords import hash_password


def main(argv=None, stdin=None, out=None):
    parser = argparse.ArgumentParser(
        prog="python -m myproject.scripts.hash_password",
        description="Print a hash for myproject.admin.password_hash.")
    parser.add_argument("--stdin", action="store_true",
                        help="read the password from standard input")
    args = parser.parse_args(argv)
    stdin = sys.stdin if stdin is None else stdin
    out = sys.stdout if out is None else out
    if args.stdin:
        password = stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("the passwords differ", file=sys.stderr)
            return 1
    if not password:
        print("the password is empty", file=sys.stderr)
        return 1
    print(hash_password(password), file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
