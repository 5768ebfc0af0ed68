"""Logging and reading metrics: fstrack beside trackio, tensorboardX, MLflow (file store), W&B offline, ClearML offline.

    python benchmarks/bench_logging.py [--quick] [--s3] [--scaling 200,1000,10000] [--no-peers]
    python benchmarks/bench_logging.py --setup-peers      # creates /work/bench-venv with the peers

Measures, in one run (figures printed, never asserted):

1. **write**: µs per ``report_scalar``-equivalent call for 1 series x 100,000 steps, *including* the final
   flush/close, median of several runs; wall clock and process CPU time (all threads; robust to other load
   on the machine). Beside it: a bare Python method appending to three lists, and each peer.
2. **read**: all scalars of 200 tasks x 3 series x 1,000 steps into one pandas DataFrame
   (``fstrack.scalars(...).to_pandas()``), cold (fresh process state: new TaskDB, empty index cache) and
   warm; beside plain pyarrow reading the same 200 segment files, and the peers' own read APIs.
3. **storage**: bytes per scalar (segments only, and the whole store directory), and each peer's
   on-disk bytes per scalar after its write run.
4. **scaling**: the read of N tasks x 3 x 1,000 for the N given with ``--scaling`` (time per task should stay
   flat if reading grows linearly).

Peers run in a separate virtualenv (``--peer-python``, default ``/work/bench-venv/bin/python``) so the project
environment stays clean; a peer that is not installed there is skipped with the reason printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_VENV = Path(os.environ.get("FSTRACK_BENCH_VENV", "/work/bench-venv"))
PEERS = ("trackio", "tensorboardX", "mlflow", "wandb", "clearml")
PEER_PACKAGES = {
    "trackio": ["trackio"],
    "tensorboardX": ["tensorboardX", "tensorboard"],
    "mlflow": ["mlflow"],
    "wandb": ["wandb"],
    "clearml": ["clearml"],
}


# -- shared helpers ------------------------------------------------------------------------------------------


def _median(values):
    return statistics.median(values) if values else float("nan")


def _dir_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def _noisy_curve(rng: random.Random, n: int, scale: float):
    """A realistic loss curve: decaying trend plus noise (values are not compressible to nothing)."""
    return [scale * (1.0 / (1 + i / 100) + 0.05 * rng.random()) for i in range(n)]


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


# -- fstrack ---------------------------------------------------------------------------------------------------


def _task_class():
    from fstrack.sdk.reporting import ReportingMixin
    from fstrack.sdk.task import Task

    if issubclass(Task, ReportingMixin):
        return Task

    class ReportingTask(ReportingMixin, Task):  # until Task inherits ReportingMixin
        def _finish(self, status, message=""):
            if not self._closed:
                self._close_reporting()
            super()._finish(status, message)

    return ReportingTask


def _use_store(url: str, options: dict | None = None, cache: Path | None = None) -> None:
    import fstrack
    from fstrack.records import config

    config._opened.clear()
    if cache is not None:
        os.environ["FSTRACK_CACHE_DIR"] = str(cache)
    fstrack.set_store(url, **(options or {}))


def fstrack_write(url: str, steps: int, runs: int, options: dict | None = None) -> dict:
    T = _task_class()
    _use_store(url, options)
    walls, cpus, reports = [], [], []
    for run in range(runs):
        task = T.create(project_name="bench-write", task_name=f"write-{run}")
        logger = task.get_logger()
        report = logger.report_scalar
        values = [1.0 / (i + 1) for i in range(steps)]

        def loop():
            t0 = time.perf_counter()
            for i in range(steps):
                report("loss", "train", values[i], i)
            reports.append(time.perf_counter() - t0)
            task._close_reporting()
            task.close()

        wall, cpu = _timed(loop)
        walls.append(wall / steps * 1e6)
        cpus.append(cpu / steps * 1e6)
    return {
        "wall_us": _median(walls),
        "cpu_us": _median(cpus),
        "loop_only_us": _median(reports) / steps * 1e6,
        "runs": runs,
        "steps": steps,
        "all_wall_us": walls,
    }


def bare_write(steps: int, runs: int) -> dict:
    class Bare:
        def __init__(self):
            self.a, self.b, self.c = [], [], []

        def report(self, title, series, value, iteration):
            self.a.append(value)
            self.b.append(iteration)
            self.c.append(title)

    walls, cpus = [], []
    for _ in range(runs):
        bare = Bare()
        report = bare.report

        def loop():
            for i in range(steps):
                report("loss", "train", 0.5, i)

        wall, cpu = _timed(loop)
        walls.append(wall / steps * 1e6)
        cpus.append(cpu / steps * 1e6)
    return {"wall_us": _median(walls), "cpu_us": _median(cpus)}


def fstrack_populate(
    url: str, tasks: int, series: int, steps: int, project: str, options: dict | None = None, seed: int = 0
) -> dict:
    """Create ``tasks`` closed tasks, each with ``series`` noisy series of ``steps`` points."""
    T = _task_class()
    _use_store(url, options)
    rng = random.Random(seed)
    curves = [_noisy_curve(rng, steps, 1.0 + k) for k in range(series)]
    t0 = time.perf_counter()
    for n in range(tasks):
        task = T.create(project_name=project, task_name=f"task-{n}")
        logger = task.get_logger()
        logger.set_flush_period(None)
        for i in range(steps):
            for k in range(series):
                logger.report_scalar("loss", f"s{k}", curves[k][i], i)
        task._close_reporting()
    return {"seconds": time.perf_counter() - t0}


def _populate_worker(args):
    url, first, count, series, steps, project, cache = args
    os.environ["FSTRACK_CACHE_DIR"] = cache
    fstrack_populate(url, count, series, steps, project, seed=first)
    return count


def fstrack_populate_parallel(
    url: str, tasks: int, series: int, steps: int, project: str, cache: Path, workers: int = 2
) -> float:
    import multiprocessing as mp

    t0 = time.perf_counter()
    chunk = max(1, tasks // (workers * 8))
    jobs = [
        (url, start, min(chunk, tasks - start), series, steps, project, str(cache)) for start in range(0, tasks, chunk)
    ]
    with mp.get_context("spawn").Pool(workers) as pool:
        done = sum(pool.map(_populate_worker, jobs))
    assert done == tasks
    return time.perf_counter() - t0


def fstrack_read(url: str, project: str, runs: int, cache: Path, options: dict | None = None) -> dict:
    import pandas  # noqa: F401 - imported before timing, as a user's session has it

    from fstrack.records.analytics import scalars

    colds, warms, rows = [], [], 0
    for _ in range(runs):
        shutil.rmtree(cache, ignore_errors=True)
        _use_store(url, options, cache)  # fresh TaskDB, no index cache: everything is read from the store
        t0 = time.perf_counter()
        frame = scalars(project=project).to_pandas()
        colds.append(time.perf_counter() - t0)
        rows = len(frame)
        t0 = time.perf_counter()
        frame = scalars(project=project).to_pandas()
        warms.append(time.perf_counter() - t0)
    return {"cold_s": _median(colds), "warm_s": _median(warms), "rows": rows, "all_cold_s": colds}


def plain_pyarrow_read(url: str, project: str, runs: int) -> dict:
    """The same segments read by plain pyarrow (paths listed beforehand, outside the timing)."""
    import pyarrow as pa
    import pyarrow.ipc

    from fstrack.records.analytics import scalar_segment_urls

    _use_store(url)
    paths = scalar_segment_urls(project=project)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        tables = [pyarrow.ipc.open_file(p).read_all() for p in paths]
        pa.concat_tables(tables).to_pandas()
        times.append(time.perf_counter() - t0)
    return {"seconds": _median(times), "files": len(paths)}


def fstrack_storage(url: str, project: str, scalars_total: int) -> dict:
    from fstrack.records import metrics
    from fstrack.records.analytics import _tasks

    _use_store(url)
    from fstrack.records import config

    db = config.get_taskdb()
    segment_bytes = 0
    for record in _tasks(
        db, project=project, task_ids=None, task_name=None, tags=None, allow_archived=True, task_filter=None
    ):
        for _pos, entry in metrics.log_entries(db.refs, record["id"], None):
            info = entry["segments"].get("scalars")
            if info:
                segment_bytes += info["bytes"]
    return {
        "segment_bytes_per_scalar": segment_bytes / scalars_total,
        "store_bytes_per_scalar": _dir_bytes(Path(url)) / scalars_total,
    }


# -- peers (run inside the peer virtualenv) ---------------------------------------------------------------------


def peer_write(name: str, steps: int, workdir: Path) -> dict:
    """One peer's write run: returns wall/cpu µs per call and its on-disk bytes per scalar."""
    workdir.mkdir(parents=True, exist_ok=True)
    values = [1.0 / (i + 1) for i in range(steps)]
    if name == "trackio":
        os.environ["TRACKIO_DIR"] = str(workdir)
        import trackio

        trackio.init(project="bench", name=f"w{time.time_ns()}")

        def loop():
            for i in range(steps):
                trackio.log({"loss": values[i]}, step=i)
            trackio.finish()
    elif name == "tensorboardX":
        from tensorboardX import SummaryWriter

        writer = SummaryWriter(str(workdir / "tb"))

        def loop():
            for i in range(steps):
                writer.add_scalar("loss/train", values[i], i)
            writer.close()
    elif name == "mlflow":
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # the file store is what the issue compares with
        import mlflow

        mlflow.set_tracking_uri((workdir / "mlruns").as_uri())
        mlflow.start_run()

        def loop():
            for i in range(steps):
                mlflow.log_metric("loss", values[i], step=i)
            mlflow.end_run()
    elif name == "wandb":
        os.environ["WANDB_MODE"] = "offline"
        os.environ["WANDB_SILENT"] = "true"
        import wandb

        run = wandb.init(project="bench", dir=str(workdir))

        def loop():
            for i in range(steps):
                run.log({"loss": values[i]}, step=i)
            run.finish()
    elif name == "clearml":
        os.environ["CLEARML_OFFLINE_MODE"] = "1"
        os.environ["CLEARML_CACHE_DIR"] = str(workdir / "cache")
        from clearml import Task

        Task.set_offline(True)
        task = Task.init(
            project_name="bench",
            task_name="write",
            auto_connect_frameworks=False,
            auto_resource_monitoring=False,
            auto_connect_streams=False,
            reuse_last_task_id=False,
        )
        logger = task.get_logger()

        def loop():
            for i in range(steps):
                logger.report_scalar("loss", "train", values[i], i)
            task.close()
    else:
        raise ValueError(name)
    wall, cpu = _timed(loop)
    return {
        "wall_us": wall / steps * 1e6,
        "cpu_us": cpu / steps * 1e6,
        "steps": steps,
        "bytes_per_scalar": _dir_bytes(workdir) / steps,
    }


