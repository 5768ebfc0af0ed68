"""A content-addressed store on any fsspec URL.

A store is a folder (or bucket prefix) holding a format marker, immutable objects
named by their blake3 hash, and refs (see :mod:`fstrack.store.refs`). Keyed primitives
(atomic create, claim, list) live on :attr:`Store.backend`; this module adds the
format marker and the object database on top of them.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import urlsplit, urlunsplit

import blake3
import fsspec

from fstrack import threads
from fstrack.errors import (
    CorruptObjectError,
    IncompatibleStoreError,
    ObjectNotFoundError,
    StoreError,
    UnsupportedBackendError,
)
from fstrack.store.backends import backend_for, check_protocol, with_default_timeouts
from fstrack.store.backends.base import STAGING_DIR, Backend
from fstrack.store.objects import BlobId, DocId, ObjectId, hash_bytes, hash_stream, new_token, pack, unpack
from fstrack.store.transfer import SMALL_FILE, note_progress

FORMAT_NAME = "fstrack"
FORMAT_VERSION = 1
MARKER_KEY = "fstrack.json"
OBJECTS_DIR = "objects"
_CHECK_FIRST = 64 << 10

_EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure", "abfss": "azure"}


def object_key(oid: str) -> str:
    """Where object ``oid`` lives: ``objects/<first two hex digits>/<the other 62>``."""
    return f"{OBJECTS_DIR}/{oid[:2]}/{oid[2:]}"


def public_url(url: str) -> str:
    """A store URL without any user:password part (safe to show)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


