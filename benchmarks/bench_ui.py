"""UI benchmarks: API latency and time to a painted page in a real browser (Playwright + Chromium).

    python benchmarks/bench_ui.py [--quick] [--tasks N] [--points N] [--compare N] [--no-browser]

On a local store under /tmp (built once, kept between runs: ``--rebuild`` starts over), with a real
``fstrack ui`` server process:

* a project of N tasks (10,000; 1,000 with ``--quick``) made with ``Task.create`` + ``set_parameters`` +
  ``add_tags``: ``/api/tasks`` first page right after the server starts (cold: no summary cache on the
  machine; then with it), warm, sorted by name / by a hyperparameter, filtered by status and name regex;
  the first page painted in the browser, warm and right after ``fstrack ui`` starts;
* one task with a 1,000,000-point series holding one spike: ``/scalars`` over the whole range and a 1 %
  zoom (points sent, spike kept), first request and warm;
* compare C tasks (100; 10 with ``--quick``) x 3 series x 10,000 points: ``/api/compare/scalars`` and
  the time until every chart is drawn in the browser;
* live: a script reports a point (its own wall clock as the value) and flushes every 0.5 s; the time
  until the open scalars page shows it;
* with ``--s3``: the store pushed to SeaweedFS (started through tests/servers.py) and the API figures there;
* with ``--mlflow-venv PATH`` (a separate virtualenv with ``pip install mlflow``, so its pins do not touch
  this one): ``mlflow server`` on SQLite with the same 1M-point series and the same number of runs,
  through the endpoints its UI uses (``runs/search``, ``get-history-bulk-interval``, ``get-history``).

Medians and p90 (nearest rank) of repeated requests; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("FSTRACK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def child_env(store: Path | str, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSTRACK_")}
    env.update(FSTRACK_URL=str(store), FSTRACK_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return env


def run_python(code: str, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], env=env, capture_output=True, text=True, timeout=3600
    )
    if done.returncode:
        raise RuntimeError(done.stderr)
    return done.stdout


BUILD_TASKS = """\
    import sys
    from fstrack import Task
    first, count = int(sys.argv[1]), int(sys.argv[2])
    for i in range(first, first + count):
        task = Task.create(project_name="bench/many", task_name=f"task {i:06d}")
        task.set_parameters({"General/lr": 10 ** -(i % 5), "General/seed": i})
        task.add_tags(["even" if i % 2 == 0 else "odd"])