def peer_populate_and_read(name: str, tasks: int, series: int, steps: int, workdir: Path) -> dict:
    """Write ``tasks`` runs with the peer, then time reading all their scalars into one pandas DataFrame."""
    import pandas as pd

    workdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    curves = [_noisy_curve(rng, steps, 1.0 + k) for k in range(series)]
    if name == "mlflow":
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
        import mlflow
        from mlflow.tracking import MlflowClient

        uri = (workdir / "mlruns").as_uri()
        mlflow.set_tracking_uri(uri)
        experiment = mlflow.set_experiment("bench-read")
        from mlflow.entities import Metric

        client = MlflowClient(uri)
        for n in range(tasks):
            run = client.create_run(experiment.experiment_id, run_name=f"task-{n}")
            now = int(time.time() * 1000)
            metrics = [Metric(f"s{k}", curves[k][i], now, i) for k in range(series) for i in range(steps)]
            for start in range(0, len(metrics), 1000):
                client.log_batch(run.info.run_id, metrics=metrics[start : start + 1000])
            client.set_terminated(run.info.run_id)

        def read():
            client = MlflowClient(uri)
            frames = []
            for run in client.search_runs([experiment.experiment_id], max_results=50000):
                for k in range(series):
                    history = client.get_metric_history(run.info.run_id, f"s{k}")
                    frames.append(
                        pd.DataFrame(
                            {
                                "run": run.info.run_id,
                                "metric": f"s{k}",
                                "step": [m.step for m in history],
                                "value": [m.value for m in history],
                                "timestamp": [m.timestamp for m in history],
                            }
                        )
                    )
            return pd.concat(frames, ignore_index=True)
    elif name == "tensorboardX":
        from tensorboardX import SummaryWriter

        for n in range(tasks):
            writer = SummaryWriter(str(workdir / "tb" / f"task-{n}"))
            for i in range(steps):
                for k in range(series):
                    writer.add_scalar(f"loss/s{k}", curves[k][i], i)
            writer.close()

        def read():
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

            frames = []
            for run_dir in sorted((workdir / "tb").iterdir()):
                acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
                acc.Reload()
                for tag in acc.Tags()["scalars"]:
                    events = acc.Scalars(tag)
                    frames.append(
                        pd.DataFrame(
                            {
                                "run": run_dir.name,
                                "tag": tag,
                                "step": [e.step for e in events],
                                "value": [e.value for e in events],
                                "wall_time": [e.wall_time for e in events],
                            }
                        )
                    )
            return pd.concat(frames, ignore_index=True)
    elif name == "trackio":
        os.environ["TRACKIO_DIR"] = str(workdir)
        import trackio

        for n in range(tasks):
            trackio.init(project="bench-read", name=f"task-{n}")
            for i in range(steps):
                trackio.log({f"s{k}": curves[k][i] for k in range(series)}, step=i)
            trackio.finish()

        def read():
            from trackio.sqlite_storage import SQLiteStorage

            frames = []
            for run in SQLiteStorage.get_runs("bench-read"):
                logs = SQLiteStorage.get_logs("bench-read", run)
                frames.append(pd.DataFrame(logs).assign(run=run))
            return pd.concat(frames, ignore_index=True)
    else:
        return {"skipped": f"{name}: no local read API to benchmark"}
    t0 = time.perf_counter()
    frame = read()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": len(frame)}


