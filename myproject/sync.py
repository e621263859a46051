"""A poll: what a client at a generation must apply, in the API's JSON form.

``poll`` is the one answer to ``GET`` of a tree or a set, used by the set
view and by the poll's shortcut (``myproject.views.poll``): the updates
since the client's generation, an ETag naming the tree's generation, and
``Cache-Control: private, no-cache`` (a cache must ask again each time,
and only the user's own may keep it).  A client sending the current ETag
in ``If-None-Match`` gets 304 and no body.
"""

#: Headers of every poll answer besides the ETag.
CACHE_CONTROL = "private, no-cache"
#: Header of a page that says ``more``: the tree's generation.
TREE_GENERATION = "X-Tree-Generation"


def to_json(updates):
    """Return the library's updates in the API's JSON form.

    Documents become their JSON object (which always has ``"id"``); a
    member set ``{'id': ID, ...}`` becomes ``{"set": ID, ...}``.
    """
    result = {}
    for key, value in updates.items():
        if key == "id":
            result["set"] = value
        elif key in ("adds", "contents"):
            result[key] = [
                to_json(entry) if isinstance(entry, dict) else entry.data
                for entry in value]
        else:
            result[key] = value
    return result


def updates(gset, generation, *, limit=None):
    """Return the JSON updates of gset for a client at generation: one
    page of at most ``limit`` members (``"more": true`` while the client
    is not up to date yet), or everything when limit is None."""
    if limit is None:
        return to_json(gset.generational_updates(generation))
    return to_json(gset.generational_updates(generation, limit))


def etag(gset):
    """Return the ETag of a poll of gset: its tree's generation, quoted."""
    return f'"{gset.root.generation}"'


def poll(gset, generation, if_none_match, *, limit=None):
    """Return (headers, JSON updates) of a poll of gset; updates is None
    when if_none_match (the ETags a client sent, unquoted, as WebOb's
    ``request.if_none_match``) holds the current one: answer 304.

    The ETag of an answer names the generation it brings the client to:
    the tree's, or a page's cursor (so that a client which kept the ETag
    of a page that said ``more`` is never told 304 short of the end).
    """
    tag = etag(gset)
    headers = {"ETag": tag, "Cache-Control": CACHE_CONTROL}
    if tag[1:-1] in if_none_match:
        return headers, None
    answer = updates(gset, generation, limit=limit)
    if answer.get("more"):
        headers["ETag"] = f'"{answer["generation"]}"'
        # Where the pages lead: a client can show how far it has come.
        headers[TREE_GENERATION] = tag[1:-1]
    return headers, answer
