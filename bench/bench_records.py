#!/usr/bin/env python
"""Records and bytes one write of each kind stores, in a FileStorage.

User ``alice`` has 10,000 small documents in ``messages``; ``bob`` exists.
Each write below is one transaction, made with the app's classes as the
API's views make it, repeated on 50 different documents (or sets): what
one write stores depends on how full the BTree buckets it lands in are.
The table lists the mean records and pickled bytes a write stored, the
largest, and their classes.  On RelStorage every record is a row written,
locked and committed, so fewer records is a cheaper write.

Run:  python bench/bench_records.py
"""
import os
import statistics
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
REPEAT = 50


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

    shared = [document("d%05d" % (7000 + n)) for n in range(REPEAT)]
    for n in range(REPEAT):
        if n % 2:  # half of them shared before, for the edits below
            shared[n].place(bob.tree["messages"])
    transaction.commit()

    def new_document(n):
        Document({"id": uuid.uuid4().hex, "text": "hi"}, "alice").place(
            messages)

    def changed_document(n):
        id = "d%05d" % (500 + 17 * n)
        document(id).replace({"id": id, "text": "changed"})

    def shared_edit(n):
        shared[n | 1].replace({"id": shared[n | 1].id, "text": "for both"})

    writes = [
        ("new document", new_document),
        ("changed document", changed_document),
        ("removed document",
         lambda n: document("d%05d" % (600 + 13 * n)).retract()),
        ("share a document",  # the odd ones with a third holder
         lambda n: shared[n].place(bob.tree["tasks" if n % 2 else
                                             "messages"])),
        ("shared document edit", shared_edit),
        ("new set", lambda n: alice.tree.add(GSet("archive%d" % n))),
    ]
    print(f"records and bytes per write ({DOCUMENTS:,} documents in the "
          f"set; mean of {REPEAT} writes; Python "
          f"{sys.version.split()[0]})")
    print()
    print(f"{'write':<22} {'records':>7} {'bytes':>7} {'largest':>7}  "
          f"classes")
    for label, write in writes:
        counts, sizes, classes = [], [], set()
        for n in range(REPEAT):
            last = db.storage.lastTransaction()
            write(n)
            transaction.commit()
            records = [r for t in db.storage.iterator(start=last)
                       if t.tid != last for r in t]
            counts.append(len(records))
            sizes.append(sum(len(r.data) for r in records))
            classes |= {type(conn.get(r.oid)).__name__ for r in records}
        print(f"{label:<22} {statistics.mean(counts):>7.1f} "
              f"{statistics.mean(sizes):>7.0f} {max(sizes):>7}  "
              f"{', '.join(sorted(classes))}")
    conn.close()
    db.close()
    print()
    print("command: python bench/bench_records.py")


if __name__ == "__main__":
    main()
