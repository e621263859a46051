"""The JSON sync API: a user's tree, its sets and documents.

A set is an ``ISetContext``: the tree itself (``/users/<id>``) or a subset
(``/users/<id>/<set>/...``), served by the same views.  A GET of a set
returns its updates since the client's generation (``sync.poll``).  Writes
answer with what they wrote and, when the request carried a generation,
``updates``: everything that changed in the user's tree since then, the
write included.
"""
import pkgutil
import uuid

from pyramid.httpexceptions import (
    HTTPConflict,
    HTTPCreated,
    HTTPForbidden,
    HTTPNotModified,
    HTTPUnprocessableEntity,
)
from pyramid.response import Response
from pyramid.view import view_config

from ..generationalset import GSet
from ..documents import Document
from ..resources import DocumentNode, ISetContext, SetNode, Site
from .wire import (
    MAX_SET_DEPTH,
    answer,
    json_body,
    poll_of,
    valid_id,
)


@view_config(context=Site, request_method="GET", renderer="json")
def service_description(context, request):
    """Describe the service and where its parts are."""
    return {
        "service": "myproject",
        "description": "Generational-set data sync server",
        "users": request.resource_url(context, "users"),
        "generation": {
            "query": "generation",
            "header": "X-Generation",
        },
    }


@view_config(context=Site, name="__api__", request_method="GET")
def openapi_document(context, request):
    """Return the OpenAPI 3.1 document of this API (``openapi.json``)."""
    return Response(body=_OPENAPI, content_type="application/json",
                    charset="utf-8")


_OPENAPI = pkgutil.get_data("myproject", "openapi.json")


# Reading

@view_config(context=ISetContext, request_method="GET", renderer="json",
             permission="view")
def set_get(context, request):
    """Return the updates of the set (and its subsets) since ``generation``."""
    headers, updates = poll_of(request, context.gset)
    if updates is None:
        return HTTPNotModified(headers=headers)
    request.response.headers.update(headers)
    return updates


@view_config(context=DocumentNode, request_method="GET", renderer="json",
             permission="view")
def document_get(context, request):
    """Return the document."""
    return answer(request, context.user, {"document": context.data})


# Creating

@view_config(context=ISetContext, request_method="POST", renderer="json",
             permission="edit")
def set_post(context, request):
    """Create a document (``{"id": ...}``) or a set (``{"set": ...}``)."""
    gset = context.gset
    body = json_body(request)
    if "id" not in body and "set" in body:
        set_id = valid_id(body["set"], "set")
        if len(body) != 1:
            raise HTTPUnprocessableEntity(
                'a new set is written {"set": ID} and nothing else')
        if len(_path_in_tree(context)) >= MAX_SET_DEPTH:
            raise HTTPUnprocessableEntity(
                f"sets nest at most {MAX_SET_DEPTH} deep in a tree")
        _refuse_taken(gset, set_id)
        gset.add(GSet(set_id))
        result = {"set": set_id}
        location = request.resource_url(context, set_id)
    else:
        doc_id = body.setdefault("id", uuid.uuid4().hex)
        valid_id(doc_id)
        _refuse_taken(gset, doc_id)
        Document(body, owner=context.user.id).place(gset)
        result = {"document": body}
        location = request.resource_url(context, doc_id)
    request.response.location = location
    return answer(request, context.user, result, status=HTTPCreated.code)


def _refuse_taken(gset, id):
    if id in gset:
        raise HTTPConflict(f"{id!r} exists already in this set")


@view_config(context=DocumentNode, request_method="POST", renderer="json",
             permission="edit")
def document_post(context, request):
    """Refuse to write into a document as if it were a set."""
    raise HTTPConflict(f"{context.__name__!r} is a document, not a set")


# Changing documents

def _body_for(request, context):
    body = json_body(request)
    doc_id = context.document.id
    if body.setdefault("id", doc_id) != doc_id:
        raise HTTPUnprocessableEntity(
            f"the body's id {body['id']!r} is not the document's {doc_id!r}")
    return body


@view_config(context=DocumentNode, request_method="PUT", renderer="json",
             permission="edit")
def document_put(context, request):
    """Replace the document; every user holding it sees the change."""
    body = _body_for(request, context)
    context.document.replace(body)
    return answer(request, context.user, {"document": body})


@view_config(context=DocumentNode, request_method="PATCH", renderer="json",
             permission="edit")
def document_patch(context, request):
    """Apply a JSON merge patch (RFC 7396) to the document."""
    patch = _body_for(request, context)
    body = merge_patch(context.data, patch)
    context.document.replace(body)
    return answer(request, context.user, {"document": body})


def merge_patch(target, patch):
    """Return target with the RFC 7396 merge patch applied (both unchanged)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@view_config(context=DocumentNode, request_method="DELETE", renderer="json",
             permission="view")
def document_delete(context, request):
    """Delete the document: its owner retracts it from every holder;
    a user it was shared with hides it from its own tree only."""
    if context.owned and not request.has_permission("edit", context):
        raise HTTPForbidden("not allowed to delete this document")
    context.delete()
    return answer(request, context.user, {"deleted": context.__name__})


@view_config(context=DocumentNode, name="share", request_method="POST",
             renderer="json", permission="edit")
def document_share(context, request):
    """Place the document in the same-named set of other users' trees.

    The answer is the same whatever those trees hold: a user who does not
    exist, has no such set, or holds another document of that id does not
    receive it, and is not told apart (that would tell the sharer what is
    in another user's tree, or who the users are).  ``shared_with`` lists
    the users named."""
    body = json_body(request)
    user_ids = body.get("users")
    if (not isinstance(user_ids, list) or not user_ids
            or not all(isinstance(u, str) for u in user_ids)):
        raise HTTPUnprocessableEntity(
            'share with {"users": ["id", ...]} (a non-empty list of ids)')
    for user_id in user_ids:
        valid_id(user_id, "user id")
    path = _path_in_tree(context.__parent__)
    users = request.root.users
    named = sorted(set(user_ids) - {context.document.owner})
    for user_id in named:
        user = users.get(user_id)
        target = _set_at(user.tree, path) if user is not None else None
        if target is not None and target.get(context.document.id) is None:
            context.document.place(target, context.data)
    return answer(request, context.user, {
        "document": context.data, "shared_with": named})


def _path_in_tree(node):
    path = []
    while isinstance(node, SetNode):
        path.append(node.__name__)
        node = node.__parent__
    return tuple(reversed(path))


def _set_at(tree, path):
    s = tree
    for name in path:
        s = s.get(name)
        if not isinstance(s, GSet):
            return None
    return s


# Sets

@view_config(context=SetNode, request_method="DELETE", renderer="json",
             permission="edit")
def set_delete(context, request):
    """Remove the set, with everything in it, from its parent."""
    context.delete()
    return answer(request, context.user, {"deleted": context.__name__})


@view_config(context=SetNode, request_method=("PUT", "PATCH"),
             renderer="json", permission="edit")
def set_put(context, request):
    """Refuse to write a set as if it were a document."""
    raise HTTPConflict(f"{context.__name__!r} is a set, not a document")
