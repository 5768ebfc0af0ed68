"""Queue and agent benchmarks: enqueue-to-start latency, and tasks per second with 1, 4 and 8 agents.

    python benchmarks/bench_queue.py [--backend local|s3|all] [--quick]

Measures, on a local directory and on SeaweedFS (S3, started through ``tests/servers.py`` on 127.0.0.1):

* **latency**: one idle agent process serves a queue; the benchmark enqueues a task every 0.3-1.2 s (so the
  agent is idle, its poll interval backed off to the maximum) and reports, from the moment ``Task.enqueue``
  returned (the entry is in the store): when the agent won the claim, and when the task was ``in_progress``
  (lease written, compare-and-swap done). Local stores wake the agent through filesystem events
  (``watchdog``); object stores are polled (default ``--poll-max`` 1 s). Locally also: until the first line
  of the task's own code runs in the child process the agent starts (Python start-up + imports).
* **throughput**: N agent processes (1, 4, 8) drain M queued tasks; the agents take the full path (claim,
  stale check, lease, ``in_progress`` compare-and-swap, heartbeat, final-status compare-and-swap, lease
  release) but run nothing. Beside it, N processes draining M bare entries with the claim alone
  (``Queues.claims``). Every task is checked to be taken exactly once.

Agents here use the runner of ``tests/workers/agent_drain.py`` (it records the task instead of starting a
process), so the figures are the queue's, not Python's start-up. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import servers  # noqa: E402
from workers.common import WORKERS, Worker, child_env, location_to_json, run_together  # noqa: E402


def _ms(seconds: list[float]) -> str:
    if not seconds:
        return "-"
    ordered = sorted(seconds)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return f"{statistics.median(ordered) * 1000:8.0f} {p90 * 1000:8.0f} {ordered[-1] * 1000:8.0f}"


def _use(loc, cache: str):
    import fstrack
    from fstrack.records import config

    os.environ["FSTRACK_CACHE_DIR"] = cache
    for key, value in loc.env.items():
        os.environ.setdefault(key, value)
    fstrack.set_store(loc.url, **loc.storage_options)
    return config.get_taskdb()


def _wait(predicate, timeout: float, interval: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def latency(loc, samples: int, cache: str) -> dict[str, list[float]]:
    from fstrack import Task

    db = _use(loc, cache)
    Task.enqueue(Task.create(project_name="bench", task_name="warm-up"), queue_name="lat")
    env = child_env(loc)
    env["FSTRACK_CACHE_DIR"] = cache
    agent = Worker("agent_drain.py", location_to_json(loc), "lat", "serve", env=env)
    interval = 0.002 if loc.name == "local" else 0.01
    try:
        agent.expect_ready()
        agent.go()
        if not _wait(lambda: Task.get_num_enqueued_tasks(queue_name="lat") == 0, 60, 0.05):
            raise RuntimeError(f"the agent did not take the warm-up task:\n{agent.stderr()}")
        enqueued: dict[str, float] = {}
        for _ in range(samples):
            time.sleep(random.uniform(0.3, 1.2))
            task = Task.create(project_name="bench", task_name="latency")
            Task.enqueue(task, queue_name="lat")
            enqueued[task.id] = time.time()
            if not _wait(lambda: db.load(task.id)["status"] != "queued", 30, interval):
                raise RuntimeError(f"task not taken in 30 s:\n{agent.stderr()}")
        agent.proc.send_signal(signal.SIGTERM)
        times = agent.result(timeout=60)
    finally:
        agent.kill()
    claim = [claimed - enqueued[t] for t, claimed, _ in times if t in enqueued]
    start = [started - enqueued[t] for t, _, started in times if t in enqueued]
    return {"claim": claim, "in_progress": start}


CHILD = """\
import time
with open(__import__("os").environ["BENCH_LOG"], "a") as f:
    f.write(f"{time.time()}\\n")
