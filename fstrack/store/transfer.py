"""Moving file bytes with bounded memory: hashing, copying while hashing, multipart uploads.

The building blocks of large uploads and downloads, shared by the backends (which call them on their own
filesystem) and the layers above. Nothing here knows about objects, refs or tasks.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from typing import Any

import blake3

from fstrack import threads
from fstrack.errors import StoreError

#: Files up to this size are read whole (one request); larger ones stream.
SMALL_FILE = 8 << 20
#: Files are read and written in chunks of this size.
CHUNK = 8 << 20
#: Part size of multipart (resumable, block-list) uploads.
UPLOAD_PART = 32 << 20
_HASH_THREADS = blake3.blake3.AUTO if hasattr(blake3.blake3, "AUTO") else 1


def hash_file(path: str) -> tuple[str, int]:
    """(blake3 hex digest, size) of a local file, streamed in 8 MiB chunks."""
    hasher = blake3.blake3(max_threads=_HASH_THREADS)
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    size = 0
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            hasher.update(view[:n])
            size += n
    return hasher.hexdigest(), size


def parallel_copy_and_hash(source: str, target: str) -> tuple[str, int]:
    """Copy ``source`` to ``target`` (kernel copy) while a second thread hashes ``source``; the caller must not
    let ``source`` change meanwhile (objects never do; a user's file must not be written while it uploads)."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["hash"] = hash_file(source)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            result["error"] = exc

    worker = threading.Thread(target=run, name="fstrack-hash", daemon=True)
    threads.start(worker)
    try:
        shutil.copyfile(source, target)
    finally:
        worker.join()
    if "error" in result:
        raise result["error"]
    digest, size = result["hash"]
    if os.path.getsize(target) != size:
        raise StoreError(f"{source} changed while it was being stored")
    return digest, size


_last_progress = 0.0


def note_progress(*_args: Any, **_kwargs: Any) -> None:
    """The store moved data for this process now: an upload's part, an object read or written (also usable as
    an fsspec callback's hook)."""
    global _last_progress
    _last_progress = time.monotonic()


def last_progress() -> float:
    """``time.monotonic()`` when the store last moved data for this process: the end of a task tells a large
    upload or a long compaction that is still going from a store that stopped answering (``Task._store_stalled``)."""
    return _last_progress


def stream_upload(backend: Any, path: str, key: str) -> None:
    """Upload a local file to ``key`` as one multipart (resumable, block-list) upload of 32 MiB parts: memory
    stays bounded (fsspec's ``put_file`` holds whole files in memory on some clouds) and the object appears
    only when the upload completes (store.md §7). A failed upload is aborted, never completed."""
    target = backend.fs.open(backend.path(key), "wb", block_size=UPLOAD_PART)
    try:
        with open(path, "rb") as src:
            while chunk := src.read(CHUNK):
                target.write(chunk)  # returns once the part it completed (if any) is stored
                note_progress()
    except BaseException:
        try:
            target.discard()
        except Exception:  # noqa: BLE001 - nothing more to undo
            pass
        target.closed = True  # never let close() (or __del__) complete a partial upload
        raise
    target.close()
    note_progress()
