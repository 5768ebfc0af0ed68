"""The store commands of the ``fstrack`` console script (``init``, ``fsck``), run as a real subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fstrack.objects import BlobId, hash_bytes
from fstrack.refs import Refs
from fstrack.store import MARKER_KEY, open_store
from workers.common import corrupt_object


def _command() -> list[str]:
    script = Path(sys.executable).with_name("fstrack")
    if script.exists():
        return [str(script)]
    found = shutil.which("fstrack")
    return [found] if found else [sys.executable, "-m", "fstrack.cli"]


def _options(storage_options: dict) -> list[str]:
    """``-o KEY=VALUE`` arguments for a location's storage options, as a user would type them."""
    args = []
    for key, value in storage_options.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (dict, list)):
            text = json.dumps(value)
        else:
            text = str(value)
        args += ["-o", f"{key}={text}"]
    return args


@pytest.fixture
def cli(tmp_path):
    """Run ``fstrack ARGS`` with a private HOME and no store configured in the environment."""
    home = tmp_path / "home"
    home.mkdir()

    def run(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("FSTRACK_")}
        child_env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
        child_env.update(env or {})
        return subprocess.run([*_command(), *args], capture_output=True, text=True, env=child_env,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    run.home = home
    return run


def _cli_location(store_location):
    if store_location.name == "memory":
        pytest.skip("memory:// is private to one process: the CLI subprocess would see another store")
    return store_location


def _assert_clean_failure(result, *named):
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr[-3000:]}"
    assert lines[0].startswith("fstrack: error: "), lines[0]
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    for needle in named:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


def test_init_then_fsck_clean(store_location, cli):
    loc = _cli_location(store_location)
    options = _options(loc.storage_options)
    result = cli("init", loc.url, *options, env=loc.env)
    assert result.returncode == 0, result.stderr
    assert "ready" in result.stdout and result.stderr == ""
    store = open_store(loc.url, create=False, **loc.storage_options)
    assert json.loads(store.backend.read(MARKER_KEY))["format"] == "fstrack"

    blob = store.put(b"cli")
    doc = store.put_doc({"blob": blob})
    Refs(store).append("cli/log", {"doc": doc})
    result = cli("fsck", loc.url, *options, env=loc.env)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "ok: 2 objects, 1 ref entries checked, 0 errors" in result.stdout

    result = cli("fsck", loc.url, *options, "--json", env=loc.env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == {"ok": True, "objects": 2, "refs": 1, "errors": [], "warnings": []}

    result = cli("init", loc.url, *options, "--json", env=loc.env)  # init of an existing store is fine
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"url": store.url, "backend": loc.name}


def test_fsck_exits_1_on_a_corrupt_store(store_location, cli):
    loc = _cli_location(store_location)
    options = _options(loc.storage_options)
    store = open_store(loc.url, **loc.storage_options)
    good, bad = store.put(b"fine"), store.put(b"about to rot")
    missing = BlobId(hash_bytes(b"never stored"))
    Refs(store).append("cli/log", {"blob": missing, "good": good})
    corrupt_object(store, bad)

    result = cli("fsck", loc.url, *options, env=loc.env)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "CORRUPT" in result.stdout
    error_lines = [line for line in result.stdout.splitlines() if line.startswith("error: ")]
    assert any(bad in line for line in error_lines) and any(missing in line for line in error_lines)

    result = cli("fsck", loc.url, *options, "--json", env=loc.env)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["objects"] == 2 and report["refs"] == 1
    assert any(bad in e for e in report["errors"]) and any(missing in e for e in report["errors"])


def test_fsck_uses_the_configured_store_when_no_url_is_given(tmp_path, cli):
    url = str(tmp_path / "configured")
    open_store(url).put(b"x")
    result = cli("fsck", "--json", env={"FSTRACK_URL": url})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["objects"] == 1


@pytest.mark.parametrize("command", ["init", "fsck"])
@pytest.mark.parametrize("url, named", [
    ("ftp://x", "'ftp'"),
    ("nosuchprotocol://bucket/x", "'nosuchprotocol'"),
    ("simplecache::s3://b", "simplecache::s3://b"),
    ("filecache::file:///tmp/x", "filecache::file:///tmp/x"),
])
def test_bad_urls_fail_with_one_line_and_exit_2(cli, command, url, named):
    _assert_clean_failure(cli(command, url), named)


@pytest.mark.parametrize("command", ["init", "fsck"])
def test_an_empty_url_is_an_error_not_the_default_store(cli, command):
    """An explicitly empty URL (a shell variable that was not set: ``fstrack init "$STORE"``) must
    fail, not silently fall back to the default store in the home directory."""
    result = cli(command, "")
    assert not (cli.home / ".fstrack").exists(), f"`fstrack {command} ''` touched the default store under HOME"
    _assert_clean_failure(result, "''")


def test_fsck_never_creates_a_store(tmp_path, cli):
    target = tmp_path / "nothing-here"
    _assert_clean_failure(cli("fsck", str(target)), str(target), "no fstrack store")
    assert not target.exists()


def test_init_refuses_a_folder_that_is_not_a_store(tmp_path, cli):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"meow")
    _assert_clean_failure(cli("init", str(folder)), str(folder), "not empty")
    assert sorted(os.listdir(folder)) == ["cat.jpg"], "a refused init left something in the user's folder"


@pytest.mark.parametrize("option", ["novalue", "=value", "client_kwargs={not json"])
def test_bad_storage_options_fail_cleanly(tmp_path, cli, option):
    _assert_clean_failure(cli("init", str(tmp_path / "s"), "-o", option))


def test_init_on_a_missing_bucket_fails_cleanly(object_store_location, cli):
    loc = object_store_location
    if loc.name == "s3":
        pytest.skip("SeaweedFS creates a missing bucket on the first PUT: there is no missing bucket to report")
    protocol = loc.url.split("://", 1)[0]
    url = f"{protocol}://no-such-bucket-fstrack/x"
    _assert_clean_failure(cli("init", url, *_options(loc.storage_options), env=loc.env), url)
    _assert_clean_failure(cli("fsck", url, *_options(loc.storage_options), env=loc.env), url)


def test_unreachable_endpoint_fails_cleanly(cli):
    """A wrong endpoint (nothing listens there) is a user error like a bad URL: one line, exit 2."""
    options = {"key": "k", "secret": "s", "client_kwargs": {"endpoint_url": "http://127.0.0.1:9"},
               "config_kwargs": {"retries": {"max_attempts": 1}}}
    result = cli("init", "s3://bucket/store", *_options(options), env={"AWS_EC2_METADATA_DISABLED": "true"})
    _assert_clean_failure(result, "s3://bucket/store")
