"""The atomic primitives a store needs, implemented once per kind of filesystem.

Everything above this module works on relative keys ("objects/ab/cd…", "refs/…")
and never asks which filesystem it is on. A backend provides:

* ``create(key, data)``: write ``data`` only if ``key`` does not exist, atomically
  (exactly one of many racing writers wins; readers never see partial bytes);
* ``claim(key, claimed_key)``: take an entry exactly once;
* whole-object reads, uploads, downloads, listings and deletes.

Which backend serves a URL is decided by :func:`fstrack.store.backends.backend_for` alone.
"""

from __future__ import annotations

import bisect
import builtins
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

import blake3
from fsspec import AbstractFileSystem
from fsspec.callbacks import Callback

from fstrack import threads
from fstrack.store.objects import hash_stream
from fstrack.store.transfer import hash_file, note_progress, stream_upload

STAGING_DIR = "tmp"
#: Objects up to this size are downloaded in one request, then hashed.
_ONE_REQUEST = 8 << 20


@dataclass(frozen=True)
class Entry:
    """One listed file: its key relative to the store root, size and modification time."""

    key: str
    size: int
    mtime: float


class Backend:
    """Store primitives over an fsspec filesystem rooted at ``root``."""

    name = "generic"
    #: Each operation is a round trip (object stores): callers gain by running many at once. False on local
    #: disks, where one thread keeps up and reading a small object whole is cheapest.
    concurrent_io = True
    #: Writes show up as filesystem events (a local directory): watchers need not poll.
    has_file_events = False

    def __init__(self, fs: AbstractFileSystem, root: str, fsync: bool = False):
        self.fs = fs
        self.root = root.rstrip("/")
        #: Flush file data (and the directory) to disk before a write counts as done; only local disks need
        #: it: an object store has made a write durable by the time it acknowledges it.
        self.fsync = fsync

    def path(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def unreachable(self, error: BaseException) -> str | None:
        """If ``error`` says the store's endpoint could not be reached (connection refused, no answer in time),
        what happened, naming the endpoint and nothing else of the request (no credentials); else None."""
        return None

    # -- atomic primitives ---------------------------------------------------
    def create(self, key: str, data: bytes) -> bool:
        """Write ``data`` at ``key`` unless it exists. True if this call created it."""
        raise NotImplementedError

    def replace(self, key: str, data: bytes) -> None:
        """Atomically set ``key`` to ``data`` whether or not it exists (for heartbeats and leases only:
        never for objects or ref entries, which are create-only)."""
        self.fs.pipe_file(self.path(key), data)

    def claim(self, key: str, claimed_key: str) -> bytes | None:
        """Take the entry at ``key`` exactly once, marking it taken by creating ``claimed_key``.

        Returns the entry's bytes to the one caller that took it; None if it was already taken or is gone.
        """
        raise NotImplementedError

    # -- plain operations ----------------------------------------------------
    def read(self, key: str) -> bytes:
        return bytes(self.fs.cat_file(self.path(key)))

    def read_many(self, keys: list[str]) -> dict[str, bytes]:
        """Read several keys at once (concurrently where the filesystem can); missing keys are left out."""
        if not keys:
            return {}
        paths = {self.path(k): k for k in keys}
        found: dict[str, bytes] = {}
        for path, data in self.fs.cat(list(paths), on_error="return").items():
            if isinstance(data, FileNotFoundError):
                continue
            if isinstance(data, BaseException):
                raise data
            found[paths[path]] = data
        return found

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self.path(key)))

    def info(self, key: str) -> Entry:
        """Size and the store's own modification time of ``key`` (FileNotFoundError if missing)."""
        self.fs.invalidate_cache(self.path(key))
        info = self.fs.info(self.path(key))
        return Entry(key, int(info.get("size") or 0), _mtime(info))

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        try:
            self.fs.rm_file(self.path(key))
        except FileNotFoundError:
            pass

    def upload(self, local_path: str, key: str) -> None:
        """Copy a local file to ``key`` (replacing it whole, never partially visible)."""
        self.fs.put_file(local_path, self.path(key), callback=Callback(hooks={"progress": note_progress}))

    def download(self, key: str, local_path: str) -> None:
        self.fs.get_file(self.path(key), local_path)

    def download_hashing(self, key: str, local_path: str, size_hint: int | None = None) -> tuple[str, int]:
        """Copy ``key`` to ``local_path``, returning the (blake3 hex digest, size) of the bytes copied.

        Small objects (``size_hint``) take one request; larger ones stream in 8 MiB ranged reads, hashed as the
        file grows, with bounded memory (fsspec's ``get_file`` holds whole objects in memory on some clouds)."""
        if size_hint is not None and size_hint <= _ONE_REQUEST:
            return self._download_then_hash(key, local_path)
        return _download_hashing(self, key, local_path, _ONE_REQUEST)

    def _download_then_hash(self, key: str, local_path: str) -> tuple[str, int]:
        self.download(key, local_path)
        with open(local_path, "rb") as f:
            return hash_stream(f)

    def upload_hashed(self, local_path: str, key_of: Callable[[str], str]) -> tuple[str, int, bool]:
        """Store a local file under ``key_of(its blake3 hex digest)`` unless that key exists, with bounded
        memory; returns (digest, size, existed_before). The object appears only once complete."""
        digest, size = hash_file(local_path)
        key = key_of(digest)
        if self.exists(key):
            return digest, size, True
        self._upload_large(local_path, key)
        return digest, size, False

    def _upload_large(self, local_path: str, key: str) -> None:
        stream_upload(self, local_path, key)

    def move(self, key: str, new_key: str) -> bool:
        """Move a whole object from ``key`` to ``new_key``; False if ``key`` is gone. Elsewhere than on
        POSIX this is copy then delete: for a moment both keys exist."""
        try:
            self.fs.copy(self.path(key), self.path(new_key))
        except FileNotFoundError:
            return False
        self.delete(key)
        return True

    def copy(self, key: str, new_key: str) -> None:
        """Copy ``key`` to ``new_key``, for content-addressed keys only: an existing ``new_key`` holds the same
        bytes, so it may be overwritten (object stores) or is kept (POSIX)."""
        self.fs.copy(self.path(key), self.path(new_key))

    def remove_empty_dirs(self, prefix: str) -> None:
        """Drop the emptied directories below ``prefix``, on filesystems that have directories."""

    def staging_file(self) -> BinaryIO:
        """A new local temporary file to spool a stream into before :meth:`adopt`."""
        return cast(BinaryIO, tempfile.NamedTemporaryFile(prefix="fstrack-", delete=False))

    def adopt(self, staged_path: str, key: str) -> None:
        """Move a staged local file to ``key``, consuming the staged file."""
        try:
            self.upload(staged_path, key)
        finally:
            os.unlink(staged_path)

    def list(self, prefix: str, after: str | None = None) -> builtins.list[str]:
        """Sorted names directly below ``prefix`` (only those sorting after ``after``, if given)."""
        names = self._names(prefix)
        return names if after is None else names[bisect.bisect_right(names, after) :]

    def _names(self, prefix: str) -> builtins.list[str]:
        base = self.path(prefix).rstrip("/")
        self.fs.invalidate_cache(base)
        try:
            paths = self.fs.ls(base, detail=False)
        except FileNotFoundError:
            return []
        # Some S3 servers list a prefix's own zero-byte "directory" marker once its keys are gone.
        return sorted({p.rstrip("/").rsplit("/", 1)[-1] for p in paths if p.rstrip("/") != base} - {""})

    def walk(self, prefix: str, skipped: builtins.list[str] | None = None) -> Iterator[Entry]:
        """Every file below ``prefix``, recursively. Backends that meet entries they will not serve (a local
        store's symbolic links) leave them out and describe each in ``skipped``."""
        self.fs.invalidate_cache(self.path(prefix))
        try:
            found = self.fs.find(self.path(prefix), detail=True)
        except FileNotFoundError:
            return
        if not isinstance(found, dict):  # adlfs answers a list (empty) for a prefix with nothing below it
            found = {path: self.fs.info(path) for path in found}
        for path, info in sorted(found.items()):
            if info.get("type", "file") == "file" and path.startswith(self.root):
                key = path[len(self.root) :].lstrip("/")
                yield Entry(key, int(info.get("size") or 0), _mtime(info))


