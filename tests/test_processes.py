"""Processes, forks, pools and threads reporting into one task (issue 12 §2): every report lands, only the
process that called ``Task.init`` ends the task. Real processes; counts read back through the public API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import fstrack
from fstrack import Task

PRELUDE = """
import multiprocessing, os, subprocess, sys, threading
from fstrack import Logger, Task

def points(task, title):
    return sum(len(s["x"]) for s in task.get_all_reported_scalars().get(title, {}).values())
"""


def run(code: str, tmp_path, *args: str, timeout: float = 300) -> dict:
    """Run ``PRELUDE + code`` as a script against a local store in ``tmp_path``; it prints one JSON line last."""
    script = tmp_path / "script.py"
    script.write_text(PRELUDE + textwrap.dedent(code))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSTRACK_")}
    env.update(
        FSTRACK_URL=str(tmp_path / "store"),
        FSTRACK_CACHE_DIR=str(tmp_path / "cache"),
        PYTHONPATH=os.pathsep.join([os.getcwd(), env.get("PYTHONPATH", "")]),
    )
    done = subprocess.run(
        [sys.executable, str(script), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


POOL = """
def work(i):
    task = Task.current_task()
    logger = Logger.current_logger()
    assert task is not None and logger is not None, "no current task in the worker"
    for j in range(10):
        logger.report_scalar("pool", f"w{i}", value=j, iteration=j)
    return task.id

