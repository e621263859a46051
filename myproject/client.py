"""The reference client: how a client applies generational updates.

Every client (iOS, Android, web) implements ``apply_updates``; README.txt
walks through it step by step.  A client's state is a dict::

    {'generation': g, 'contents': {id: item or {id: ...}}}

where a member set is a dict of its own members.  ``EMPTY`` is the state
of a client that holds nothing (generation 0).

Two forms of updates exist.  ``GenerationalSet.generational_updates``
returns the library form: member sets are dicts ``{'id': ID, ...}``, items
are the stored objects.  The HTTP API sends the JSON form: documents are
JSON objects that always carry ``"id"``, member sets are objects that carry
``"set"`` (the set's id) and never ``"id"``.

``SyncClient`` is a small HTTP client that keeps such a mirror through the
API; the tests use it as the reference client.
"""

import json
import urllib.error
import urllib.parse
import urllib.request

from .generationalset import GenerationalSet

EMPTY = {"generation": 0, "contents": {}}


def apply_updates(state, updates, *, get_id=None, subset_id=None):
    """Return the state after applying updates to state (left unchanged).

    ``subset_id(entry)`` returns a member set's id, or None for an item;
    ``get_id(item)`` returns an item's id.  The defaults read the library
    form (dict entries are sets, items have an ``id`` attribute).
    """
    get_id = get_id or _library_item_id
    subset_id = subset_id or _library_subset_id
    return {
        "generation": updates["generation"],
        "contents": _apply(state["contents"], updates, get_id, subset_id),
    }


def apply_json_updates(state, updates):
    """Return the state after applying updates in the HTTP API's JSON form."""
    return apply_updates(
        state, updates, get_id=_json_item_id, subset_id=_json_subset_id)


def _apply(members, entry, get_id, subset_id):
    if "contents" in entry:
        # 1. contents: the complete membership replaces what is held.
        old, result, entries = {}, {}, entry["contents"]
    else:
        # 2. Otherwise drop the removals, then upsert the adds.
        old = members
        result = dict(members)
        for id in entry.get("removals", ()):
            result.pop(id, None)
        entries = entry.get("adds", ())
    for item in entries:
        id = subset_id(item)
        if id is None:
            result[get_id(item)] = item
        else:
            # 3. A member set's entry applies to the set held under its id.
            held = old.get(id)
            held = held if isinstance(held, dict) else {}
            result[id] = _apply(held, item, get_id, subset_id)
    return result


def state_of(s):
    """Return the state a client mirroring set s (and its tree) must hold."""
    return {"generation": s.root.generation, "contents": _members(s)}


def _members(s):
    return {
        id: _members(ob) if isinstance(ob, GenerationalSet) else ob
        for id, ob in s.items()
    }


def _library_item_id(item):
    return item.id


def _library_subset_id(entry):
    return entry["id"] if isinstance(entry, dict) else None


def _json_item_id(item):
    return item["id"]


def _json_subset_id(entry):
    return None if "id" in entry else entry["set"]


class APIError(Exception):
    """An error answer of the API: status, error name and detail."""

    def __init__(self, status, error, detail):
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail


class SyncClient:
    """Keeps a local mirror of one user's tree in sync through the HTTP API.

    Every call sends the mirror's generation and applies the ``updates``
    of the answer, so one round trip both writes and syncs::

        client = SyncClient("http://localhost:6543", "alice", token)
        client.sync()
        client.create("messages", {"id": "m1", "text": "hi"})
        client.state["contents"]["messages"]["m1"]

    Paths are relative to the user's tree (``"messages/m1"``).  Errors
    raise APIError.  One client is used by one thread at a time.
    """

    def __init__(self, base_url, user_id, token, *, timeout=30,
                 page_size=None, state=None):
        self.base_url = base_url.rstrip("/")
        self.user_id = user_id
        self.token = token
        self.timeout = timeout
        self.page_size = page_size  # None: the server's page size
        self.state = EMPTY if state is None else state
        self.etag = None
        self.tree_generation = None  # as of the last poll answer

    @property
    def generation(self):
        return self.state["generation"]

    def url(self, path=""):
        quoted = "/".join(urllib.parse.quote(p, safe="") for p in
                          path.split("/") if p)
        tree = f"{self.base_url}/users/{urllib.parse.quote(self.user_id)}"
        return f"{tree}/{quoted}" if quoted else tree

    def request(self, method, path="", body=None, headers=()):
        """Send a request with the mirror's generation; return (status, JSON)."""
        url = self.url(path) + f"?generation={self.generation}"
        if self.page_size is not None:
            url += f"&limit={self.page_size}"
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in headers:
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as r:
                status, raw, etag = r.status, r.read(), r.headers.get("ETag")
                tree = r.headers.get("X-Tree-Generation")
        except urllib.error.HTTPError as e:
            if e.code == 304:
                return 304, None
            raw = e.read()
            try:
                answer = json.loads(raw)
            except ValueError:
                answer = {"error": "http_error", "detail": raw[:200]}
            raise APIError(e.code, answer.get("error"),
                           answer.get("detail")) from None
        if etag is not None:
            self.etag = etag
        answer = json.loads(raw)
        if isinstance(answer, dict) and "generation" in answer:
            # A page that says more names the tree's generation; any other
            # answer is the tree's.
            self.tree_generation = int(tree) if tree else answer["generation"]
        return status, answer

    def sync(self, progress=None):
        """Bring the mirror up to date, page by page; return the generation.

        After each page ``self.state`` is a valid mirror to resume from (an
        interrupted sync goes on from there); ``progress(generation, more)``
        is called after each page with the page's cursor and whether more
        follows, and ``self.tree_generation`` is then the generation the
        pages lead to (for a progress bar: generation / tree_generation).
        """
        headers = [("If-None-Match", self.etag)] if self.etag else []
        while True:
            status, answer = self.request("GET", headers=headers)
            if status == 304:
                return self.generation
            self._apply(answer)
            more = bool(answer.get("more"))
            if progress is not None:
                progress(self.generation, more)
            if not more:
                return self.generation
            headers = []

    def _apply(self, updates):
        self.state = apply_json_updates(self.state, updates)
        if updates.get("more"):
            self.etag = None  # the ETag names the tree, not this page

    def _write(self, method, path, body=None):
        _, answer = self.request(method, path, body)
        if "updates" in answer:
            self._apply(answer["updates"])
            if answer["updates"].get("more"):
                self.sync()
        return answer

    def create(self, set_path, document):
        """Create a document in the set; return it (with its id)."""
        return self._write("POST", set_path, document)["document"]

    def create_set(self, set_path, set_id):
        """Create a set inside the set at set_path ("" for the top)."""
        self._write("POST", set_path, {"set": set_id})

    def replace(self, path, document):
        """Replace the document at path; return it."""
        return self._write("PUT", path, document)["document"]

    def patch(self, path, patch):
        """Merge-patch the document at path; return it."""
        return self._write("PATCH", path, patch)["document"]

    def delete(self, path):
        """Delete the document or set at path."""
        self._write("DELETE", path)

    def share(self, path, user_ids):
        """Share the document at path with other users."""
        return self._write("POST", path + "/@@share", {"users": user_ids})