def _download_hashing(backend: Backend, key: str, local_path: str, chunk_size: int) -> tuple[str, int]:
    """Stream ``key`` into ``local_path`` in ranged reads of ``chunk_size``, hashing as it goes; a reader thread
    keeps up to three chunks ahead, so the transfer and the hashing overlap and memory stays bounded."""
    chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=3)
    stop = threading.Event()

    def put(item: bytes | BaseException | None) -> None:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def run() -> None:
        try:
            with backend.fs.open(backend.path(key), "rb", block_size=chunk_size, cache_type="none") as src:
                while not stop.is_set() and (chunk := src.read(chunk_size)):
                    put(chunk)
            put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(exc)

    reader = threading.Thread(target=run, name="fstrack-download", daemon=True)
    threads.start(reader)
    hasher, size = blake3.blake3(), 0
    try:
        with open(local_path, "wb") as out:
            while True:
                item = chunks.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                hasher.update(item)
                out.write(item)
                size += len(item)
    finally:
        stop.set()
        reader.join(timeout=5)
    return hasher.hexdigest(), size


def _mtime(info: dict[str, Any]) -> float:
    """The modification time of a listed file, whatever the filesystem calls it."""
    for field in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(field)
        if value is None:
            continue
        if isinstance(value, (int, float)):
            return float(value)
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
        try:
            from datetime import datetime

            return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue
    return 0.0
