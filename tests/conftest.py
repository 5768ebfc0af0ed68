"""pytest fixtures: real S3 / Azure / GCS servers on 127.0.0.1 + store locations.

Fixtures
--------
``seaweedfs``, ``azurite``, ``fake_gcs`` (session)
    Start the server on first use, stop it at session end.  Each returns a
    ``servers.TestServer`` with ``.endpoint``, ``.bucket``,
    ``.storage_options`` (fresh dict per access), ``.env``, ``.location(prefix)``
    and ``.filesystem()``.

``store_location`` (function; params local, memory, s3, azure, gcs)
``object_store_location`` (function; params s3, azure, gcs)
    A fresh, empty, unique :class:`servers.StoreLocation`; removed afterwards.

``location_factory`` (function)
    ``location_factory(name) -> StoreLocation`` for any backend name; every
    location it made is removed at the end of the test.

A server that cannot start makes its tests *skip* with the reason (shown in the
terminal summary too); with ``CI`` set (``CI=true``) they *fail* instead.
``FSTRACK_TEST_BACKENDS=local,memory,s3`` limits which backends run (others
skip; ignored for the hard failure rule: skipped-by-choice is not a failure).

Note: ``memory://`` lives inside one Python process.  A child process opening
a memory location sees an empty store, so multi-process tests should use
``location_factory`` with a real backend (or skip ``memory``).
"""

from __future__ import annotations

import os
import tempfile

# gcsfs decides at *import* time whether to use its experimental zonal/HNS
# class (which fake-gcs-server cannot serve); force it off before anything can
# import gcsfs.  Child processes inherit it through os.environ as well.
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
# What a test's task could not write at exit (its test server already stopped) is saved under the offline folder:
# never the user's own ~/.fstrack/offline.
os.environ.setdefault("FSTRACK_OFFLINE_DIR", tempfile.mkdtemp(prefix="fstrack-test-offline-"))

import re
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import servers  # noqa: E402
from servers import StoreLocation  # noqa: E402,F401  (re-export for tests)

BACKENDS = ("local", "memory", "s3", "azure", "gcs")
OBJECT_BACKENDS = ("s3", "azure", "gcs")

# backend name -> session fixture that provides its server
SERVER_FIXTURES = {"s3": "seaweedfs", "azure": "azurite", "gcs": "fake_gcs"}

_start_failures: dict[str, str] = {}
_start_times: dict[str, str] = {}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _selected_backends() -> set[str]:
    raw = os.environ.get("FSTRACK_TEST_BACKENDS", "").strip()
    if not raw:
        return set(BACKENDS)
    return {b.strip() for b in raw.split(",") if b.strip()}


def _start_server(name: str, starter) -> servers.TestServer:
    t0 = time.monotonic()
    try:
        srv = starter()
    except Exception as exc:  # noqa: BLE001
        msg = f"{name} test server could not be started: {type(exc).__name__}: {exc}"
        _start_failures[name] = msg
        if _in_ci():
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    extra = ""
    install = getattr(srv, "install_seconds", 0.0)
    if install > 1.0:
        extra = f" (+{install:.1f}s locating/installing)"
    _start_times[name] = f"{time.monotonic() - t0:.2f}s{extra} at {srv.endpoint}"
    return srv


@pytest.fixture(scope="session")
def seaweedfs():
    """SeaweedFS S3 server (bucket ``fstrack-test``, static key/secret)."""
    srv = _start_server("seaweedfs", servers.start_seaweedfs)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def azurite():
    """Azurite blob server (devstoreaccount1, container ``fstrack-test``)."""
    srv = _start_server("azurite", servers.start_azurite)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def fake_gcs():
    """fake-gcs-server (anonymous, bucket ``fstrack-test``)."""
    srv = _start_server("fake-gcs", servers.start_fake_gcs)
    yield srv
    srv.stop()


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:limit] or "t"


