"""Issue 13: a shared store is a multi-user system. Nothing a teammate writes into it escapes the store, runs
code on a reader, leaks a credential or breaks the other records (real symlinks, real files, real processes)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import fstrack
from fstrack import Task
from fstrack.errors import StoreError
from fstrack.sdk import artifacts, current
from fstrack.store.fsck import fsck
from fstrack.store.store import open_store


@pytest.fixture
def local_store(tmp_path, monkeypatch):
    """A local store set as the process's store, with a private artifact cache."""
    url = str(tmp_path / "store")
    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    artifacts.set_cache_dir(None)
    fstrack.set_store(url)
    current.main = None
    yield open_store(url)
    current.main = None


def _age(folder: Path, seconds: float) -> None:
    old = time.time() - seconds
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (old, old), follow_symlinks=False)


# -- items 1 and 2: links inside a local store ---
def test_gc_never_deletes_through_a_symlinked_staging_folder(local_store, tmp_path, cli):
    """Item 1: ``tmp`` replaced by a link to a folder of old files; ``fstrack gc`` deletes none of them."""
    precious = tmp_path / "precious"
    (precious / "deep").mkdir(parents=True)
    (precious / "notes.txt").write_text("keep me")
    (precious / "deep" / "thesis.tex").write_text("keep me too")
    _age(precious, 3 * 86400)
    staging = Path(local_store.backend.root) / "tmp"
    if staging.exists():
        staging.rmdir()
    staging.symlink_to(precious)
    result = cli("gc", local_store.url)
    assert (precious / "notes.txt").read_text() == "keep me"
    assert (precious / "deep" / "thesis.tex").read_text() == "keep me too"
    assert "tmp" in result.stdout + result.stderr and "symbolic link" in result.stdout + result.stderr
    assert not fsck(open_store(local_store.url, create=False)).ok


def test_symlinked_refs_folder_is_refused_by_every_layer(local_store, tmp_path, cli):
    """Item 2: ``refs/tasks`` moved to another folder behind a link: readers and writers refuse it with an error
    naming it, fsck reports it, and gc refuses to run (it cannot see the roots) instead of deleting artifacts."""
    task = Task.create(project_name="p", task_name="moved")
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(10_000))
    task.upload_artifact("weights", str(source), wait_on_upload=True)
    root = Path(local_store.backend.root)
    elsewhere = tmp_path / "other-disk"
    elsewhere.mkdir()
    (root / "refs" / "tasks").rename(elsewhere / "tasks")
    (root / "refs" / "tasks").symlink_to(elsewhere / "tasks")
    _age(root / "objects", 3 * 86400)
    objects_before = sorted(p.name for p in (root / "objects").rglob("*") if p.is_file())

    result = cli("show", task.id, "--url", local_store.url)
    assert result.returncode != 0 and "refs/tasks" in result.stderr and "symbolic link" in result.stderr
    report = fsck(open_store(local_store.url, create=False))
    assert any("refs/tasks" in e and "symbolic link" in e for e in report.errors), report.errors
    result = cli("fsck", local_store.url)
    assert result.returncode == 1 and "refs/tasks" in result.stdout + result.stderr
    result = cli("gc", local_store.url)
    assert result.returncode != 0 and "refs/tasks" in result.stderr
    assert sorted(p.name for p in (root / "objects").rglob("*") if p.is_file()) == objects_before


def test_symlinked_object_shard_is_never_written_through(local_store, tmp_path):
    """Item 2: with ``objects/<shard>`` a link to a folder outside, a writer refuses to store an object there,
    and fsck reports the link rather than "ok: 0 objects"."""
    store = local_store
    data = b"an object whose shard is a link"
    from fstrack.store.objects import hash_bytes

    shard = hash_bytes(data)[:2]
    outside = tmp_path / "outside"
    outside.mkdir()
    (Path(store.backend.root) / "objects").mkdir(exist_ok=True)
    (Path(store.backend.root) / "objects" / shard).symlink_to(outside)
    with pytest.raises(StoreError, match=f"objects/{shard}"):
        store.put(data)
    assert list(outside.iterdir()) == []
    report = fsck(store)
    assert any(f"objects/{shard}" in e for e in report.errors), report.errors


