"""Task benchmarks: ``Task.init`` / ``close`` beside ClearML, MLflow, trackio and TensorBoard, and queries.

    python benchmarks/bench_task.py [--quick] [--no-peers] [--setup-peers] [--tasks N]

Measures, on a local store (a temporary directory; ``FSTRACK_URL`` and ``FSTRACK_CACHE_DIR``
point into it):

* ``Task.init`` warm: in one process, repeated init -> close on a fresh project/name each time
  ("new task"), and init -> close on the same project/name each time ("reuse": the previous task
  is reset and reused, ClearML's rule);
* ``close``: right after ``init`` (it then waits for the background capture of the execution
  record: git, requirements, runtime), and once that capture has finished ("settled": what a
  script that ran for more than a fraction of a second sees);
* ``Task.init`` first: a fresh ``python -c "from fstrack import Task; Task.init(...)"``, timed from
  just before the process is spawned to the moment ``init`` returns, raw and net of a bare
  ``python -c "import sys"`` (median minus median);
* the same for ClearML in offline mode (``Task.set_offline(True)`` then ``Task.init``/``close``),
  MLflow (``start_run``/``end_run``, file store), trackio (``init``/``finish``) and
  tensorboardX (``SummaryWriter(...)``/``close()``), in a separate venv
  (``--peer-venv``, default /work/bench-venv-task; ``--setup-peers`` creates it);
* ``Task.get_tasks`` over N tasks (10,000; 1,000 with ``--quick``): a cold query (fresh process,
  empty index cache), a fresh process with the index cache, a warm query (same process, second
  call) and a filtered one (``project_name=..., task_filter={"status": ["completed"]}``),
  counting ``TaskDB.load`` calls, manifest fetches (``TaskDB._manifest`` cache misses) and index
  summary reads. The N-task store is built once (``TaskDB.create`` in a few processes) and kept
  under /tmp between runs.

Every timed script runs as ``train_<tool>.py`` in a throwaway git repository with one commit (what a
user's script looks like), with HOME pointing into the temporary directory, so no tool reads
or writes the user's own configuration. First-process runs of all tools are interleaved, so
load from other processes on the machine spreads over all of them. Medians and p90
(nearest rank) are reported; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PEER_VENV = "/work/bench-venv-task"
PEER_PACKAGES = {  # tool -> pip requirement (mlflow-skinny: the tracking client without the server)
    "clearml": "clearml",
    "mlflow": "mlflow-skinny",
    "trackio": "trackio",
    "tensorboardX": "tensorboardX",
}
PEER_IMPORTS = {"clearml": "clearml", "mlflow": "mlflow", "trackio": "trackio", "tensorboardX": "tensorboardX"}
STORE_LAYOUT = "v3"  # bump when the populated store's shape changes
ISSUE_REFERENCE = {  # the issue's reference medians (ms)
    ("clearml", "init warm"): 20.0,
    ("clearml", "init first (raw)"): 315.0,
    ("clearml", "close"): 11000.0,
    ("mlflow", "init warm"): 4.6,
    ("trackio", "init warm"): 5.3,
    ("tensorboardX", "init warm"): 1.1,
}
TARGETS = {"init warm": 2.0, "close": 20.0, "close (settled)": 20.0}


# ---------------------------------------------------------------------------
# plans
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    warm_reps: int  # fstrack: timed init/close pairs per loop
    warm_warmup: int
    first_reps: int  # fresh processes per tool (and baseline)
    peer_warm_reps: int
    clearml_warm_reps: int  # ClearML's close takes ~11 s
    clearml_budget_s: float  # and sometimes hangs: stop restarting stalled workers after this long
    peer_settle_s: float
    tasks: int
    query_procs: int  # fresh processes for the cold / index-cached queries
    query_warm_procs: int  # of which this many also time warm repeats
    query_warm_reps: int
    populate_procs: int


FULL = Plan(
    warm_reps=80,
    warm_warmup=5,
    first_reps=10,
    peer_warm_reps=30,
    clearml_warm_reps=3,
    clearml_budget_s=120,
    peer_settle_s=0.3,
    tasks=10_000,
    query_procs=5,
    query_warm_procs=3,
    query_warm_reps=5,
    populate_procs=3,
)
QUICK = Plan(
    warm_reps=25,
    warm_warmup=3,
    first_reps=5,
    peer_warm_reps=0,
    clearml_warm_reps=0,
    clearml_budget_s=0,
    peer_settle_s=0.3,
    tasks=1_000,
    query_procs=3,
    query_warm_procs=2,
    query_warm_reps=5,
    populate_procs=2,
)


# ---------------------------------------------------------------------------
# statistics and printing
# ---------------------------------------------------------------------------


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else math.nan


def p90(xs: list[float]) -> float:
    if not xs:
        return math.nan
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def fmt_ms(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_ratio(x: float | None) -> str:
    if x is None or math.isnan(x) or math.isinf(x):
        return "-"
    return f"{x:.2f}x" if x < 10 else f"{x:.0f}x"


def table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        out = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "| " + " | ".join(out) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


@dataclass
class Row:
    tool: str
    op: str  # "init warm", "init warm (reuse)", "init first (raw)", "init first (net)", "close", ...
    call: str
    samples: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # CPU ms of the calling thread (first: of the process)
    fixed_median: float | None = None  # for derived rows (net = raw - baseline)
    fixed_p90: float | None = None
    fixed_min: float | None = None
    fixed_cpu: float | None = None
    note: str = ""

    @property
    def med(self) -> float:
        return self.fixed_median if self.fixed_median is not None else median(self.samples)

    @property
    def p90(self) -> float:
        return self.fixed_p90 if self.fixed_p90 is not None else p90(self.samples)

    @property
    def min(self) -> float:
        return self.fixed_min if self.fixed_min is not None else (min(self.samples) if self.samples else math.nan)

    @property
    def cpu_med(self) -> float:
        return self.fixed_cpu if self.fixed_cpu is not None else median(self.cpu)


def lifecycle_table(rows: list[Row]) -> str:
    fst = {r.op: r for r in rows if r.tool == "fstrack"}
    headers = [
        "tool",
        "measure",
        "call",
        "n",
        "median ms",
        "p90 ms",
        "min ms",
        "cpu ms",
        "vs fstrack",
        "issue ref ms",
        "target ms",
        "note",
    ]
    body = []
    for r in rows:
        base = fst.get(r.op)
        if r.op == "close" and r.tool != "fstrack":
            base = fst.get("close")
        ratio = (r.med / base.med) if (base is not None and r.tool != "fstrack" and base.med > 0) else None
        target = TARGETS.get(r.op) if r.tool == "fstrack" else None
        met = ""
        if target is not None and not math.isnan(r.med):
            met = " ok" if r.med <= target else " MISSED"
        ref = ISSUE_REFERENCE.get((r.tool, r.op))
        body.append(
            [
                r.tool,
                r.op,
                r.call,
                str(len(r.samples)) if r.samples else "-",
                fmt_ms(r.med),
                fmt_ms(r.p90),
                fmt_ms(r.min),
                fmt_ms(r.cpu_med),
                fmt_ratio(ratio) if ratio is not None else "",
                fmt_ms(ref) if ref else "",
                (fmt_ms(target) + met) if target is not None else "",
                r.note,
            ]
        )
    return table(headers, body, right={3, 4, 5, 6, 7, 8, 9})


# ---------------------------------------------------------------------------
# the timed scripts (written as train_<tool>.py into a throwaway git repository)
# ---------------------------------------------------------------------------

# Each tool gets a script of its own holding only its own imports: ClearML analyses the script's imports
# (its AST) for the requirements it records, so a shared script would make it resolve every peer.
WORKER_HEAD = r"""
import json, os, sys, time

