"""The task commands of the ``fstrack`` console script, each run as a real subprocess against a real store:
``ls``, ``show``, ``history``, ``diff``, ``log [--follow]``, ``clone``, ``enqueue``/``dequeue``/``queues``,
``scalars``, ``config``, ``gc``, ``push``/``pull`` (``--dry-run``, ``--watch``) and the error rules (one line,
exit 2, a traceback only with ``--debug``). The store commands (``init``, ``fsck``) are in test_cli_store.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from workers.common import assert_clean_failure, fstrack_command, option_args

import fstrack
from fstrack import Task
from fstrack.cli.main import build_parser
from fstrack.records import config
from fstrack.records.taskdb import TaskDB
from fstrack.sdk import current
from fstrack.sdk.models import OutputModel
from fstrack.store.fsck import fsck
from fstrack.store.store import open_store


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A local store with two finished tasks in ``cli/demo`` that differ in ``General/lr``: scalars, console
    text, an artifact, and an output model on the first. Returns ``(url, [first id, second id])``."""
    url = str(tmp_path / "store")
    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(config, "_explicit", None)
    fstrack.set_store(url)
    current.main = None
    ids = []
    for i, lr in enumerate((0.1, 0.5)):
        task = Task.create(project_name="cli/demo", task_name=f"run {i}")
        task.set_parameters({"General/lr": lr, "General/epochs": 3})
        task.mark_started()
        for it in range(3):
            task.get_logger().report_scalar("loss", "train", lr / (it + 1), it)
        task.get_logger().report_text(f"hello from run {i}", print_console=False)
        task.upload_artifact("settings", {"lr": lr}, wait_on_upload=True)
        if i == 0:
            weights = tmp_path / "weights.bin"
            weights.write_bytes(b"w" * 64)
            OutputModel(task=task, name="net", framework="PyTorch").update_weights(
                str(weights), auto_delete_file=False, async_enable=False
            )
        task.close()
        ids.append(task.id)
    yield url, ids
    monkeypatch.setattr(config, "_explicit", None)
    current.main = None


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    return result


def as_json(result: subprocess.CompletedProcess):
    return json.loads(ok(result).stdout)


def test_every_command_has_help(cli):
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {
        "init",
        "fsck",
        "ls",
        "show",
        "log",
        "history",
        "diff",
        "clone",
        "enqueue",
        "dequeue",
        "queues",
        "agent",
        "abort",
        "watchdog",
        "push",
        "pull",
        "scalars",
        "gc",
        "config",
    } <= set(commands)
    for name in commands:
        result = ok(cli(name, "--help"))
        assert "usage:" in result.stdout and name in result.stdout, name
    assert "COMMAND" in ok(cli("--help")).stdout


def test_ls_show_history_diff(store, cli):
    url, (first, second) = store
    listing = ok(cli("ls", "--url", url)).stdout
    assert first in listing and second in listing and "completed" in listing and "loss/train=" in listing
    rows = as_json(cli("ls", "--url", url, "--json"))
    assert {r["id"] for r in rows} == {first, second}
    assert as_json(cli("ls", "--url", url, "--json", "--status", "failed")) == []
    assert [r["id"] for r in as_json(cli("ls", "--url", url, "--json", "--name", "^run 1$"))] == [second]
    assert [p["name"] for p in as_json(cli("ls", "--url", url, "--projects", "--json"))] == ["cli", "cli/demo"]

    shown = ok(cli("show", first, "--url", url)).stdout
    for needle in (
        "run 0",
        "General/lr = 0.1",
        "artifacts:",
        "settings",
        "output models:",
        "net",
        "PyTorch",
        "status history:",
        "in_progress",
        "completed",
        "metric loss/train",
    ):
        assert needle in shown, (needle, shown)
    data = as_json(cli("show", first, "--url", url, "--json"))
    assert data["id"] == first and data["artifacts"]["settings"]["type"] == "dict"
    assert [m["name"] for m in data["models"]["output"]] == ["net"]
    assert [s["status"] for s in data["status_history"]][-1] == "completed"

    with_api = Task.get_task(task_id=first).history()
    history = ok(cli("history", first, "--url", url)).stdout.strip().splitlines()
    assert len(history) == len(with_api) and "(created)" in history[0] and "status=completed" in history[-1]
    assert len(as_json(cli("history", first, "--url", url, "--json"))) == len(with_api)

    diff = as_json(cli("diff", first, second, "--url", url, "--json"))
    assert {"kind": "parameter", "name": "General/lr", "a": "0.1", "b": "0.5"} in diff
    assert not any(row["name"] == "General/epochs" for row in diff)  # equal values only with --all
    assert any(
        row["name"] == "General/epochs" for row in as_json(cli("diff", first, second, "--all", "--url", url, "--json"))
    )


