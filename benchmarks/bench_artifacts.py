"""Artifact benchmarks: upload/download through ``Task`` beside raw fsspec put/get of the same bytes.

    python benchmarks/bench_artifacts.py [--backend local|s3|all] [--quick] [--only big,small,dedupe]

On local disk (a temporary directory) and on SeaweedFS (S3, started through ``tests/servers.py`` on
127.0.0.1), it measures:

* **big**: one 1 GiB file (random bytes). Raw: ``fs.put_file`` / ``fs.get_file`` on the filesystem instance
  the store uses. fstrack: ``upload_artifact(path, wait_on_upload=True)`` (hash, dedupe check, upload, one
  manifest commit) and ``Artifact.get_local_copy()`` into an empty cache (download and hash verification).
  Each run is a fresh child process, so its peak RSS (``VmHWM``) is reported too, relative to the process
  after imports.
* **small**: 1,000 files of 10 KiB. Raw: a loop of ``fs.put_file`` / ``fs.get_file``. fstrack: a loop of
  ``upload_artifact`` (background uploads, committed in batches) then ``flush(wait_for_uploads=True)``; a
  loop of ``get_local_copy`` on a task loaded with ``Task.get_task`` into an empty cache.
* **dedupe**: 100 tasks each upload the same 100 MiB file: bytes stored vs bytes uploaded, and time.

``ratio`` = fstrack throughput / raw throughput (1.00 = no overhead). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MiB = 1 << 20


def hwm() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) * 1024
    return 0


def make_file(path: Path, size: int) -> None:
    block = os.urandom(MiB)
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            f.write(block[:8] + os.urandom(8) + block[16:])  # no two MiB alike
        f.write(os.urandom(size % MiB))


# -- child process: one measured operation ---------------------------------------------------------------------------
def child(args: argparse.Namespace) -> None:
    loc = json.loads(args.location)
    os.environ.update(loc["env"])
    os.environ["FSTRACK_CACHE_DIR"] = args.cache
    import fsspec

    import fstrack
    from fstrack import Task

    fstrack.set_store(loc["url"], **loc["storage_options"])
    store = fstrack.records.config.get_store()
    fs, root = store.backend.fs, store.backend.root
    base = hwm()
    t0 = time.perf_counter()
    result: dict = {}
    if args.op == "raw-put":
        fs.makedirs(f"{root}/raw", exist_ok=True)
        t0 = time.perf_counter()
        fs.put_file(args.path, f"{root}/raw/{Path(args.path).name}")
    elif args.op == "raw-get":
        fs.get_file(f"{root}/raw/{Path(args.path).name}", args.path + ".raw-copy")
    elif args.op == "put":
        task = Task.create(project_name="bench", task_name="big")
        t0 = time.perf_counter()
        assert task.upload_artifact("big", args.path, wait_on_upload=True)
        result["task"] = task.id
    elif args.op == "get":
        art = Task.get_task(task_id=args.task).artifacts["big"]
        t0 = time.perf_counter()
        local = art.get_local_copy(raise_on_error=True)
        assert os.path.getsize(local) == os.path.getsize(args.path)
    result.update(seconds=time.perf_counter() - t0, peak=hwm() - base)
    print(json.dumps(result))
    del fsspec


def run_child(op: str, loc: dict, path: Path, cache: str, task: str = "") -> dict:
    os.sync()  # every measurement starts with no dirty pages left by the previous one
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            op,
            "--location",
            json.dumps(loc),
            "--path",
            str(path),
            "--cache",
            cache,
            "--task",
            task,
        ],
        capture_output=True,
        text=True,
        timeout=3600,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the benchmarks ---------------------------------------------------------------------------------------------------
def bench_big(loc: dict, work: Path, size: int, repeat: int = 2) -> list[str]:
    path = work / "big.bin"
    make_file(path, size)
    rows = []
    best: dict[str, dict] = {}

    def keep(op: str, result: dict) -> dict:
        if op not in best or result["seconds"] < best[op]["seconds"]:
            best[op] = result
        return result

    base = loc
    for r in range(repeat):  # alternate the order: the shared machine's disk is noisy
        loc = dict(base, url=f"{base['url']}-round{r}")  # a fresh store: a second upload would deduplicate
        order = ["raw-put", "put"] if r % 2 == 0 else ["put", "raw-put"]
        for op in order:
            result = keep(op, run_child(op, loc, path, str(work / f"c-{op}-{r}")))
            if op == "put":
                task = result["task"]
        for op in ["raw-get", "get"] if r % 2 == 0 else ["get", "raw-get"]:
            keep(op, run_child(op, loc, path, str(work / f"c-{op}-{r}"), task))
            shutil.rmtree(work / f"c-{op}-{r}", ignore_errors=True)
            if os.path.exists(str(path) + ".raw-copy"):
                os.unlink(str(path) + ".raw-copy")
    raw_put, put, raw_get, get = best["raw-put"], best["put"], best["raw-get"], best["get"]
    gb = size / 1e9
    for what, raw, ours in (("upload", raw_put, put), ("download", raw_get, get)):
        rows.append(
            f"| {base['name']} | {size // MiB} MiB file {what} | {gb / raw['seconds']:.2f} GB/s | "
            f"{gb / ours['seconds']:.2f} GB/s | {raw['seconds'] / ours['seconds']:.2f} | "
            f"{raw['peak'] / MiB:.0f} MiB | {ours['peak'] / MiB:.0f} MiB |"
        )
    path.unlink()
    return rows


def bench_small(loc: dict, work: Path, count: int, repeat: int = 3) -> list[str]:
    """Best of ``repeat`` rounds (fresh folders and task each time): the machine is shared and noisy."""
    best: list[float] | None = None
    for r in range(repeat):
        times = _small_round(loc, work / f"round{r}", count)
        best = times if best is None else [min(a, b) for a, b in zip(best, times)]
    raw_put, put, raw_get, get = best
    rows = []
    for what, raw, ours in (("upload", raw_put, put), ("download", raw_get, get)):
        rows.append(
            f"| {loc['name']} | {count} × 10 KiB {what} | {count / raw:.0f} files/s | {count / ours:.0f} files/s | "
            f"{raw / ours:.2f} | | |"
        )
    return rows


def _small_round(loc: dict, work: Path, count: int) -> list[float]:
    work.mkdir(parents=True)
    import fstrack
    from fstrack import Task
    from fstrack.sdk import artifacts

    folder = work / "small"
    folder.mkdir()
    paths = []
    for i in range(count):
        p = folder / f"f{i:05d}.bin"
        p.write_bytes(os.urandom(10 * 1024))
        paths.append(p)
    os.environ.update(loc["env"])
    fstrack.set_store(loc["url"], **loc["storage_options"])
    store = fstrack.records.config.get_store()
    fs, root = store.backend.fs, store.backend.root
    fs.makedirs(f"{root}/rawsmall", exist_ok=True)
    t0 = time.perf_counter()
    for p in paths:
        fs.put_file(str(p), f"{root}/rawsmall/{p.name}")
    raw_put = time.perf_counter() - t0
    t0 = time.perf_counter()
    task = Task.create(project_name="bench", task_name="small")
    for p in paths:
        task.upload_artifact(p.name, str(p))
    assert task.flush(wait_for_uploads=True)
    put = time.perf_counter() - t0
    out = work / "rawget"
    out.mkdir()
    t0 = time.perf_counter()
    for p in paths:
        fs.get_file(f"{root}/rawsmall/{p.name}", str(out / p.name))
    raw_get = time.perf_counter() - t0
    artifacts.set_cache_dir(work / "smallcache")
    loaded = Task.get_task(task_id=task.id).artifacts
    t0 = time.perf_counter()
    for p in paths:
        loaded[p.name].get_local_copy(raise_on_error=True)
    get = time.perf_counter() - t0
    artifacts.set_cache_dir(None)
    fs.rm(f"{root}/rawsmall", recursive=True)
    shutil.rmtree(work, ignore_errors=True)
    return [raw_put, put, raw_get, get]


def bench_dedupe(loc: dict, work: Path, tasks: int, size: int) -> list[str]:
    import fstrack
    from fstrack import Task

    path = work / "shared.bin"
    make_file(path, size)
    os.environ.update(loc["env"])
    fstrack.set_store(loc["url"], **loc["storage_options"])
    store = fstrack.records.config.get_store()
    before = sum(e.size for e in store.backend.walk("objects"))
    t0 = time.perf_counter()
    for i in range(tasks):
        task = Task.create(project_name="bench", task_name=f"dedupe {i}")
        assert task.upload_artifact("dataset", str(path), wait_on_upload=True)
    seconds = time.perf_counter() - t0
    stored = sum(e.size for e in store.backend.walk("objects")) - before
    uploaded = tasks * size
    path.unlink()
    return [
        f"| {loc['name']} | {tasks} tasks × {size // MiB} MiB, same file | {uploaded / 1e9:.1f} GB uploaded | "
        f"{stored / 1e6:.1f} MB stored | saving {100 * (1 - stored / uploaded):.2f} % | "
        f"{seconds:.1f} s ({tasks / seconds:.1f} tasks/s) | |"
    ]


def locations(which: str):
    sys.path.insert(0, str(REPO / "tests"))
    import servers

    if which in ("local", "all"):
        work = Path(tempfile.mkdtemp(prefix="fstrack-bench-"))
        yield {"name": "local", "url": str(work / "store"), "storage_options": {}, "env": {}}, work
        shutil.rmtree(work, ignore_errors=True)
    if which in ("s3", "all"):
        srv = servers.start_seaweedfs()
        work = Path(tempfile.mkdtemp(prefix="fstrack-bench-"))
        try:
            loc = srv.location("bench")
            yield (
                {"name": "s3 (SeaweedFS)", "url": loc.url, "storage_options": loc.storage_options, "env": loc.env},
                work,
            )
        finally:
            srv.stop()
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="all", choices=["local", "s3", "all"])
    parser.add_argument("--quick", action="store_true", help="64 MiB, 100 files, 10 tasks × 10 MiB")
    parser.add_argument("--only", default="big,small,dedupe")
    parser.add_argument("--child")
    parser.add_argument("--location")
    parser.add_argument("--path")
    parser.add_argument("--cache")
    parser.add_argument("--task", default="")
    args = parser.parse_args()
    if args.child:
        child(args.__class__(**{**vars(args), "op": args.child}))
        return
    big = 64 * MiB if args.quick else 1024 * MiB
    small = 100 if args.quick else 1000
    tasks, dsize = (10, 10 * MiB) if args.quick else (100, 100 * MiB)
    only = set(args.only.split(","))
    print("| backend | workload | raw fsspec | fstrack | ratio | raw peak RSS | fstrack peak RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for loc, work in locations(args.backend):
        rows = []
        if "big" in only:
            rows += bench_big(loc, work, big)
        if "small" in only:
            rows += bench_small(loc, work, small)
        if "dedupe" in only:
            rows += bench_dedupe(loc, work, tasks, dsize)
        for row in rows:
            print(row, flush=True)


if __name__ == "__main__":
    main()