spec = json.loads(sys.argv[1])
tool, tmp = spec["tool"], spec["tmp"]
clock = time.perf_counter_ns
result = {"tool": tool}
"""

ADAPTERS = {
    "fstrack": r"""
from fstrack import Task


def init(project, name):
    return Task.init(project_name=project, task_name=name)


def close(h):
    h.close()


def settle(h):  # wait for the background capture (git, requirements, runtime) that close joins
    if h._capture is not None:
        h._capture.result()
""",
    "clearml": r"""
from clearml import Task

Task.set_offline(True)


def init(project, name):
    return Task.init(project_name=project, task_name=name)


def close(h):
    h.close()


def settle(h):
    time.sleep(spec["settle_s"])
""",
    "mlflow": r"""
import mlflow

mlflow.set_tracking_uri("file:" + os.path.join(tmp, "mlruns"))


def init(project, name):
    return mlflow.start_run(run_name=name)


def close(h):
    mlflow.end_run()


def settle(h):
    time.sleep(spec["settle_s"])
""",
    "trackio": r"""
import trackio


def init(project, name):
    return trackio.init(project=project.replace("/", "-"), name=name)


def close(h):
    trackio.finish()


def settle(h):
    time.sleep(spec["settle_s"])
""",
    "tensorboardX": r"""
from tensorboardX import SummaryWriter


def init(project, name):
    return SummaryWriter(logdir=os.path.join(tmp, "tb", project, name))


def close(h):
    h.close()


def settle(h):
    time.sleep(spec["settle_s"])
""",
}

WORKER_TAIL = r"""
cpu = time.thread_time_ns  # CPU time of this (the calling) thread only


def save():
    with open(spec["out"] + ".tmp", "w") as f:
        json.dump(result, f)
    os.replace(spec["out"] + ".tmp", spec["out"])  # the parent watches this file for progress


