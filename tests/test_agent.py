"""``fstrack agent``, leases, the watchdog and remote execution, with real processes.

The agents here are real processes (``tests/workers/agent_*.py``); tasks run in real child processes
except in the exactly-once drains, whose agents take the full claim -> lease -> ``in_progress`` -> final
status path but record the task instead of starting a Python process for each of thousands of tasks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from workers.common import WORKERS, child_env, location_to_json, run_together

import fstrack
from fstrack import Task
from fstrack.dispatch.leases import LEASES_DIR, Watchdog, read_lease
from fstrack.dispatch.queues import Queues, queue_id
from fstrack.records import config, metrics

#: Tasks drained through 8 agent processes (plus, in the "+dequeue" runs, one process dequeuing the newest tasks
#: while the agents take the oldest): the issue's counts. On object stores CI runs the "+dequeue" case, where
#: agents and dequeue both compete for every entry (about 2 minutes for SeaweedFS on 2 CPUs);
#: FSTRACK_AGENT_TEST_FULL=1 adds the agents-only runs there too.
FULL = os.environ.get("FSTRACK_AGENT_TEST_FULL", "") not in ("", "0")
DRAIN = {"local": 2000, "s3": 2000, "azure": 200, "gcs": 200}
CASES = [(b, d) for b in DRAIN for d in (False, True) if FULL or b == "local" or d]
AGENTS = 8


def _use(loc, tmp_path, monkeypatch):
    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    for key, value in loc.env.items():
        monkeypatch.setenv(key, value)
    fstrack.set_store(loc.url, **loc.storage_options)
    return config.get_taskdb()


def _create_queued(n: int, queue: str) -> list[str]:
    def one(i: int) -> str:
        task = Task.create(project_name="drain", task_name=f"t{i}")
        Task.enqueue(task, queue_name=queue)
        return task.id

    Task.enqueue(Task.create(project_name="drain", task_name="warm-up"), queue_name=queue)  # queue + project exist
    with ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(one, range(n)))
    return ids


@pytest.mark.parametrize(
    ("backend", "with_dequeue"), CASES, ids=[f"{b}-agents{'+dequeue' if d else ''}" for b, d in CASES]
)
def test_agents_run_every_task_exactly_once(backend, with_dequeue, location_factory, tmp_path, monkeypatch):
    loc = location_factory(backend)
    db = _use(loc, tmp_path, monkeypatch)
    n = DRAIN[backend] // (2 if with_dequeue and backend == "local" else 1)
    t0 = time.monotonic()
    task_ids = _create_queued(n, "drain")
    setup = time.monotonic() - t0
    ids_file = tmp_path / "ids.json"
    ids_file.write_text(json.dumps(task_ids))
    args = [[location_to_json(loc), "drain", "agent"]] * AGENTS
    if with_dequeue:
        args.append([location_to_json(loc), "drain", "dequeue", str(ids_file)])
    env = child_env(loc)
    env["AGENT_DRAIN_WORKERS"] = "2"  # each agent runs two tasks at once
    results, seconds = run_together("agent_drain.py", args, env=env, timeout=900)
    runs = Counter(t for result in results[:AGENTS] for t in result)
    dequeued = set(results[AGENTS]) if with_dequeue else set()
    assert max(runs.values()) == 1, f"run twice: {[t for t, c in runs.items() if c > 1][:5]}"
    assert not dequeued & set(runs), "a task was both dequeued and run"
    assert (set(runs) | dequeued) >= set(task_ids), "a task was lost"
    assert Queues(db.store).pending(queue_id("drain")) == []
    statuses = {r["id"]: r["status"] for r in db.records()}
    for task_id in task_ids:
        assert statuses[task_id] == ("created" if task_id in dequeued else "completed"), task_id
    sample = task_ids[:: max(1, len(task_ids) // 10)]
    for task_id in sample:  # the manifest agrees: one start, by one worker, no lease left behind
        m = db.load(task_id)
        if task_id not in dequeued:
            assert m["execution"]["attempts"] == 1 and m["execution"]["worker"]
    assert [n for n in db.store.backend.list(LEASES_DIR) if len(n) == 32] == []  # (S3 lists a folder marker)
    print(
        f"{backend}: {len(task_ids)} tasks created+enqueued in {setup:.1f}s; {sum(runs.values())} run, "
        f"{len(dequeued)} dequeued by {len(args)} processes in {seconds:.1f}s "
        f"({sum(runs.values()) / seconds:.1f} tasks/s; per agent {[len(r) for r in results[:AGENTS]]})"
    )


# -- helpers for agents running real task processes ----------------------------------------------------------
SLEEPER = """\
import os, sys, time
from fstrack import Task

