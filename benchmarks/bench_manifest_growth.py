"""Manifest growth: what an edit per epoch costs a task whose script carries a large diff, code and requirements.

A task gets a 1 MiB ``script.diff``, 512 KiB of ``script.code`` and 100 KB of requirements, then ``--edits`` calls of
``set_progress`` (one new manifest each). Printed: the bytes of objects those edits stored and the time they took,
with the members stored inline in every manifest (the format before spec/tasks.md §4.3) and linked as blobs (now).

    python benchmarks/bench_manifest_growth.py [--edits 100]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import fstrack
import fstrack.records.taskdb as taskdb
from fstrack import Task
from fstrack.store.store import open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["FSTRACK_CACHE_DIR"] = os.path.join(scratch, "cache")
        for label, above in (("inline (before)", 1 << 40), ("linked (now)", taskdb.LINK_MEMBERS_ABOVE)):
            taskdb.LINK_MEMBERS_ABOVE = above
            url = os.path.join(scratch, f"store-{above}")
            fstrack.set_store(url)
            task = Task.create(project_name="bench", task_name="growth")
            task.update_task(
                {
                    "script": {
                        "diff": "d" * (1 << 20),
                        "code": "c" * (512 << 10),
                        "requirements": {"pip": "x==1\n" * 20000},
                    }
                }
            )
            store = open_store(url)
            before = sum(e.size for e in store.backend.walk("objects"))
            started = time.perf_counter()
            for epoch in range(args.edits):
                task.set_progress(epoch % 101)
            seconds = time.perf_counter() - started
            grown = sum(e.size for e in store.backend.walk("objects")) - before
            print(f"{label:16} {args.edits} edits stored {grown / 1e6:8.2f} MB of objects in {seconds:.2f} s")


if __name__ == "__main__":
    main()