def loop(kind, reps, warmup):
    out = result[kind] = {"init": [], "close": [], "init_cpu": [], "close_cpu": []}
    for i in range(warmup + reps):
        if kind == "reuse":
            project, name = "bench/reuse", "same-name"
        else:
            project, name = "bench/%s-%s-%d" % (spec["tag"], kind, i), "run-%d" % i
        c0, t0 = cpu(), clock()
        h = init(project, name)
        t1, c1 = clock(), cpu()
        if kind == "settled":
            settle(h)
            c1, t1 = cpu(), clock()
        close(h)
        t2, c2 = clock(), cpu()
        if i >= warmup:
            if kind != "settled":
                out["init"].append((t1 - t0) / 1e6)
                out["init_cpu"].append((c1 - c0) / 1e6)
            out["close"].append((t2 - t1) / 1e6)
            out["close_cpu"].append((c2 - c1) / 1e6)
        save()


for kind, reps in spec["loops"]:
    loop(kind, reps, spec["warmup"])
result["done"] = True
save()
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)  # the tools' exit hooks are not part of any measurement
"""

FIRST_CODE = {  # the statement timed in a fresh process; {p} project, {n} name, {tmp} temp dir
    "baseline": "import sys",
    "fstrack": "from fstrack import Task; Task.init(project_name={p!r}, task_name={n!r})",
    "fstrack-import": "from fstrack import Task",
    "clearml": "from clearml import Task; Task.set_offline(True); Task.init(project_name={p!r}, task_name={n!r})",
    "mlflow": (
        "import mlflow; mlflow.set_tracking_uri('file:' + {tmp!r} + '/mlruns-first'); mlflow.start_run(run_name={n!r})"
    ),
    "trackio": "import trackio; trackio.init(project={p!r}.replace('/', '-'), name={n!r})",
    "tensorboardX": "from tensorboardX import SummaryWriter; SummaryWriter(logdir={tmp!r} + '/tb-first/' + {n!r})",
}
MARK = "@@FSTRACK-BENCH-T="


def make_user_repo(root: Path) -> Path:
    """A throwaway git repository holding train_<tool>.py (the timed scripts), committed once."""
    repo = root / "user-project"
    repo.mkdir(parents=True)
    for tool, adapter in ADAPTERS.items():
        (repo / f"train_{tool}.py").write_text(WORKER_HEAD + adapter + WORKER_TAIL)
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.invalid",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.invalid",
    )
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "train"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    return repo


def tool_env(tmp: Path, tool: str) -> dict[str, str]:
    env = dict(os.environ)
    for k in list(env):  # the store and cache of this run only
        if k.startswith(("FSTRACK_", "CLEARML_", "TRAINS_", "MLFLOW_", "TRACKIO_")):
            del env[k]
    home = tmp / "home" / tool
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        FSTRACK_URL=str(tmp / "store" / tool),
        FSTRACK_CACHE_DIR=str(tmp / "cache" / tool),
        MLFLOW_ALLOW_FILE_STORE="true",
        TRACKIO_DIR=str(tmp / "trackio" / tool),
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        DO_NOT_TRACK="1",
        PYTHONUNBUFFERED="1",
        GIT_CONFIG_NOSYSTEM="1",
    )
    return child_env(env, tmp / "pycache")


def python_for(tool: str, peer_python: str | None) -> str:
    return sys.executable if tool.startswith(("fstrack", "baseline")) else peer_python  # type: ignore[return-value]


def tail(text: str, n: int = 6) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


@dataclass
class Child:
    returncode: int | None  # None: killed because it stalled
    stdout: str
    stderr: str


def run_child(
    argv: list[str],
    *,
    cwd: Path | str,
    env: dict[str, str],
    timeout: float,
    progress: Path | None = None,
    stall: float | None = None,
) -> Child:
    """Run a process to its end with output in files, in a session of its own.

    Output goes to files, not pipes, and the whole process group is killed once the process has exited:
    ClearML forks a monitor process that outlives ``os._exit`` of its parent by up to 30 s and would
    otherwise hold a pipe open (and keep running during the next measurement). With ``progress`` and
    ``stall``, the process is killed when that file has not changed for ``stall`` seconds
    (``returncode`` is then None).
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True
        )
        started = last_change = time.monotonic()
        seen = None
        returncode: int | None = None
        try:
            while True:
                try:
                    returncode = proc.wait(timeout=0.25 if stall else timeout)
                    break
                except subprocess.TimeoutExpired:
                    now = time.monotonic()
                    if now - started > timeout:
                        if progress is not None:
                            break  # keep what it did: killed below, returncode None
                        raise RuntimeError(f"timed out after {timeout:g} s") from None
                    if stall:
                        try:
                            mtime = os.stat(progress).st_mtime_ns  # type: ignore[arg-type]
                        except FileNotFoundError:
                            mtime = None
                        if mtime != seen:
                            seen, last_change = mtime, now
                        elif now - last_change > stall:
                            break  # stalled: killed below
        finally:
            try:
                os.killpg(proc.pid, 9)  # whatever the process left behind (its group is its own)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
        out.seek(0)
        err.seek(0)
        return Child(returncode, out.read(), err.read())