task = Task.init("agent-tests", "sleeper")
log = os.environ["RUN_LOG"]

def note(what):
    with open(log, "a") as f:
        f.write(f"{what} {os.getpid()} {time.time()}\\n")

def on_abort():
    note("callback")
    time.sleep(float(os.environ.get("CALLBACK_SECONDS", "0")))

task.register_abort_callback(on_abort, 30)
note("start")
end = time.time() + float(os.environ.get("RUN_SECONDS", "3"))
while time.time() < end:
    note("alive")
    time.sleep(0.05)
note("end")
"""


class AgentProcess:
    """``fstrack agent ...`` (through tests/workers/agent_cli.py) as a real process."""

    def __init__(self, loc, *args: str, env: dict[str, str], log: Path):
        self.log = log
        self.out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKERS / "agent_cli.py"), location_to_json(loc), "agent", *args],
            env=env,
            stdout=self.out,
            stderr=subprocess.STDOUT,
        )

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"agent did not exit in {timeout}s:\n{self.text()}") from None

    def text(self) -> str:
        self.out.flush()
        return self.log.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self.out.close()


@pytest.fixture
def agents(tmp_path):
    started: list[AgentProcess] = []

    def start(loc, *args: str, env: dict[str, str], log: Path) -> AgentProcess:
        if "--workdir" not in args:
            args = (*args, "--workdir", str(tmp_path / "agent-work"))
        agent = AgentProcess(loc, *args, env=env, log=log)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop()


def _events(log: Path) -> list[tuple[str, int, float]]:
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        what, pid, when = line.split()
        out.append((what, int(pid), float(when)))
    return out


def _wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) counts as dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@pytest.fixture
def local(location_factory, tmp_path, monkeypatch):
    loc = location_factory("local")
    db = _use(loc, tmp_path, monkeypatch)
    env = child_env(loc)
    env.update(
        FSTRACK_CACHE_DIR=str(tmp_path / "cache"),
        RUN_LOG=str(tmp_path / "runs.log"),
        FSTRACK_HEARTBEAT_SECONDS="0.3",
        FSTRACK_URL=loc.url,
        HOME=str(tmp_path),
        FSTRACK_STORAGE_OPTIONS=json.dumps(loc.storage_options),
    )
    return loc, db, env


def _sleeper_task(tmp_path: Path, queue: str) -> Task:
    script = tmp_path / "sleeper.py"
    script.write_text(SLEEPER)
    task = Task.create(project_name="agent-tests", task_name="sleeper", script=str(script))
    Task.enqueue(task, queue_name=queue)
    return task


LEASE = ["--lease-seconds", "3", "--lease-grace", "2"]


@pytest.mark.parametrize("policy", ["requeue", "fail"])
def test_sigkilled_agent_lease_expires_no_overlapping_runs(policy, local, agents, tmp_path):
    loc, db, env = local
    env["RUN_SECONDS"] = "4"
    task = _sleeper_task(tmp_path, "kill")
    runs_log = Path(env["RUN_LOG"])
    first = agents(
        loc,
        "--queue",
        "kill",
        *LEASE,
        "--watchdog-interval",
        "0",
        "--on-lease-expiry",
        policy,
        env=env,
        log=tmp_path / "agent1.log",
    )
    start = _wait_for(lambda: [e for e in _events(runs_log) if e[0] == "start"], 60, "the first run to start")
    child = start[0][1]
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(timeout=10)
    _wait_for(lambda: not _alive(child), 5, "the orphaned task process to die with its agent")
    killed_at = time.time()
    assert task.get_status() == "in_progress" and read_lease(db.store.backend, task.id) is not None
    second = agents(loc, "--queue", "kill", *LEASE, "--watchdog-interval", "0.3", env=env, log=tmp_path / "agent2.log")
    final = ("completed",) if policy == "requeue" else ("failed",)
    _wait_for(lambda: task.get_status() in final, 60, f"the task to end {final}")
    second.proc.send_signal(signal.SIGTERM)
    assert second.wait(30) == 0, second.text()
    events = _events(runs_log)
    starts = [e for e in events if e[0] == "start"]
    m = db.load(task.id)
    history = [h["status"] for h in task.history()]
    if policy == "requeue":
        assert len(starts) == 2 and starts[1][1] != child
        last_alive_of_first = max(e[2] for e in events if e[1] == child)
        assert last_alive_of_first < starts[1][2], "the re-queued run overlapped the first one"
        assert starts[1][2] - killed_at > 3, "re-queued before the lease could have expired"
        assert m["execution"]["attempts"] == 2
        assert history.count("in_progress") == 2 and "queued" in history[history.index("in_progress") :]
        assert any(e[0] == "end" for e in events)
    else:
        assert len(starts) == 1
        assert m["status_reason"] == "lease expired" and "expired" in m["status_message"]
    assert read_lease(db.store.backend, task.id) is None


def test_abort_runs_the_callback_and_ends_stopped(local, agents, tmp_path):
    loc, db, env = local
    env["RUN_SECONDS"] = "60"
    task = _sleeper_task(tmp_path, "abort")
    runs_log = Path(env["RUN_LOG"])
    agent = agents(
        loc,
        "--queue",
        "abort",
        "--once",
        "--kill-grace",
        "20",
        "--watchdog-interval",
        "0",
        env=env,
        log=tmp_path / "agent.log",
    )
    start = _wait_for(lambda: [e for e in _events(runs_log) if e[0] == "start"], 60, "the run to start")
    aborted = time.time()
    done = subprocess.run(
        [sys.executable, str(WORKERS / "agent_cli.py"), location_to_json(loc), "abort", task.id, "--message", "enough"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert agent.wait(30) == 0, agent.text()
    events = _events(runs_log)
    callbacks = [e for e in events if e[0] == "callback"]
    assert callbacks and callbacks[0][1] == start[0][1], "the abort callback did not run in the task's process"
    assert max(e[2] for e in events) - aborted < 10, "the task's process did not stop by itself"
    assert task.get_status() == "stopped"
    assert task.get_status_message()[0] == "enough"


def test_abort_enforced_after_grace_when_the_task_lingers(local, agents, tmp_path):
    loc, db, env = local
    env.update(RUN_SECONDS="60", CALLBACK_SECONDS="60")  # the callback outlasts the agent's patience
    task = _sleeper_task(tmp_path, "linger")
    runs_log = Path(env["RUN_LOG"])
    agent = agents(
        loc,
        "--queue",
        "linger",
        "--once",
        "--kill-grace",
        "1",
        "--watchdog-interval",
        "0",
        env=env,
        log=tmp_path / "agent.log",
    )
    _wait_for(lambda: [e for e in _events(runs_log) if e[0] == "start"], 60, "the run to start")
    task.mark_stopped(status_message="stop now")
    t0 = time.monotonic()
    assert agent.wait(30) == 0, agent.text()
    assert time.monotonic() - t0 < 15
    assert task.get_status() == "stopped" and task.get_status_message()[0] == "stop now"


@pytest.mark.parametrize("mode", ["finish", "requeue"])
def test_sigterm_finishes_or_requeues(mode, local, agents, tmp_path):
    loc, db, env = local
    env["RUN_SECONDS"] = "2"
    task = _sleeper_task(tmp_path, "term")
    runs_log = Path(env["RUN_LOG"])
    agent = agents(
        loc, "--queue", "term", "--on-sigterm", mode, "--watchdog-interval", "0", env=env, log=tmp_path / "agent.log"
    )
    _wait_for(lambda: [e for e in _events(runs_log) if e[0] == "start"], 60, "the run to start")
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.wait(60) == 0, agent.text()
    m = db.load(task.id)
    if mode == "finish":
        assert m["status"] == "completed" and any(e[0] == "end" for e in _events(runs_log))
    else:
        assert m["status"] == "queued", (m["status"], m["status_message"])
        assert "shut down" in m["status_message"] and m["execution"]["attempts"] == 0
        assert Queues(db.store).pending(queue_id("term")) == [m["execution"]["entry"]]
        assert not any(e[0] == "end" for e in _events(runs_log))


# -- end to end: clone -> edit -> enqueue -> agent runs the recorded commit + diff ----------------------------
TRAIN = """\
import argparse, os
from fstrack import Task
import helper

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
args = parser.parse_args()
task = Task.init("e2e", "train")
cfg = task.connect({"epochs": 3, "optimizer": "sgd"})
MARK = "committed"
print(f"training lr={args.lr} epochs={cfg['epochs']}")
task.set_user_properties(lr=args.lr, epochs=cfg["epochs"], mark=MARK, helper=helper.VALUE, cwd=os.getcwd())
"""


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env=dict(
            os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t"
        ),
    ).stdout


def test_end_to_end_clone_edit_enqueue_run(local, agents, tmp_path):
    loc, db, env = local
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    _git("init", "--bare", "-q", str(origin), cwd=tmp_path)
    _git("clone", "-q", str(origin), str(work), cwd=tmp_path)
    (work / "src").mkdir()
    (work / "src" / "train.py").write_text(TRAIN)
    (work / "src" / "helper.py").write_text('VALUE = "committed helper"\n')
    _git("add", ".", cwd=work)
    _git("commit", "-q", "-m", "train", cwd=work)
    _git("push", "-q", "origin", "HEAD", cwd=work)
    # uncommitted: an edit of a tracked file and an untracked file, both only in the recorded diff
    (work / "src" / "train.py").write_text(TRAIN.replace('MARK = "committed"', 'MARK = "uncommitted edit"'))
    (work / "src" / "helper.py").write_text("from extra import VALUE\n")
    (work / "src" / "extra.py").write_text('VALUE = "untracked file"\n')
    local_env = dict(env)
    local_env.pop("RUN_LOG")
    done = subprocess.run(
        [sys.executable, "train.py", "--lr", "0.1"],
        cwd=work / "src",
        env=dict(local_env, FSTRACK_URL=loc.url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    original = Task.get_task(project_name="e2e", task_name="train")
    assert original.get_status() == "completed"
    script = original.get_script()
    assert script["working_dir"] == "src" and script["entry_point"] == "train.py" and script["diff"]
    # the HPO building block: clone, edit, enqueue
    clone = Task.clone(original, name="lr sweep 0.5")
    clone.set_parameters({**clone.get_parameters(), "Args/lr": 0.5, "General/epochs": 7})
    Task.enqueue(clone, queue_name="e2e")
    workdir = tmp_path / "agent-work"
    agent = agents(
        loc,
        "--queue",
        "e2e",
        "--once",
        "--workdir",
        str(workdir),
        "--watchdog-interval",
        "0",
        env=env,
        log=tmp_path / "agent.log",
    )
    assert agent.wait(120) == 0, agent.text()
    assert clone.get_status() == "completed", (clone.get_status_message(), agent.text())
    props = clone.get_user_properties(value_only=True)
    assert props["lr"] == "0.5" and props["epochs"] == "7", props
    assert props["mark"] == "uncommitted edit" and props["helper"] == "untracked file"
    assert props["cwd"].startswith(str(workdir)) and props["cwd"].endswith("/repo/src")
    assert not os.path.exists(props["cwd"]), "the run's code folder is removed afterwards"
    assert original.get_user_properties(value_only=True)["lr"] == "0.1"
    assert clone.get_parameter("Args/lr") == "0.5"
    assert clone.last_worker and clone.get_executed_queue(return_name=True) == "e2e"
    console = metrics.read_kind(db.store, db.refs, clone.id, None, "console").to_pylist()
    assert "training lr=0.5 epochs=7" in [row["message"] for row in console]


def _script_task(tmp_path: Path, name: str, code: str, queue: str | None = None, **create) -> Task:
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(code))
    task = Task.create(project_name="agent-tests", task_name=name, script=str(script), **create)
    if queue:
        Task.enqueue(task, queue_name=queue)
    return task


def test_failed_script_and_bad_code_end_failed(local, agents, tmp_path):
    loc, db, env = local
    crash = _script_task(
        tmp_path,
        "crash",
        "import sys\nprint('about to fail', file=sys.stderr)\nsys.exit(3)\n",
        queue="fail",
        add_task_init_call=False,
    )
    broken = Task.create(project_name="agent-tests", task_name="no code")
    broken.set_script(repository=str(tmp_path / "does-not-exist.git"), commit="0" * 40, entry_point="x.py")
    Task.enqueue(broken, queue_name="fail")
    agent = agents(loc, "--queue", "fail", "--once", "--watchdog-interval", "0", env=env, log=tmp_path / "a.log")
    assert agent.wait(120) == 0, agent.text()
    assert crash.get_status() == "failed"
    message, reason = crash.get_status_message()
    assert reason == "exit code 3" and "about to fail" in message
    assert broken.get_status() == "failed" and "git clone" in broken.get_status_message()[0]


def test_venv_runs_the_task_in_its_own_environment(local, agents, tmp_path):
    loc, db, env = local
    task = _script_task(
        tmp_path,
        "venv",
        """\
        import sys, msgpack
        from fstrack import Task
        Task.init().set_user_properties(prefix=sys.prefix, msgpack=msgpack.__name__)
        """,
        queue=None,
        packages=["msgpack", "fstrack==0.1.0"],
    )
    Task.enqueue(task, queue_name="venv")
    workdir = tmp_path / "w"
    agent = agents(
        loc,
        "--queue",
        "venv",
        "--once",
        "--venv",
        "--workdir",
        str(workdir),
        "--watchdog-interval",
        "0",
        env=env,
        log=tmp_path / "a.log",
    )
    assert agent.wait(240) == 0, agent.text()
    assert task.get_status() == "completed", task.get_status_message()
    props = task.get_user_properties(value_only=True)
    assert props["prefix"].startswith(str(workdir / "venvs")), props
    console = [row["message"] for row in metrics.read_kind(db.store, db.refs, task.id, None, "console").to_pylist()]
    assert any("msgpack" in line and "satisfied" in line for line in console), console  # pip ran, fstrack skipped
    assert not any("fstrack==" in line for line in console)


def test_execute_remotely_and_function_tasks(local, agents, tmp_path):
    loc, db, env = local
    (tmp_path / "remote.py").write_text(
        textwrap.dedent("""\
        import os, sys
        from fstrack import Task

        def double(x, name):
            Task.current_task().set_user_properties(result=f"{name}:{x * 2}")

        task = Task.init("agent-tests", "remote-" + sys.argv[1])
        if sys.argv[1] == "function":
            child = task.create_function_task(double, x=21, name="answer")
            if child is not None:
                Task.enqueue(child, queue_name="remote")
                print("FUNCTION", child.id)
        else:
            task.execute_remotely(queue_name="remote", clone=sys.argv[1] == "clone")
        task.set_user_properties(where=os.environ.get("FSTRACK_AGENT_WORKER", "local"))
        """)
    )
    out = {}
    for mode in ("self", "clone", "function"):
        done = subprocess.run(
            [sys.executable, "remote.py", mode], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        out[mode] = done.stdout
    itself = Task.get_task(project_name="agent-tests", task_name="remote-self")
    assert itself.get_status() == "queued"
    assert "where" not in itself.get_user_properties()  # the local process left at execute_remotely
    original = Task.get_task(project_name="agent-tests", task_name="remote-clone")
    assert original.get_status() == "completed" and "continued remotely" in original.get_status_message()[0]
    main = Task.get_task(project_name="agent-tests", task_name="remote-function")
    function_id = out["function"].split("FUNCTION")[1].split()[0]
    agent = agents(
        loc,
        "--queue",
        "remote",
        "--once",
        "--workers",
        "3",
        "--watchdog-interval",
        "0",
        env=env,
        log=tmp_path / "a.log",
    )
    assert agent.wait(120) == 0, agent.text()
    assert itself.get_status() == "completed"
    assert itself.get_user_properties(value_only=True)["where"] != "local"
    clones = [t for t in Task.get_tasks(project_name="agent-tests") if t.parent == original.id]
    assert len(clones) == 1 and clones[0].get_status() == "completed"
    assert clones[0].get_user_properties(value_only=True)["where"] != "local"
    assert main.get_status() == "completed" and main.get_user_properties(value_only=True)["where"] == "local"
    function = Task.get_task(task_id=function_id)
    assert function.get_status() == "completed" and function.parent == main.id
    assert function.get_parameter("Function/x") == "21"
    props = function.get_user_properties(value_only=True)
    assert props["result"] == "answer:42" and "where" not in props  # the function ran, then the task left


def test_launch_multi_node(local, agents, tmp_path):
    loc, db, env = local
    master = _script_task(
        tmp_path,
        "multinode",
        """\
        import os
        from fstrack import Task
        task = Task.init()
        conf = task.launch_multi_node(3, port=29511)
        task.set_user_properties(rank=os.environ["RANK"], world=os.environ["WORLD_SIZE"],
                                 addr=os.environ["MASTER_ADDR"], port=os.environ["MASTER_PORT"],
                                 conf_rank=conf["node_rank"], keys=",".join(sorted(conf)))
        """,
        queue="nodes",
    )
    agent = agents(
        loc, "--queue", "nodes", "--once", "--workers", "3", "--watchdog-interval", "0", env=env, log=tmp_path / "a.log"
    )
    assert agent.wait(120) == 0, agent.text()
    nodes = [master] + [t for t in Task.get_tasks(project_name="agent-tests") if t.parent == master.id]
    assert len(nodes) == 3 and all(t.get_status() == "completed" for t in nodes)
    props = [t.get_user_properties(value_only=True) for t in nodes]
    assert sorted(p["rank"] for p in props) == ["0", "1", "2"] and props[0]["rank"] == "0"
    assert {p["world"] for p in props} == {"3"} and {p["port"] for p in props} == {"29511"}
    assert len({p["addr"] for p in props}) == 1
    assert props[0]["keys"] == "devices,master_addr,master_port,node_rank,queue,total_num_nodes,wait"


def test_watchdog_stops_non_responsive_tasks_and_repairs_lost_entries(local, tmp_path):
    loc, db, env = local
    running = Task.create(project_name="agent-tests", task_name="silent")
    running.mark_started()
    db.beat(running.id, {"host": "h", "pid": 1, "time": 0})
    queued = Task.create(project_name="agent-tests", task_name="lost entry")
    Task.enqueue(queued, queue_name="wd")
    queues = Queues(db.store)
    lost = queued._data["execution"]["entry"]
    assert queues.claim(queue_id("wd"), lost) is not None  # a claimant that died before it leased the task
    time.sleep(1.5)
    done = subprocess.run(
        [
            sys.executable,
            str(WORKERS / "agent_cli.py"),
            location_to_json(loc),
            "watchdog",
            "--stale-after",
            "1",
            "--repair-after",
            "1",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    actions = {a["task"]: a["action"] for a in map(json.loads, done.stdout.splitlines())}
    assert actions == {running.id: "stopped", queued.id: "repaired"}
    assert running.get_status() == "stopped" and "non-responsive" in running.get_status_message()[0]
    assert queued.get_status() == "queued"
    entry = db.load(queued.id)["execution"]["entry"]
    assert entry != lost and queues.pending(queue_id("wd")) == [entry]
    assert Watchdog(db, stale_after=1, repair_after=1).scan() == []  # nothing left to do


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_enqueue_to_claim_latency(backend, location_factory, tmp_path, monkeypatch, agents):
    """Local stores wake the agent through filesystem events; object stores are polled (<= 1 s apart)."""
    loc = location_factory(backend)
    db = _use(loc, tmp_path, monkeypatch)
    env = child_env(loc)
    env.update(FSTRACK_CACHE_DIR=str(tmp_path / "cache"), HOME=str(tmp_path))
    Task.enqueue(Task.create(project_name="lat", task_name="warm"), queue_name="lat")
    agent = agents(loc, "--queue", "lat", "--watchdog-interval", "0", env=env, log=tmp_path / "a.log")
    _wait_for(lambda: Task.get_num_enqueued_tasks(queue_name="lat") == 0, 60, "the warm-up task to be taken")
    time.sleep(1.5)  # idle: the agent's poll interval has backed off to its maximum
    latencies = []
    for _ in range(3):
        task = Task.create(project_name="lat", task_name="t")
        t0 = time.time()
        Task.enqueue(task, queue_name="lat")
        _wait_for(lambda: db.load(task.id)["status"] != "queued", 30, "the task to be started", interval=0.005)
        latencies.append(db.load(task.id)["started"] - t0)
        time.sleep(1.2)
    agent.proc.send_signal(signal.SIGTERM)
    agent.wait(30)
    print(f"{backend}: enqueue -> in_progress {[round(x, 3) for x in latencies]}")
    assert min(latencies) < (0.5 if backend == "local" else 2.0)


def test_frozen_agent_its_task_stops_itself_before_the_lease_expires(local, agents, tmp_path):
    loc, db, env = local
    env["RUN_SECONDS"] = "3"
    task = _sleeper_task(tmp_path, "frozen")
    runs_log = Path(env["RUN_LOG"])
    agent = agents(loc, "--queue", "frozen", *LEASE, "--watchdog-interval", "0.3", env=env, log=tmp_path / "a.log")
    start = _wait_for(lambda: [e for e in _events(runs_log) if e[0] == "start"], 60, "the run to start")
    child = start[0][1]
    agent.proc.send_signal(signal.SIGSTOP)  # the agent can no longer renew; its child cannot know it otherwise
    frozen_at = time.time()
    _wait_for(lambda: not _alive(child), 10, "the task's process to stop itself")
    last = max(e[2] for e in _events(runs_log) if e[1] == child)
    assert last - frozen_at < 3 * 0.6 + 0.5, "the task outlived the agent's lease promise"
    agent.proc.send_signal(signal.SIGCONT)  # it wakes up, sees its lease lapsed, applies the policy: re-queue
    _wait_for(lambda: task.get_status() == "completed", 60, "the re-queued task to complete")
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.wait(30) == 0, agent.text()
    starts = [e for e in _events(runs_log) if e[0] == "start"]
    assert len(starts) == 2 and starts[1][2] > last
    assert db.load(task.id)["execution"]["attempts"] == 2


def test_abort_a_queued_task_withdraws_its_entry(local):
    from fstrack.cli.agent import abort
    from fstrack.sdk.task import UsageError

    loc, db, env = local
    task = Task.create(project_name="agent-tests", task_name="waiting")
    Task.enqueue(task, queue_name="later")
    assert abort(task.id, "not needed") == "queued"
    assert task.get_status() == "stopped" and task.get_status_message()[0] == "not needed"
    assert Task.get_num_enqueued_tasks(queue_name="later") == 0
    with pytest.raises(UsageError, match="'stopped'"):
        abort(task.id)


# -- fencing by run: a run that outlived its lease (suspended machine) ends when it sees a later run -----------
STALE_RUN = SLEEPER.replace(
    'note("start")\n',
    """\
