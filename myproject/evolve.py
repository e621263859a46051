"""Stored-layout evolution: numbered steps that bring a database written by
an earlier version up to the layout this version reads.

The site records the layout it was last evolved to (``Site.layout``; a
site stored before layouts were numbered reads 0).  A new site starts at
``LATEST``.  ``main`` refuses to serve a database that needs a step, with
a message that says what to run::

    myproject-admin development.ini evolve

Each step is idempotent and runs in the command's one transaction, so an
interrupted evolve leaves the database as it was.  Add a step by
appending to ``STEPS``: its number is its position, counting from 1.
"""
from pyramid.exceptions import ConfigurationError

from .generationalset import GSet, upgrade
from .documents import Copy, Document
from .resources import APP_ROOT_NAME, reading


def _member_sets_out_of_the_big_btrees(site):
    """Member sets apart from documents, removals kept for pages.

    Sets hold their member sets apart from their documents, count their
    removals, keep removals that paged clients need, and renumber members
    that would otherwise make pages large (the library's ``upgrade``).
    Returns "N trees changed"."""
    changed = 0
    for user in site.users.values():
        changed += upgrade(user.tree)
    return f"{changed} trees changed"


def _documents_inline_in_their_sets(site):
    """Documents' data inline in their sets.

    Sets hold a copy of each document's data inline (``Copy``), so a poll
    reads no record per document; a document's record keeps its id, owner
    and holders (a tuple) only.  The generations do not change: clients
    hold the same data.  Returns "N documents changed"."""
    data_of = {}  # a shared document is met in each of its holders

    def walk(s):
        contents = s._contents
        for generation, ob in list(contents.items()):
            if isinstance(ob, Document):
                if id(ob) not in data_of:
                    ob._p_activate()
                    state = ob.__dict__
                    data = data_of[id(ob)] = state.pop("data")
                    state["id"] = data["id"]
                    ob.holders = tuple(ob.holders)  # and marks it changed
                contents[generation] = Copy(ob, data_of[id(ob)])
        for subset in s._subsets.values():
            if isinstance(subset, GSet):
                walk(subset)

    for user in site.users.values():
        walk(user.tree)
    return f"{len(data_of)} documents changed"


def _sets_pickled_without_attribute_names(site):
    """Sets stored without attribute names.

    Every set's record is written again, as a tuple of values (the
    library's ``records.STATE``): half the bytes.  Sets load in either form; the
    step makes the layout number say that versions before it cannot read
    this database.  Returns "N sets written"."""
    def walk(s):
        s._p_changed = True
        return 1 + sum(walk(t) for t in s._subsets.values())

    written = sum(walk(user.tree) for user in site.users.values())
    return f"{written} sets written"


STEPS = [
    _member_sets_out_of_the_big_btrees,
    _documents_inline_in_their_sets,
    _sets_pickled_without_attribute_names,
]
LATEST = len(STEPS)


def layout_of(site):
    """Return the layout number the site is stored in."""
    return getattr(site, "layout", 0)


def pending(site):
    """Return [(number, step)] of the steps the site still needs."""
    done = layout_of(site)
    return [(number, step) for number, step in enumerate(STEPS, 1)
            if number > done]


def evolve(site):
    """Run the pending steps on site; return [(number, doc line, result)]."""
    ran = []
    for number, step in pending(site):
        result = step(site)
        site.layout = number
        ran.append((number, step.__doc__.split("\n")[0].rstrip("."), result))
    return ran


def too_new(layout):
    """What to say of a database stored in a layout newer than LATEST."""
    return (f"the database is stored in layout {layout}, newer than this "
            f"version reads (layout {LATEST}): run the version that wrote "
            f"it, or a later one")


def check(db, config_uri="<ini file>"):
    """Raise ConfigurationError if the database in db needs evolving."""
    with reading(db) as conn:
        site = conn.root().get(APP_ROOT_NAME)
        if site is not None and layout_of(site) > LATEST:
            raise ConfigurationError(too_new(layout_of(site)))
        if site is None or not pending(site):
            return
        raise ConfigurationError(
            f"the database is stored in layout {layout_of(site)}; this "
            f"version reads layout {LATEST}: stop every server on it and "
            f"run  myproject-admin {config_uri} evolve")