@pytest.fixture
def location_factory(request, tmp_path):
    """``make(name) -> StoreLocation``: fresh, empty, unique; cleaned up after."""
    made: list[StoreLocation] = []
    selected = _selected_backends()

    def make(name: str) -> StoreLocation:
        if name not in BACKENDS:
            raise ValueError(f"unknown backend {name!r}; expected one of {BACKENDS}")
        if name not in selected:
            pytest.skip(f"backend {name!r} not in FSTRACK_TEST_BACKENDS")
        unique = f"{_slug(request.node.name)}-{uuid.uuid4().hex[:12]}"
        if name == "local":
            # the directory itself does not exist yet (its parent does)
            loc = servers.local_location(tmp_path / f"store-{unique}")
        elif name == "memory":
            loc = servers.memory_location(f"fstrack-{unique}")
        else:
            if request.node.get_closest_marker("servers") is None:
                pytest.fail(
                    f"{request.node.nodeid} uses the {name!r} test server: mark it @pytest.mark.servers "
                    "(so that `pytest -m 'not servers'` stays a quick local run)",
                    pytrace=False,
                )
            srv = request.getfixturevalue(SERVER_FIXTURES[name])
            if not srv.alive():
                pytest.fail(f"{name} server died earlier in the session; log tail:\n{srv.log_tail()}", pytrace=False)
            loc = srv.location(unique)
        made.append(loc)
        return loc

    yield make

    for loc in made:
        try:
            servers.remove_location(loc)
        except Exception as exc:  # noqa: BLE001 - cleanup is best effort
            print(f"warning: could not clean up {loc.url}: {exc!r}", file=sys.stderr)


@pytest.fixture
def isolated_tasks(monkeypatch, tmp_path):
    """A private cache folder (sync state, summary and session caches), no configured store or offline mode
    leaking in or out of the test, and no main task."""
    from fstrack.records import config
    from fstrack.sdk import current

    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(config, "_explicit", None)
    monkeypatch.setattr(config, "_offline", None)
    from fstrack.sdk import processes

    def forget_main_task() -> None:  # processes started by later tests must not report into this test's task
        current.main = None
        os.environ.pop(processes.MASTER_ENV, None)
        os.environ.pop(processes.STORE_ENV, None)

    forget_main_task()
    yield
    forget_main_task()


@pytest.fixture
def cli(tmp_path):
    """``cli(*args, env=..., timeout=...)`` runs the ``fstrack`` console script in a subprocess with a private
    HOME and no ``FSTRACK_*`` variables of the test run (``env`` adds some); returns the CompletedProcess."""
    import subprocess

    from workers.common import fstrack_command

    home = tmp_path / "home"
    home.mkdir()

    def run(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("FSTRACK_")}
        child_env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
        child_env.update(env or {})
        return subprocess.run(
            [*fstrack_command(), *args],
            capture_output=True,
            text=True,
            env=child_env,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    run.home = home
    return run


@pytest.fixture(params=BACKENDS, ids=list(BACKENDS))
def store_location(request, location_factory) -> StoreLocation:
    return location_factory(request.param)


@pytest.fixture(params=OBJECT_BACKENDS, ids=list(OBJECT_BACKENDS))
def object_store_location(request, location_factory) -> StoreLocation:
    return location_factory(request.param)


def pytest_collection_modifyitems(config, items):
    """Mark ``servers`` every test that runs on an S3/Azure/GCS test server: parametrized with an object-store
    backend, or using a server fixture."""
    server_fixtures = {"object_store_location", *SERVER_FIXTURES.values()}
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        on_object_store = any(isinstance(v, str) and v in OBJECT_BACKENDS for v in params.values())
        if on_object_store or server_fixtures & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)


def pytest_report_header(config):
    mode = "fail" if _in_ci() else "skip"
    return [
        f"fstrack test servers: bind 127.0.0.1; on start failure: {mode}; "
        f"backends: {','.join(b for b in BACKENDS if b in _selected_backends())}"
    ]


def pytest_terminal_summary(terminalreporter):
    if _start_times:
        terminalreporter.write_sep("-", "fstrack test servers")
        for name, info in _start_times.items():
            terminalreporter.write_line(f"{name}: started in {info}")
    if _start_failures:
        terminalreporter.write_sep("!", "fstrack test servers FAILED TO START", red=True)
        for msg in _start_failures.values():
            terminalreporter.write_line(msg, red=True)
