#!/usr/bin/env python
"""Records and bytes one write of each kind stores, in a FileStorage.

User ``alice`` has 10,000 small documents in ``messages``; ``bob`` exists.
Each write below is one transaction, made with the app's classes as the
API's views make it; the table lists the records it stored, their pickled
bytes, and their classes.  On RelStorage every record is a row written,
locked and committed, so fewer records is a cheaper write.

Run:  python bench/bench_records.py
"""
import os
import sys
import tempfile
import uuid

import transaction
import ZODB
import ZODB.FileStorage

from myproject.generationalset import GSet
from myproject.documents import Document
from myproject.resources import APP_ROOT_NAME, Site

DOCUMENTS = 10_000


def main():
    folder = tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm")
                              else None)
    db = ZODB.DB(ZODB.FileStorage.FileStorage(os.path.join(folder, "D.fs")))
    conn = db.open()
    site = conn.root()[APP_ROOT_NAME] = Site()
    alice = site.users.add("alice", sets=["messages", "tasks"])
    bob = site.users.add("bob", sets=["messages", "tasks"])
    messages = alice.tree["messages"]
    for i in range(DOCUMENTS):
        Document({"id": "d%05d" % i, "text": "hello"}, "alice").place(messages)

    def document(id):
        return Document.of(messages[id], messages)

    shared = document("d00700")
    transaction.commit()

    def new_document():
        Document({"id": uuid.uuid4().hex, "text": "hi"}, "alice").place(
            messages)

    writes = [
        ("new document", new_document),
        ("changed document", lambda: document("d00500").replace(
            {"id": "d00500", "text": "changed"})),
        ("removed document", lambda: document("d00600").retract()),
        ("share a document", lambda: shared.place(bob.tree["messages"])),
        ("shared document edit", lambda: shared.replace(
            {"id": "d00700", "text": "for both"})),
        ("new set", lambda: alice.tree.add(GSet("archive"))),
    ]
    print(f"records and bytes per write ({DOCUMENTS:,} documents in the "
          f"set; Python {sys.version.split()[0]})")
    print()
    print(f"{'write':<22} {'records':>7} {'bytes':>7}  classes")
    for label, write in writes:
        last = db.storage.lastTransaction()
        write()
        transaction.commit()
        records = [r for t in db.storage.iterator(start=last)
                   if t.tid != last for r in t]
        classes = sorted({type(conn.get(r.oid)).__name__ for r in records})
        print(f"{label:<22} {len(records):>7} "
              f"{sum(len(r.data) for r in records):>7}  {', '.join(classes)}")
    conn.close()
    db.close()
    print()
    print("command: python bench/bench_records.py")


if __name__ == "__main__":
    main()
