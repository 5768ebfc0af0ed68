"""Index benchmark: listing every task of a SeaweedFS bucket, cold and warm, before and after index checkpoints.

    python benchmarks/bench_index.py                       # 10,000 and 100,000 tasks
    python benchmarks/bench_index.py --sizes 2000          # a quick run
    python benchmarks/bench_index.py --before /work/main   # the tree whose reader is "before" (default: main)

The corpus is written straight to SeaweedFS (``weed mini`` on 127.0.0.1, started through ``tests/servers.py``)
with ``TaskDB.create`` from 32 threads: the real format (manifest document, head entry, summary, tail entry),
each manifest a copy of one made by ``Task.create`` + ``set_parameters`` + ``add_tags`` with its own id, name and
times. Building 100,000 tasks with the Task API would take hours; what a reader reads is the same.

Each measurement runs in a fresh process (``FSTRACK_CACHE_DIR`` empty: *cold*, a new teammate, a CI job, a fresh
UI server; or holding what a previous run of the same reader left: *warm*) and times:

* ``records()``: ``TaskDB(store).records()``, the listing under ``Task.get_tasks``, ``fstrack ls`` and the UI;
* ``fstrack ls``: the whole command, interpreter start included.

*before* is the reader of ``--before`` (one listing of ``index/tasks/`` plus one read per summary not cached);
*after* is this tree's (the newest checkpoint plus the tail). The first reader after the corpus was written finds
no checkpoint and writes it ("first read"); later ones read it. Finally 200 tasks are updated (above
``--index-only-above``: created), so the reader also reads a tail. Figures are printed, never asserted.

Above ``--index-only-above`` tasks (default 50,000), building the real thing takes longer than the whole run may:
only the index is written (every summary, of a real manifest, and the checkpoint holding them, as right after a
checkpoint), and the old reader's cold read (one request per task) is not timed; its warm read is, from the cache
file its cold read would have left.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

READER = """
import json, sys, time
t0 = time.perf_counter()
from fstrack.store.store import open_store
from fstrack.records.taskdb import TaskDB
store = open_store(sys.argv[1], create=False, **json.loads(sys.argv[2]))
calls = {}
for name in ("read", "read_many", "list", "create", "delete"):
    original = getattr(store.backend, name)
    def counted(*a, _n=name, _o=original, **k):
        calls[_n] = calls.get(_n, 0) + (len(a[0]) if _n == "read_many" else 1)
        return _o(*a, **k)
    setattr(store.backend, name, counted)