def _peer_main(args) -> int:
    try:
        if args.peer_op == "write":
            result = peer_write(args.peer, args.steps, Path(args.workdir))
        else:
            result = peer_populate_and_read(args.peer, args.tasks, 3, args.read_steps, Path(args.workdir))
    except ImportError as exc:
        result = {"skipped": f"{args.peer} is not installed in {sys.executable}: {exc}"}
    except Exception as exc:  # noqa: BLE001 - a broken peer is reported, not fatal
        result = {"skipped": f"{args.peer} failed: {type(exc).__name__}: {exc}"}
    print("RESULT " + json.dumps(result), flush=True)
    return 0


def run_peer(
    python: Path, peer: str, op: str, workdir: Path, steps: int, tasks: int, read_steps: int, timeout: float
) -> dict:
    command = [
        str(python),
        __file__,
        "--peer",
        peer,
        "--peer-op",
        op,
        "--workdir",
        str(workdir),
        "--steps",
        str(steps),
        "--tasks",
        str(tasks),
        "--read-steps",
        str(read_steps),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSTRACK_")}
    env["HOME"] = str(workdir / "home")
    (workdir / "home").mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=workdir)
    except subprocess.TimeoutExpired:
        return {"skipped": f"{peer} {op} took longer than {timeout:.0f}s"}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"skipped": f"{peer} {op} exited {done.returncode}: {done.stderr.strip()[-400:]}"}