"""

BUILD_SERIES = """\
    import sys, time
    import numpy as np
    from fstrack import Task
    points, compare = int(sys.argv[1]), int(sys.argv[2])
    big = Task.create(project_name="bench/series", task_name="one million")
    values = np.sin(np.arange(points) / 1000.0)
    values[points // 3] = 1000.0
    report = big.get_logger().report_scalar
    for i, v in enumerate(values.tolist()):
        report("loss", "train", v, i)
    big.flush(wait_for_uploads=True)
    ids = []
    for t in range(compare):
        task = Task.create(project_name="bench/compare", task_name=f"run {t:03d}")
        task.set_parameters({"General/lr": 0.001 * (t + 1)})
        report = task.get_logger().report_scalar
        base = np.exp(-np.arange(10_000) / (2000.0 + 30 * t))
        for i, v in enumerate(base.tolist()):
            report("loss", "train", v, i)
            report("loss", "validation", v * 1.1, i)
            report("accuracy", "validation", 1 - v / 2, i)
        task.flush(wait_for_uploads=True)
        ids.append(task.id)
    print(big.id)
    print(",".join(ids))
"""

LIVE = """\
    import time
    from fstrack import Task
    task = Task.init(project_name="bench/live", task_name="live")
    print(task.id, flush=True)
    step = 0
    while True:
        task.get_logger().report_scalar("live", "wall", time.time(), iteration=step)
        task.flush()
        step += 1
        time.sleep(0.5)
"""


def build(root: Path, tasks: int, points: int, compare: int, procs: int = 2) -> dict:
    marker = root / "built.json"
    if marker.exists():
        return json.loads(marker.read_text())
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    env = child_env(root / "store", root / "build-cache")
    started = time.monotonic()
    print(f"building {tasks:,} tasks, a {points:,}-point series and {compare} compare tasks in {root} ...", flush=True)
    share = math.ceil(tasks / procs)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(BUILD_TASKS), str(p * share), str(min(share, tasks - p * share))],
            env=env,
        )
        for p in range(procs)
    ]
    out = run_python(BUILD_SERIES, env, str(points), str(compare)).split("\n")
    for worker in workers:
        if worker.wait():
            raise RuntimeError("a build process failed")
    info = {"big": out[0], "compare": out[1].split(","), "tasks": tasks, "points": points}
    marker.write_text(json.dumps(info))
    print(f"  built in {time.monotonic() - started:.0f} s", flush=True)
    return info


def client_for(url: str) -> httpx.Client:
    """An HTTP client with TCP_NODELAY: without it, each keep-alive request waits ~40 ms for a delayed ACK."""
    import socket

    transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    return httpx.Client(base_url=url, timeout=600, transport=transport)


class Server:
    """A ``fstrack ui`` process over the store."""

    def __init__(self, store: Path | str, cache: Path, options: dict | None = None, env: dict | None = None):
        self.env = child_env(Path(store) if not str(store).startswith("s3://") else store, cache)
        self.env.update(env or {})
        flags = [
            f"-o{key}={value if isinstance(value, str) else json.dumps(value)}"
            for key, value in (options or {}).items()
        ]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fstrack", "ui", str(store), *flags, "--port", "0"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        line = self.proc.stdout.readline()
        self.url = re.search(r"(http://\S+)", line).group(1).rstrip("/")
        self.ready = time.monotonic() - self.started
        self.client = client_for(self.url)

    def get(self, path: str, **params) -> tuple[float, dict]:
        started = time.perf_counter()
        response = self.client.get(path, params=params)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        return elapsed, response.json()

    def repeat(self, path: str, reps: int, **params) -> list[float]:
        return [self.get(path, **params)[0] for _ in range(reps)]

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(30)


def line(label: str, times: list[float], extra: str = "") -> None:
    print(
        f"  {label:58} median {ms(statistics.median(times)):>9}  p90 {ms(p90(times)):>9}  (n={len(times)}){extra}",
        flush=True,
    )


def bench_api(root: Path, info: dict, reps: int, location=None) -> dict:
    """API figures on the local store, or on ``location`` (a tests/servers.py StoreLocation) holding a copy."""
    results: dict = {}
    store = location.url if location else root / "store"
    where = {"options": location.storage_options, "env": location.env} if location else {}
    cache = root / ("ui-cache-s3" if location else "ui-cache")
    shutil.rmtree(cache, ignore_errors=True)
    print(f"tasks table of a {info['tasks']:,}-task project ({'SeaweedFS' if location else 'local store'})", flush=True)
    for label in ("cold (no summary cache on this machine)", "server restarted, summary cache present"):
        server = Server(store, cache, **where)
        elapsed, data = server.get("/api/tasks", project="bench/many", limit=100)
        assert data["total"] == info["tasks"], data["total"]
        print(f"  first page right after start, {label:40} {ms(elapsed):>9}  (server up in {server.ready:.2f} s)")
        results[f"first page {label}"] = elapsed
        server.stop()
    server = Server(store, cache, **where)
    server.get("/api/tasks", project="bench/many", limit=100)
    for label, params in (
        ("first page, warm", {}),
        ("sorted by name", {"sort": "name"}),
        ("sorted by a hyperparameter (first: reads every manifest)", {"sort": "-param/General/lr"}),
        ("filtered: status + name regex", {"status": "created", "name": "task 00.*5$"}),
        ("filtered: tag language (-even)", {"tag": "-even"}),
        ("page 50 with a hyperparameter column", {"offset": 5000, "column": "name,param/General/lr"}),
    ):
        first, _ = server.get("/api/tasks", project="bench/many", limit=100, **params)  # computes the ordering
        times = server.repeat("/api/tasks", reps, project="bench/many", limit=100, **params)
        line(label, times, f"  first time {ms(first)}")
        results[label] = statistics.median(times)
    print(f"one task, {info['points']:,} points in one series", flush=True)
    elapsed, data = server.get(f"/api/tasks/{info['big']}/scalars", buckets=2000)
    series = data["series"][0]
    print(
        f"  first request (segments read from the store)               {ms(elapsed):>9}  "
        f"points sent {len(series['x'])}, spike kept: {max(series['max']) == 1000.0}"
    )
    results["1M first"] = elapsed
    times = server.repeat(f"/api/tasks/{info['big']}/scalars", reps, buckets=2000)
    line("whole range, 2,000 buckets, warm", times)
    results["1M warm"] = statistics.median(times)
    lo = info["points"] // 3 - info["points"] // 200
    times = server.repeat(
        f"/api/tasks/{info['big']}/scalars", reps, buckets=2000, x_min=lo, x_max=lo + info["points"] // 100
    )
    _, zoomed = server.get(
        f"/api/tasks/{info['big']}/scalars", buckets=2000, x_min=lo, x_max=lo + info["points"] // 100
    )
    line(
        "1 % zoom around the spike, warm",
        times,
        f"  points {len(zoomed['series'][0]['x'])}, spike kept: {max(zoomed['series'][0]['max']) == 1000.0}",
    )
    results["1M zoom"] = statistics.median(times)
    ids = ",".join(info["compare"])
    print(f"compare {len(info['compare'])} tasks x 3 series x 10,000 points", flush=True)
    elapsed, _ = server.get("/api/compare/scalars", tasks=ids, buckets=500, band=0)
    print(f"  /api/compare/scalars first request                           {ms(elapsed):>9}")
    times = server.repeat("/api/compare/scalars", max(3, reps // 3), tasks=ids, buckets=500, band=0)
    line("/api/compare/scalars warm (500 buckets, no band)", times)
    results["compare api"] = statistics.median(times)
    server.stop()
    return results


def bench_browser(root: Path, info: dict, reps: int) -> dict:
    from playwright.sync_api import sync_playwright

    results: dict = {}
    cache = root / "ui-cache"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        print("browser: time to a painted page (navigation start -> content visible)", flush=True)
        started = time.monotonic()
        server = Server(root / "store", cache)
        page.goto(f"{server.url}/tasks?project=bench/many")
        page.locator("table.tasks tbody tr").first.wait_for()
        after_start = time.monotonic() - started
        print(f"  tasks table right after `fstrack ui` starts (process start -> rows painted) {ms(after_start):>9}")
        results["paint after start"] = after_start
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            page.goto(f"{server.url}/tasks?project=bench/many")
            page.locator("table.tasks tbody tr").first.wait_for()
            times.append(time.perf_counter() - t0)
        line("tasks table of 10,000, warm server (full page load)", times)
        results["paint warm"] = statistics.median(times)
        times = []
        for i in range(reps):
            t0 = time.perf_counter()
            page.locator("table.tasks th", has_text="name").click()
            page.wait_for_function(
                "n => document.querySelector('table.tasks tbody tr') && "
                "location.search.includes('sort=') && performance.now() > 0",
                arg=i,
            )
            page.wait_for_load_state("networkidle")
            times.append(time.perf_counter() - t0)
        line("sort by clicking a column header (until network idle)", times)
        results["sort click"] = statistics.median(times)
        times = []
        for _ in range(max(2, reps // 2)):
            t0 = time.perf_counter()
            page.goto(f"{server.url}/task/{info['big']}/scalars")
            page.wait_for_function(
                "() => { const p = document.querySelector('.chart .js-plotly-plot'); "
                "return p && p.data && p.data.length > 0 && p.querySelector('.scatterlayer path'); }"
            )
            times.append(time.perf_counter() - t0)
        line("1,000,000-point chart painted (full page load)", times)
        results["1M paint"] = statistics.median(times)
        ids = ",".join(info["compare"])
        n = len(info["compare"])
        times = []
        for _ in range(max(2, reps // 3)):
            t0 = time.perf_counter()
            page.goto(f"{server.url}/compare?ids={ids}")
            page.wait_for_function(
                "n => { const plots = [...document.querySelectorAll('.chart .js-plotly-plot')]; "
                "return plots.length === 2 && plots.every(p => p.data && "
                "p.data.filter(t => t.showlegend !== false).length >= n); }",
                arg=n,
                timeout=600_000,
            )
            times.append(time.perf_counter() - t0)
        line(f"compare {n} tasks x 3 series: every chart painted", times)
        results["compare paint"] = statistics.median(times)
        live = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(LIVE)],
            env=server.env,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            task_id = live.stdout.readline().strip()
            page.goto(f"{server.url}/task/{task_id}/scalars")
            page.wait_for_function("() => document.querySelector('.chart .js-plotly-plot')", timeout=600_000)
            delays = []
            for _ in range(max(4, reps)):
                newest = page.evaluate("() => Math.max(...document.querySelector('.chart .js-plotly-plot').data[0].x)")
                page.wait_for_function(
                    "n => Math.max(...document.querySelector('.chart .js-plotly-plot').data[0].x) > n",
                    arg=newest,
                    timeout=600_000,
                    polling=50,
                )
                shown = time.time()
                value = page.evaluate(
                    "n => { const d = document.querySelector('.chart .js-plotly-plot').data[0]; "
                    "return d.y[d.x.findIndex(x => x > n)]; }",
                    newest,
                )
                delays.append(shown - value)  # the oldest point not shown before: the longest wait
            line("live: reported + flushed -> visible on the open chart", delays)
            results["live"] = statistics.median(delays)
        finally:
            os.killpg(live.pid, signal.SIGKILL)
            live.wait(30)
        server.stop()
        browser.close()
    return results


MLFLOW_BUILD = """\
    import sys, time
    import numpy as np
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag
    client = MlflowClient(sys.argv[1])
    points, runs = int(sys.argv[2]), int(sys.argv[3])
    experiment = client.create_experiment("bench")
    big = client.create_run(experiment, run_name="one million").info.run_id
    values = np.sin(np.arange(points) / 1000.0)
    values[points // 3] = 1000.0
    now = int(time.time() * 1000)
    for start in range(0, points, 1000):
        batch = range(start, min(points, start + 1000))
        client.log_batch(big, metrics=[Metric("loss", float(values[i]), now, i) for i in batch])
    for i in range(runs):
        run = client.create_run(experiment, run_name=f"task {i:06d}").info.run_id
        client.log_batch(run, params=[Param("lr", str(10 ** -(i % 5))), Param("seed", str(i))],
                         tags=[RunTag("parity", "even" if i % 2 == 0 else "odd")])
    print(experiment)
    print(big)
"""


def bench_mlflow(root: Path, venv: Path, info: dict, reps: int) -> None:
    """MLflow's server (SQLite store) on the same 1M-point series and a project of the same size, through the
    endpoints its UI uses: runs/search (the runs table), metrics/get-history and get-history-bulk-interval."""
    import socket

    work = root / "mlflow"
    marker = work / "built.json"
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FSTRACK_", "PYTHON"))}
    if not marker.exists():
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    command = [
        str(venv / "bin" / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{work / 'mlflow.db'}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    server = subprocess.Popen(
        command, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        client = client_for(url)
        deadline = time.monotonic() + 300
        while True:
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not start")
            time.sleep(0.5)
        if not marker.exists():
            print(f"building the MLflow corpus ({info['points']:,} points, {info['tasks']:,} runs) ...", flush=True)
            started = time.monotonic()
            out = subprocess.run(
                [
                    str(venv / "bin" / "python"),
                    "-c",
                    textwrap.dedent(MLFLOW_BUILD),
                    url,
                    str(info["points"]),
                    str(info["tasks"]),
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=7200,
            )
            if out.returncode:
                raise RuntimeError(out.stderr)
            experiment, big = out.stdout.split()
            marker.write_text(json.dumps({"experiment": experiment, "big": big}))
            print(f"  built in {time.monotonic() - started:.0f} s", flush=True)
        corpus = json.loads(marker.read_text())

        def timed(method: str, path: str, **kwargs) -> tuple[float, dict]:
            t0 = time.perf_counter()
            response = client.request(method, path, **kwargs)
            elapsed = time.perf_counter() - t0
            response.raise_for_status()
            return elapsed, response.json()

        print(f"MLflow {url} (SQLite), same corpus", flush=True)
        search = {
            "experiment_ids": [corpus["experiment"]],
            "max_results": 100,
            "order_by": ["attributes.start_time DESC"],
        }
        times = [timed("POST", "/api/2.0/mlflow/runs/search", json=search)[0] for _ in range(reps)]
        line(f"runs/search, first page of {info['tasks']:,} runs", times)
        by_name = dict(search, order_by=["attributes.run_name ASC"])
        times = [timed("POST", "/api/2.0/mlflow/runs/search", json=by_name)[0] for _ in range(reps)]
        line("runs/search sorted by name", times)
        param = dict(search, order_by=["params.lr DESC"])
        times = [timed("POST", "/api/2.0/mlflow/runs/search", json=param)[0] for _ in range(reps)]
        line("runs/search sorted by a param", times)
        bulk = {"run_ids": corpus["big"], "metric_key": "loss", "max_results": 320}
        elapsed, data = timed("GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval", params=bulk)
        sampled = data.get("metrics", [])
        times = [
            timed("GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval", params=bulk)[0] for _ in range(reps)
        ]
        line(
            "get-history-bulk-interval (what its charts ask: 320 points)",
            times,
            f"  points {len(sampled)}, spike kept: {any(m['value'] == 1000.0 for m in sampled)}",
        )
        t0 = time.perf_counter()
        token, total = None, 0
        while True:
            params = {"run_id": corpus["big"], "metric_key": "loss", "max_results": 25000}
            if token:
                params["page_token"] = token
            _, page = timed("GET", "/api/2.0/mlflow/metrics/get-history", params=params)
            total += len(page.get("metrics", []))
            token = page.get("next_page_token")
            if not token:
                break
        print(f"  get-history, every page (all {total:,} points)                 {ms(time.perf_counter() - t0):>9}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)


def bench_s3(root: Path, info: dict, reps: int) -> None:
    """Start SeaweedFS (tests/servers.py), push the local store there with ``fstrack push``, measure the API."""
    sys.path.insert(0, str(ROOT / "tests"))
    import servers

    from fstrack.sync import push

    srv = servers.start_seaweedfs()
    try:
        location = srv.location("bench-ui")
        started = time.monotonic()
        summary = push(
            str(root / "store"), location.url, dst_options=location.storage_options, cache_dir=str(root / "push-cache")
        )
        print(
            f"pushed to SeaweedFS: {summary['objects_copied']:,} objects, {summary['refs_appended']:,} ref entries "
            f"in {time.monotonic() - started:.0f} s",
            flush=True,
        )
        bench_api(root, info, reps, location)
    finally:
        srv.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 tasks, 100,000 points, 10 compared tasks")
    parser.add_argument("--tasks", type=int)
    parser.add_argument("--points", type=int)
    parser.add_argument("--compare", type=int)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--root", default=os.path.join(tempfile.gettempdir(), "fstrack-bench-ui"))
    parser.add_argument("--rebuild", action="store_true", help="build the store again")
    parser.add_argument("--no-browser", action="store_true", help="API figures only")
    parser.add_argument("--mlflow-venv", help="a virtualenv with mlflow installed: run its server on the same corpus")
    parser.add_argument("--no-local", action="store_true", help="skip the figures on the local store")
    parser.add_argument("--s3", action="store_true", help="also push the store to SeaweedFS and measure the API there")
    args = parser.parse_args()
    tasks = args.tasks or (1_000 if args.quick else 10_000)
    points = args.points or (100_000 if args.quick else 1_000_000)
    compare = args.compare or (10 if args.quick else 100)
    root = Path(args.root) / f"t{tasks}-p{points}-c{compare}"
    if args.rebuild:
        shutil.rmtree(root, ignore_errors=True)
    info = build(root, tasks, points, compare)
    if not args.no_local:
        bench_api(root, info, args.reps)
        if not args.no_browser:
            bench_browser(root, info, max(3, args.reps // 2))
    if args.s3:
        bench_s3(root, info, args.reps)
    if args.mlflow_venv:
        bench_mlflow(root, Path(args.mlflow_venv), info, args.reps)


if __name__ == "__main__":
    main()
