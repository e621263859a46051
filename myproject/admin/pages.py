"""The admin pages and their actions (see the package's doc for the URLs)."""
import datetime
import itertools
import logging
import re

from pyramid.httpexceptions import HTTPSeeOther
from pyramid_zodbconn import get_connection

from ..generationalset import GSet
from ..push.sender import token_hash
from ..push.wiring import devices_of
from ..resources import DocumentNode, SetNode, Site, User, Users, create_user
from ..settings import app_settings
from .helpers import (
    admin_view,
    audit,
    breadcrumbs,
    page,
    pretty_json,
    short_token,
    size_text,
    template,
    when,
)

log = logging.getLogger(__name__)

USERS_PAGE_SIZE = 50
SET_PAGE_SIZE = 100
_PAGE = re.compile(r"[0-9]{1,6}\Z")
OUTLINE_PER_SET = 50      # members shown per set in a tree outline
OUTLINE_BUDGET = 500      # members shown in one outline at most
DOCUMENT_SAMPLE = 200     # users whose trees the dashboard counts
RECENT_TRANSACTIONS = 20


# Dashboard

@admin_view(context=Site, name="admin", request_method="GET",
            renderer=template("dashboard"))
def dashboard(context, request):
    """Counts, the database, recent transactions, push counters."""
    db = get_connection(request).db()
    dispatcher = getattr(request.registry, "push_dispatcher", None)
    return page(
        request, "Dashboard",
        user_count=len(context.users),
        documents=count_documents(context.users),
        database=database_summary(db),
        transactions=recent_transactions(db),
        push=None if dispatcher is None else sorted(dispatcher.stats().items()),
        senders=_senders(dispatcher),
    )


def count_documents(users, sample=None):
    """Return {'count', 'estimated', 'sampled'}: documents in the trees.

    Counts the trees of the first ``sample`` users (id order) and
    extrapolates to the rest.  A shared document counts in each tree.
    """
    sample = DOCUMENT_SAMPLE if sample is None else sample
    total = len(users)
    counted = sampled = 0
    for user in itertools.islice(users.values(), sample):
        counted += _documents_in(user.tree)
        sampled += 1
    estimated = sampled < total
    count = round(counted * total / sampled) if estimated else counted
    return {"count": count, "estimated": estimated, "sampled": sampled}


def _documents_in(gset):
    count = 0
    for ob in gset:
        count += _documents_in(ob) if isinstance(ob, GSet) else 1
    return count


def database_summary(db):
    try:
        size = size_text(db.getSize())
    except Exception:  # some storages cannot tell
        size = "unknown"
    return {"name": db.database_name, "storage": db.getName(), "size": size}


def recent_transactions(db, count=RECENT_TRANSACTIONS):
    """Return the latest transactions (newest first), or None if not kept."""
    try:
        if not db.supportsUndo():  # history-free RelStorage keeps none
            return None
        log_entries = db.undoLog(0, count)
    except Exception:
        return None
    return [{
        "time": datetime.datetime.fromtimestamp(
            entry["time"], datetime.timezone.utc).strftime(
                "%Y-%m-%d %H:%M:%S UTC"),
        "user": _text(entry.get("user_name", "")),
        "description": _text(entry.get("description", "")),
    } for entry in log_entries]


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _senders(dispatcher):
    senders = getattr(dispatcher, "senders", None)
    if not isinstance(senders, dict):
        return []
    return sorted((platform, type(sender).__name__)
                  for platform, sender in senders.items())


# Users

@admin_view(context=Users, name="admin", request_method="GET",
            renderer=template("users"))
def users_page(context, request):
    """Users in id order: a prefix search, a page at a time."""
    return users_values(request, context, request.GET.get("q", "").strip(),
                        request.GET.get("start", ""))


def users_values(request, users, prefix="", start="", **values):
    """Return the users page's values: a page of users from start on."""
    rows, next_start = users_from(users, prefix, start)
    next_url = None
    if next_start is not None:
        query = {"start": next_start, **({"q": prefix} if prefix else {})}
        next_url = request.resource_url(users, "@@admin", query=query)
    return page(
        request, "Users", breadcrumbs=breadcrumbs(request, users),
        prefix=prefix, total=len(users), paged=bool(start),
        users=[user_row(request, user) for user in rows], next_url=next_url,
        create_url=request.resource_url(users, "@@admin-create"), **values)


