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


#: Seconds to wait for a connection / for a reply, and how often a failed request is retried, by default.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 10
REQUEST_ATTEMPTS = 2


def with_default_timeouts(protocol: str, storage_options: dict[str, Any]) -> dict[str, Any]:
    """``storage_options`` plus fstrack's defaults for ``protocol`` (the user's own values always win).

    Every request to an object store gets a connect timeout of :data:`CONNECT_TIMEOUT` s, a read timeout of
    :data:`READ_TIMEOUT` s and at most :data:`REQUEST_ATTEMPTS` attempts, set on the filesystem itself, so
    that an endpoint that refuses connections fails a call in seconds, and one that accepts connections and
    never answers fails a read after at most ``4 x READ_TIMEOUT`` on S3 (s3fs nests two retry loops) instead
    of hanging for minutes. Set on the filesystems: s3fs ``config_kwargs`` (botocore ``connect_timeout``,
    ``read_timeout``, ``retries``) and s3fs's own retry loop (:class:`~fstrack.store.backends.s3.S3Backend`);
    gcsfs ``requests_timeout``; adlfs ``connection_timeout``/``read_timeout``.
    A listing cache is turned off (it would hide entries other writers just created).
    """
    options = dict(storage_options)
    if protocol in ("file", "local", "memory"):
        return options
    options.setdefault("use_listings_cache", False)
    if protocol in ("s3", "s3a"):
        config = dict(options.get("config_kwargs") or {})
        config.setdefault("connect_timeout", CONNECT_TIMEOUT)
        config.setdefault("read_timeout", READ_TIMEOUT)
        config.setdefault("retries", {"max_attempts": 1, "mode": "standard"})  # s3fs retries around it
        options["config_kwargs"] = config
    elif protocol in ("gs", "gcs"):
        options.setdefault("requests_timeout", CONNECT_TIMEOUT + READ_TIMEOUT)
    elif protocol in ("az", "abfs", "abfss"):
        options.setdefault("connection_timeout", CONNECT_TIMEOUT)
        options.setdefault("read_timeout", READ_TIMEOUT)
    return options