class Store:
    """An opened fstrack store. Use :meth:`Store.open` (or :func:`open_store`)."""

    def __init__(self, url: str, backend: Backend, storage_options: dict[str, Any]):
        self.url = url
        self.backend = backend
        self.storage_options = storage_options

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # -- opening ---------------------------------------------------------------
    @classmethod
    def open(
        cls, url: str | os.PathLike[str], *, create: bool = True, fsync: bool | None = None, **storage_options: Any
    ) -> Store:
        """Open the store at ``url``, creating it if it does not exist and ``create`` is true.

        ``storage_options`` go to fsspec (credentials, endpoint, ...). Writes are always atomic, so a
        crashed writer never leaves a torn object or ref. ``fsync`` (local stores only; default off, or
        ``FSTRACK_FSYNC=1``) also makes them durable against power loss, at about 1 ms per write.
        """
        url = os.fspath(url)
        if not isinstance(url, str) or not url.strip():
            raise StoreError(f"store URL must be a non-empty path or URL, got {url!r}")
        if "::" in url:
            raise StoreError(
                f"chained fsspec URLs are not supported as a store, got {url!r}; "
                "caching layers would break the store's atomic writes"
            )
        if "://" not in url:
            expanded = os.path.expanduser(url)
            if expanded.startswith("~"):
                raise StoreError(
                    f"cannot expand {url.split('/', 1)[0]!r} in store path {url!r}: no such user "
                    "(write ./~... for a folder named so)"
                )
            url = os.path.abspath(expanded)
        protocol = url.split("://", 1)[0].lower() if "://" in url else "file"
        check_protocol(protocol)
        options = with_default_timeouts(protocol, storage_options)
        try:
            with threads.signals_blocked():  # fsspec's event-loop thread starts here and inherits the mask
                fs, root = fsspec.core.url_to_fs(url, **options)
        except ImportError as exc:
            extra = _EXTRAS.get(protocol, "all")
            raise StoreError(
                f"store URL {url!r} needs an optional dependency: pip install 'fstrack[{extra}]' ({exc})"
            ) from exc
        except (ValueError, TypeError, OSError) as exc:
            raise StoreError(f"cannot open store URL {url!r}: {exc}") from exc
        if fsync is None:
            fsync = os.environ.get("FSTRACK_FSYNC", "0").lower() in ("1", "true", "yes")
        backend = backend_for(fs, root, fsync=fsync)
        store = cls(url, backend, storage_options)
        store._check_format(create)
        return store

    def _check_format(self, create: bool) -> None:
        try:
            raw = self.backend.read(MARKER_KEY)
        except FileNotFoundError:
            if not create:
                raise StoreError(f"no fstrack store at {self.url!r} (it has no {MARKER_KEY})") from None
            raw = self._initialise()
        except Exception as exc:  # unreachable endpoint, bad credentials: each backend says it its own way
            reason = self.backend.unreachable(exc) or _summary(exc)
            raise StoreError(f"cannot read store at {self.url!r}: {reason}") from exc
        try:
            marker = json.loads(raw)
            name, version = marker["format"], marker["version"]
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"{self.url!r} has a {MARKER_KEY} that is not an fstrack format marker") from exc
        if name != FORMAT_NAME:
            raise StoreError(f"{self.url!r} holds format {name!r}, expected {FORMAT_NAME!r}")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise StoreError(f"{self.url!r} has an invalid format version {version!r} (expected a positive integer)")
        if version > FORMAT_VERSION:
            raise IncompatibleStoreError(
                f"store {self.url!r} has format version {version!r}; this fstrack reads versions up to "
                f"{FORMAT_VERSION}: upgrade fstrack"
            )

    def _initialise(self) -> bytes:
        leftovers = set(self.backend.list("")) - {STAGING_DIR, MARKER_KEY}
        if leftovers and not self.backend.exists(MARKER_KEY):  # another process may have just created it
            raise StoreError(
                f"{self.url!r} is not empty and is not an fstrack store "
                f"(found {sorted(leftovers)[:5]}); choose an empty location"
            )
        self._probe_create_only()
        marker = json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION, "created": time.time()}).encode()
        self.backend.create(MARKER_KEY, marker)
        return self.backend.read(MARKER_KEY)

    def _probe_create_only(self) -> None:
        """Refuse servers that silently ignore conditional writes (they would corrupt refs)."""
        probe = f"{STAGING_DIR}/probe-{new_token()}"
        try:
            first = self.backend.create(probe, b"1")
            second = self.backend.create(probe, b"2")
        except Exception as exc:  # a missing bucket or container, denied access: each backend says it its own way
            raise StoreError(
                f"cannot create a store at {self.url!r}: {_summary(exc)} "
                "(does the bucket or container exist, and may you write to it?)"
            ) from exc
        finally:
            self.backend.delete(probe)
        if not first or second:
            raise UnsupportedBackendError(
                f"the server behind {self.url!r} does not honour create-only writes (a second create of one key "
                "succeeded); fstrack needs conditional writes (If-None-Match / ifGenerationMatch=0)"
            )

    # -- objects ---------------------------------------------------------------
    def put(self, data: bytes | bytearray | memoryview) -> BlobId:
        """Store bytes as a blob; storing bytes that are already there is a no-op."""
        oid = BlobId(hash_bytes(data))
        if len(data) < _CHECK_FIRST or not self.has(oid):  # a lookup is cheaper than resending large bytes
            self.backend.create(object_key(oid), bytes(data))
        note_progress()
        return oid

    def put_doc(self, document: Any) -> DocId:
        """Store a msgpack document (which may reference other objects)."""
        data = pack(document)
        oid = DocId(hash_bytes(data))
        self.backend.create(object_key(oid), data)
        note_progress()
        return oid

    def put_stream(self, stream: BinaryIO) -> tuple[BlobId, int]:
        """Store a stream of any size as a blob with bounded memory; returns (id, size)."""
        with self.backend.staging_file() as staged:
            try:
                digest, size = hash_stream(stream, staged)
            except BaseException:
                staged.close()
                os.unlink(staged.name)
                raise
        oid = BlobId(digest)
        if self.has(oid):
            os.unlink(staged.name)
        else:
            self.backend.adopt(staged.name, object_key(oid))
        return oid, size

    def put_file(self, local_path: str | os.PathLike[str]) -> tuple[BlobId, int]:
        """Store a local file as a blob, streaming it; returns (id, size)."""
        with open(local_path, "rb") as f:
            digest, size = hash_stream(f)
        oid = BlobId(digest)
        if not self.has(oid):
            self.backend.upload(os.fspath(local_path), object_key(oid))
        return oid, size

    def has(self, oid: str) -> bool:
        return self.backend.exists(object_key(ObjectId(oid)))

    def get(self, oid: str) -> bytes:
        """The verified bytes of object ``oid``."""
        key = object_key(ObjectId(oid))
        try:
            data = self.backend.read(key)
        except FileNotFoundError:
            raise ObjectNotFoundError(f"object {oid} is not in store {self.url!r}") from None
        note_progress()  # the store answers: a long read at the end of a task is no outage
        if hash_bytes(data) != oid:
            raise CorruptObjectError(
                f"object {oid} in store {self.url!r} is corrupt: its bytes hash to {hash_bytes(data)}"
            )
        return data

    def get_doc(self, oid: str) -> Any:
        """The decoded msgpack document stored as ``oid``."""
        data = self.get(oid)
        try:
            return unpack(data)
        except Exception as exc:
            raise CorruptObjectError(f"object {oid} in store {self.url!r} is not a msgpack document: {exc}") from exc

    def get_file(self, oid: str, local_path: str | os.PathLike[str]) -> int:
        """Download object ``oid`` to ``local_path`` with bounded memory, verifying it; returns its size.

        The file appears at ``local_path`` only once complete and verified.
        """
        key = object_key(ObjectId(oid))
        local_path = os.fspath(local_path)
        directory = os.path.dirname(os.path.abspath(local_path))
        os.makedirs(directory, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=directory, prefix=".fstrack-download-")
        os.close(fd)
        try:
            try:
                self.backend.download(key, partial)
            except FileNotFoundError:
                raise ObjectNotFoundError(f"object {oid} is not in store {self.url!r}") from None
            with open(partial, "rb") as f:
                digest, size = hash_stream(f)
            if digest != oid:
                raise CorruptObjectError(f"object {oid} in store {self.url!r} is corrupt: its bytes hash to {digest}")
            os.replace(partial, local_path)
            return size
        finally:
            if os.path.exists(partial):
                os.unlink(partial)

    def object_ids(self) -> Iterator[str]:
        """The hex id of every object in the store (unordered kinds: ids are not typed on disk)."""
        for entry in self.backend.walk(OBJECTS_DIR):
            shard, _, rest = entry.key[len(OBJECTS_DIR) + 1 :].partition("/")
            if len(shard) == 2 and "/" not in rest:
                yield shard + rest


def _summary(exc: BaseException) -> str:
    """``Type: first line of the message`` (cloud SDKs append whole response bodies to theirs)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def open_store(
    url: str | os.PathLike[str], *, create: bool = True, fsync: bool | None = None, **storage_options: Any
) -> Store:
    """Open (and by default create) the fstrack store at ``url``. See :meth:`Store.open`."""
    return Store.open(url, create=create, fsync=fsync, **storage_options)


def put_local_file(store: Store, path: str) -> tuple[BlobId, int, bool]:
    """Store a local file as a blob with bounded memory; returns (id, size, existed_before).

    ``existed_before`` (the upload was deduplicated against an object already there) tells the caller to
    re-check the object after committing the manifest that links it (spec/artifacts.md, GC protocol).
    """
    backend = store.backend
    size = os.path.getsize(path)
    if size <= SMALL_FILE:
        with open(path, "rb") as f:
            data = f.read()
        oid = BlobId(blake3.blake3(data).hexdigest())
        created = backend.create(object_key(oid), data)
        return oid, len(data), not created
    digest, total, existed = backend.upload_hashed(path, lambda digest: object_key(BlobId(digest)))
    return BlobId(digest), total, existed