def users_from(users, prefix="", start="", size=USERS_PAGE_SIZE):
    """Return (up to size users with the prefix from start on, next start)."""
    low = max(prefix, start) or None
    rows = []
    for user in users.values(min=low):
        if not user.id.startswith(prefix):
            break
        if len(rows) == size:
            return rows, user.id
        rows.append(user)
    return rows, None


def user_row(request, user):
    return {
        "id": user.id,
        "url": request.resource_url(user, "@@admin"),
        "admin": user.admin,
        "generation": user.tree.generation,
        "created": when(getattr(user, "created", None)),
        "tokens": len(user.tokens),
        "devices": len(user.devices),
    }


@admin_view(context=Users, name="admin-create", request_method="POST",
            renderer=template("created"))
def user_create(context, request):
    """Create a user with the configured sets; show its token once."""
    user_id = request.POST.get("id", "").strip()
    admin = request.POST.get("admin") == "on"
    errors = []
    try:
        user = create_user(context, app_settings(request.registry), user_id,
                           admin=admin)
    except ValueError as e:
        errors.append(f"Cannot create that user: {e}.")
        request.response.status = 422
    except KeyError:
        errors.append(f"User {user_id!r} exists already.")
        request.response.status = 409
    if errors:
        request.override_renderer = template("users")
        return users_values(request, context, errors=errors, new_id=user_id)
    token = user.new_token("created on the admin pages")
    audit(request, f"create user {user_id}")
    return page(request, f"User {user_id} created",
                breadcrumbs=breadcrumbs(request, user), user=user_row(request, user),
                token=token)


# A user

@admin_view(context=User, name="admin", request_method="GET",
            renderer=template("user"))
def user_page(context, request):
    """The user's tree as an outline, its devices and tokens."""
    return page(
        request, f"User {context.id}",
        breadcrumbs=breadcrumbs(request, context),
        user=user_row(request, context),
        outline=outline(request, context.tree, context, budget=[OUTLINE_BUDGET]),
        devices=device_rows(context),
        tokens=[{
            "id": token.id, "label": token.label, "created": when(token.created),
            "last_used": when(token.last_used),
        } for token in context.tokens.values()],
        push_configured=hasattr(request.registry, "push_dispatcher"),
        actions={name: request.resource_url(context, "@@admin-" + name)
                 for name in ("revoke-token", "remove-device", "push")},
    )


def outline(request, gset, resource, *, start=0, count=None, budget):
    """Return the entries of gset's members (id order), sets with theirs.

    ``resource`` is the traversal resource of gset; ``budget`` (a one-item
    list) bounds the entries of the whole outline.
    """
    count = OUTLINE_PER_SET if count is None else count
    entries = []
    for member_id, member in itertools.islice(gset.items(), start, start + count):
        if budget[0] <= 0:
            break
        budget[0] -= 1
        name = str(member_id)
        url = request.resource_url(resource, name, "@@admin")
        if isinstance(member, GSet):
            child = SetNode(member, name, resource)
            children = outline(request, member, child, budget=budget)
            entries.append({
                "kind": "set", "id": name, "url": url,
                "generation": member.generation, "size": len(member),
                "children": children, "more": len(member) - len(children),
            })
        else:
            data = getattr(member, "data", member)
            holders = getattr(member, "holders", ())
            entries.append({
                "kind": "document", "id": name, "url": url,
                "json": pretty_json(data), "shared": len(holders) > 1,
            })
    return entries


def device_rows(user):
    return [{
        "platform": device.platform,
        "environment": getattr(device, "environment", ""),
        "token": short_token(token),
        "key": token_hash(token),
        "created": when(getattr(device, "created", None)),
    } for token, device in user.devices.items()]


@admin_view(context=User, name="admin-revoke-token", request_method="POST")
def token_revoke(context, request):
    """Revoke one of the user's bearer tokens."""
    token_id = request.POST.get("token_id", "")
    try:
        context.revoke_token(token_id)
    except KeyError:
        request.session.flash(f"{context.id} has no token {token_id!r}.", "error")
    else:
        audit(request, f"revoke token {token_id} of {context.id}")
        request.session.flash(f"Token {token_id} revoked.", "info")
    return HTTPSeeOther(location=request.resource_url(context, "@@admin"))


