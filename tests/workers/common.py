"""Shared by the store tests and the worker scripts they run as real subprocesses.

Worker scripts live next to this file and are started by path
(``python tests/workers/<name>.py ...``), so inside a worker this module is
``common``; the tests import it as ``workers.common``. A location travels to a
worker as JSON (``location_to_json``), the same fields as ``StoreLocation``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WORKERS = Path(__file__).resolve().parent


def location_to_json(location: Any) -> str:
    return json.dumps(dataclasses.asdict(location) if dataclasses.is_dataclass(location) else location)


def open_location(location_json: str, *, create: bool = False):
    """Open the store a test handed over; used inside worker processes."""
    loc = json.loads(location_json)
    for key, value in loc["env"].items():
        os.environ.setdefault(key, value)
    from fstrack.store.store import open_store

    return open_store(loc["url"], create=create, **loc["storage_options"])


def child_env(location: Any) -> dict[str, str]:
    env = dict(os.environ)
    env.update(location.env)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def emit(obj: Any) -> None:
    """One JSON line on stdout, flushed at once (the parent reads it even if we are killed next)."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Worker:
    """A worker script running as a real subprocess, stdout piped, stderr to a temp file."""

    def __init__(self, script: str, *args: str, env: dict[str, str]):
        self.stderr_file = tempfile.TemporaryFile()
        self.argv = [sys.executable, str(WORKERS / script), *args]
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr_file,
            env=env,
            text=True,
            bufsize=1,
        )

    def readline(self) -> str:
        return self.proc.stdout.readline()

    def expect_ready(self) -> None:
        line = self.readline()
        if line.strip() != '"ready"':
            self.proc.wait(timeout=60)
            raise AssertionError(f"worker {self.argv} did not get ready (got {line!r}):\n{self.stderr()}")

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def stderr(self) -> str:
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode(errors="replace")[-6000:]

    def result(self, timeout: float) -> Any:
        """The last JSON line the worker printed, after it exited 0."""
        out, _ = self.proc.communicate(timeout=timeout)
        if self.proc.returncode != 0:
            raise AssertionError(f"worker {self.argv[1:3]} exited {self.proc.returncode}:\n{self.stderr()}")
        return json.loads(out.strip().splitlines()[-1])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=60)


def run_together(
    script: str, worker_args: list[list[str]], env: dict[str, str], timeout: float
) -> tuple[list[Any], float]:
    """Start one worker per argument list, release them all at once, return their results and
    the seconds from release to the last exit. Every worker is killed if anything goes wrong."""
    workers = [Worker(script, *args, env=env) for args in worker_args]
    try:
        for worker in workers:
            worker.expect_ready()
        start = time.monotonic()
        for worker in workers:
            worker.go()
        deadline = start + timeout
        results = [w.result(timeout=max(1.0, deadline - time.monotonic())) for w in workers]
        return results, time.monotonic() - start
    finally:
        for worker in workers:
            worker.kill()


def wait_for_go() -> None:
    """Inside a worker: say ready, then block until the parent releases every worker at once."""
    emit("ready")
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("parent went away before releasing the workers")


def corrupt_object(store: Any, oid: str) -> bytes:
    """Flip one byte of object ``oid`` in place (local: in the file itself; elsewhere: rewrite the
    object through the backend, as bit rot or a buggy tool would). Returns the corrupted bytes."""
    from fstrack.store.store import object_key

    key = object_key(oid)
    if store.backend.name == "local":
        path = store.backend.path(key)
        with open(path, "r+b") as f:
            data = bytearray(f.read())
            if not data:
                data = bytearray(b"\x00")
            else:
                data[len(data) // 2] ^= 0x01
            f.seek(0)
            f.write(data)
        return bytes(data)
    data = bytearray(store.backend.read(key)) or bytearray(b"\x00")
    data[len(data) // 2] ^= 0x01
    store.backend.replace(key, bytes(data))
    return bytes(data)


# -- the fstrack console script ------------------------------------------------------------------------------
def fstrack_command() -> list[str]:
    """How to start the ``fstrack`` console script of the Python running the tests."""
    import shutil

    script = Path(sys.executable).with_name("fstrack")
    if script.exists():
        return [str(script)]
    found = shutil.which("fstrack")
    return [found] if found else [sys.executable, "-m", "fstrack"]


def option_args(storage_options: dict) -> list[str]:
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


def assert_clean_failure(result: subprocess.CompletedProcess, *named: str) -> None:
    """The command failed the way the CLI promises: exit 2, one ``fstrack: error:`` line naming ``named``."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr[-3000:]}"
    assert lines[0].startswith("fstrack: error: "), lines[0]
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    for needle in named:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
