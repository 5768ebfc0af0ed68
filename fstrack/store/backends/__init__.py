"""Store backends: the atomic primitives a store needs, one module per kind of filesystem.

The interface is :class:`fstrack.store.backends.base.Backend`; each implementation lives in its own module
(``local``, ``memory``, ``s3``, ``gcs``, ``azure``). Which backend serves a URL is decided here, by the
fsspec protocol, and nowhere else: callers never branch on the protocol. A filesystem that cannot create
atomically is refused, with the reason. A new backend is one module and one :func:`register_backend` call.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from fsspec import AbstractFileSystem

from fstrack.errors import UnsupportedBackendError
from fstrack.store.backends.base import Backend

#: fsspec protocol -> "module:class" of its backend, imported on first use (as fsspec's registry does).
_BACKENDS: dict[str, str] = {
    "file": "fstrack.store.backends.local:LocalBackend",
    "local": "fstrack.store.backends.local:LocalBackend",
    "memory": "fstrack.store.backends.memory:MemoryBackend",
    "s3": "fstrack.store.backends.s3:S3Backend",
    "s3a": "fstrack.store.backends.s3:S3Backend",
    "gs": "fstrack.store.backends.gcs:GCSBackend",
    "gcs": "fstrack.store.backends.gcs:GCSBackend",
    "az": "fstrack.store.backends.azure:AzureBackend",
    "abfs": "fstrack.store.backends.azure:AzureBackend",
    "abfss": "fstrack.store.backends.azure:AzureBackend",
}


def register_backend(protocol: str, target: str) -> None:
    """Serve fsspec ``protocol`` with the backend class at ``target`` (``"package.module:ClassName"``)."""
    if not isinstance(target, str) or target.count(":") != 1:
        raise ValueError(f"backend target must be 'package.module:ClassName', got {target!r}")
    _BACKENDS[protocol] = target


def check_protocol(protocol: str) -> None:
    """Refuse, before connecting, a protocol with no atomic create-only write."""
    if protocol not in _BACKENDS:
        raise UnsupportedBackendError(
            f"{protocol!r} is not supported as an fstrack store: fstrack needs an atomic create-only write "
            f"(exactly one of many racing writers wins) and knows how to get one only on "
            f"{', '.join(sorted(_BACKENDS))}"
        )


def _backend_class(target: str) -> type[Backend]:
    module, _, name = target.partition(":")
    cls = getattr(import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise TypeError(f"{target} is not a fstrack Backend")
    return cls


def backend_for(fs: AbstractFileSystem, root: str, *, fsync: bool = False) -> Backend:
    """The backend serving ``fs``; refuses filesystems without an atomic create-only write."""
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    for protocol in protocols:
        target = _BACKENDS.get(protocol)
        if target is not None:
            return _backend_class(target)(fs, root, fsync=fsync)
    check_protocol(protocols[0])
    raise AssertionError("unreachable")


#: Seconds to wait for a connection / for the first byte of a reply (or the next one), and how many times a
#: request is tried in all (one quick retry rides out a transient failure on a healthy store). Together they
#: bound what one request to an unreachable endpoint costs: about ``REQUEST_ATTEMPTS x READ_TIMEOUT`` = 10 s.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 5
REQUEST_ATTEMPTS = 2


def with_default_timeouts(protocol: str, storage_options: dict[str, Any]) -> dict[str, Any]:
    """``storage_options`` plus fstrack's defaults for ``protocol`` (the user's own values always win).

    Every request to an object store gets a connect timeout of :data:`CONNECT_TIMEOUT` s, a read timeout of
    :data:`READ_TIMEOUT` s (time to the first byte of the reply, and between bytes: a long transfer is not cut)
    and :data:`REQUEST_ATTEMPTS` attempts in all, so that a request to an endpoint that refuses connections
    fails in about a second and one to an endpoint that accepts connections and never answers in about
    ``REQUEST_ATTEMPTS x READ_TIMEOUT`` s. Set as each filesystem's options where it has them: s3fs
    ``config_kwargs`` (botocore ``connect_timeout``, ``read_timeout``, ``retries``); gcsfs ``requests_timeout``
    (an ``aiohttp.ClientTimeout``: gcsfs sends no timeout at all by default) and ``retry_timeout`` (its
    bucket-type lookup over gRPC); adlfs ``connection_timeout``/``read_timeout``. The retry loops these
    libraries hard-code around the SDK's own are capped by the backend classes (see
    :class:`~fstrack.store.backends.s3.S3Backend`, :class:`~fstrack.store.backends.gcs.GCSBackend`,
    :class:`~fstrack.store.backends.azure.AzureBackend`). A listing cache is turned off (it would hide
    entries other writers just created).
    """
    options = _seconds_as_numbers(dict(storage_options))
    if protocol in ("file", "local", "memory"):
        return options
    options.setdefault("use_listings_cache", False)
    if protocol in ("s3", "s3a"):
        config = _seconds_as_numbers(dict(options.get("config_kwargs") or {}))
        config.setdefault("connect_timeout", CONNECT_TIMEOUT)
        config.setdefault("read_timeout", READ_TIMEOUT)
        # botocore's "max_attempts" counts retries, not attempts: "total_max_attempts" is what it says
        config.setdefault("retries", {"total_max_attempts": REQUEST_ATTEMPTS, "mode": "standard"})
        options["config_kwargs"] = config
    elif protocol in ("gs", "gcs"):
        from aiohttp import ClientTimeout

        options.setdefault("requests_timeout", ClientTimeout(sock_connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT))
        options.setdefault("retry_timeout", REQUEST_ATTEMPTS * READ_TIMEOUT)
    elif protocol in ("az", "abfs", "abfss"):
        options.setdefault("connection_timeout", CONNECT_TIMEOUT)
        options.setdefault("read_timeout", READ_TIMEOUT)
    return options


#: Storage options that are seconds: given on the command line (``-o read_timeout=60``) they arrive as text.
_SECONDS_OPTIONS = ("connect_timeout", "read_timeout", "connection_timeout", "requests_timeout", "retry_timeout")


def _seconds_as_numbers(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the :data:`_SECONDS_OPTIONS` given as text turned into numbers (a bad one is an error)."""
    for key in _SECONDS_OPTIONS:
        value = options.get(key)
        if isinstance(value, str):
            try:
                options[key] = float(value)
            except ValueError:
                raise ValueError(f"storage option {key} must be a number of seconds, got {value!r}") from None
    return options