def test_symlinked_entry_file_is_not_read(local_store, tmp_path):
    """A ref entry that is a link to a file outside is refused, never read."""
    from fstrack.store.refs import Refs

    refs = Refs(local_store)
    refs.append("logs/one", {"a": 1})
    entry = Path(local_store.backend.root) / "refs" / "logs" / "one" / ("0" * 19 + "1")
    secret = tmp_path / "secret"
    secret.write_bytes(entry.read_bytes())
    entry.unlink()
    entry.symlink_to(secret)
    with pytest.raises(StoreError, match="symbolic link"):
        Refs(local_store).head("logs/one")


# -- item 12: read errors name the task and the key; fsck reports every malformed entry ---
def test_a_corrupt_head_entry_is_named_by_show_log_and_history(local_store, cli):
    task = Task.create(project_name="p", task_name="torn")
    task.set_parameters({"lr": 0.1})
    head = max((Path(local_store.backend.root) / "refs" / "tasks" / task.id).iterdir())
    head.write_bytes(head.read_bytes()[:7])
    for command in ("show", "log", "history"):
        result = cli(command, task.id, "--url", local_store.url)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert task.id in result.stderr and head.name in result.stderr, (command, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def test_fsck_reports_a_folder_in_place_of_an_entry(local_store):
    from fstrack.store.refs import Refs

    refs = Refs(local_store)
    refs.append("logs/one", {"a": 1})
    sequence = Path(local_store.backend.root) / "refs" / "logs" / "one"
    (sequence / ("0" * 19 + "2")).mkdir()
    (sequence / ("0" * 18 + "10")).mkdir()
    (sequence / ("0" * 18 + "10") / "junk").write_bytes(b"x")
    report = fsck(local_store)
    assert any(("0" * 19 + "2") in e for e in report.errors), report.errors
    assert any(("0" * 18 + "10") in e for e in report.errors), report.errors


# -- item 6: credentials are never echoed ---
@pytest.mark.parametrize("raw", ['{"key": "AKIAEXAMPLE", "secret": "s3cr3t-value"', '["AKIAEXAMPLE", "s3cr3t-value"]'])
def test_malformed_storage_options_are_not_echoed(tmp_path, cli, raw):
    result = cli("ls", env={"FSTRACK_URL": str(tmp_path / "s"), "FSTRACK_STORAGE_OPTIONS": raw})
    assert result.returncode == 2 and "FSTRACK_STORAGE_OPTIONS" in result.stderr
    assert "s3cr3t" not in result.stderr + result.stdout and "AKIA" not in result.stderr + result.stdout


def test_a_storage_option_without_a_key_is_not_echoed(tmp_path, cli):
    result = cli("init", str(tmp_path / "s"), "-o", "s3cr3t-value")
    assert result.returncode == 2 and "KEY=VALUE" in result.stderr and "s3cr3t" not in result.stderr


# -- item 4: stored HOCON is data, not a program ---
@pytest.mark.parametrize(
    "text",
    [
        'a = 1\ninclude file("{secret}")',
        'include "{secret}"',
        'include required(file("{secret}"))',
        'include url("file://{secret}")',
        'INCLUDE url("http://127.0.0.1:9/x")',
        "leak = ${{FSTRACK_TEST_SECRET}}",
        "leak = ${{?FSTRACK_TEST_SECRET}}",
        "FSTRACK_TEST_SECRET = ${{FSTRACK_TEST_SECRET}}",
        "FSTRACK_TEST_SECRET = ${{?FSTRACK_TEST_SECRET}}",
        'leak = "x"${{?FSTRACK_TEST_SECRET}}',
    ],
)
def test_stored_hocon_reads_no_file_url_or_environment(local_store, tmp_path, monkeypatch, text):
    secret_file = tmp_path / "secret.conf"
    secret_file.write_text('aws_secret = "from-a-local-file"')
    monkeypatch.setenv("FSTRACK_TEST_SECRET", "from-the-environment")
    writer = Task.create(project_name="p", task_name="hocon")
    writer.set_configuration_object("cfg", config_text=text.format(secret=secret_file))
    reader = Task.get_task(task_id=writer.id)
    try:
        parsed = reader.get_configuration_object_as_dict("cfg")
    except ValueError as exc:
        assert "environment" in str(exc) or "include" in str(exc), exc
        return
    assert "from-" not in repr(parsed), parsed


def test_stored_hocon_still_parses_ordinary_configuration(local_store):
    text = 'base { lr = 0.1, name = "include me" }\n# include "nothing"\nrun = ${base} { lr = 0.2 }\nopt = ${?nope}'
    writer = Task.create(project_name="p", task_name="hocon-ok")
    writer.set_configuration_object("cfg", config_text=text)
    parsed = Task.get_task(task_id=writer.id).get_configuration_object_as_dict("cfg")
    assert parsed["run"] == {"lr": 0.2, "name": "include me"} and parsed["base"]["lr"] == 0.1


# -- item 5: secret files stay out of the recorded diff ---
def _git(root: Path, *args: str) -> None:
    import subprocess

    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@e", *args], cwd=root, check=True, capture_output=True
    )


