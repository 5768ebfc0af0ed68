"""Store backends: the atomic primitives a store needs, one module per kind of filesystem.

The interface is :class:`fstrack.store.backends.base.Backend`; each implementation lives in its own module
(``local``, ``memory``, ``s3``, ``gcs``, ``azure``). Which backend serves a URL is decided here, by the
fsspec protocol, and nowhere else: callers never branch on the protocol. A filesystem that cannot create
atomically is refused, with the reason. A new backend is one module and one :func:`register_backend` call.
"""

from __future__ import annotations

from importlib import import_module

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