import subprocess
helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # in the run's process group
with open(log, "a") as f:
    f.write(f"helper {helper.pid} {time.time()}\\n")
note("start")
""",
)


@pytest.mark.parametrize("noticed_by", ["heartbeat", "exit"])
def test_suspended_run_ends_itself_once_the_task_runs_again_elsewhere(noticed_by, local, tmp_path):
    """A whole machine is suspended (the task's process with its agent: here SIGSTOP) past its lease; the watchdog
    re-queues the task and another worker starts it. On resume, the old run finds ``execution.entry`` naming the
    new run's entry — in its heartbeat loop, or as its script ends before the next beat — and SIGKILLs its process
    group at once, writing nothing more (no abort callback, no flush, no final status over the new run's)."""
    from fstrack.cli.agent import child_environment
    from fstrack.dispatch.leases import Lease, start_run

    loc, db, env = local
    script = tmp_path / "stale.py"
    script.write_text(STALE_RUN)
    task = Task.create(project_name="agent-tests", task_name="stale", script=str(script))
    Task.enqueue(task, queue_name="fence")
    queues, qid = Queues(db.store), queue_id("fence")
    first = db.load(task.id)["execution"]["entry"]
    assert queues.claim(qid, first) is not None  # what an agent does (spec/queues.md §4), with a short lease
    assert Lease(
        db.store.backend, task_id=task.id, queue=qid, entry=first, worker="suspended:1", ttl=0.5, grace=2
    ).renew()
    start_run(db, task.id, first, "suspended:1")
    run_env = child_environment(db.store, task.id, "suspended:1", first)
    run_env.update({key: env[key] for key in ("RUN_LOG", "FSTRACK_HEARTBEAT_SECONDS", "HOME")}, RUN_SECONDS="8")
    if noticed_by == "exit":  # the script's loop is over when it resumes; no heartbeat comes before its exit
        run_env.update(FSTRACK_HEARTBEAT_SECONDS="3600", RUN_SECONDS="2")
    runs_log = Path(env["RUN_LOG"])
    with open(tmp_path / "stale.out", "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(script)], env=run_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )  # its own process group, as under an agent
    try:
        _wait_for(lambda: any(e[0] == "start" for e in _events(runs_log)), 60, "the run to start")
        helper = next(e[1] for e in _events(runs_log) if e[0] == "helper")
        os.killpg(proc.pid, signal.SIGSTOP)
        _wait_for(lambda: Watchdog(db).scan(), 30, "the watchdog to re-queue the task", interval=0.2)
        second = db.load(task.id)["execution"]["entry"]
        assert second != first and queues.claim(qid, second) is not None
        start_run(db, task.id, second, "elsewhere:2")
        new_run = db.load(task.id)
        resumed = time.time()
        os.killpg(proc.pid, signal.SIGCONT)
        proc.wait(timeout=20)
        stale_output = (tmp_path / "stale.out").read_text(errors="replace")[-3000:]
        events = _events(runs_log)
        assert db.load(task.id) == new_run, "the stale run wrote to the task after it was run again"
        assert proc.returncode == -signal.SIGKILL, stale_output
        assert not [e for e in events if e[0] == "callback" or e[0] == "end" and noticed_by == "heartbeat"]
        assert max(e[2] for e in events) - resumed < 2.0, "the stale run went on after the resume"
        _wait_for(lambda: not _alive(helper), 5, "the helper in the stale run's process group to die")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the run's process group
        except ProcessLookupError:
            pass
        proc.wait()


def test_agent_ends_a_run_at_once_when_its_task_runs_again_elsewhere(local, agents, tmp_path):
    """The agent fences by run too (its process may never call ``Task.init``): when the task is re-queued and
    started under another entry while its run goes on, the agent SIGKILLs the run's process group without waiting
    ``--kill-grace``, stops renewing the lease and records nothing over the new run."""
    from fstrack.dispatch.leases import requeue_run, start_run

    loc, db, env = local
    task = _script_task(
        tmp_path,
        "plain",
        """\
        import os, time
        while True:
            with open(os.environ["RUN_LOG"], "a") as f:
                f.write(f"alive {os.getpid()} {time.time()}\\n")
            time.sleep(0.05)
        """,
        queue="fence-agent",
        add_task_init_call=False,
    )
    runs_log = Path(env["RUN_LOG"])
    agent = agents(
        loc,
        "--queue",
        "fence-agent",
        "--once",
        "--kill-grace",
        "60",
        "--watchdog-interval",
        "0",
        env=env,
        log=tmp_path / "agent.log",
    )
    child = _wait_for(lambda: _events(runs_log), 60, "the run to start")[0][1]
    first = db.load(task.id)["execution"]["entry"]
    second = requeue_run(db, task.id, first, message="re-queued by the test", reason="lease expired")
    assert second and Queues(db.store).claim(queue_id("fence-agent"), second) is not None
    start_run(db, task.id, second, "elsewhere:2")
    new_run = db.load(task.id)
    moved = time.time()
    _wait_for(lambda: not _alive(child), 10, "the stale run's process to be killed")
    assert max(e[2] for e in _events(runs_log)) - moved < 3.0, "the agent let the stale run go on"
    assert agent.wait(30) == 0, agent.text()
    assert db.load(task.id) == new_run, "the agent recorded the stale run's end over the new run"
    assert read_lease(db.store.backend, task.id) is None