"""


def child_latency(loc, samples: int, cache: str, tmp: Path) -> list[float]:
    """Enqueue -> the task's first line runs, in the child process a real agent starts."""
    from fstrack import Task

    db = _use(loc, cache)
    script = tmp / "first_line.py"
    script.write_text(CHILD)
    log = tmp / "first_line.log"
    env = child_env(loc)
    env.update(FSTRACK_CACHE_DIR=cache, BENCH_LOG=str(log), FSTRACK_URL=loc.url)
    agent = subprocess.Popen(
        [
            sys.executable,
            str(WORKERS / "agent_cli.py"),
            location_to_json(loc),
            "agent",
            "--queue",
            "child",
            "--workdir",
            str(tmp / "work"),
            "--watchdog-interval",
            "0",
            "--quiet",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out = []
    try:
        time.sleep(2.0)
        for i in range(samples):
            task = Task.create(project_name="bench", task_name="child", script=str(script), add_task_init_call=False)
            time.sleep(random.uniform(0.3, 1.0))
            Task.enqueue(task, queue_name="child")
            t0 = time.time()
            if not _wait(lambda: log.exists() and len(log.read_text().split()) > i, 60, 0.005):
                raise RuntimeError("the task's code did not start in 60 s")
            out.append(float(log.read_text().split()[i]) - t0)
            _wait(lambda: db.load(task.id)["status"] not in ("queued", "in_progress"), 60, 0.02)
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=60)
        except subprocess.TimeoutExpired:
            agent.kill()
    return out


def throughput(make_location, agents: int, tasks: int, claims_only: bool, cache: str) -> tuple[float, float]:
    """(seconds, tasks per second) for ``agents`` processes draining ``tasks``."""
    from fstrack import Task
    from fstrack.dispatch.queues import Queues

    loc = make_location()
    db = _use(loc, cache)
    queues = Queues(db.store)
    if claims_only:
        qid = queues.ensure("tp")
        ids = [uuid.uuid4().hex for _ in range(tasks)]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda t: queues.push(qid, t, queues.new_entry_name()), ids))
    else:
        Task.enqueue(Task.create(project_name="bench", task_name="warm-up"), queue_name="tp")

        def one(i: int) -> str:
            task = Task.create(project_name="bench", task_name=f"t{i}")
            Task.enqueue(task, queue_name="tp")
            return task.id

        with ThreadPoolExecutor(16) as pool:
            ids = list(pool.map(one, range(tasks)))
    env = child_env(loc)
    env["FSTRACK_CACHE_DIR"] = cache
    mode = "claims" if claims_only else "agent"
    results, seconds = run_together(
        "agent_drain.py", [[location_to_json(loc), "tp", mode]] * agents, env=env, timeout=3600
    )
    taken = Counter(t for r in results for t in r)
    if max(taken.values()) != 1 or not set(ids) <= set(taken):
        raise RuntimeError("a task was taken twice or lost")
    return seconds, len(taken) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("local", "s3", "all"), default="all")
    parser.add_argument("--quick", action="store_true", help="fewer samples and tasks")
    args = parser.parse_args()
    q = 0.5 if args.quick else 1.0
    plan = {
        "local": {"samples": int(20 * q), "agent_tasks": int(1000 * q), "claim_tasks": int(2000 * q)},
        "s3": {"samples": int(15 * q), "agent_tasks": int(240 * q), "claim_tasks": int(480 * q)},
    }
    backends = ["local", "s3"] if args.backend == "all" else [args.backend]
    tmp = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    cache = str(tmp / "cache")
    rows_latency: list[tuple[str, str, list[float]]] = []
    rows_tp: list[tuple[str, str, int, int, float, float]] = []
    srv = None
    try:
        for backend in backends:
            if backend == "local":

                def make():
                    return servers.local_location(tmp / f"store-{uuid.uuid4().hex[:8]}")

                how = "filesystem events"
            else:
                srv = servers.start_seaweedfs()

                def make():
                    return srv.location(f"bench-queue-{uuid.uuid4().hex[:8]}")

                how = "polling, --poll-max 1 s"
            p = plan[backend]
            print(f"[{backend}] latency ({p['samples']} samples) ...", file=sys.stderr, flush=True)
            lat = latency(make(), p["samples"], cache)
            rows_latency.append((backend, f"enqueue -> claim won ({how})", lat["claim"]))
            rows_latency.append((backend, "enqueue -> in_progress (lease + CAS)", lat["in_progress"]))
            if backend == "local":
                print(f"[{backend}] child-process latency ...", file=sys.stderr, flush=True)
                rows_latency.append(
                    (
                        backend,
                        "enqueue -> task's first line (child process)",
                        child_latency(make(), max(3, p["samples"] // 4), cache, tmp),
                    )
                )
            for claims_only, n in ((False, p["agent_tasks"]), (True, p["claim_tasks"])):
                for agents in (1, 4, 8):
                    what = "bare claims" if claims_only else "agents"
                    print(f"[{backend}] {what}: {agents} process(es), {n} tasks ...", file=sys.stderr, flush=True)
                    seconds, rate = throughput(make, agents, n, claims_only, cache)
                    rows_tp.append((backend, what, agents, n, seconds, rate))
    finally:
        if srv is not None:
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nmachine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end\n")
    print(f"{'backend':8} {'latency':48} {'n':>3} {'median':>8} {'p90':>8} {'max':>8}  (ms)")
    for backend, what, values in rows_latency:
        print(f"{backend:8} {what:48} {len(values):3} {_ms(values)}")
    print(f"\n{'backend':8} {'path':12} {'procs':>5} {'tasks':>6} {'seconds':>8} {'tasks/s':>8}")
    for backend, what, agents, n, seconds, rate in rows_tp:
        print(f"{backend:8} {what:12} {agents:5} {n:6} {seconds:8.1f} {rate:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