def test_untracked_secret_files_are_not_captured(tmp_path, monkeypatch):
    from fstrack.capture.execution import MAX_UNTRACKED_FILE_BYTES, capture_git

    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "train.py").write_text("print('hi')\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "first")
    secrets = {
        ".env": "AWS_SECRET_ACCESS_KEY=verbatim-secret-1\n",
        ".env.local": "TOKEN=verbatim-secret-2\n",
        "deploy/server.pem": "-----BEGIN PRIVATE KEY-----verbatim-secret-3\n",
        "id_ed25519": "verbatim-secret-4\n",
        "config/gcp-credentials.json": '{"private_key": "verbatim-secret-5"}\n',
        ".aws/config": "aws_secret_access_key = verbatim-secret-6\n",
    }
    for name, text in {**secrets, "helper.py": "x = 1\n"}.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    (repo / "big.txt").write_text("y" * (MAX_UNTRACKED_FILE_BYTES + 1))
    record = capture_git(repo)
    assert "verbatim-secret" not in record["diff"]
    assert "helper.py" in record["diff"] and "x = 1" in record["diff"]
    assert set(secrets) | {"big.txt"} <= set(record["diff_omitted"]), record["diff_omitted"]
    monkeypatch.setenv("FSTRACK_CAPTURE_UNTRACKED", "0")
    record = capture_git(repo)
    assert "x = 1" not in record["diff"] and "helper.py" in record["diff_omitted"]


# -- item 7: the store's credentials never reach the captured console ---
def test_storage_option_credentials_are_scrubbed_from_captured_console(tmp_path, cli):
    """A task started the way the agent starts one (``FSTRACK_STORAGE_OPTIONS`` in its environment) prints the
    credentials; the console log stored for the team does not hold them."""
    import json
    import subprocess
    import sys

    url = str(tmp_path / "store")
    options = {"secret_token": "s3cr3t-AKIA-value", "client_kwargs": {"aws_session_token": "sess-t0ken-value"}}
    script = tmp_path / "leak.py"
    script.write_text(
        "import json, os, sys\n"
        "from fstrack import Task\n"
        "task = Task.init(project_name='p', task_name='leak')\n"
        "print('options:', os.environ['FSTRACK_STORAGE_OPTIONS'])\n"
        "print('secret', json.loads(os.environ['FSTRACK_STORAGE_OPTIONS'])['secret_token'], file=sys.stderr)\n"
        "print('task-id', task.id)\n"
        "task.close()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSTRACK_")}
    env.update(FSTRACK_URL=url, FSTRACK_STORAGE_OPTIONS=json.dumps(options), HOME=str(tmp_path))
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    task_id = done.stdout.split("task-id ")[1].split()[0]
    log = cli("log", task_id, "--url", url)
    assert log.returncode == 0 and "options:" in log.stdout and "secret ***" in log.stdout, log.stdout
    assert "s3cr3t" not in log.stdout and "sess-t0ken" not in log.stdout
    stored = b"".join(p.read_bytes() for p in Path(url).rglob("*") if p.is_file())
    assert b"s3cr3t" not in stored and b"sess-t0ken" not in stored


# -- item 8: one hostile record does not break the others ---
@pytest.mark.parametrize(
    "field, value",
    [
        ("last_metrics", "x"),
        ("hyperparams", [1, 2]),
        ("hyperparams", {"Args": {"lr": 5}}),
        ("artifacts", ["a"]),
        ("tags", "abc"),
        ("configuration", {"c": "text"}),
        ("models", {"input": "x"}),
        ("archived", "yes"),
    ],
)
def test_update_task_refuses_a_malformed_field(local_store, field, value):
    task = Task.create(project_name="p", task_name="victim")
    with pytest.raises(ValueError, match=f"'{field}'"):
        task.update_task({field: value})