def start_task_script(tmp_path, url: str, body: str, **env: str) -> tuple[subprocess.Popen, str, dict]:
    """Start a script that runs ``body`` (it has ``task``, ``sys`` and ``time``) after ``Task.init`` against the
    store at ``url``; returns the process once it has told its task id, the id, and its environment."""
    script = tmp_path / "script.py"
    script.write_text(
        "import sys, time\nfrom fstrack import Task\ntask = Task.init(project_name='cli', "
        "task_name='script')\nprint('TASK', task.id, file=sys.stderr, flush=True)\n" + textwrap.dedent(body)
    )
    child_env = {
        **os.environ,
        "FSTRACK_URL": url,
        "FSTRACK_CACHE_DIR": str(tmp_path / "cache"),
        "HOME": str(tmp_path),
        **env,
    }
    child_env.pop("FSTRACK_TASK_ID", None)
    run = subprocess.Popen(
        [sys.executable, str(script)], env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        task_id = next(line.split()[1] for line in run.stderr if line.startswith("TASK "))
    except StopIteration:
        run.kill()
        raise AssertionError(f"the script did not start: exit code {run.wait()}") from None
    return run, task_id, child_env


def test_log_prints_the_console_and_follow_streams_until_the_task_ends(tmp_path, cli, monkeypatch):
    url = str(tmp_path / "store")
    run, task_id, env = start_task_script(
        tmp_path,
        url,
        """
        for epoch in range(4):
            print(f"epoch {epoch}", flush=True)
            time.sleep(1.0)
        print("done", flush=True)
    """,
        FSTRACK_FLUSH_PERIOD="0.2",
    )
    try:
        follow = subprocess.Popen(
            [*fstrack_command(), "log", task_id, "--url", url, "--follow", "--interval", "0.2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        lines, arrived = [], []
        for line in follow.stdout:
            lines.append(line.rstrip("\n"))
            arrived.append(run.poll() is None)
        assert follow.wait(timeout=60) == 0, follow.stderr.read()
    finally:
        if run.poll() is None:
            run.kill()
        run.wait()
    epochs = [line for line in lines if line.startswith("epoch")]
    assert epochs == [f"epoch {i}" for i in range(4)] and lines[-1] == "done"
    # streamed while the script was still running, and --follow ended by itself once the task completed
    assert arrived[lines.index("epoch 0")] is True
    monkeypatch.setattr(config, "_explicit", None)
    fstrack.set_store(url)
    assert Task.get_task(task_id=task_id).get_status() == "completed"

    whole = ok(cli("log", task_id, "--url", url)).stdout.splitlines()
    assert [line for line in whole if line.startswith(("epoch", "done"))] == [*epochs, "done"]
    rows = [json.loads(line) for line in ok(cli("log", task_id, "--url", url, "--json")).stdout.splitlines()]
    assert {"timestamp", "level", "stream", "message"} <= set(rows[0]) and rows[-1]["message"].startswith("done")


def test_log_follow_of_a_killed_task_ends(tmp_path, cli):
    """A task whose process was SIGKILLed stays in_progress forever; following its log ends once no process
    reports it, instead of waiting for a status that never comes."""
    url = str(tmp_path / "store")
    run, task_id, _env = start_task_script(
        tmp_path,
        url,
        """
        print("working", flush=True)
        task.flush()
        print("FLUSHED", file=sys.stderr, flush=True)
        time.sleep(600)
    """,
        FSTRACK_HEARTBEAT_SECONDS="0.5",
    )
    try:
        assert any(line.startswith("FLUSHED") for line in run.stderr), "the script ended early"
    finally:
        run.kill()
        run.wait()
    result = ok(
        cli(
            "log",
            task_id,
            "--url",
            url,
            "--follow",
            "--interval",
            "0.2",  # hangs (times out) if it
            env={"FSTRACK_HEARTBEAT_SECONDS": "0.5"},
            timeout=60,
        )
    )  # waited for a final status
    assert "working" in result.stdout.splitlines()


def test_clone_enqueue_dequeue_and_queues(store, cli):
    url, (first, _second) = store
    made = as_json(
        cli("clone", first, "--url", url, "--name", "tuned", "--set", "General/lr=0.7", "--enqueue", "gpu", "--json")
    )
    clone = Task.get_task(task_id=made["id"])
    assert clone.name == "tuned" and clone.get_parameter("General/lr") == "0.7"
    assert made["enqueue"]["queued"] == 1 and clone.get_status() == "queued"
    assert [(q["name"], q["pending"]) for q in as_json(cli("queues", "--url", url, "--json"))] == [("gpu", 1)]
    ok(cli("dequeue", made["id"], "--url", url))
    assert Task.get_task(task_id=made["id"]).get_status() == "created"
    assert [(q["name"], q["pending"]) for q in as_json(cli("queues", "--url", url, "--json"))] == [("gpu", 0)]
    assert "queued in 'gpu'" in ok(cli("enqueue", made["id"], "--queue", "gpu", "--url", url)).stdout
    assert [q["pending"] for q in as_json(cli("queues", "--url", url, "--json"))] == [1]
    assert as_json(cli("abort", made["id"], "--url", url, "--json")) == {
        "task": made["id"],
        "was": "queued",
        "status": "stopped",
    }
    assert Task.get_task(task_id=made["id"]).get_status() == "stopped"
    assert [q["pending"] for q in as_json(cli("queues", "--url", url, "--json"))] == [0]


def test_scalars_config_and_gc(store, cli):
    url, (first, second) = store
    csv = ok(cli("scalars", "--url", url, "--csv", "-")).stdout.splitlines()
    assert csv[0].replace('"', "").split(",") == [
        "task",
        "project",
        "task_name",
        "title",
        "series",
        "iteration",
        "timestamp",
        "value",
    ]
    assert len(csv) == 1 + 2 * 3  # 3 steps of loss/train per task
    assert sum(first in line for line in csv) == 3 and sum(second in line for line in csv) == 3

    ok(cli("config", "--set-url", url))
    assert as_json(cli("config", "--json"))["url"] == url
    assert {r["id"] for r in as_json(cli("ls", "--json"))} == {first, second}  # no --url: the configured store

    before = sorted((e.key, e.size, e.mtime) for e in open_store(url, create=False).backend.walk("objects"))
    report = as_json(cli("gc", url, "--dry-run", "--json"))
    assert report["dry_run"] is True and report["objects"] == report["reachable"] == len(before) > 0
    assert sorted((e.key, e.size, e.mtime) for e in open_store(url, create=False).backend.walk("objects")) == before


def test_push_pull_idempotent_dry_run_and_json(store, cli, tmp_path):
    url, ids = store
    bucket, back = str(tmp_path / "bucket"), str(tmp_path / "back")
    plan = as_json(cli("push", url, bucket, "--dry-run", "--json"))
    assert plan["dry_run"] and plan["objects_copied"] > 0 and not os.path.exists(bucket)
    first = as_json(cli("push", url, bucket, "--json"))
    assert first["objects_copied"] == plan["objects_copied"] and not first["errors"] and not first["conflicts"]
    again = as_json(cli("push", url, bucket, "--json"))
    assert (again["objects_copied"], again["refs_appended"]) == (0, 0)
    text = ok(cli("push", url, bucket)).stdout  # quiet (no progress line) when not on a terminal
    assert "copied 0 objects" in text and "\r" not in text
    ok(cli("pull", bucket, back, "--json"))
    assert fsck(open_store(back, create=False)).ok
    assert {r["id"] for r in as_json(cli("ls", "--url", back, "--json"))} == set(ids)
    only = as_json(cli("push", url, str(tmp_path / "one"), "--task", ids[1], "--json"))
    assert only["tasks"] == 1
    assert {r["id"] for r in as_json(cli("ls", "--url", str(tmp_path / "one"), "--json"))} == {ids[1]}


@pytest.mark.servers
def test_push_to_s3_with_options(store, cli, location_factory):
    url, ids = store
    bucket = location_factory("s3")
    options = [arg.replace("-o", "--dst-option") if arg == "-o" else arg for arg in option_args(bucket.storage_options)]
    summary = as_json(cli("push", url, bucket.url, *options, "--json", env=bucket.env))
    assert summary["objects_copied"] > 0 and not summary["errors"]
    listed = as_json(cli("ls", "--url", bucket.url, *option_args(bucket.storage_options), "--json", env=bucket.env))
    assert {r["id"] for r in listed} == set(ids)


def test_push_watch_mirrors_new_tasks_until_interrupted(store, tmp_path):
    url, ids = store
    bucket = str(tmp_path / "bucket")
    watcher = subprocess.Popen(
        [*fstrack_command(), "push", url, bucket, "--watch", "--json", "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "FSTRACK_CACHE_DIR": str(tmp_path / "watch-cache")},
    )
    try:
        first_round = json.loads(watcher.stdout.readline())
        assert first_round["round"] == "full" and first_round["objects_copied"] > 0
        task = Task.create(project_name="cli/demo", task_name="late")
        task.mark_started()
        task.get_logger().report_scalar("loss", "train", 1.0, 0)
        task.mark_completed()
        mirrored = TaskDB(open_store(bucket, create=False))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            mirrored.exists(task.id) and mirrored.load(task.id)["status"] == "completed"
        ):
            time.sleep(0.1)
        assert mirrored.load(task.id)["status"] == "completed", "the finished task never reached the bucket"
    finally:
        watcher.send_signal(signal.SIGINT)
        _out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    assert "Traceback" not in err
    assert fsck(open_store(bucket, create=False)).ok
    fstrack.set_store(bucket)
    assert {t.id for t in Task.get_tasks(project_name="cli/demo")} == {*ids, task.id}
    assert Task.get_task(task_id=task.id).get_reported_scalars()["loss"]["train"]["y"] == [1.0]


def test_errors_are_one_line_unless_debug(store, cli, tmp_path):
    url, _ids = store
    assert_clean_failure(cli("show", "not-an-id", "--url", url), "not-an-id")
    assert_clean_failure(cli("show", "0" * 32, "--url", url), "0" * 32)
    assert_clean_failure(cli("log", "0" * 32, "--url", url), "0" * 32)
    assert_clean_failure(cli("push", url, url + "/"), "same store")
    assert_clean_failure(cli("push", str(tmp_path / "nothing-here"), str(tmp_path / "b")), "nothing-here")
    assert_clean_failure(cli("push", url, str(tmp_path / "b"), "--filter", "[1]"), "--filter")
    assert_clean_failure(cli("push", url, str(tmp_path / "b"), "--filter", "{status: done}"), "--filter")
    assert_clean_failure(cli("pull", url, str(tmp_path / "b"), "--watch"), "--watch")
    assert_clean_failure(cli("ls", "--url", ""), "must not be empty")
    debug = cli("--debug", "show", "not-an-id", "--url", url)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


@pytest.mark.parametrize(
    "options, expected",
    [
        (["--set", "=1"], "--set '=1'"),
        (["--set", "Args/lr:0.01"], "Args/lr:0.01"),
        (["--set", "Args/=1"], "Args/"),
        (["--enqueue", ""], "queue name"),
        (["--project", ""], "project"),
    ],
)
def test_clone_validates_everything_before_writing(store, cli, options, expected):
    url, (first, _second) = store
    before = Task.query_tasks()
    result = cli("clone", first, "--url", url, *options)
    assert result.returncode != 0 and expected in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert Task.query_tasks() == before  # no half-made clone
