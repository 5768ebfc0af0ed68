"""The atomic primitives a store needs, implemented once per kind of filesystem.

Everything above this module works on relative keys ("objects/ab/cd…", "refs/…")
and never asks which filesystem it is on. A backend provides:

* ``create(key, data)``: write ``data`` only if ``key`` does not exist, atomically
  (exactly one of many racing writers wins; readers never see partial bytes);
* ``claim(key, claimed_key)``: take an entry exactly once;
* whole-object reads, uploads, downloads, listings and deletes.

Which backend serves a URL is decided by :func:`backend_for` alone. A filesystem
that cannot create atomically is refused there, with the reason.
"""

from __future__ import annotations

import bisect
import os
import queue
import random
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import blake3
from fsspec import AbstractFileSystem

from .errors import UnsupportedBackendError
from .objects import hash_stream

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

    def __init__(self, fs: AbstractFileSystem, root: str):
        self.fs = fs
        self.root = root.rstrip("/")

    def path(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

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
        return self.fs.cat_file(self.path(key))

    def read_many(self, keys: list[str]) -> dict[str, bytes]:
        """Read several keys at once (concurrently where the filesystem can); missing keys are left out."""
        if not keys:
            return {}
        paths = {self.path(k): k for k in keys}
        found = {}
        for path, data in self.fs.cat(list(paths), on_error="return").items():
            if isinstance(data, FileNotFoundError):
                continue
            if isinstance(data, BaseException):
                raise data
            found[paths[path]] = data
        return found

    def exists(self, key: str) -> bool:
        return self.fs.exists(self.path(key))

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
        self.fs.put_file(local_path, self.path(key))

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
        from .artifacts import hash_file

        digest, size = hash_file(local_path)
        key = key_of(digest)
        if self.exists(key):
            return digest, size, True
        self._upload_large(local_path, key)
        return digest, size, False

    def _upload_large(self, local_path: str, key: str) -> None:
        from .artifacts import stream_upload

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
        return tempfile.NamedTemporaryFile(prefix="fstrack-", delete=False)

    def adopt(self, staged_path: str, key: str) -> None:
        """Move a staged local file to ``key``, consuming the staged file."""
        try:
            self.upload(staged_path, key)
        finally:
            os.unlink(staged_path)

    def list(self, prefix: str, after: str | None = None) -> list[str]:
        """Sorted names directly below ``prefix`` (only those sorting after ``after``, if given)."""
        names = self._names(prefix)
        return names if after is None else names[bisect.bisect_right(names, after) :]

    def _names(self, prefix: str) -> list[str]:
        base = self.path(prefix).rstrip("/")
        self.fs.invalidate_cache(base)
        try:
            paths = self.fs.ls(base, detail=False)
        except FileNotFoundError:
            return []
        # Some S3 servers list a prefix's own zero-byte "directory" marker once its keys are gone.
        return sorted({p.rstrip("/").rsplit("/", 1)[-1] for p in paths if p.rstrip("/") != base} - {""})

    def walk(self, prefix: str) -> Iterator[Entry]:
        """Every file below ``prefix``, recursively."""
        self.fs.invalidate_cache(self.path(prefix))
        try:
            found = self.fs.find(self.path(prefix), detail=True)
        except FileNotFoundError:
            return
        for path, info in sorted(found.items()):
            if info.get("type", "file") == "file" and path.startswith(self.root):
                key = path[len(self.root) :].lstrip("/")
                yield Entry(key, int(info.get("size") or 0), _mtime(info))


def _download_hashing(backend: Backend, key: str, local_path: str, chunk_size: int) -> tuple[str, int]:
    """Stream ``key`` into ``local_path`` in ranged reads of ``chunk_size``, hashing as it goes; a reader thread
    keeps up to three chunks ahead, so the transfer and the hashing overlap and memory stays bounded."""
    chunks: queue.Queue = queue.Queue(maxsize=3)
    stop = threading.Event()

    def put(item: object) -> None:
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
    reader.start()
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


def _mtime(info: dict) -> float:
    """The modification time of a listed file, whatever the filesystem calls it."""
    for field in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(field)
        if value is None:
            continue
        if isinstance(value, (int, float)):
            return float(value)
        if hasattr(value, "timestamp"):
            return value.timestamp()
        try:
            from datetime import datetime

            return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue
    return 0.0


class LocalBackend(Backend):
    """A POSIX directory (local disk or NFS): create-only by ``link(2)``, claims by ``rename(2)``."""

    name = "local"
    concurrent_io = False
    has_file_events = True

    def __init__(self, fs: AbstractFileSystem, root: str, fsync: bool = False):
        super().__init__(fs, root)
        self.fsync = fsync
        self._staging = os.path.join(self.root, STAGING_DIR)

    def _new_staged(self, prefix: str) -> tuple[int, str]:
        """A new file in the staging folder, mode 0666 less the process umask (shared stores stay
        readable by the team)."""
        staged = os.path.join(self._staging, f"{prefix}-{new_token()}")
        try:
            return os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), staged
        except FileNotFoundError:
            os.makedirs(self._staging, exist_ok=True)
            return os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), staged

    def _write_staged(self, data: bytes) -> str:
        fd, staged = self._new_staged("create")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                if self.fsync:
                    f.flush()
                    os.fsync(f.fileno())
        except BaseException:
            os.unlink(staged)
            raise
        return staged

    def _link_into_place(self, staged: str, key: str) -> bool:
        """Hard-link a staged file to ``key``: atomic, fails if ``key`` exists. Consumes ``staged``."""
        target = self.path(key)
        try:
            try:
                os.link(staged, target)
            except FileNotFoundError:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.link(staged, target)
            return True
        except FileExistsError:
            # On NFS a retransmitted link(2) whose first attempt succeeded reports EEXIST.
            return os.stat(staged).st_nlink > 1
        finally:
            os.unlink(staged)

    def create(self, key: str, data: bytes) -> bool:
        return self._link_into_place(self._write_staged(data), key)

    def replace(self, key: str, data: bytes) -> None:
        staged = self._write_staged(data)
        target = self.path(key)
        try:
            os.replace(staged, target)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(staged, target)

    def claim(self, key: str, claimed_key: str) -> bytes | None:
        target = self.path(claimed_key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.rename(self.path(key), target)  # atomic: exactly one renamer finds the entry
        except FileNotFoundError:
            return None
        with open(target, "rb") as f:
            return f.read()

    def read(self, key: str) -> bytes:
        with open(self.path(key), "rb") as f:
            return f.read()

    def read_many(self, keys: list[str]) -> dict[str, bytes]:
        found = {}
        for key in keys:
            try:
                found[key] = self.read(key)
            except FileNotFoundError:
                pass
        return found

    def exists(self, key: str) -> bool:
        return os.path.exists(self.path(key))

    def info(self, key: str) -> Entry:
        st = os.stat(self.path(key))
        return Entry(key, st.st_size, st.st_mtime)

    def delete(self, key: str) -> None:
        try:
            os.unlink(self.path(key))
        except FileNotFoundError:
            pass

    def staging_file(self) -> BinaryIO:
        fd, staged = self._new_staged("stream")
        os.close(fd)
        return open(staged, "wb")  # noqa: SIM115 - the caller closes it, then adopts the file by name

    def upload(self, local_path: str, key: str) -> None:
        fd, staged = self._new_staged("upload")
        os.close(fd)
        shutil.copyfile(local_path, staged)  # copied in the kernel where the platform can
        self.adopt(staged, key)

    def adopt(self, staged_path: str, key: str) -> None:
        if self.fsync:
            with open(staged_path, "rb") as f:
                os.fsync(f.fileno())
        self._link_into_place(staged_path, key)

    def download(self, key: str, local_path: str) -> None:
        shutil.copyfile(self.path(key), local_path)

    def download_hashing(self, key: str, local_path: str, size_hint: int | None = None) -> tuple[str, int]:
        """The kernel copies the object while a second thread hashes it."""
        from .artifacts import parallel_copy_and_hash

        return parallel_copy_and_hash(self.path(key), local_path)

    def upload_hashed(self, local_path: str, key_of: Callable[[str], str]) -> tuple[str, int, bool]:
        """One pass: the kernel copies the file into the staging area while another thread hashes it, then the
        copy is linked into place under its hash. A deduplicated upload drops its copy at once (its pages are
        normally never written back to disk)."""
        from .artifacts import parallel_copy_and_hash

        staged = self.staging_file()
        staged.close()
        try:
            digest, size = parallel_copy_and_hash(local_path, staged.name)
        except BaseException:
            os.unlink(staged.name)
            raise
        key = key_of(digest)
        if self.exists(key):
            os.unlink(staged.name)
            return digest, size, True
        self.adopt(staged.name, key)
        return digest, size, False

    def move(self, key: str, new_key: str) -> bool:
        """``rename(2)``: atomic, the object is never under both keys."""
        target = self.path(new_key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.rename(self.path(key), target)
        except FileNotFoundError:
            return False
        return True

    def copy(self, key: str, new_key: str) -> None:
        """A hard link: never replaces an existing ``new_key`` (such as a concurrent upload)."""
        target = self.path(new_key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.link(self.path(key), target)
        except FileExistsError:
            pass

    def remove_empty_dirs(self, prefix: str) -> None:
        for directory, _dirs, _files in sorted(os.walk(self.path(prefix), topdown=False), key=lambda d: -len(d[0])):
            try:
                os.rmdir(directory)
            except OSError:
                pass

    def _names(self, prefix: str) -> list[str]:
        try:
            return sorted(os.listdir(self.path(prefix)))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def walk(self, prefix: str) -> Iterator[Entry]:
        start = len(self.root) + 1
        for directory, dirs, files in os.walk(self.path(prefix)):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(directory, name)
                try:
                    st = os.stat(full)
                except FileNotFoundError:
                    continue
                yield Entry(full[start:].replace(os.sep, "/"), st.st_size, st.st_mtime)


_MEMORY_LOCK = threading.Lock()


class MemoryBackend(Backend):
    """fsspec's in-process ``memory://`` filesystem; atomicity comes from a process-wide lock."""

    name = "memory"
    concurrent_io = False  # in-process: a lock, no round trips

    def create(self, key: str, data: bytes) -> bool:
        path = self.path(key)
        with _MEMORY_LOCK:
            if self.fs.exists(path):
                return False
            self.fs.pipe_file(path, data)
            return True

    def claim(self, key: str, claimed_key: str) -> bytes | None:
        with _MEMORY_LOCK:
            if not self.fs.exists(self.path(key)) or self.fs.exists(self.path(claimed_key)):
                return None
            self.fs.mv(self.path(key), self.path(claimed_key))
            return self.fs.cat_file(self.path(claimed_key))

    def download_hashing(self, key: str, local_path: str, size_hint: int | None = None) -> tuple[str, int]:
        return self._download_then_hash(key, local_path)

    def _upload_large(self, local_path: str, key: str) -> None:
        self.upload(local_path, key)


class ObjectStoreBackend(Backend):
    """A cloud object store with conditional writes (S3 If-None-Match, GCS ifGenerationMatch=0,
    Azure If-None-Match: *). Claims are create-only claim files: ``mv`` there is copy+delete.

    Create-only is relied on for small writes (ref entries, claims, markers), which always go in one
    request. Large objects may be uploaded in parts, where some servers do not check the condition;
    that is harmless because an object's name is the hash of its bytes: racing writers write the same.
    """

    #: How many times a create is retried on a transient "conditional request conflict".
    conflict_retries = 10

    def create(self, key: str, data: bytes) -> bool:
        for attempt in range(self.conflict_retries):
            try:
                self._create_once(self.path(key), data)
                return True
            except FileExistsError:
                return False
            except OSError as exc:
                if self._is_precondition_failure(exc):
                    return False
                if not self._is_transient_conflict(exc) or attempt == self.conflict_retries - 1:
                    raise
            time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
        raise AssertionError("unreachable")

    def _create_once(self, path: str, data: bytes) -> None:
        self.fs.pipe_file(path, data, mode="create")

    @staticmethod
    def _is_precondition_failure(exc: OSError) -> bool:
        return _error_code(exc) in (412, "PreconditionFailed")

    @staticmethod
    def _is_transient_conflict(exc: OSError) -> bool:
        return _error_code(exc) in (409, "ConditionalRequestConflict", "OperationAborted")

    def claim(self, key: str, claimed_key: str) -> bytes | None:
        try:
            data = self.read(key)
        except FileNotFoundError:
            return None
        token = new_token().encode()
        # Most lost races are visible before writing; a failed conditional write can be slow (seconds on
        # some S3 servers), a lookup is not. The conditional create below still decides.
        won = False
        if not self.exists(claimed_key):
            won = self.create(claimed_key, token)
            if not won:  # a retried request whose first attempt won is answered "exists": the token tells
                try:
                    won = self.read(claimed_key) == token
                except FileNotFoundError:
                    won = False
        try:
            self.delete(key)  # taken either way: the winner, or a loser tidying up after a winner that died
        except OSError:
            pass  # a leftover entry is skipped by readers (it has a claimed key)
        return data if won else None


def _error_code(exc: BaseException) -> int | str | None:
    """The HTTP status or service error code behind a filesystem error (botocore keeps it on the cause)."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            code = (response.get("Error") or {}).get("Code")
            if code:
                return code
            status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            if status:
                return int(status)
        for attribute in ("status_code", "status", "code"):
            value = getattr(seen, attribute, None)
            if isinstance(value, int) and 100 <= value < 600:
                return value
        seen = seen.__cause__ or seen.__context__
    return None


class S3Backend(ObjectStoreBackend):
    name = "s3"


class GCSBackend(ObjectStoreBackend):
    name = "gcs"

    def _create_once(self, path: str, data: bytes) -> None:
        # gcsfs switches to a resumable upload at its chunk size; only the single-request upload is
        # guaranteed to honour ifGenerationMatch=0 (the GCS emulator ignores it on resumable ones).
        self.fs.pipe_file(path, data, mode="create", chunksize=len(data) + 1)


class AzureBackend(ObjectStoreBackend):
    name = "azure"


_BACKENDS: dict[str, type[Backend]] = {
    "file": LocalBackend,
    "local": LocalBackend,
    "memory": MemoryBackend,
    "s3": S3Backend,
    "s3a": S3Backend,
    "gs": GCSBackend,
    "gcs": GCSBackend,
    "az": AzureBackend,
    "abfs": AzureBackend,
    "abfss": AzureBackend,
}


def check_protocol(protocol: str) -> None:
    """Refuse, before connecting, a protocol with no atomic create-only write."""
    if protocol not in _BACKENDS:
        raise UnsupportedBackendError(
            f"{protocol!r} is not supported as an fstrack store: fstrack needs an atomic create-only write "
            f"(exactly one of many racing writers wins) and knows how to get one only on "
            f"{', '.join(sorted(_BACKENDS))}"
        )


def backend_for(fs: AbstractFileSystem, root: str, *, fsync: bool = False) -> Backend:
    """The backend serving ``fs``; refuses filesystems without an atomic create-only write."""
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    for protocol in protocols:
        backend_type = _BACKENDS.get(protocol)
        if backend_type is LocalBackend:
            return LocalBackend(fs, root, fsync=fsync)
        if backend_type is not None:
            return backend_type(fs, root)
    check_protocol(protocols[0])
    raise AssertionError("unreachable")


def new_token() -> str:
    """A random 32-hex-digit token (task ids, writer ids)."""
    return uuid.uuid4().hex