def child_env(base: dict[str, str], pycache: Path) -> dict[str, str]:
    """Bytecode cached (in a temporary prefix), as in a normal install: this environment may disable it."""
    env = dict(base)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def run_warm(
    tool: str,
    python: str,
    repo: Path,
    tmp: Path,
    loops: list[tuple[str, int]],
    warmup: int,
    settle_s: float,
    timeout: float,
    notes: list[str],
    stall: float = 60.0,
    attempts: int = 4,
    budget: float | None = None,
) -> dict:
    """Timed init/close pairs in one process; a process that stalls (no pair done for ``stall`` s) is
    killed and a new one (with its own warm-up) does the pairs still missing, until ``budget`` s."""
    began = time.monotonic()
    merged: dict[str, dict[str, list[float]]] = {}
    work = tmp / "work" / tool
    work.mkdir(parents=True, exist_ok=True)
    stalls = 0
    for attempt in range(attempts):
        todo = [(kind, reps - len(merged.get(kind, {}).get("close", []))) for kind, reps in loops]
        todo = [(kind, reps) for kind, reps in todo if reps > 0]
        if not todo or (budget is not None and attempt and time.monotonic() - began > budget):
            break
        out = tmp / f"warm-{tool}-{attempt}.json"
        spec = {
            "tool": tool,
            "tmp": str(work),
            "out": str(out),
            "loops": todo,
            "warmup": warmup,
            "settle_s": settle_s,
            "tag": f"{tool}{attempt}",
        }
        left = timeout if budget is None else max(60.0, budget - (time.monotonic() - began))
        proc = run_child(
            [python, f"train_{tool}.py", json.dumps(spec)],
            cwd=repo,
            env=tool_env(tmp, tool),
            timeout=min(timeout, left),
            progress=out,
            stall=stall,
        )
        if not out.exists():
            if proc.returncode is None:
                stalls += 1
                continue
            raise RuntimeError(f"exit code {proc.returncode}: {tail(proc.stderr or proc.stdout)}")
        part = json.loads(out.read_text())
        for kind, _ in todo:
            for key, values in part.get(kind, {}).items():
                merged.setdefault(kind, {}).setdefault(key, []).extend(values)
        if proc.returncode is None:
            stalls += 1
        elif not part.get("done"):
            raise RuntimeError(f"exit code {proc.returncode}: {tail(proc.stderr or proc.stdout)}")
    if stalls:
        done = {kind: len(merged.get(kind, {}).get("close", [])) for kind, _ in loops}
        notes.append(
            f"{tool} warm: {stalls} worker process(es) stalled (no init/close pair done in {stall:g} s, or "
            f"over the time budget) and were killed; pairs collected: {done}"
        )
        merged["stalls"] = {"count": stalls, "after": stall}  # type: ignore[assignment]
    return merged


def run_first(tool: str, python: str, repo: Path, tmp: Path, i: int) -> tuple[float, float]:
    """(ms from just before spawning ``python -c CODE`` to the moment CODE has run, CPU ms of that process)."""
    code = FIRST_CODE[tool].format(p="bench/first", n=f"first-{i}", tmp=str(tmp / "work" / tool))
    code += (
        f"\nimport os as _o, sys as _s, time as _t; _s.stdout.write('\\n{MARK}%d,%d\\n' % "
        "(_t.clock_gettime_ns(_t.CLOCK_MONOTONIC), _t.process_time_ns())); _s.stdout.flush(); _o._exit(0)"
    )
    env = tool_env(tmp, tool.split("-")[0] if tool != "baseline" else "baseline")
    start = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    proc = run_child([python, "-c", code], cwd=repo, env=env, timeout=300)
    m = re.search(re.escape(MARK) + r"(\d+),(\d+)", proc.stdout)
    if not m:
        raise RuntimeError(f"exit code {proc.returncode}: {tail(proc.stderr or proc.stdout)}")
    return (int(m.group(1)) - start) / 1e6, int(m.group(2)) / 1e6


# ---------------------------------------------------------------------------
# peers' venv
# ---------------------------------------------------------------------------