@admin_view(context=User, name="admin-remove-device", request_method="POST")
def device_remove(context, request):
    """Unregister one of the user's devices, named by a hash of its token."""
    key = request.POST.get("device", "")
    tokens = [t for t in context.devices.keys() if token_hash(t) == key]
    if not tokens:
        request.session.flash("No such device (removed already?).", "error")
    else:
        request.root.unregister_device(context, tokens[0])
        audit(request, f"remove device #{key} of {context.id}")
        request.session.flash(f"Device {short_token(tokens[0])} removed.", "info")
    return HTTPSeeOther(location=request.resource_url(context, "@@admin"))


@admin_view(context=User, name="admin-push", request_method="POST")
def test_push(context, request):
    """Send the user's devices a push of the tree's current generation."""
    dispatcher = getattr(request.registry, "push_dispatcher", None)
    if dispatcher is None:
        request.session.flash(
            "Push is not configured on this server: nothing was sent.", "error")
    elif not len(context.devices):
        request.session.flash(f"{context.id} has no devices.", "error")
    else:
        devices = devices_of(context)
        generation = context.tree.generation
        dispatcher.submit(context.id, generation, devices)
        log.info("admin test push to %s (%d devices)", context.id, len(devices))
        request.session.flash(
            f"Test push of generation {generation} queued for "
            f"{len(devices)} device(s); see the push counters on the "
            "dashboard.", "info")
    return HTTPSeeOther(location=request.resource_url(context, "@@admin"))


# Sets and documents

@admin_view(context=SetNode, name="admin", request_method="GET",
            renderer=template("set"))
def set_page(context, request):
    """A set's members, SET_PAGE_SIZE at a time, subsets outlined."""
    gset = context.gset
    page_number = request.GET.get("page", "1")
    page_number = (int(page_number) if _PAGE.match(page_number)
                   and int(page_number) else 1)
    start = (page_number - 1) * SET_PAGE_SIZE
    pages = max(1, -(-len(gset) // SET_PAGE_SIZE))
    here = request.resource_url(context, "@@admin")
    return page(
        request, f"Set {context.__name__} of {context.user.id}",
        breadcrumbs=breadcrumbs(request, context),
        gset={"id": context.__name__, "generation": gset.generation,
              "size": len(gset), "tree_generation": gset.root.generation},
        outline=outline(request, gset, context, start=start,
                        count=SET_PAGE_SIZE, budget=[OUTLINE_BUDGET]),
        page_number=page_number, pages=pages,
        previous_url=page_number > 1 and f"{here}?page={page_number - 1}",
        next_url=page_number < pages and f"{here}?page={page_number + 1}",
    )


@admin_view(context=DocumentNode, name="admin", request_method="GET",
            renderer=template("document"))
def document_page(context, request):
    """A document: its JSON, its owner and the sets holding it."""
    document = context.document
    return page(
        request, f"Document {context.__name__}",
        breadcrumbs=breadcrumbs(request, context),
        document={"id": context.__name__, "json": pretty_json(context.data),
                  "owner": document.owner, "owned": context.owned},
        holders=holder_rows(request, document),
        user=context.user.id,
        tree_generation=context.user.tree.generation,
        delete_url=request.resource_url(context, "@@admin-delete"),
    )


def holder_rows(request, document):
    users = request.root.users
    rows = []
    for gset in document.holders:
        path, s = [], gset
        while s.parent is not None:
            path.append(str(s.id))
            s = s.parent
        path.reverse()
        user = users.get(s.id)
        label = "/".join([str(s.id), *path])
        url = user is not None and request.resource_url(
            user, *path, str(document.id), "@@admin")
        rows.append({"label": label, "url": url})
    return rows


@admin_view(context=DocumentNode, name="admin-delete", request_method="POST")
def document_delete(context, request):
    """Delete as the API does: through its owner's tree the document is
    retracted from every holder; through a holder's tree it is hidden there."""
    parent = context.__parent__
    before = context.user.tree.generation
    if context.delete():
        what = "deleted from every tree holding it"
    else:
        what = f"removed from {context.user.id}'s tree"
    audit(request, f"delete document {context.__name__} of {context.user.id}")
    request.session.flash(
        f"Document {context.__name__} {what}; {context.user.id}'s generation "
        f"{before} → {context.user.tree.generation}.", "info")
    return HTTPSeeOther(location=request.resource_url(parent, "@@admin"))