def test_readers_repair_a_malformed_record_and_list_the_rest(local_store, cli):
    """A teammate's writer that skips validation (an old version, or a hand-made manifest) stores malformed
    fields: ls lists every task, show/get_parameters work on the bad one, and a warning names it."""
    good = Task.create(project_name="p", task_name="good")
    good.set_parameters({"lr": 0.1})
    bad = Task.create(project_name="p", task_name="bad")
    bad._edit(lambda m: m.update(last_metrics="x", hyperparams=[1, 2], artifacts=["a"], tags="abc"))
    result = cli("ls", "--url", local_store.url)
    assert result.returncode == 0, result.stderr
    assert good.id in result.stdout and bad.id in result.stdout
    assert bad.id in result.stderr and "last_metrics" in result.stderr
    result = cli("show", good.id, "--url", local_store.url)
    assert result.returncode == 0 and "lr" in result.stdout and not result.stderr, result.stderr
    result = cli("show", bad.id, "--url", local_store.url)
    assert result.returncode == 0 and "hyperparams" in result.stderr and bad.id in result.stderr
    with pytest.warns(UserWarning, match=bad.id):
        assert Task.get_task(task_id=bad.id).get_parameters() == {}


# -- item 9: the CLI escapes control characters in what it prints from the store ---
def test_cli_escapes_control_characters_from_the_store(local_store, cli):
    forged = f"{'f' * 32}  completed    2026-01-01 00:00:00  p / forged"
    task = Task.create(project_name="p", task_name=f"evil\n{forged}\x1b]0;pwned\x07")
    task.add_tags(["\x1b[2Jclear", "bidi\u202eevil"])
    task.set_parameters({"lr": "0.1\r\x1b[31mred"})
    task.get_logger().report_text("line one\n\x1b[2J\x1b]0;title\x07cleared\rrewritten")
    task.flush()
    for command in (("ls",), ("show", task.id), ("history", task.id), ("log", task.id)):
        result = cli(*command, "--url", local_store.url)
        assert result.returncode == 0, (command, result.stderr)
        out = result.stdout
        assert "\x1b" not in out and "\x07" not in out and "\r" not in out and "\u202e" not in out, (command, out)
        assert not any(line.startswith("f" * 32) for line in out.splitlines()), (command, out)
    assert "\\x1b]0;pwned\\x07" in cli("ls", "--url", local_store.url).stdout
    assert "line one\n" in cli("log", task.id, "--url", local_store.url).stdout  # console lines stay lines


def test_sdk_warnings_and_exit_lines_escape_what_others_wrote():
    """The SDK prints to a training script's terminal too: a server's error text or a teammate's value in a
    warning or the exit line is shown, never acted on (one helper, fstrack.terminal, for the CLI and the SDK)."""
    from collections import Counter

    from fstrack import terminal
    from fstrack.sdk import unsent

    hostile = "boom\x1b[2J\x1b]0;pwned\x07\rforged\u202eevil"
    with pytest.warns(UserWarning) as caught:
        terminal.warn(f"fstrack: artifact failed: {hostile}")
    shown = str(caught[0].message)
    assert shown == "fstrack: artifact failed: boom\\x1b[2J\\x1b]0;pwned\\x07\\rforged\\u202eevil", shown
    assert caught[0].filename == __file__, "the warning points at the caller, as warnings.warn does"
    line = unsent.line("t" * 32, "s3://b/team", f"OSError: {hostile}\nsecond", Counter(scalars=3), [], [], None, None)
    assert "\n" not in line and "\x1b" not in line and "\r" not in line and "\u202e" not in line, line
    assert "\\x1b[2J" in line and line.startswith("fstrack: store s3://b/team failed (OSError: boom"), line


def test_the_agents_log_escapes_what_a_queue_entry_said(capsys):
    """An agent logs queue entries and errors that teammates' stores produced; its log is a terminal too."""
    from fstrack.cli import agent

    agent._default_log("skipped stale entry evil\x1b]0;pwned\x07\nforged line")
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and err.count("\n") == 1, err
    assert "evil\\x1b]0;pwned\\x07\\nforged line" in err, err


