"""Push benchmark: ``fstrack.sync.push`` of a folder of finished tasks to SeaweedFS, beside fsspec's own ``put``.

    python benchmarks/bench_push.py                 # 1,000 tasks (building them takes a few minutes)
    python benchmarks/bench_push.py --quick         # 50 tasks
    python benchmarks/bench_push.py --tasks 200 --source /tmp/push-src   # keep / reuse the built source folder

The source is a local store of N finished tasks, built with the Task API by two processes: each task has
parameters, 2 × 50 scalars flushed in 3 segments and compacted at close, a console line, and two small
artifacts (a dict and a text file, distinct per task). On SeaweedFS (``weed mini`` on 127.0.0.1, started
through ``tests/servers.py``) it then times, each into a fresh bucket prefix:

* **push**: ``push(folder, s3://…)`` (16 workers), as a user's first ``fstrack push`` (no sync state);
* **push again (no-op)**: the same push once more, with the state file the first one left: nothing changed;
* **push again, no state**: the same no-op push with an empty cache folder (decides by reading entries);
* **fsspec put**: ``fs.put(folder, prefix, recursive=True)`` of the same folder (s3fs, its own concurrency),
  and once more (fsspec has no notion of "already there": it uploads everything again).

Each round runs the first push and the first put in alternating order, then the repeats; the median of
``--repeat`` rounds is reported. ``ratio`` = fstrack seconds / fsspec seconds for the same step (below 1:
fstrack is faster). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def build_child(source: str, start: int, count: int) -> None:
    os.environ.setdefault("FSTRACK_FLUSH_PERIOD", "0")
    import fstrack
    from fstrack import Task
    from fstrack.capture import console

    console.console_writer = lambda text: None
    fstrack.set_store(source)
    scratch = tempfile.mkdtemp(prefix="bench-push-")
    for i in range(start, start + count):
        task = Task.create(project_name=f"bench/push/{i % 10}", task_name=f"task {i}")
        task.set_parameters({"General/lr": 0.001 * (i + 1), "General/batch": 32, "General/seed": i})
        task.mark_started()
        logger = task.get_logger()
        for it in range(50):
            logger.report_scalar("loss", "train", 1.0 / (it + 1) + i, it)
            logger.report_scalar("loss", "val", 1.5 / (it + 1) + i, it)
            if it in (16, 33):
                task.flush()
        logger.report_text(f"task {i} done", print_console=False)
        task.upload_artifact("metrics", {"task": i, "best": 1.0 / (i + 1)}, wait_on_upload=True)
        notes = os.path.join(scratch, f"notes-{i}.txt")
        with open(notes, "w") as f:
            f.write(f"notes of task {i}\n" * 8)
        task.upload_artifact("notes", notes, wait_on_upload=True)
        task.close()


def build(source: str, tasks: int) -> float:
    started = time.perf_counter()
    half = tasks // 2
    procs = [
        subprocess.Popen([sys.executable, __file__, "--build-child", source, str(start), str(count)])
        for start, count in ((0, half), (half, tasks - half))
        if count
    ]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"building the source failed (exit {proc.returncode})")
    return time.perf_counter() - started


def folder_stats(source: str) -> tuple[int, int]:
    files = size = 0
    for directory, _dirs, names in os.walk(source):
        for name in names:
            files += 1
            size += os.path.getsize(os.path.join(directory, name))
    return files, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="50 tasks")
    parser.add_argument("--source", help="source folder (built if it holds no store; kept afterwards)")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (median reported)")
    parser.add_argument("--build-child", nargs=3, metavar=("SOURCE", "START", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_child:
        build_child(args.build_child[0], int(args.build_child[1]), int(args.build_child[2]))
        return
    tasks = 50 if args.quick else args.tasks
    sys.path.insert(0, str(REPO / "tests"))
    import servers

    from fstrack.store.store import open_store
    from fstrack.sync import push

    work = tempfile.mkdtemp(prefix="bench-push-")
    source = args.source or os.path.join(work, "source")
    built = 0.0
    if not os.path.exists(os.path.join(source, "fstrack.json")):
        print(f"building {tasks} tasks in {source} ...", flush=True)
        built = build(source, tasks)
    files, size = folder_stats(source)
    n_tasks = len([n for n in os.listdir(os.path.join(source, "refs", "tasks"))])
    print(
        f"source: {n_tasks} tasks, {files} files, {size / 1e6:.1f} MB"
        + (f" (built in {built:.0f} s)" if built else ""),
        flush=True,
    )
    srv = servers.start_seaweedfs()
    rows = []
    try:
        options = srv.storage_options
        fs = srv.filesystem()

        def fresh(name: str) -> str:
            return f"s3://{srv.bucket}/bench-push-{name}-{uuid.uuid4().hex[:8]}"

        # warm up the connection and the server's first volume, untimed
        open_store(fresh("warmup"), **options).put(b"warm up")
        timings: dict[str, list[float]] = {}
        summaries: dict[str, dict] = {}
        contents = source.rstrip("/") + "/"  # the folder's contents into the prefix, the same on every put

        def timed(name: str, fn) -> None:
            t = time.perf_counter()
            result = fn()
            timings.setdefault(name, []).append(time.perf_counter() - t)
            if isinstance(result, dict):
                summaries[name] = result

        for round_ in range(args.repeat):  # interleaved, so that drift in the machine's load hits both alike
            os.environ["FSTRACK_CACHE_DIR"] = os.path.join(work, f"cache-{round_}")
            target = fresh("fstrack")
            raw = fresh("fsspec").split("://", 1)[1]
            contestants = [
                (
                    "push",
                    lambda: timed(
                        "fstrack push", lambda: push(source, target, dst_options=options, workers=args.workers)
                    ),
                ),
                ("put", lambda: timed("fsspec put", lambda: fs.put(contents, raw + "/", recursive=True))),
            ]
            for _name, run in contestants if round_ % 2 == 0 else contestants[::-1]:
                run()
            timed("fstrack push again (no-op)", lambda: push(source, target, dst_options=options, workers=args.workers))
            timed(
                "fstrack push again, no state",
                lambda: push(
                    source,
                    target,
                    dst_options=options,
                    workers=args.workers,
                    cache_dir=os.path.join(work, f"empty-{round_}"),
                ),
            )
            timed("fsspec put again", lambda: fs.put(contents, raw + "/", recursive=True))
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in timings.items()), flush=True)
        for name, values in timings.items():
            rows.append((name, statistics.median(values), summaries.get(name), values))
    finally:
        srv.stop()
    medians = {name: seconds for name, seconds, _s, _v in rows}
    print()
    print(
        f"push of {n_tasks} finished tasks ({files} files, {size / 1e6:.1f} MB) to SeaweedFS, "
        f"{args.workers} workers, median of {args.repeat} interleaved rounds"
    )
    print("| operation | seconds (median) | runs | files/s | objects copied | entries appended | ratio vs fsspec |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for name, seconds, summary, values in rows:
        against = medians["fsspec put again" if "again" in name else "fsspec put"]
        copied = summary["objects_copied"] if summary else "-"
        appended = summary["refs_appended"] if summary else "-"
        print(
            f"| {name} | {seconds:.2f} | {' / '.join(f'{v:.1f}' for v in values)} | {files / seconds:,.0f} | "
            f"{copied} | {appended} | {seconds / against:.3f} |"
        )
    print()
    print(
        json.dumps(
            {
                name: {
                    "seconds": round(s, 3),
                    **(
                        {
                            k: v
                            for k, v in (m or {}).items()
                            if k
                            in (
                                "objects_copied",
                                "objects_skipped",
                                "bytes_copied",
                                "refs_appended",
                                "index_copied",
                                "records_copied",
                                "listing_seconds",
                                "sequences",
                            )
                        }
                    ),
                }
                for name, s, m, _v in rows
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