if __name__ == "__main__":
    task = Task.init(project_name="proc", task_name="pool", reuse_last_task_id=False)
    with multiprocessing.get_context(sys.argv[1]).Pool(3) as pool:
        ids = pool.map(work, range(60))
    after_map = points(task, "pool")
    task.close()
    print(json.dumps({"ids": sorted(set(ids)), "task": task.id, "after_map": after_map,
                      "after_close": points(task, "pool"), "status": task.get_status()}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_pool_workers_report_into_the_task(tmp_path, method):
    out = run("import json\n" + POOL, tmp_path, method)
    assert out["ids"] == [out["task"]]  # every worker saw the parent's task
    assert out["after_map"] == 600  # stored before pool.map returned
    assert out["after_close"] == 600
    assert out["status"] == "completed"


FORK_EXIT = """
import json
task = Task.init(project_name="proc", task_name="fork", reuse_last_task_id=False)
how = sys.argv[1]
pid = os.fork()
if pid == 0:
    child = Task.current_task()
    for j in range(25):
        child.get_logger().report_scalar("child", "s", value=j, iteration=j)
    if how == "normal":
        sys.exit(0)
    if how == "code":
        sys.exit(3)
    if how == "exception":
        raise RuntimeError("child failed")
    if how == "os_exit":
        os._exit(0)
    if how == "close":
        child.close()
        sys.exit(0)
_, status = os.waitpid(pid, 0)
while_running = task.get_status()
stored = points(task, "child")
task.get_logger().report_scalar("parent", "s", value=1, iteration=0)
task.close()
print(json.dumps({"while_running": while_running, "stored": stored, "final": task.get_status(),
                  "parent_points": points(task, "parent")}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["normal", "code", "exception", "os_exit", "close"])
def test_forked_child_exit_does_not_end_parent_task(tmp_path, how):
    out = run(FORK_EXIT, tmp_path, how)
    assert out["while_running"] == "in_progress"
    assert out["stored"] == 25
    assert out["final"] == "completed"
    assert out["parent_points"] == 1


FORK_WHILE_BEATING = """
import json, time
task = Task.init(project_name="proc", task_name="fork while beating", reuse_last_task_id=False)
deadline = time.monotonic() + 120
while not task.is_alive() and time.monotonic() < deadline:  # the first heartbeat is written
    time.sleep(0.05)
held, release = threading.Event(), threading.Event()

def beat_in_progress():  # what the heartbeat thread does while it writes a beat
    with task._beat_lock:
        held.set()
        release.wait()

threading.Thread(target=beat_in_progress, daemon=True).start()
held.wait()
pid = os.fork()
if pid == 0:
    task.close()  # a child only flushes; it must not wait for the parent's heartbeat or remove it
    os._exit(0)
release.set()
deadline = time.monotonic() + 120
while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
    time.sleep(0.05)
if done[0] == 0:
    os.kill(pid, 9)
print(json.dumps({"child_ended": done[0] == pid, "parent_alive": task.is_alive()}))
"""


@pytest.mark.slow
def test_fork_while_a_heartbeat_is_written_does_not_hang_the_child(tmp_path):
    out = run(FORK_WHILE_BEATING, tmp_path)
    assert out["child_ended"]  # before: the child waited forever on a lock held by a thread it does not have
    assert out["parent_alive"]  # before: the child's close removed the parent's heartbeat


POPEN_CHILD = """
import json
task = Task.init(project_name="other", task_name="child script")
for j in range(7):
    task.get_logger().report_scalar("popen", "s", value=j, iteration=j)
print(json.dumps({"task": task.id}))
"""

POPEN_PARENT = """
import json
task = Task.init(project_name="proc", task_name="popen", reuse_last_task_id=False)
done = subprocess.run([sys.executable, "child.py"], capture_output=True, text=True, timeout=240)
assert done.returncode == 0, done.stderr
child = json.loads(done.stdout.strip().splitlines()[-1])
while_running = task.get_status()
stored = points(task, "popen")
task.close()
after = subprocess.run([sys.executable, "child.py"], capture_output=True, text=True, timeout=240)
assert after.returncode == 0, after.stderr
later = json.loads(after.stdout.strip().splitlines()[-1])
print(json.dumps({"task": task.id, "child": child["task"], "stored": stored, "while_running": while_running,
                  "final": task.get_status(), "later": later["task"]}))
"""


@pytest.mark.slow
def test_popen_child_task_init_attaches_to_the_parent_task(tmp_path):
    (tmp_path / "child.py").write_text(PRELUDE + POPEN_CHILD)
    out = run(POPEN_PARENT, tmp_path)
    assert out["child"] == out["task"]  # ClearML: a subprocess's Task.init returns the parent's task
    assert out["stored"] == 7
    assert out["while_running"] == "in_progress"  # the child's exit did not end it
    assert out["final"] == "completed"
    assert out["later"] != out["task"]  # after close(), processes started later make their own task


THREADS = """
import json
task = Task.init(project_name="proc", task_name="threads", reuse_last_task_id=False)
logger = task.get_logger()
def report(n):
    for j in range(500):
        logger.report_scalar("threads", f"t{n}", value=j, iteration=j)
threads = [threading.Thread(target=report, args=(n,)) for n in range(8)]
for t in threads: t.start()
for t in threads: t.join()
concurrent = points(task, "threads")
stop = threading.Event()
late = []
def background():
    j = 0
    while not stop.is_set():
        logger.report_scalar("late", "s", value=j, iteration=j)
        late.append(j)
        j += 1
bg = threading.Thread(target=background)
bg.start()
while len(late) < 1000:
    pass
task.close()
stop.set()
bg.join()
print(json.dumps({"concurrent": concurrent, "status": task.get_status(), "task": task.id, "late_reported": len(late)}))
"""


@pytest.mark.slow
def test_threads_reporting_at_once_and_after_close(tmp_path, isolated_tasks):
    out = run(THREADS, tmp_path)
    assert out["concurrent"] == 8 * 500
    assert out["status"] == "completed"
    # reports made while close() ran or after it land too (the interpreter's exit flush stores them)
    fstrack.set_store(str(tmp_path / "store"))
    late = Task.get_task(task_id=out["task"]).get_all_reported_scalars()["late"]["s"]["x"]
    assert len(late) == out["late_reported"]


def test_task_init_twice_and_after_close(tmp_path, monkeypatch, isolated_tasks):
    fstrack.set_store(str(tmp_path / "store"))
    first = Task.init(project_name="proc", task_name="twice", reuse_last_task_id=False)
    try:
        assert Task.init(project_name="proc", task_name="other name") is first
        assert os.environ["FSTRACK_PROC_MASTER_ID"] == f"{os.getpid()}:{first.id}"
    finally:
        first.close()
    assert "FSTRACK_PROC_MASTER_ID" not in os.environ
    second = Task.init(project_name="proc", task_name="twice", reuse_last_task_id=False)
    try:
        assert second.id != first.id and Task.current_task() is second
    finally:
        second.close()
    assert first.get_status() == second.get_status() == "completed"


DATALOADER = """
import json
import torch
from torch.utils.data import DataLoader, Dataset

class Reporting(Dataset):
    def __len__(self):
        return 40
    def __getitem__(self, i):
        Logger.current_logger().report_scalar("loader", "item", value=float(i), iteration=i)
        return torch.tensor(i)

if __name__ == "__main__":
    task = Task.init(project_name="proc", task_name="loader", reuse_last_task_id=False)
    seen = sum(len(batch) for batch in DataLoader(Reporting(), batch_size=4, num_workers=2,
                                                  multiprocessing_context=sys.argv[1]))
    stored = points(task, "loader")
    task.close()
    print(json.dumps({"seen": seen, "stored": stored, "status": task.get_status()}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_dataloader_workers_report_into_the_task(tmp_path, method):
    pytest.importorskip("torch")
    out = run(DATALOADER, tmp_path, method)
    assert out == {"seen": 40, "stored": 40, "status": "completed"}