def setup_peer_venv(venv: str) -> None:
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        print(f"creating {venv} ...", flush=True)
        subprocess.run(["python3", "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=False)
    for tool, req in [("fstrack", "-e " + str(REPO)), *PEER_PACKAGES.items()]:
        print(f"installing {req} into {venv} ...", flush=True)
        r = subprocess.run([py, "-m", "pip", "install", "-q", *req.split()], capture_output=True, text=True)
        if r.returncode:
            print(f"  {tool}: install failed: {tail(r.stderr, 3)}")


def peer_versions(py: str) -> dict[str, str | None]:
    """tool -> version, or None with the reason printed, for the peers importable in ``py``."""
    code = textwrap.dedent("""
        import importlib, importlib.metadata as md, json, sys
        out = {}
        for tool, (mod, dist) in json.loads(sys.argv[1]).items():
            try:
                importlib.import_module(mod)
                out[tool] = md.version(dist)
            except Exception as exc:
                out[tool] = "ERROR " + type(exc).__name__ + ": " + str(exc)[:200]
        print(json.dumps(out))
    """)
    arg = json.dumps({t: (PEER_IMPORTS[t], PEER_PACKAGES[t]) for t in PEER_PACKAGES})
    r = subprocess.run(
        [py, "-c", code, arg], capture_output=True, text=True, timeout=300, env=dict(os.environ, HF_HUB_OFFLINE="1")
    )
    if r.returncode:
        raise RuntimeError(tail(r.stderr))
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# Task.init / close
# ---------------------------------------------------------------------------


def bench_lifecycle(plan: Plan, peers: list[str], peer_python: str | None, tmp: Path, notes: list[str]) -> list[Row]:
    repo = make_user_repo(tmp)
    rows: list[Row] = []

    # warm, in one process each
    print(f"fstrack warm: {plan.warm_reps} init/close pairs per loop (new, settled, reuse) ...", flush=True)
    loops = [("new", plan.warm_reps), ("settled", plan.warm_reps), ("reuse", plan.warm_reps)]
    t0 = time.perf_counter()
    res = run_warm("fstrack", sys.executable, repo, tmp, loops, plan.warm_warmup, plan.peer_settle_s, 900, notes)
    print(f"  {time.perf_counter() - t0:.1f} s", flush=True)
    warm: dict[str, dict] = {"fstrack": res}
    for tool in peers:
        reps = plan.clearml_warm_reps if tool == "clearml" else plan.peer_warm_reps
        loops = [("new", reps)] if tool == "clearml" else [("new", reps), ("settled", max(5, reps // 4))]
        print(f"{tool} warm: {reps} init/close pairs ...", flush=True)
        t0 = time.perf_counter()
        try:
            clearml = tool == "clearml"  # a close takes 5-11 s; one that takes over 45 s has hung
            warm[tool] = run_warm(
                tool,
                peer_python,
                repo,
                tmp,
                loops,
                1 if clearml else plan.warm_warmup,
                plan.peer_settle_s,
                900,
                notes,
                stall=45 if clearml else 120,
                budget=plan.clearml_budget_s if clearml else None,
            )
        except Exception as exc:  # noqa: BLE001 - report and go on
            print(f"  {tool} warm run failed: {exc}")
            notes.append(f"{tool} warm: failed: {exc}")
        print(f"  {time.perf_counter() - t0:.1f} s", flush=True)

    # first: fresh processes, interleaved across tools
    first_tools = ["baseline", "fstrack-import", "fstrack", *(["baseline-peer"] if peers else []), *peers]
    firsts: dict[str, list[tuple[float, float]]] = {t: [] for t in first_tools}
    failed: dict[str, str] = {}
    print(f"first-process runs: {plan.first_reps} per tool (+1 warm-up each), interleaved ...", flush=True)
    t0 = time.perf_counter()
    for i in range(plan.first_reps + 1):
        for tool in first_tools:
            if tool in failed:
                continue
            python = peer_python if tool == "baseline-peer" else python_for(tool, peer_python)
            try:
                sample = run_first("baseline" if tool == "baseline-peer" else tool, python, repo, tmp, i)
            except Exception as exc:  # noqa: BLE001 - report and go on
                failed[tool] = str(exc)
                print(f"  {tool} first-process run failed: {exc}")
                notes.append(f"{tool} first: failed: {exc}")
                continue
            if i:  # the first round warms the page cache and writes .pyc files
                firsts[tool].append(sample)
    print(f"  {time.perf_counter() - t0:.1f} s", flush=True)

    def walls(tool: str) -> list[float]:
        return [w for w, _ in firsts.get(tool, [])]

    def cpus(tool: str) -> list[float]:
        return [c for _, c in firsts.get(tool, [])]

    rows.append(
        Row("python", "baseline", 'bare `python -c "import sys"` (project venv)', walls("baseline"), cpus("baseline"))
    )
    if firsts.get("baseline-peer"):
        rows.append(
            Row(
                "python",
                "baseline",
                'bare `python -c "import sys"` (peer venv)',
                walls("baseline-peer"),
                cpus("baseline-peer"),
            )
        )

    def net_row(tool: str, op: str, call: str, base: str, source: str | None = None) -> Row:
        source = source or tool
        raw, b = walls(source), median(walls(base))
        return Row(
            tool,
            op,
            call,
            [],
            fixed_median=median(raw) - b,
            fixed_p90=p90(raw) - b,
            fixed_min=min(raw) - b,
            fixed_cpu=median(cpus(source)) - median(cpus(base)),
        )

    def tool_rows(tool: str, init_call: str, close_call: str, base: str) -> None:
        w = warm.get(tool, {})
        if "new" in w:
            rows.append(Row(tool, "init warm", init_call + " (new task)", w["new"]["init"], w["new"]["init_cpu"]))
        if "reuse" in w:
            rows.append(
                Row(
                    tool,
                    "init warm (reuse)",
                    init_call + " (same project+name: reused)",
                    w["reuse"]["init"],
                    w["reuse"]["init_cpu"],
                )
            )
        if firsts.get(tool):
            rows.append(
                Row(tool, "init first (raw)", "fresh `python -c`: spawn -> init returns", walls(tool), cpus(tool))
            )
            rows.append(net_row(tool, "init first (net)", "raw minus bare-python median", base))
        if "new" in w:
            hung = w.get("stalls")
            note = f"{hung['count']} more hung > {hung['after']:g} s (killed, not counted)" if hung else ""
            rows.append(
                Row(
                    tool, "close", close_call + " right after init", w["new"]["close"], w["new"]["close_cpu"], note=note
                )
            )
        if "settled" in w:
            after = " after the capture thread ended" if tool == "fstrack" else f" {plan.peer_settle_s:g} s after init"
            rows.append(
                Row(tool, "close (settled)", close_call + after, w["settled"]["close"], w["settled"]["close_cpu"])
            )
        if "reuse" in w:
            rows.append(
                Row(
                    tool,
                    "close (reuse)",
                    close_call + " right after a reusing init",
                    w["reuse"]["close"],
                    w["reuse"]["close_cpu"],
                )
            )

    tool_rows("fstrack", "Task.init", "task.close()", "baseline")
    if firsts.get("fstrack-import"):
        rows.append(
            net_row(
                "fstrack", "import first (net)", "`from fstrack import Task` alone, net", "baseline", "fstrack-import"
            )
        )
    calls = {
        "clearml": ("Task.init (offline)", "task.close()"),
        "mlflow": ("mlflow.start_run", "mlflow.end_run()"),
        "trackio": ("trackio.init", "trackio.finish()"),
        "tensorboardX": ("SummaryWriter(logdir)", "writer.close()"),
    }
    for tool in peers:
        tool_rows(tool, *calls[tool], "baseline-peer" if firsts.get("baseline-peer") else "baseline")
    return rows


# ---------------------------------------------------------------------------
# Task.get_tasks over N tasks
# ---------------------------------------------------------------------------

STATUSES = ["completed"] * 12 + ["failed"] * 3 + ["stopped"] * 2 + ["in_progress"] * 2 + ["created"]
N_PROJECTS = 20
FILTER_PROJECT = "bench/p07"

POPULATE = r"""
import json, os, sys, time
from fstrack import set_store
from fstrack.records import config
from fstrack.store.objects import new_token
from fstrack.sdk.task import Task

url, first, count, statuses, n_projects = json.loads(sys.argv[1])
set_store("memory://bench-template")  # one real manifest, made by Task.create, kept out of the store
template = Task.create(project_name="bench/template", task_name="template")._data
set_store(url)
db = config.get_taskdb()
base = time.time() - 86400
for i in range(first, first + count):
    project = "bench/p%02d" % (i % n_projects)
    status = statuses[(i // n_projects) % len(statuses)]  # every project gets every status
    m = json.loads(json.dumps(template))
    m.update(id=new_token(), name="run-%05d" % i, project=project, status=status, created=base + i,
             started=base + i, completed=(base + i + 60) if status in ("completed", "failed", "stopped") else None,
             tags=["sweep", "lr%d" % (i % 5)], last_iteration=i % 1000,
             hyperparams={"Args": {"lr": {"value": str(10 ** -(i % 5)), "type": "float", "description": ""}}})
    db.ensure_project(project)
    db.create(m)
    if i % 10 == 0:  # a second manifest: the index then holds a position-2 summary for it
        db.update(m["id"], lambda x: x["tags"].append("edited"))
"""

QUERY = r"""
import json, os, sys, time
spec = json.loads(sys.argv[1])
clock = time.perf_counter_ns
t_import = clock()
from fstrack import Task, set_store
from fstrack.records.taskdb import TaskDB
from fstrack.store.backends.base import Backend
from fstrack.store.backends.local import LocalBackend
t_import = (clock() - t_import) / 1e6
counts = {"load": 0, "manifest": 0, "summaries_read": 0}
_load, _manifest = TaskDB.load, TaskDB._manifest

def load(self, task_id):
    counts["load"] += 1
    return _load(self, task_id)

def manifest(self, doc_id):
    if doc_id not in self._manifests:
        counts["manifest"] += 1
    return _manifest(self, doc_id)

TaskDB.load, TaskDB._manifest = load, manifest
for cls in {Backend, LocalBackend}:
    if "read_many" in cls.__dict__:
        def wrap(orig):
            def read_many(self, keys):
                counts["summaries_read"] += sum(1 for k in keys if k.startswith("index/tasks/"))
                return orig(self, keys)
            return read_many
        cls.read_many = wrap(cls.__dict__["read_many"])
set_store(spec["url"])
out = {"import_ms": t_import, "calls": []}
for label, kwargs in spec["calls"]:
    before = dict(counts)
    t0 = clock()
    tasks = Task.get_tasks(**kwargs)
    ms = (clock() - t0) / 1e6
    out["calls"].append({"label": label, "ms": ms, "n": len(tasks),
                         **{k: counts[k] - before[k] for k in counts}})
print("@@RESULT=" + json.dumps(out))
sys.stdout.flush()
os._exit(0)
"""


def populated_store(n: int, procs: int) -> str:
    """An N-task local store under /tmp, built once and reused by later runs."""
    root = Path(tempfile.gettempdir()) / f"fstrack-bench-task-store-{n}-{STORE_LAYOUT}"
    marker = root / "COMPLETE"
    url = str(root / "store")
    if marker.exists():
        print(f"using the cached {n:,}-task store {url}", flush=True)
        return url
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    print(f"building a {n:,}-task store in {url} ({procs} processes; kept for later runs) ...", flush=True)
    t0 = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSTRACK_")}
    env.update(FSTRACK_CACHE_DIR=str(root / "build-cache"), HOME=str(root / "home"))
    share = math.ceil(n / procs)
    running = []
    for p in range(procs):
        first, count = p * share, min(share, n - p * share)
        if count <= 0:
            continue
        arg = json.dumps([url, first, count, STATUSES, N_PROJECTS])
        running.append(
            subprocess.Popen(
                [sys.executable, "-c", POPULATE, arg],
                cwd=root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for proc in running:
        out, err = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"populating the store failed: {tail(err)}")
    shutil.rmtree(root / "build-cache", ignore_errors=True)
    marker.write_text(f"{n}\n")
    print(f"  {time.perf_counter() - t0:.1f} s", flush=True)
    return url


def run_query(url: str, cache_dir: Path, calls: list, pycache: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSTRACK_")}
    env.update(FSTRACK_CACHE_DIR=str(cache_dir), HOME=str(cache_dir.parent / "home"))
    proc = run_child(
        [sys.executable, "-c", QUERY, json.dumps({"url": url, "calls": calls})],
        cwd=cache_dir,
        env=child_env(env, pycache),
        timeout=600,
    )
    m = re.search(r"@@RESULT=(.*)", proc.stdout)
    if not m:
        raise RuntimeError(f"query process failed ({proc.returncode}): {tail(proc.stderr)}")
    return json.loads(m.group(1))


def bench_queries(plan: Plan, tmp: Path) -> tuple[list[list[str]], int]:
    n = plan.tasks
    url = populated_store(n, plan.populate_procs)
    filt = {"project_name": FILTER_PROJECT, "task_filter": {"status": ["completed"]}}
    all_ = {}
    samples: dict[str, list[dict]] = {}

    def add(label: str, call: dict) -> None:
        samples.setdefault(label, []).append(call)

    print(
        f"get_tasks: {plan.query_procs} fresh processes x (cold, index-cached) + {plan.query_warm_procs} x "
        f"{plan.query_warm_reps} warm repeats ...",
        flush=True,
    )
    t0 = time.perf_counter()
    pyc = tmp / "pycache"
    warmup = tmp / "qcache" / "warm-up" / "cache"
    warmup.mkdir(parents=True)
    run_query(url, warmup, [["all", all_], ["filtered", filt]], pyc)  # writes bytecode; discarded
    warm_calls = [["all", all_], ["filtered", filt]] * plan.query_warm_reps
    for i in range(plan.query_procs):
        empty = tmp / "qcache" / f"cold-{i}" / "cache"
        empty.mkdir(parents=True)
        # cold: no index cache; then (in some processes) the same process again: warm
        r = run_query(url, empty, [["all", all_], *(warm_calls if i < plan.query_warm_procs else [])], pyc)
        add("cold all", r["calls"][0])
        add("import", {"ms": r["import_ms"]})
        for c in r["calls"][1:]:
            add(f"warm {c['label']}", c)
        empty2 = tmp / "qcache" / f"coldf-{i}" / "cache"
        empty2.mkdir(parents=True)
        r = run_query(url, empty2, [["filtered", filt]], pyc)
        add("cold filtered", r["calls"][0])
        # a fresh process whose index cache the first run filled
        r = run_query(url, empty, [["all", all_], ["filtered", filt]], pyc)
        add("cached all", r["calls"][0])
        add("cached filtered", r["calls"][1])
    print(f"  {time.perf_counter() - t0:.1f} s", flush=True)

    describe = {
        "cold all": ("cold: fresh process, empty index cache", "get_tasks()"),
        "cold filtered": ("cold: fresh process, empty index cache", "filtered"),
        "cached all": ("fresh process, index cache on disk", "get_tasks()"),
        "cached filtered": ("fresh process, index cache on disk", "filtered"),
        "warm all": ("warm: same process, later call", "get_tasks()"),
        "warm filtered": ("warm: same process, later call", "filtered"),
    }
    ref = median([c["ms"] for c in samples["warm all"]])
    body = []
    for label, (where, what) in describe.items():
        cs = samples[label]
        ms = [c["ms"] for c in cs]
        body.append(
            [
                where,
                what,
                str(len(cs)),
                fmt_ms(median(ms)),
                fmt_ms(p90(ms)),
                fmt_ratio(median(ms) / ref) if ref else "-",
                f"{int(median([c['n'] for c in cs])):,}",
                str(max(c["load"] for c in cs)),
                str(max(c["manifest"] for c in cs)),
                f"{max(c['summaries_read'] for c in cs):,}",
            ]
        )
    imp = [c["ms"] for c in samples["import"]]
    body.append(
        [
            "(import fstrack + Task in the query process)",
            "-",
            str(len(imp)),
            fmt_ms(median(imp)),
            fmt_ms(p90(imp)),
            "",
            "",
            "",
            "",
            "",
        ]
    )
    return body, n


def query_table(body: list[list[str]]) -> str:
    headers = [
        "query",
        "call",
        "n",
        "median ms",
        "p90 ms",
        "vs warm",
        "tasks returned",
        "TaskDB.load calls",
        "manifests read",
        "index summaries read",
    ]
    return table(headers, body, right={2, 3, 4, 5, 6, 7, 8, 9})


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small counts, no peers (< 1 minute)")
    ap.add_argument("--no-peers", action="store_true", help="skip ClearML, MLflow, trackio and tensorboardX")
    ap.add_argument("--peers", default=",".join(PEER_PACKAGES), help="comma-separated subset of peers")
    ap.add_argument("--peer-venv", default=DEFAULT_PEER_VENV, help="venv holding the peers (default %(default)s)")
    ap.add_argument("--setup-peers", action="store_true", help="create/update the peer venv first")
    ap.add_argument("--tasks", type=int, help="tasks in the get_tasks store (default 10,000; 1,000 with --quick)")
    ap.add_argument("--skip-queries", action="store_true")
    ap.add_argument("--skip-lifecycle", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanups (children's process groups)
    plan = QUICK if args.quick else FULL
    if args.tasks:
        plan = Plan(**{**plan.__dict__, "tasks": args.tasks})
    started = time.perf_counter()
    notes: list[str] = []

    peers: list[str] = []
    peer_python = None
    versions: dict[str, str] = {}
    if not (args.quick or args.no_peers or args.skip_lifecycle):
        if args.setup_peers:
            setup_peer_venv(args.peer_venv)
        peer_python = os.path.join(args.peer_venv, "bin", "python")
        wanted = [p for p in args.peers.split(",") if p]
        unknown = [p for p in wanted if p not in PEER_PACKAGES]
        if unknown:
            ap.error(f"unknown peers {unknown}; choose from {list(PEER_PACKAGES)}")
        if not os.path.exists(peer_python):
            msg = f"peer venv {args.peer_venv} missing (run with --setup-peers): peers skipped"
            print(msg)
            notes.append(msg)
        else:
            try:
                found = peer_versions(peer_python)
            except Exception as exc:  # noqa: BLE001
                found = {}
                print(f"cannot inspect the peer venv: {exc}")
                notes.append(f"peer venv: {exc}")
            for tool in wanted:
                v = found.get(tool)
                if v and not v.startswith("ERROR"):
                    peers.append(tool)
                    versions[tool] = v
                else:
                    msg = f"{tool}: not usable in {args.peer_venv}: {v or 'not inspected'}; skipped"
                    print(msg)
                    notes.append(msg)

    from importlib.metadata import version as dist_version

    try:
        tree = (
            subprocess.run(
                ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True, timeout=30
            ).stdout.strip()
            or "?"
        )
    except (OSError, subprocess.SubprocessError):
        tree = "?"
    load = " | load %.1f" % os.getloadavg()[0] if hasattr(os, "getloadavg") else ""
    print(
        f"fstrack {dist_version('fstrack')} ({tree}) | Python {platform.python_version()} | {platform.platform()} | "
        f"{os.cpu_count()} cores{load} | {time.strftime('%Y-%m-%d %H:%M')} | "
        f"mode {'quick' if args.quick else 'full'}"
    )
    if versions:
        print("peers: " + ", ".join(f"{t} {v}" for t, v in versions.items()))
    tmp = Path(tempfile.mkdtemp(prefix="fstrack-bench-task-"))
    try:
        rows: list[Row] = []
        if not args.skip_lifecycle:
            rows = bench_lifecycle(plan, peers, peer_python, tmp, notes)
        qbody, n = ([], 0)
        if not args.skip_queries:
            qbody, n = bench_queries(plan, tmp)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    if rows:
        print("\n## Task.init / close (local store; ms)\n")
        print(lifecycle_table(rows))
        print(
            "\n`vs fstrack`: this tool's median / fstrack's median for the same measure (>1: fstrack is faster). "
            "`net` = raw median (or p90) minus the bare-python median of the same venv. Warm loops discard "
            f"{plan.warm_warmup} warm-up pairs; first-process runs discard one warm-up round."
        )
    if qbody:
        print(f"\n## Task.get_tasks over {n:,} tasks (local store; ms)\n")
        print(query_table(qbody))
        print(
            f"\nfiltered = get_tasks(project_name={FILTER_PROJECT!r}, task_filter={{'status': ['completed']}}). "
            "`manifests read` counts manifest documents fetched (TaskDB._manifest cache misses), "
            "`TaskDB.load calls` counts loads; `index summaries read` counts index/tasks files read."
        )
    for note in notes:
        print(f"note: {note}")
    load = " (load average now %.1f)" % os.getloadavg()[0] if hasattr(os, "getloadavg") else ""
    print(f"\ntotal {time.perf_counter() - started:.0f} s{load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
