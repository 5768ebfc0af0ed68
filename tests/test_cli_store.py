"""The store commands of the ``fstrack`` console script (``init``, ``fsck``), run as a real subprocess."""

from __future__ import annotations

import json
import os

import pytest
from workers.common import assert_clean_failure, corrupt_object, option_args

from fstrack.store.objects import BlobId, hash_bytes
from fstrack.store.refs import Refs
from fstrack.store.store import MARKER_KEY, open_store


def _cli_location(store_location):
    if store_location.name == "memory":
        pytest.skip("memory:// is private to one process: the CLI subprocess would see another store")
    return store_location


def test_init_then_fsck_clean(store_location, cli):
    loc = _cli_location(store_location)
    options = option_args(loc.storage_options)
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
    options = option_args(loc.storage_options)
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
@pytest.mark.parametrize(
    "url, named",
    [
        ("ftp://x", "'ftp'"),
        ("nosuchprotocol://bucket/x", "'nosuchprotocol'"),
        ("simplecache::s3://b", "simplecache::s3://b"),
        ("filecache::file:///tmp/x", "filecache::file:///tmp/x"),
    ],
)
def test_bad_urls_fail_with_one_line_and_exit_2(cli, command, url, named):
    assert_clean_failure(cli(command, url), named)


@pytest.mark.parametrize("command", ["init", "fsck"])
def test_an_empty_url_is_an_error_not_the_default_store(cli, command):
    """An explicitly empty URL (a shell variable that was not set: ``fstrack init "$STORE"``) must
    fail, not silently fall back to the default store in the home directory."""
    result = cli(command, "")
    assert not (cli.home / ".fstrack").exists(), f"`fstrack {command} ''` touched the default store under HOME"
    assert_clean_failure(result, "''")


def test_fsck_never_creates_a_store(tmp_path, cli):
    target = tmp_path / "nothing-here"
    assert_clean_failure(cli("fsck", str(target)), str(target), "no fstrack store")
    assert not target.exists()


def test_init_refuses_a_folder_that_is_not_a_store(tmp_path, cli):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"meow")
    assert_clean_failure(cli("init", str(folder)), str(folder), "not empty")
    assert sorted(os.listdir(folder)) == ["cat.jpg"], "a refused init left something in the user's folder"


@pytest.mark.parametrize("option", ["novalue", "=value", "client_kwargs={not json"])
def test_bad_storage_options_fail_cleanly(tmp_path, cli, option):
    assert_clean_failure(cli("init", str(tmp_path / "s"), "-o", option))


def test_init_on_a_missing_bucket_fails_cleanly(object_store_location, cli):
    loc = object_store_location
    if loc.name == "s3":
        pytest.skip("SeaweedFS creates a missing bucket on the first PUT: there is no missing bucket to report")
    protocol = loc.url.split("://", 1)[0]
    url = f"{protocol}://no-such-bucket-fstrack/x"
    assert_clean_failure(cli("init", url, *option_args(loc.storage_options), env=loc.env), url)
    assert_clean_failure(cli("fsck", url, *option_args(loc.storage_options), env=loc.env), url)


def test_unreachable_endpoint_fails_cleanly(cli):
    """A wrong endpoint (nothing listens there) is a user error like a bad URL: one line, exit 2."""
    options = {
        "key": "k",
        "secret": "s",
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9"},
        "config_kwargs": {"retries": {"max_attempts": 1}},
    }
    result = cli("init", "s3://bucket/store", *option_args(options), env={"AWS_EC2_METADATA_DISABLED": "true"})
    assert_clean_failure(result, "s3://bucket/store")