# -- item 10: the local artifact cache is handed out read-only and re-verified ---
def test_editing_a_cached_copy_changes_no_later_reader(local_store, tmp_path):
    import stat

    source = tmp_path / "weights.bin"
    source.write_bytes(b"trained weights " * 1000)
    first = Task.create(project_name="p", task_name="a")
    second = Task.create(project_name="p", task_name="b")
    first.upload_artifact("w", str(source), wait_on_upload=True)
    second.upload_artifact("w", str(source), wait_on_upload=True)  # same bytes: one cache entry
    handed_out = Path(Task.get_task(task_id=first.id).artifacts["w"].get_local_copy())
    assert not handed_out.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), "handed out read-only"
    handed_out.chmod(0o644)  # a user (or root, who ignores modes) writes to it anyway
    handed_out.write_bytes(b"poisoned")
    again = Path(Task.get_task(task_id=second.id).artifacts["w"].get_local_copy())
    assert again.read_bytes() == b"trained weights " * 1000
    assert Task.get_task(task_id=first.id).artifacts["w"].get().read_bytes() == b"trained weights " * 1000


def test_editing_an_extracted_folder_is_undone_before_it_is_handed_out_again(local_store, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha")
    task = Task.create(project_name="p", task_name="folder")
    task.upload_artifact("data", str(folder), wait_on_upload=True)
    extracted = Path(Task.get_task(task_id=task.id).artifacts["data"].get_local_copy())
    (extracted / "a.txt").chmod(0o644)
    (extracted / "a.txt").write_text("poisoned")
    (extracted / "extra.txt").write_text("planted")
    again = Path(Task.get_task(task_id=task.id).artifacts["data"].get_local_copy())
    assert (again / "a.txt").read_text() == "alpha" and not (again / "extra.txt").exists()


# -- item 11: folder artifacts follow the documented link rule and say what they left out ---
def test_folder_artifact_links_follow_the_rule_and_are_reported(local_store, tmp_path):
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "id_rsa").write_text("private key")
    (outside / "deep" / "more.txt").write_text("more outside")
    folder = tmp_path / "dataset"
    (folder / "real").mkdir(parents=True)
    (folder / "real" / "a.txt").write_text("alpha")
    (folder / "shards").symlink_to(outside / "deep")  # a linked sub-folder outside: left out, reported
    (folder / "key").symlink_to(outside / "id_rsa")  # a file link outside: left out, reported
    (folder / "alias.txt").symlink_to("real/a.txt")  # a link inside the folder: followed
    (folder / "loop").symlink_to(".")  # back into the folder: left out
    task = Task.create(project_name="p", task_name="links")
    with pytest.warns(UserWarning, match="3 symbolic link") as caught:
        task.upload_artifact("data", str(folder), wait_on_upload=True)
    message = str(caught[0].message)
    assert "shards" in message and "key" in message and "loop" in message
    art = Task.get_task(task_id=task.id).artifacts["data"]
    assert "shards - symbolic link, left out" in art.preview
    got = Path(art.get_local_copy())
    stored = sorted(p.relative_to(got).as_posix() for p in got.rglob("*") if p.is_file())
    assert stored == ["alias.txt", "real/a.txt"]
    assert (got / "alias.txt").read_text() == "alpha"


# -- also: read-only commands never create a store; ~user paths; the gc lock; --url everywhere; exit codes ---
@pytest.mark.parametrize(
    "command", [("ls",), ("show", "0" * 32), ("log", "0" * 32), ("history", "0" * 32), ("queues",), ("fsck",)]
)
def test_read_only_commands_never_create_a_store(tmp_path, cli, command):
    typo = tmp_path / "typo"
    result = cli(*command, "--url", str(typo))
    assert result.returncode == 2 and "no fstrack store" in result.stderr and str(typo) in result.stderr
    assert not typo.exists()


def test_abort_on_a_missing_store_creates_nothing_and_exits_2(tmp_path, cli):
    typo = tmp_path / "typo"
    result = cli("abort", "0" * 32, "--url", str(typo))
    assert result.returncode == 2 and not typo.exists()