def setup_peers(python_venv: Path) -> None:
    if not (python_venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(python_venv)], check=True)
    pip = str(python_venv / "bin" / "pip")
    subprocess.run([pip, "install", "-q", "pandas", "numpy"], check=False)
    for peer in PEERS:
        done = subprocess.run([pip, "install", "-q", *PEER_PACKAGES[peer]], capture_output=True, text=True)
        print(f"{peer}: {'installed' if done.returncode == 0 else 'FAILED: ' + done.stderr.strip()[-300:]}")


# -- the run ------------------------------------------------------------------------------------------------------


def _s3_location():
    sys.path.insert(0, str(REPO / "tests"))
    import servers

    server = servers.start_seaweedfs()
    return server, server.url(f"bench-{time.time_ns()}"), server.storage_options


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs and steps (a smoke run)")
    parser.add_argument("--s3", action="store_true", help="also measure writes with SeaweedFS (S3) as the store")
    parser.add_argument("--scaling", default="", help="comma-separated task counts for the read scaling series")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated peers to run")
    parser.add_argument("--peer-python", default=str(BENCH_VENV / "bin" / "python"))
    parser.add_argument("--setup-peers", action="store_true", help=f"create {BENCH_VENV} with the peers")
    parser.add_argument(
        "--clearml-steps",
        type=int,
        default=10_000,
        help="steps for ClearML offline (~2 ms per call: 100,000 steps would take minutes)",
    )
    parser.add_argument("--peer-read-tasks", type=int, default=200)
    # internal: one peer measurement in the peer virtualenv
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--peer-op", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=100_000, help=argparse.SUPPRESS)
    parser.add_argument("--tasks", type=int, default=200, help=argparse.SUPPRESS)
    parser.add_argument("--read-steps", type=int, default=1000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        return _peer_main(args)
    if args.setup_peers:
        setup_peers(BENCH_VENV)
        return 0

    steps = 20_000 if args.quick else 100_000
    runs = 3 if args.quick else 7
    tasks, series, read_steps = 200, 3, 1000
    scratch = Path(tempfile.mkdtemp(prefix="fstrack-bench-"))
    print(
        f"fstrack logging benchmark  (python {sys.version.split()[0]}, {os.cpu_count()} cpus, "
        f"load average {os.getloadavg()[0]:.1f}; scratch {scratch})"
    )
    results: dict[str, dict] = {}
    try:
        # 1. write
        local = scratch / "write-store"
        results["fstrack"] = fstrack_write(str(local), steps, runs)
        results["bare"] = bare_write(steps, runs)
        server = None
        if args.s3:
            try:
                server, url, options = _s3_location()
                results["fstrack-s3"] = fstrack_write(url, steps, max(3, runs // 2), options)
            except Exception as exc:  # noqa: BLE001
                results["fstrack-s3"] = {"skipped": f"SeaweedFS unavailable: {exc}"}
        peers = [] if args.no_peers else [p for p in args.peers.split(",") if p]
        python = Path(args.peer_python)
        peer_write_results, peer_read_results = {}, {}
        for peer in peers:
            if not python.exists():
                peer_write_results[peer] = {"skipped": f"no peer virtualenv at {python} (run --setup-peers)"}
                continue
            peer_steps = args.clearml_steps if peer == "clearml" else steps
            peer_write_results[peer] = run_peer(
                python, peer, "write", scratch / f"peer-{peer}-write", peer_steps, 0, 0, timeout=1800
            )

        print(f"\n== write: one series x {steps:,} steps, including the final flush/close (median of {runs} runs)")
        base = results["fstrack"]
        print(f"{'':24}{'us/call wall':>14}{'us/call cpu':>14}{'x fstrack (wall)':>18}{'bytes/scalar':>14}")
        print(f"{'fstrack (local)':24}{base['wall_us']:14.3f}{base['cpu_us']:14.3f}{1:18.2f}")
        print(f"{'  (loop only, no close)':24}{base['loop_only_us']:14.3f}")
        if "fstrack-s3" in results:
            r = results["fstrack-s3"]
            if "skipped" in r:
                print(f"{'fstrack (SeaweedFS)':24}  skipped: {r['skipped']}")
            else:
                print(
                    f"{'fstrack (SeaweedFS)':24}{r['wall_us']:14.3f}{r['cpu_us']:14.3f}"
                    f"{r['wall_us'] / base['wall_us']:18.2f}"
                )
        bare = results["bare"]
        print(
            f"{'bare method, 3 lists':24}{bare['wall_us']:14.3f}{bare['cpu_us']:14.3f}"
            f"{bare['wall_us'] / base['wall_us']:18.2f}"
        )
        for peer, r in peer_write_results.items():
            if "skipped" in r:
                print(f"{peer:24}  skipped: {r['skipped']}")
            else:
                note = f"  ({r['steps']:,} steps)" if r["steps"] != steps else ""
                print(
                    f"{peer:24}{r['wall_us']:14.3f}{r['cpu_us']:14.3f}{r['wall_us'] / base['wall_us']:18.1f}"
                    f"{r['bytes_per_scalar']:14.1f}{note}"
                )

        # 2. read + 3. storage
        read_store = scratch / "read-store"
        populate = fstrack_populate(str(read_store), tasks, series, read_steps, "bench-read")
        read = fstrack_read(str(read_store), "bench-read", 3 if args.quick else 7, scratch / "cache")
        plain = plain_pyarrow_read(str(read_store), "bench-read", 3 if args.quick else 7)
        storage = fstrack_storage(str(read_store), "bench-read", tasks * series * read_steps)
        for peer in peers:
            if peer in ("wandb", "clearml"):
                peer_read_results[peer] = {"skipped": f"{peer} offline runs have no local read API"}
                continue
            if not python.exists():
                continue
            peer_read_results[peer] = run_peer(
                python, peer, "read", scratch / f"peer-{peer}-read", 0, args.peer_read_tasks, read_steps, timeout=3600
            )
        print(
            f"\n== read: {tasks} tasks x {series} series x {read_steps:,} steps into one pandas DataFrame "
            f"({read['rows']:,} rows; populating took {populate['seconds']:.1f}s)"
        )
        print(f"{'':34}{'seconds':>10}{'x fstrack cold':>16}")
        print(f"{'fstrack.scalars() cold':34}{read['cold_s']:10.3f}{1:16.2f}")
        print(f"{'fstrack.scalars() warm':34}{read['warm_s']:10.3f}{read['warm_s'] / read['cold_s']:16.2f}")
        print(
            f"{'plain pyarrow, {} files'.format(plain['files']):34}{plain['seconds']:10.3f}"
            f"{plain['seconds'] / read['cold_s']:16.2f}"
        )
        for peer, r in peer_read_results.items():
            if "skipped" in r:
                print(f"{peer:34}  skipped: {r['skipped']}")
            else:
                scaled = "" if args.peer_read_tasks == tasks else f"  ({args.peer_read_tasks} tasks)"
                print(f"{peer:34}{r['seconds']:10.3f}{r['seconds'] / read['cold_s']:16.1f}{scaled}")
        print(
            f"\n== storage: {storage['segment_bytes_per_scalar']:.2f} bytes per scalar in segments, "
            f"{storage['store_bytes_per_scalar']:.2f} bytes per scalar for the whole store "
            f"(noisy float64 values; manifests, index and logs included)"
        )

        # 4. scaling
        counts = [int(c) for c in args.scaling.split(",") if c.strip()]
        if counts:
            print("\n== scaling: read of N tasks x 3 series x 1,000 steps (cold)")
            print(f"{'tasks':>8}{'rows':>14}{'seconds':>10}{'ms per task':>14}{'populate s':>12}")
            scale_store = scratch / "scale-store"
            made = 0
            for count in sorted(counts):
                if count > made:
                    seconds = fstrack_populate_parallel(
                        str(scale_store), count - made, series, read_steps, f"scale-{count}", scratch / "populate-cache"
                    )
                    made = count
                # read every task made so far: select the projects populated up to this count
                projects = [f"scale-{c}" for c in sorted(counts) if c <= count]
                t0 = time.perf_counter()
                shutil.rmtree(scratch / "cache", ignore_errors=True)
                _use_store(str(scale_store), None, scratch / "cache")
                from fstrack.records.analytics import scalars

                table = scalars(project=projects)
                rows = table.num_rows
                del table
                elapsed = time.perf_counter() - t0
                print(f"{count:8d}{rows:14,d}{elapsed:10.2f}{elapsed / count * 1000:14.2f}{seconds:12.1f}")
        if server is not None:
            server.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
