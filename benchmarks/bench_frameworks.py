"""Framework capture benchmarks: what TensorBoard capture costs per ``add_scalar``, and what the capture
machinery costs ``import fstrack`` when no framework is imported.

    python benchmarks/bench_frameworks.py [--calls 20000] [--rounds 5] [--imports 20] [--baseline PATH]

* **add_scalar**: per-call time of ``SummaryWriter.add_scalar`` (torch's, and tensorboardX's when installed)
  with capture off (``auto_connect_frameworks={"tensorboard": False}``) and on (the default), beside
  ``Logger.report_scalar`` of the same values. Each measurement is a fresh child process (a task on a temporary
  local store) timing ``--calls`` calls; the modes run interleaved for ``--rounds`` rounds and the median
  per-call time is printed. The writer's event file is written in every mode.
* **import**: wall time of ``import fstrack; fstrack.Task`` (which loads the capture package) in a fresh
  interpreter, ``--imports`` runs interleaved with the same import from ``--baseline`` (another checkout, e.g.
  the ``main`` worktree), medians printed; and which framework modules that import loads (none may be).

Figures are printed, never asserted.
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, os, sys, time
mode, flavour, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
from fstrack import Task
task = Task.init("bench", f"{mode}-{flavour}", auto_connect_frameworks={"tensorboard": mode == "capture on"},
                 auto_resource_monitoring=False, auto_connect_streams=False)
if flavour == "tensorboardX":
    from tensorboardX import SummaryWriter
else:
    from torch.utils.tensorboard import SummaryWriter
writer = SummaryWriter(os.environ["BENCH_LOGDIR"])
logger = task.get_logger()
for i in range(200):  # warm up: the first calls register the series
    writer.add_scalar("warm/up", 0.5, i) if mode != "report_scalar" else logger.report_scalar("warm", "up", 0.5, i)
start = time.perf_counter()
if mode == "report_scalar":
    for i in range(calls):
        logger.report_scalar("loss", "train", 1.0 / (i + 1), i)
else:
    for i in range(calls):
        writer.add_scalar("loss/train", 1.0 / (i + 1), i)
elapsed = time.perf_counter() - start
writer.close()
task.close()
print(json.dumps({"per_call_us": elapsed / calls * 1e6}))
"""

IMPORT = (
    "import sys, time; t = time.perf_counter(); import fstrack; fstrack.Task; "
    "print(time.perf_counter() - t, ' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
    "('torch', 'tensorboardX', 'tensorflow', 'xgboost', 'lightgbm', 'catboost', 'lightning', 'fastai', 'hydra', "
    "'jsonargparse', 'fire', 'absl', 'gradio', 'keras'))))"
)


def bench_add_scalar(calls: int, rounds: int) -> None:
    flavours = ["torch"]
    try:
        import tensorboardX  # noqa: F401

        flavours.append("tensorboardX")
    except ImportError:
        pass
    modes = ["capture off", "capture on", "report_scalar"]
    results: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(REPO), "FSTRACK_URL": os.path.join(tmp, "store")}
        env["FSTRACK_CACHE_DIR"] = os.path.join(tmp, "cache")
        for round_index in range(rounds):
            for offset in range(len(modes)):
                for flavour in flavours:
                    mode = modes[(round_index + offset) % len(modes)]
                    if mode == "report_scalar" and flavour != "torch":
                        continue
                    env["BENCH_LOGDIR"] = os.path.join(tmp, f"tb-{round_index}-{offset}-{flavour}")
                    done = subprocess.run(
                        [sys.executable, "-c", CHILD, mode, flavour, str(calls)],
                        env=env,
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    per_call = json.loads(done.stdout.strip().splitlines()[-1])["per_call_us"]
                    results.setdefault((flavour, mode), []).append(per_call)
    print(f"\nSummaryWriter.add_scalar, {calls:,} calls per run, median of {rounds} runs (µs per call)")
    print(f"{'writer':14} {'capture off':>12} {'capture on':>12} {'added':>8} {'report_scalar':>14}")
    report = statistics.median(results[("torch", "report_scalar")])
    for flavour in flavours:
        off = statistics.median(results[(flavour, "capture off")])
        on = statistics.median(results[(flavour, "capture on")])
        print(f"{flavour:14} {off:12.2f} {on:12.2f} {on - off:8.2f} {report:14.2f}")


def bench_import(runs: int, baseline: str | None) -> None:
    trees = {"this tree": str(REPO)}
    if baseline:
        trees["baseline"] = baseline
    times: dict[str, list[float]] = {name: [] for name in trees}
    loaded: dict[str, str] = {}
    for _ in range(runs):
        for name, tree in trees.items():
            env = {**os.environ, "PYTHONPATH": tree}
            out = subprocess.run([sys.executable, "-c", IMPORT], env=env, capture_output=True, text=True, check=True)
            seconds, _, modules = out.stdout.strip().partition(" ")
            times[name].append(float(seconds))
            loaded[name] = modules.strip() or "none"
    print(f"\nimport fstrack; fstrack.Task in a fresh interpreter, median of {runs} runs")
    for name, tree in trees.items():
        print(
            f"{name:10} {statistics.median(times[name]) * 1000:7.1f} ms  framework modules loaded: {loaded[name]}"
            f"  ({tree})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--imports", type=int, default=20)
    parser.add_argument("--baseline", help="another checkout to compare the import time with")
    args = parser.parse_args()
    started = time.perf_counter()
    bench_add_scalar(args.calls, args.rounds)
    bench_import(args.imports, args.baseline)
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