def test_abort_of_an_unknown_task_exits_2_like_every_error(local_store, cli):
    result = cli("abort", "0" * 32, "--url", local_store.url)
    assert result.returncode == 2 and "0" * 32 in result.stderr


@pytest.mark.servers
def test_read_only_commands_never_create_a_store_on_s3(location_factory, cli):
    loc = location_factory("s3")
    typo = loc.url.rstrip("/") + "-typo"
    options = [arg for key, value in loc.storage_options.items() for arg in ("-o", f"{key}={_option(value)}")]
    result = cli("ls", "--url", typo, *options, env=loc.env)
    assert result.returncode == 2 and "no fstrack store" in result.stderr
    import fsspec

    fs = fsspec.filesystem("s3", **loc.storage_options)
    assert not fs.exists(typo.split("://", 1)[1] + "/fstrack.json")


def _option(value):
    import json

    return value if isinstance(value, str) else json.dumps(value)


def test_an_unknown_user_home_is_an_error_not_a_local_folder(tmp_path, cli):
    import subprocess

    result = subprocess.run(
        [*__import__("workers.common", fromlist=["x"]).fstrack_command(), "init", "~nouser-xyz/store"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "~nouser-xyz" in result.stderr
    assert not (tmp_path / "~nouser-xyz").exists()


@pytest.mark.parametrize("command", ["gc", "fsck", "init"])
def test_store_commands_take_url_as_an_option_too(tmp_path, cli, command):
    url = str(tmp_path / "s")
    cli("init", url)
    result = cli(command, "--url", url, *(["--dry-run"] if command == "gc" else []))
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_a_sigkilled_gc_does_not_block_the_next_one(local_store, tmp_path, cli):
    """The lock of a collector killed with SIGKILL on this machine is detected as dead at once; a lock held by a
    live-looking process elsewhere needs --break-lock."""
    import signal
    import subprocess
    import sys

    from fstrack.store.gc import LOCK_KEY, _Lock

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from fstrack.store.store import open_store\n"
            "from fstrack.store.gc import _Lock\n"
            "_Lock(open_store(sys.argv[1], create=False)).acquire()\n"
            "print('locked', flush=True)\n"
            "time.sleep(600)\n",
            local_store.url,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        busy = cli("gc", local_store.url)
        assert busy.returncode == 1 and "another garbage collection" in busy.stderr and "--break-lock" in busy.stderr
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
    result = cli("gc", local_store.url)
    assert result.returncode == 0, result.stderr
    # a holder on another host (or one whose process may be alive): only --break-lock takes it
    foreign = _Lock(local_store)
    foreign.body = __import__("fstrack.store.objects", fromlist=["pack"]).pack({"host": "elsewhere", "pid": 1})
    assert local_store.backend.create(LOCK_KEY, foreign.body)
    assert cli("gc", local_store.url).returncode == 1
    result = cli("gc", local_store.url, "--break-lock")
    assert result.returncode == 0, result.stderr


def test_bad_values_get_one_line_errors_naming_them(local_store):
    from fstrack.errors import FstrackError

    task = Task.create(project_name="p", task_name="ok")
    recursive: dict = {}
    recursive["self"] = recursive
    deep: dict = {}
    cursor = deep
    for _ in range(2000):
        cursor["k"] = {}
        cursor = cursor["k"]
    cases = [
        (lambda: Task.create(project_name="p", task_name="bad\udcff"), "bad\\udcff"),
        (lambda: task.add_tags(["tag\udcff"]), "tag\\udcff"),
        (lambda: task.set_parameters({"lr\udcff": 1}), "lr\\udcff"),
        (lambda: task.get_logger().report_scalar("loss\udcff", "s", 1.0, 0), "loss\\udcff"),
        (lambda: task.connect(recursive), "'self'"),
        (lambda: task.connect(deep, name="deep"), "deeper than"),
        (lambda: task.connect_configuration(deep, name="deep"), "deeper than"),
        (lambda: Task.get_tasks(task_ids="abc"), "'abc'"),
    ]
    for call, named in cases:
        with pytest.raises((FstrackError, ValueError, TypeError)) as caught:
            call()
        assert not isinstance(caught.value, (UnicodeError, RecursionError)), caught.value
        message = str(caught.value)
        assert named in message and "\n" not in message, message