t1 = time.perf_counter()
n = len(TaskDB(store).records())
print(json.dumps({"seconds": time.perf_counter() - t1, "tasks": n, "calls": calls}))
"""


def template_manifest() -> dict:
    """A manifest as Task.create + set_parameters + add_tags leave it (made in a throw-away local store)."""
    import fstrack
    from fstrack.records.taskdb import TaskDB
    from fstrack.sdk.task import Task

    with tempfile.TemporaryDirectory() as folder:
        fstrack.set_store(folder)
        task = Task.create(project_name="bench/index", task_name="template", task_type="training")
        task.set_parameters({"General/lr": 0.1, "General/epochs": 10, "Args/batch_size": 64})
        task.add_tags(["bench", "index"])
        return TaskDB(fstrack.records.config.get_taskdb().store, cache_dir="").load(task.id)


def build(url: str, options: dict, count: int) -> float:
    from fstrack.records.taskdb import TaskDB
    from fstrack.store.store import open_store

    template = template_manifest()
    db = TaskDB(open_store(url, **options), cache_dir="")
    db.ensure_project("bench/index")
    now = time.time()

    def one(i: int) -> None:
        manifest = dict(template, id=uuid.uuid4().hex, name=f"task {i}", created=now + i, status_changed=now + i)
        db.create(manifest)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(one, range(count)))
    return time.perf_counter() - t0


def build_index_only(url: str, options: dict, count: int, old_cache: str) -> float:
    """The index of ``count`` tasks as a store has it right after a checkpoint: every summary under
    ``index/tasks/`` (real summaries of real manifests, made in memory), the checkpoint holding them all, an empty
    tail. No manifests or heads: a listing reads none. Also writes the machine-local cache an *old* reader would
    have after one cold read (name -> summary), so the old reader's warm listing can be timed without its cold
    one (one read per task: 10 times the 10,000-task figure)."""
    import hashlib
    import zlib

    from fstrack.records.taskdb import summarize
    from fstrack.store.objects import pack
    from fstrack.store.refs import Refs
    from fstrack.store.store import open_store

    template = template_manifest()
    store = open_store(url, **options)
    now = time.time()
    summaries = {}
    for i in range(count):
        task_id = uuid.uuid4().hex
        manifest = dict(template, id=task_id, name=f"task {i}", created=now + i, last_update=now + i)
        summaries[f"{task_id}.{1:020d}"] = summarize(manifest)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(lambda item: store.backend.create(f"index/tasks/{item[0]}", pack(item[1])), summaries.items()))
    blob = store.put(zlib.compress(pack({"index": "index/tasks", "summaries": summaries}), 1))
    Refs(store).try_append("index/tasks", 1, {"checkpoint": blob, "summaries": count, "time": time.time()})
    cache_file = os.path.join(old_cache, "index", hashlib.sha256(store.url.encode()).hexdigest()[:24])
    os.makedirs(os.path.dirname(cache_file), exist_ok=True)
    with open(cache_file, "wb") as f:
        f.write(pack(summaries))
    return time.perf_counter() - t0


def update_some(url: str, options: dict, count: int) -> None:
    from fstrack.records.taskdb import TaskDB
    from fstrack.store.store import open_store

    db = TaskDB(open_store(url, create=False, **options), cache_dir="")
    ids = [r["id"] for r in db.records()[:count]]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda t: db.update(t, lambda m: m.update(comment="touched")), ids))


def run_reader(tree: str, url: str, options: dict, cache: str, env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", READER, url, json.dumps(options)],
        env={**env, "PYTHONPATH": tree, "FSTRACK_CACHE_DIR": cache},
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),  # not the repository: python -c puts the working directory first on sys.path
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_ls(tree: str, url: str, options: dict, cache: str, env: dict) -> float:
    env = {**env, "PYTHONPATH": tree, "FSTRACK_CACHE_DIR": cache, "FSTRACK_URL": url}
    env["FSTRACK_STORAGE_OPTIONS"] = json.dumps(options)
    t0 = time.perf_counter()
    subprocess.run(
        [str(VENV_BIN / "fstrack"), "ls"],
        env=env,
        capture_output=True,
        check=True,
        text=True,
        cwd=tempfile.gettempdir(),
    )
    return time.perf_counter() - t0


def requests(result: dict) -> str:
    calls = result["calls"]
    return f"{calls.get('list', 0)} lists, {calls.get('read', 0) + calls.get('read_many', 0)} reads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--before", default="/work/main", help="tree of the reader to compare with")
    parser.add_argument(
        "--index-only-above",
        type=int,
        default=50_000,
        help="above this size, write only the index (summaries and a checkpoint) and skip the old cold reader",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(REPO))
    import servers

    srv = servers.start_seaweedfs()
    env = {**os.environ, **srv.env}
    env.pop("FSTRACK_INDEX_TAIL", None)
    rows = []
    try:
        for size in args.sizes:
            url, options = srv.url(f"index-{size}-{uuid.uuid4().hex[:8]}"), srv.storage_options
            index_only = size > args.index_only_above
            with tempfile.TemporaryDirectory() as scratch:
                print(f"building {size:,} tasks{' (index only)' if index_only else ''} ...", flush=True)
                seconds = (
                    build_index_only(url, options, size, os.path.join(scratch, "before"))
                    if index_only
                    else build(url, options, size)
                )
                print(f"  built in {seconds:.0f} s", flush=True)

                def cache(name: str) -> str:
                    return os.path.join(scratch, name)

                def measure(label: str, tree: str, cache_name: str) -> None:
                    result = run_reader(tree, url, options, cache(cache_name), env)
                    rows.append((size, label, result["seconds"], requests(result)))
                    print(f"  {label}: {result['seconds']:.2f} s ({requests(result)}, {result['tasks']} tasks)")

                def ls(label: str, tree: str, cache_name: str) -> None:
                    seconds = run_ls(tree, url, options, cache(cache_name), env)
                    rows.append((size, label, seconds, ""))
                    print(f"  {label}: {seconds:.2f} s", flush=True)

                if not index_only:
                    measure("before: records(), cold", args.before, "before")
                measure("before: records(), warm", args.before, "before")
                if not index_only:
                    ls("before: fstrack ls, cold", args.before, "before-ls")
                    ls("before: fstrack ls, warm", args.before, "before-ls")
                    measure("after: first read (writes the checkpoint)", str(REPO), "first")
                measure("after: records(), cold", str(REPO), "after")
                measure("after: records(), warm", str(REPO), "after")
                ls("after: fstrack ls, cold", str(REPO), "after-ls")
                ls("after: fstrack ls, warm", str(REPO), "after-ls")
                if index_only:
                    build(url, options, 200)  # 200 new tasks: a 200-entry tail
                else:
                    update_some(url, options, 200)
                measure("after: records(), cold, 200-entry tail", str(REPO), "after-tail")
                measure("after: records(), warm, 200-entry tail", str(REPO), "after")
    finally:
        srv.stop()
    print("\n| tasks | reader | seconds | requests |\n| ---: | --- | ---: | --- |")
    for size, label, seconds, reqs in rows:
        print(f"| {size:,} | {label} | {seconds:.2f} | {reqs} |")


if __name__ == "__main__":
    main()
