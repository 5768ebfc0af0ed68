"""The ClearML Task on the store: creation, reuse, lifecycle, editing, queries, process exits."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import fstrack
from fstrack import Task
from fstrack.records.lifecycle import TRANSITIONS, InvalidTransitionError
from fstrack.records.taskdb import TaskNotFoundError
from fstrack.sdk import current
from fstrack.sdk.task import UsageError
from fstrack.store.fsck import fsck
from fstrack.store.store import open_store


@pytest.fixture(params=["local", "memory"])
def task_store(request, location_factory, tmp_path, monkeypatch):
    """Point Task at a fresh store (and a private session cache) for one test."""
    loc = location_factory(request.param)
    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    fstrack.set_store(loc.url, **loc.storage_options)
    current.main = None
    yield loc
    if current.main is not None:
        current.main.close()
    current.main = None


def run_script(
    code: str, loc, tmp_path, *args: str, env: dict | None = None, timeout: float = 60, wait: bool = True
) -> subprocess.CompletedProcess | subprocess.Popen:
    """Run ``code`` as a real script against the store at ``loc``."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    full_env = {
        **os.environ,
        **loc.env,
        "FSTRACK_URL": loc.url,
        "FSTRACK_STORAGE_OPTIONS": json.dumps(loc.storage_options),
        "FSTRACK_CACHE_DIR": str(tmp_path / "cache"),
        **(env or {}),
    }
    for name in ("FSTRACK_TASK_ID", "FSTRACK_PROC_MASTER_ID", "FSTRACK_PROC_MASTER_STORE"):
        full_env.pop(name, None)
    command = [sys.executable, str(script), *args]
    if not wait:
        return subprocess.Popen(
            command, env=full_env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    return subprocess.run(command, env=full_env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout)


# -- creation and reuse ---------------------------------------------------------------------------------


def test_init_creates_running_task(task_store, capsys):
    task = Task.init("team/vision", "resnet", task_type="testing", tags=["a", "b"])
    assert task.status == "in_progress"
    assert (task.name, task.get_project_name(), task.task_type) == ("resnet", "team/vision", "testing")
    assert task.get_tags() == ["a", "b"]
    assert Task.current_task() is task and task.is_main_task()
    assert task.id in capsys.readouterr().err
    assert Task.init("other", "x") is task  # a second init in the same process returns the running task
    task.close()
    assert task.get_status() == "completed"
    assert Task.current_task() is None


ALSO_ON_S3 = pytest.mark.parametrize("task_store", ["local", "memory", "s3"], indirect=True)


@ALSO_ON_S3
def test_reuse_rules(task_store):
    first = Task.init("p", "exp")
    first.set_comment("first run")
    first.close()
    again = Task.init("p", "exp")
    assert again.id == first.id, "a closed task without outputs is reused"
    assert again.status == "in_progress" and again._data["run"] == 2
    again.close()

    fresh = Task.init("p", "exp", reuse_last_task_id=False)
    assert fresh.id != first.id
    fresh.close()

    explicit = Task.init("p", "exp", reuse_last_task_id=first.id)
    assert explicit.id == first.id
    explicit.close()


@ALSO_ON_S3
@pytest.mark.parametrize("blocker", ["artifact", "published", "archived"])
def test_reuse_refused(task_store, blocker):
    first = Task.init("p", "exp")
    first.close()
    if blocker == "artifact":
        first.update_task({"artifacts": {"data": {"url": "memory://x"}}})
    elif blocker == "published":
        first.publish()
    else:
        first.set_archived(True)
    second = Task.init("p", "exp")
    assert second.id != first.id
    second.close()


def test_reuse_unknown_id_names_it(task_store):
    with pytest.raises(TaskNotFoundError, match="0" * 32):
        Task.init("p", "exp", reuse_last_task_id="0" * 32)
    with pytest.raises(ValueError, match="reuse_last_task_id"):
        Task.init("p", "exp", reuse_last_task_id=3.5)


def test_continue_last_task(task_store):
    first = Task.init("p", "cont")
    first.update_task({"artifacts": {"model": {"url": "x"}}, "last_iteration": 41})
    first.close()
    cont = Task.init("p", "cont", continue_last_task=True)
    assert cont.id == first.id
    assert cont._data["artifacts"], "continuing keeps previous outputs"
    assert cont.get_initial_iteration() == 42
    cont.close()
    by_id = Task.init("p", "other", continue_last_task=first.id)
    assert by_id.id == first.id
    by_id.close()
    offset = Task.init("p", "cont", continue_last_task=0)
    assert offset.id == first.id and offset.get_initial_iteration() == 0
    offset.close()


def test_direct_construction_refused(task_store):
    with pytest.raises(UsageError, match="Task.init"):
        Task()


@pytest.mark.parametrize("project", ["a//b", "/a", "a/ /b", 3])
def test_bad_project_names(task_store, project):
    with pytest.raises(ValueError, match="project name"):
        Task.init(project, "x")


def test_bad_task_type_and_tags(task_store):
    with pytest.raises(ValueError, match="not one of"):
        Task.init("p", "x", task_type="juggling")
    with pytest.raises(ValueError, match="tags"):
        Task.init("p", "x", tags=["ok", ""])


def test_create_draft(task_store, tmp_path):
    script = tmp_path / "train.py"
    script.write_text("print('hi')\n")
    task = Task.create(
        project_name="p",
        task_name="drafted",
        script=str(script),
        packages=["numpy==2.0"],
        argparse_args=[("--lr", "0.1")],
        docker="python:3.11 --shm-size 1g",
    )
    assert task.status == "created"
    assert task._data["script"]["code"] == "print('hi')\n"
    assert task.get_requirements() == {"pip": "numpy==2.0"}
    assert task.get_base_docker() == "python:3.11 --shm-size 1g"
    assert Task.current_task() is None
    with pytest.raises(FileNotFoundError, match="nope.py"):
        Task.create(project_name="p", task_name="x", script="nope.py")


# -- lifecycle ------------------------------------------------------------------------------------------


def _task_in(status: str) -> Task:
    task = Task.create(project_name="p", task_name=f"in-{status}")
    if status != "created":
        task._set_status(status, force=True)
    return task


@pytest.mark.parametrize("start", sorted(TRANSITIONS))
def test_transition_table(task_store, start):
    for target in ("created", "queued", "in_progress", "stopped", "completed", "failed", "closed", "published"):
        task = _task_in(start)
        if target == start or target in TRANSITIONS[start]:
            task._set_status(target)
            assert task.get_status() == target
        else:
            with pytest.raises(InvalidTransitionError, match=f"from '{start}' to '{target}'"):
                task._set_status(target)
            assert task.get_status() == start, "a refused transition changes nothing"
            task._set_status(target, force=True)
            assert task.get_status() == target


def test_status_methods(task_store):
    task = Task.create(project_name="p", task_name="s")
    task.mark_started()
    assert task.get_status() == "in_progress"
    task.mark_failed(status_reason="boom", status_message="it broke")
    assert task.get_status_message() == ("it broke", "boom")
    with pytest.raises(InvalidTransitionError):
        task.publish()
    with pytest.warns(UserWarning, match="cannot go"):
        task.publish(ignore_errors=True)
    task.reset()
    assert task.get_status() == "created" and task._data["run"] == 2
    task.mark_started()
    task.mark_stopped(status_message="enough")
    task.publish()
    with pytest.raises(UsageError, match="published"):
        task.set_task_type("testing")
    task.add_tags(["still-taggable"])
    with pytest.raises(InvalidTransitionError):
        task.reset()
    clone = Task.clone(task)
    assert clone.get_status() == "created" and clone.parent == task.id


def test_wait_for_status(task_store):
    task = Task.create(project_name="p", task_name="w")
    task.mark_started()
    task.mark_failed()
    with pytest.raises(RuntimeError, match="failed"):
        task.wait_for_status(check_interval_sec=0.01)
    done = Task.create(project_name="p", task_name="w2")
    done.mark_started()
    done.mark_completed()
    done.wait_for_status(check_interval_sec=0.01)


# -- editing --------------------------------------------------------------------------------------------


def test_editing_round_trip(task_store):
    task = Task.create(project_name="p", task_name="edit")
    parent = Task.create(project_name="p", task_name="parent")
    task.rename("renamed")
    task.comment = "a comment"
    task.set_task_type(Task.TaskTypes.inference)
    task.set_parent(parent)
    task.move_to_project(new_project_name="q/r")
    task.add_tags("x")
    task.add_tags(["y", "x"])
    task.remove_tags("x")
    task.set_system_tags(["sys"])
    task.set_user_properties({"a": 1}, [{"name": "b", "value": "2", "description": "bee"}], c=3.5)
    task.set_progress(75)
    other = Task.get_task(task_id=task.id)
    assert other.name == "renamed" and other.comment == "a comment"
    assert other.task_type == "inference" and other.parent == parent.id
    assert other.get_project_name() == "q/r" and Task.get_project_id("q") is not None
    assert other.get_tags() == ["y"] and other.get_system_tags() == ["sys"]
    assert other.get_user_properties(value_only=True) == {"a": "1", "b": "2", "c": "3.5"}
    assert other.get_user_properties()["b"]["description"] == "bee"
    assert other.get_progress() == 75
    other.delete_user_properties("a")
    assert set(Task.get_task(task_id=task.id).get_user_properties()) == {"b", "c"}


def test_editing_errors_change_nothing(task_store):
    task = Task.create(project_name="p", task_name="e")
    before = len(task.history())
    with pytest.raises(KeyError, match="nope"):
        task.delete_user_properties("nope")
    with pytest.raises(ValueError, match="0 to 100"):
        task.set_progress(101)
    with pytest.raises(TaskNotFoundError, match="f" * 32):
        task.set_parent("f" * 32)
    with pytest.raises(ValueError, match="exactly one"):
        task.set_project()
    with pytest.raises(ValueError, match="task name"):
        task.rename("  ")
    for missing in ("no-such-requirements.txt", pathlib.Path("no-such-requirements.txt")):
        with pytest.raises(FileNotFoundError, match="no-such-requirements"):
            task.set_packages(missing)
    assert len(task.history()) == before


def test_history_is_the_manifest_chain(task_store):
    task = Task.create(project_name="p", task_name="h")
    task.set_comment("one")
    task.set_comment("one")  # no change: no new manifest
    task.set_comment("two")
    chain = task.history()
    assert [m["comment"] for m in chain] == ["", "one", "two"]
    assert chain[0]["previous"] is None
    assert all(later["previous"] is not None for later in chain[1:])


def test_export_import_update(task_store):
    task = Task.create(project_name="p", task_name="exp")
    task.set_user_properties(k="v")
    data = task.export_task()
    json.dumps(data)  # plain data
    copy = Task.import_task(data)
    assert copy.id != task.id and copy.name == "exp" and copy.get_user_properties(value_only=True) == {"k": "v"}
    task.update_task({"comment": "merged", "script": {"branch": "dev"}})
    assert task.comment == "merged" and task.get_script()["branch"] == "dev"
    with pytest.raises(ValueError, match="managed by fstrack"):
        task.update_task({"id": "0" * 32})


def test_update_and_import_check_fields_as_the_setters_do(task_store):
    """spec/tasks.md §4 and §8 through update_task/import_task: a new project is recorded, and names, types,
    status and tags are refused with the bad value named, as set_name/set_task_type/add_tags refuse them."""
    task = Task.create(project_name="p", task_name="moved")
    task.update_task({"project": "elsewhere/deep"})
    assert task.get_project_object().name == "elsewhere/deep"
    assert {"elsewhere", "elsewhere/deep"} <= {p.name for p in Task.get_projects()}
    refused = [
        ({"project": ""}, "project"),
        ({"name": "  "}, "task name"),
        ({"type": "gardening"}, "gardening"),
        ({"status": "finished-ish"}, "finished-ish"),
        ({"tags": ["ok", 3]}, "tags"),
    ]
    for data, named in refused:
        with pytest.raises(ValueError, match=named):
            task.update_task(data)
        with pytest.raises(ValueError, match=named):
            Task.import_task({**task.export_task(), **data})
    assert Task.get_task(task_id=task.id).name == "moved"  # nothing refused was stored


def test_delete(task_store):
    task = Task.create(project_name="p", task_name="gone")
    assert task.delete()
    with pytest.raises(TaskNotFoundError):
        Task.get_task(task_id=task.id)
    assert task.id not in Task.query_tasks(project_name="p")


# -- queries --------------------------------------------------------------------------------------------


@ALSO_ON_S3
def test_queries(task_store):
    a = Task.create(project_name="proj", task_name="alpha one")
    a.add_tags(["best"])
    time.sleep(0.01)
    b = Task.create(project_name="proj", task_name="alpha two")
    time.sleep(0.01)
    c = Task.create(project_name="proj/sub", task_name="beta")
    c.set_archived(True)
    assert Task.get_task(project_name="proj", task_name="alpha one").id == a.id
    assert Task.get_task(project_name="proj", task_name="alpha") is None  # exact names only; None as in ClearML
    assert Task.get_task(project_name="nowhere") is None
    with pytest.raises(TaskNotFoundError, match="alpha"):
        Task.get_by_name("alpha")
    with pytest.raises(TaskNotFoundError):
        Task.get_task(task_id="0" * 32)
    assert Task.resolve_id(a) == a.id and Task.resolve_id("x") == "x"
    assert Task.normalize_id(f" {a.id}\n") == a.id and Task.normalize_id("") is None
    assert [t.id for t in Task.get_tasks(project_name="proj", task_name="alpha")] == [b.id, a.id]
    assert Task.query_tasks(tags=["best"]) == [a.id]
    assert c.id not in [t.id for t in Task.get_tasks(allow_archived=False)]
    rows = Task.query_tasks(project_name="proj", task_name="^alpha two$", additional_return_fields=["name", "status"])
    assert rows == [{"id": b.id, "name": "alpha two", "status": "created"}]
    assert {p.name for p in Task.get_projects()} >= {"proj", "proj/sub"}
    assert Task.get_project_id("nope") is None
    assert Task.get_by_name("beta").id == c.id
    with pytest.raises(ValueError, match="task_id"):
        Task.get_task()
    records = Task.get_all(project=["proj"], order_by=["name"], only_fields=["name"])
    assert [r.name for r in records] == ["alpha one", "alpha two"]
    assert [r.id for r in Task.get_all(status=["created"], page=0, page_size=1)] == [c.id]
    with pytest.raises(ValueError, match="bogus"):
        Task.get_all(bogus=1)
    with pytest.raises(ValueError, match="__\\$nope"):
        Task.get_tasks(tags=["__$nope", "x"])


# -- concurrency ----------------------------------------------------------------------------------------

EDITOR = """
import sys, fstrack
from fstrack import Task
task = Task.get_task(task_id=sys.argv[1])
for i in range(int(sys.argv[3])):
    if sys.argv[2] == "tags":
        task.add_tags([f"tag{i}"])
    else:
        task.set_user_properties(**{f"prop{i}": i})
"""


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_two_processes_edit_one_task(backend, location_factory, tmp_path):
    loc = location_factory(backend)
    fstrack.set_store(loc.url, **loc.storage_options)
    task = Task.create(project_name="p", task_name="shared")
    n = 30
    procs = []
    for kind in ("tags", "props"):
        (tmp_path / kind).mkdir()
        procs.append(run_script(EDITOR, loc, tmp_path / kind, task.id, kind, str(n), wait=False))
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    task.reload()
    assert task.get_tags() == [f"tag{i}" for i in range(n)]
    assert set(task.get_user_properties()) == {f"prop{i}" for i in range(n)}
    assert fsck(open_store(loc.url, **loc.storage_options)).ok


# -- process exits --------------------------------------------------------------------------------------

SCRIPT = """
import os, sys, time
from fstrack import Task
task = Task.init("proc", "exit-test")
print("TASK", task.id, flush=True)
mode = sys.argv[1]
if mode == "raise":
    raise RuntimeError("boom from the script")
if mode == "exit3":
    sys.exit(3)
if mode == "wait":
    def on_abort():
        print("ABORT-CALLBACK", flush=True)
    task.register_abort_callback(on_abort, 5)
    time.sleep(60)
if mode == "complete":
    task.mark_completed()
    print("NOT REACHED", flush=True)
"""


def _task_id(output: str) -> str:
    return next(line.split()[1] for line in output.splitlines() if line.startswith("TASK"))


@pytest.mark.parametrize(
    ("mode", "status", "message"),
    [
        ("ok", "completed", None),
        ("raise", "failed", "boom from the script"),
        ("exit3", "failed", "exit code 3"),
        ("complete", "completed", None),
    ],
)
def test_process_exit_status(location_factory, tmp_path, mode, status, message):
    loc = location_factory("local")
    result = run_script(SCRIPT, loc, tmp_path, mode)
    assert "NOT REACHED" not in result.stdout
    fstrack.set_store(loc.url)
    task = Task.get_task(task_id=_task_id(result.stdout))
    assert task.get_status() == status, result.stderr
    if message:
        assert message in task.get_status_message()[0]


TRAIN = """
import argparse
from fstrack import Task
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=1.0)
parser.add_argument("--epochs", type=int, default=1)
args = parser.parse_args()
task = Task.init("proc", "train")
config = task.connect({"layers": 2})
print("TASK", task.id, args.lr, flush=True)
"""


def test_script_with_argparse_ends_completed_with_its_record(location_factory, tmp_path):
    loc = location_factory("local")
    result = run_script(TRAIN, loc, tmp_path, "--lr", "0.1")
    assert result.returncode == 0, result.stderr
    fstrack.set_store(loc.url)
    task = Task.get_task(task_id=_task_id(result.stdout))
    assert task.get_status() == "completed"
    assert task.get_parameters(cast=True) == {"Args/lr": 0.1, "Args/epochs": 1, "General/layers": 2}
    script = task._data["script"]
    assert script["entry_point"].endswith("script.py") and "--lr" in script["argv"]
    assert "fstrack" in task.get_requirements()["pip"]
    assert task._data["runtime"]["pid"] > 0


def _started(proc: subprocess.Popen) -> str:
    line = proc.stdout.readline()
    assert line.startswith("TASK"), proc.stderr.read()
    return line.split()[1]


def test_ctrl_c_stops(location_factory, tmp_path):
    loc = location_factory("local")
    proc = run_script(SCRIPT, loc, tmp_path, "wait", wait=False)
    task_id = _started(proc)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    fstrack.set_store(loc.url)
    assert Task.get_task(task_id=task_id).get_status() == "stopped"


def test_abort_from_another_process(location_factory, tmp_path):
    loc = location_factory("local")
    proc = run_script(SCRIPT, loc, tmp_path, "wait", wait=False, env={"FSTRACK_HEARTBEAT_SECONDS": "0.2"})
    task_id = _started(proc)
    fstrack.set_store(loc.url)
    Task.get_task(task_id=task_id).mark_stopped(status_message="aborted by test")
    out, _err = proc.communicate(timeout=30)
    assert "ABORT-CALLBACK" in out
    task = Task.get_task(task_id=task_id)
    assert task.get_status() == "stopped" and task.get_status_message()[0] == "aborted by test"


def test_sigkill_leaves_a_dead_task_and_a_clean_store(location_factory, tmp_path):
    loc = location_factory("local")
    proc = run_script(SCRIPT, loc, tmp_path, "wait", wait=False, env={"FSTRACK_HEARTBEAT_SECONDS": "0.2"})
    task_id = _started(proc)
    fstrack.set_store(loc.url)
    task = Task.get_task(task_id=task_id)
    deadline = time.time() + 10
    while not task.is_alive() and time.time() < deadline:
        time.sleep(0.05)
    assert task.is_alive()
    proc.kill()
    proc.communicate()
    import fstrack.sdk.task as task_module

    monkey_interval = task_module.HEARTBEAT_SECONDS
    task_module.HEARTBEAT_SECONDS = 0.2
    try:
        time.sleep(1.0)
        assert task.get_status() == "in_progress" and not task.is_alive()
    finally:
        task_module.HEARTBEAT_SECONDS = monkey_interval
    assert fsck(open_store(loc.url)).ok


def test_offline_mode_uses_the_offline_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FSTRACK_OFFLINE_DIR", str(tmp_path / "offline"))
    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    current.main = None
    Task.set_offline(True)
    try:
        assert Task.is_offline()
        task = Task.init("p", "offline")
        assert task.get_offline_mode_folder() == str(tmp_path / "offline")
        assert Task.get_task(project_name="p", task_name="offline").id == task.id
        with pytest.raises(UsageError, match="before Task.init"):
            Task.set_offline(False)
        task.close()
    finally:
        Task.set_offline(False)
        current.main = None
