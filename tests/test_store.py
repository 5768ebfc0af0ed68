"""The store and its backend primitives, on every backend (local, memory, s3, azure, gcs)."""

from __future__ import annotations

import io
import json
import os
import tracemalloc

import blake3
import fsspec
import pytest
from workers.common import corrupt_object

from fstrack.errors import (
    CorruptObjectError,
    IncompatibleStoreError,
    InvalidNameError,
    ObjectNotFoundError,
    StoreError,
    UnsupportedBackendError,
)
from fstrack.store.objects import BlobId, DocId, hash_bytes
from fstrack.store.store import MARKER_KEY, object_key, open_store

EMPTY = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
BIG = 20 * (1 << 20) + 12345  # "about 20 MB", deliberately not a multiple of any chunk size
MiB = 1 << 20


def _open(loc, **kwargs):
    return open_store(loc.url, **loc.storage_options, **kwargs)


def _fs(loc):
    return fsspec.url_to_fs(loc.url, **loc.storage_options)


class PatternStream(io.RawIOBase):
    """``size`` deterministic pseudo-random bytes, generated as they are read (never all in memory)."""

    def __init__(self, size: int, seed: bytes = b"fstrack"):
        self.size, self.pos, self.hasher = size, 0, blake3.blake3(seed)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.size - self.pos, 4 * MiB)
        if n <= 0:
            return 0
        buffer[:n] = self.hasher.digest(length=n, seek=self.pos)
        self.pos += n
        return n


def _pattern_digest(size: int, seed: bytes = b"fstrack") -> str:
    hasher, stream = blake3.blake3(), PatternStream(size, seed)
    while chunk := stream.read(MiB):
        hasher.update(chunk)
    return hasher.hexdigest()


def _file_digest(path) -> tuple[str, int]:
    hasher, size = blake3.blake3(), 0
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def _write_pattern_file(path, size: int, seed: bytes) -> None:
    stream = PatternStream(size, seed)
    with open(path, "wb") as f:
        while chunk := stream.read(MiB):
            f.write(chunk)


# -- opening --------------------------------------------------------------------------------------
def test_first_open_creates_the_format_marker(store_location):
    fs, root = _fs(store_location)
    assert not fs.exists(f"{root}/{MARKER_KEY}")
    store = _open(store_location)
    marker = json.loads(store.backend.read(MARKER_KEY))
    assert marker["format"] == "fstrack" and marker["version"] == 1
    assert isinstance(marker["created"], (int, float))
    assert fs.exists(f"{root}/{MARKER_KEY}")
    # opening again keeps the marker as it was
    again = _open(store_location, create=False)
    assert json.loads(again.backend.read(MARKER_KEY)) == marker
    assert store.backend.name == store_location.name


def test_open_without_create_refuses_an_empty_location(store_location):
    with pytest.raises(StoreError, match="no fstrack store") as info:
        _open(store_location, create=False)
    assert store_location.url in str(info.value)
    fs, root = _fs(store_location)
    assert not fs.exists(f"{root}/{MARKER_KEY}"), "create=False must not create a store"


def test_newer_format_version_is_refused(store_location):
    store = _open(store_location)
    store.backend.replace(MARKER_KEY, json.dumps({"format": "fstrack", "version": 2, "created": 0}).encode())
    with pytest.raises(IncompatibleStoreError) as info:
        _open(store_location)
    assert "2" in str(info.value) and store_location.url in str(info.value) and "upgrade" in str(info.value)
    with pytest.raises(IncompatibleStoreError):
        _open(store_location, create=False)


@pytest.mark.parametrize(
    "marker",
    [
        b"not json",
        b"[]",
        b'{"version": 1}',
        b'{"format": "other", "version": 1}',
        b'{"format": "fstrack", "version": true}',
        b'{"format": "fstrack", "version": 0}',
        b'{"format": "fstrack", "version": 1.0}',
        b'{"format": "fstrack", "version": "1"}',
    ],
)
def test_invalid_format_markers_are_refused(marker, location_factory):
    loc = location_factory("local")
    store = _open(loc)
    store.backend.replace(MARKER_KEY, marker)
    with pytest.raises(StoreError) as info:
        _open(loc)
    assert not isinstance(info.value, IncompatibleStoreError)
    assert loc.url in str(info.value)


def test_a_non_empty_location_that_is_not_a_store_is_not_initialised(store_location):
    fs, root = _fs(store_location)
    fs.mkdirs(f"{root}/data", exist_ok=True)
    fs.pipe_file(f"{root}/data/results.csv", b"a,b\n1,2\n")
    with pytest.raises(StoreError, match="not empty") as info:
        _open(store_location)
    assert store_location.url in str(info.value)
    assert not fs.exists(f"{root}/{MARKER_KEY}")
    assert fs.cat_file(f"{root}/data/results.csv") == b"a,b\n1,2\n"
    names = sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(root, detail=False))
    assert names == ["data"], f"a refused init left {names} in a location that is not a store"


@pytest.mark.parametrize(
    "url, error, named",
    [
        ("", StoreError, "''"),
        ("   ", StoreError, "'   '"),
        ("ftp://x", UnsupportedBackendError, "'ftp'"),
        ("http://example.com/store", UnsupportedBackendError, "'http'"),
        ("nosuchprotocol://bucket/x", UnsupportedBackendError, "'nosuchprotocol'"),
        ("simplecache::s3://b", StoreError, "simplecache::s3://b"),
        ("filecache::memory://x", StoreError, "filecache::memory://x"),
    ],
)
def test_bad_urls_give_clear_errors(url, error, named):
    with pytest.raises(error) as info:
        open_store(url)
    assert named in str(info.value), str(info.value)


def test_unsupported_protocol_message_says_why():
    with pytest.raises(UnsupportedBackendError) as info:
        open_store("ftp://host/path")
    text = str(info.value)
    assert "create-only" in text and "s3" in text and "file" in text


def test_reopening_sees_what_was_written(store_location):
    oid = _open(store_location).put(b"persisted")
    assert _open(store_location, create=False).get(oid) == b"persisted"


# -- objects --------------------------------------------------------------------------------------
def test_put_get_has(store_location):
    store = _open(store_location)
    data = b"hello\n"
    oid = store.put(data)
    assert oid == hash_bytes(data) == "8e4c7c1b99dbfd50e7a95185fead5ee1448fa904a2fdd778eaf5f2dbfd629a99"
    assert type(oid) is BlobId
    assert store.has(oid)
    assert store.get(oid) == data
    assert store.backend.read(object_key(oid)) == data
    assert object_key(oid) == f"objects/8e/{oid[2:]}"
    assert store.put(bytearray(b"xyz")) == hash_bytes(b"xyz")
    assert store.put(memoryview(b"0xyz0")[1:4]) == hash_bytes(b"xyz")
    assert store.get(hash_bytes(b"xyz")) == b"xyz"


def test_writing_an_existing_object_is_a_no_op(store_location):
    store = _open(store_location)
    oid = store.put(b"same bytes")
    stat_before = os.stat(store.backend.path(object_key(oid))) if store_location.name == "local" else None
    assert store.put(b"same bytes") == oid
    assert store.put_doc(b"same bytes") != oid  # a document holding those bytes is other bytes
    assert store.put_stream(io.BytesIO(b"same bytes")) == (oid, 10)
    assert store.get(oid) == b"same bytes"
    assert sorted(store.object_ids()).count(oid) == 1
    if stat_before is not None:  # not rewritten: same inode, same link count
        after = os.stat(store.backend.path(object_key(oid)))
        assert (after.st_ino, after.st_nlink, after.st_mtime_ns) == (
            stat_before.st_ino,
            stat_before.st_nlink,
            stat_before.st_mtime_ns,
        )
        assert os.listdir(store.backend.path("tmp")) == [], "a no-op write left a staging file"


def test_missing_object_raises_object_not_found(store_location):
    store = _open(store_location)
    missing = hash_bytes(b"never stored")
    assert not store.has(missing)
    with pytest.raises(ObjectNotFoundError) as info:
        store.get(missing)
    assert missing in str(info.value)
    assert isinstance(info.value, KeyError)
    with pytest.raises(ObjectNotFoundError):
        store.get_doc(missing)


@pytest.mark.parametrize("bad", ["", "../../fstrack.json", "AB" * 32, "ab" * 31, "objects/ab", "zz" * 32])
def test_invalid_object_ids_are_refused_before_touching_the_store(store_location, bad):
    store = _open(store_location)
    for call in (store.get, store.has, store.get_doc, lambda oid: store.get_file(oid, "/nonexistent/x")):
        with pytest.raises(InvalidNameError):
            call(bad)


def test_empty_object(store_location):
    store = _open(store_location)
    oid = store.put(b"")
    assert oid == EMPTY
    assert store.has(oid) and store.get(oid) == b""
    assert store.put(b"") == oid
    assert store.put_stream(io.BytesIO(b"")) == (oid, 0)
    assert store.get(oid) == b""
    assert list(store.object_ids()) == [EMPTY]


def test_put_doc_get_doc(store_location):
    store = _open(store_location)
    blob = store.put(b"payload")
    inner = store.put_doc({"kind": "inner", "blob": blob})
    doc = {"name": "run", "inner": inner, "blobs": (blob, blob), "n": 3, "x": 0.5, "raw": b"\x00"}
    oid = store.put_doc(doc)
    assert type(oid) is DocId and type(inner) is DocId
    got = store.get_doc(oid)
    assert got == {"name": "run", "inner": inner, "blobs": [blob, blob], "n": 3, "x": 0.5, "raw": b"\x00"}
    assert type(got["inner"]) is DocId and type(got["blobs"][0]) is BlobId
    assert store.get_doc(got["inner"]) == {"kind": "inner", "blob": blob}
    assert store.put_doc(doc) == oid  # same document, same bytes, same id


@pytest.mark.parametrize("data", [b"\xc1", b"\x01\x02", b"\x92\x01"])
def test_get_doc_of_bytes_that_are_not_one_msgpack_value_is_corruption(store_location, data):
    store = _open(store_location)
    oid = store.put(data)
    assert store.get(oid) == data
    with pytest.raises(CorruptObjectError, match=oid):
        store.get_doc(oid)


def test_object_ids_lists_every_object_and_nothing_else(store_location):
    store = _open(store_location)
    from fstrack.store.refs import Refs

    ids = {store.put(b"a"), store.put(b"b"), store.put(b""), store.put_doc({"x": 1})}
    ids.add(store.put_stream(io.BytesIO(b"c" * 1000))[0])
    Refs(store).append("some/log", {"link": store.put_doc([1])})
    ids.add(store.put_doc([1]))
    listed = list(store.object_ids())
    assert sorted(listed) == sorted(ids)


def test_put_stream_of_20mb_with_bounded_memory(store_location, tmp_path):
    store = _open(store_location)
    expected = _pattern_digest(BIG)
    tracemalloc.start()
    try:
        oid, size = store.put_stream(PatternStream(BIG))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (oid, size) == (expected, BIG)
    assert type(oid) is BlobId
    if store_location.name == "local":
        assert peak < 8 * MiB, f"put_stream of {BIG} bytes held {peak} bytes at its peak"
        assert os.listdir(store.backend.path("tmp")) == [], "put_stream left a staging file"
    assert store.has(oid)
    out = tmp_path / "out.bin"
    assert store.get_file(oid, out) == BIG
    assert _file_digest(out) == (expected, BIG)
    # streaming the same bytes again is a no-op that still answers the id
    assert store.put_stream(PatternStream(BIG)) == (oid, BIG)
    assert list(store.object_ids()) == [oid]


def test_put_file_of_20mb(store_location, tmp_path):
    store = _open(store_location)
    source = tmp_path / "source.bin"
    _write_pattern_file(source, BIG, b"file")
    expected = _file_digest(source)
    tracemalloc.start()
    try:
        oid, size = store.put_file(source)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (oid, size) == expected
    if store_location.name == "local":
        assert peak < 8 * MiB, f"put_file of {BIG} bytes held {peak} bytes at its peak"
    assert _file_digest(source) == expected, "put_file changed its source"
    out = tmp_path / "sub" / "dir" / "out.bin"
    tracemalloc.start()
    try:
        assert store.get_file(oid, out) == BIG
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if store_location.name == "local":
        assert peak < 8 * MiB, f"get_file of {BIG} bytes held {peak} bytes at its peak"
    assert _file_digest(out) == expected
    assert store.put_file(source) == (oid, BIG)
    assert os.listdir(out.parent) == ["out.bin"], "get_file left a partial download behind"


def test_get_raises_on_a_corrupt_object(store_location):
    store = _open(store_location)
    oid = store.put(b"some precious bytes")
    corrupt_object(store, oid)
    assert store.has(oid)
    with pytest.raises(CorruptObjectError) as info:
        store.get(oid)
    assert oid in str(info.value)
    with pytest.raises(CorruptObjectError):
        store.get_doc(oid)


def test_get_file_verifies_and_leaves_no_partial_file(store_location, tmp_path):
    store = _open(store_location)
    oid, _ = store.put_stream(PatternStream(3 * MiB + 5, b"corrupt me"))
    corrupt_object(store, oid)
    out_dir = tmp_path / "downloads"
    out_dir.mkdir()
    existing = out_dir / "model.bin"
    existing.write_bytes(b"previous version")
    with pytest.raises(CorruptObjectError, match=oid):
        store.get_file(oid, existing)
    assert existing.read_bytes() == b"previous version", "a failed download replaced the file"
    fresh = out_dir / "fresh.bin"
    with pytest.raises(CorruptObjectError):
        store.get_file(oid, fresh)
    assert not fresh.exists()
    assert sorted(os.listdir(out_dir)) == ["model.bin"], "a failed download left a partial file"
    missing = hash_bytes(b"not there")
    with pytest.raises(ObjectNotFoundError):
        store.get_file(missing, fresh)
    assert sorted(os.listdir(out_dir)) == ["model.bin"]


# -- backend primitives ---------------------------------------------------------------------------
def test_create_is_create_only(store_location):
    backend = _open(store_location).backend
    assert backend.create("c/one", b"first") is True
    assert backend.create("c/one", b"second") is False
    assert backend.read("c/one") == b"first"
    # zero-byte creates must be conditional too (s3fs open("xb") with no bytes overwrites)
    assert backend.create("c/empty", b"") is True
    assert backend.create("c/empty", b"") is False
    assert backend.create("c/empty", b"not empty") is False
    assert backend.read("c/empty") == b""
    assert backend.create("c/full", b"full") is True
    assert backend.create("c/full", b"") is False
    assert backend.read("c/full") == b"full"
    assert backend.create("c/deep/er/key", b"x") is True and backend.read("c/deep/er/key") == b"x"


def test_create_of_a_large_body_is_create_only(object_store_location):
    """Bodies of 50 MiB and more take other upload paths (multipart, resumable): still create-only."""
    backend = _open(object_store_location).backend
    first = b"\x01" * (50 * MiB + 1)
    assert backend.create("big/key", first) is True
    second = b"\x02" * (50 * MiB + 1)
    # (fake-gcs-server ignores ifGenerationMatch=0 on resumable uploads, so this also checks that
    # GCS creates go through the single-request upload whatever their size)
    assert backend.create("big/key", second) is False
    assert backend.read("big/key")[:1] == b"\x01"


def test_replace_overwrites_whole(store_location):
    backend = _open(store_location).backend
    backend.replace("hb/task", b"one")
    assert backend.read("hb/task") == b"one"
    backend.replace("hb/task", b"two, longer")
    assert backend.read("hb/task") == b"two, longer"
    backend.replace("hb/task", b"")
    assert backend.read("hb/task") == b""
    assert backend.create("hb/other", b"created") is True
    backend.replace("hb/other", b"replaced")
    assert backend.read("hb/other") == b"replaced"
    assert backend.list("hb") == ["other", "task"]


def test_claim_takes_an_entry_once(store_location):
    backend = _open(store_location).backend
    assert backend.create("q/pending/e1", b"payload")
    assert backend.claim("q/pending/e1", "q/claimed/e1") == b"payload", "the winner gets the entry's bytes"
    assert backend.claim("q/pending/e1", "q/claimed/e1") is None
    assert backend.exists("q/claimed/e1")
    assert not backend.exists("q/pending/e1"), "a claimed entry is still pending"  # C holds an opaque token
    # an entry that never existed cannot be claimed, and claiming it creates nothing
    assert backend.claim("q/pending/nope", "q/claimed/nope") is None
    assert not backend.exists("q/claimed/nope")
    # other entries are untouched
    assert backend.create("q/pending/e2", b"second")
    assert backend.claim("q/pending/e2", "q/claimed/e2") is not None
    assert sorted(backend.read_many(["q/claimed/e1", "q/claimed/e2", "q/claimed/nope"])) == [
        "q/claimed/e1",
        "q/claimed/e2",
    ]


def test_listing_with_after(store_location):
    backend = _open(store_location).backend
    for key in ("l/b", "l/a", "l/c/d", "l/bb", "l/c/e", "l-sibling/x", "lx"):
        assert backend.create(key, key.encode())
    assert backend.list("l") == ["a", "b", "bb", "c"]
    assert backend.list("l", after="a") == ["b", "bb", "c"]
    assert backend.list("l", after="b") == ["bb", "c"]
    assert backend.list("l", after="ba") == ["bb", "c"]
    assert backend.list("l", after="c") == []
    assert backend.list("l", after="zzz") == []
    assert backend.list("l", after="") == ["a", "b", "bb", "c"]
    assert backend.list("l", after="0") == ["a", "b", "bb", "c"]
    assert backend.list("l/c") == ["d", "e"]
    assert backend.list("l/c", after="d") == ["e"]
    assert backend.list("nothing/here") == []
    assert backend.list("nothing/here", after="a") == []
    assert set(backend.list("")) >= {"l", "l-sibling", "lx", MARKER_KEY}


def test_listing_sorts_by_byte_value(store_location):
    backend = _open(store_location).backend
    names = ["00000000000000000010", "00000000000000000002", "B", "a", "a-b", "a.b", "a_b", "a~b", "z"]
    for name in names:
        assert backend.create(f"s/{name}", b"")
    assert backend.list("s") == sorted(names)
    assert backend.list("s", after="00000000000000000002") == sorted(names)[1:]


def test_listing_a_prefix_whose_keys_were_all_deleted_is_empty(store_location):
    """spec/store.md §2: directories and directory markers are not keys; a listing of a prefix that
    holds nothing is empty (a queue whose entries were all claimed has nothing pending)."""
    backend = _open(store_location).backend
    for name in ("e1", "e2"):
        assert backend.create(f"q/pending/{name}", b"x")
    assert backend.list("q/pending") == ["e1", "e2"]
    backend.delete("q/pending/e1")
    assert backend.list("q/pending") == ["e2"]
    assert backend.claim("q/pending/e2", "q/claimed/e2") is not None
    assert backend.list("q/pending") == []
    assert backend.list("q/pending", after="a") == []
    backend.delete("q/pending/e2")  # deleting a missing key is not an error
    assert backend.read_many(["q/pending/e1", "q/pending/e2"]) == {}


def test_read_many_and_delete(store_location):
    backend = _open(store_location).backend
    for i in range(5):
        assert backend.create(f"m/k{i}", f"v{i}".encode())
    assert backend.read_many([]) == {}
    assert backend.read_many(["m/k1", "m/k3", "m/missing"]) == {"m/k1": b"v1", "m/k3": b"v3"}
    assert backend.read_many(["m/missing", "m/also-missing"]) == {}
    backend.delete("m/k1")
    assert not backend.exists("m/k1")
    with pytest.raises(FileNotFoundError):
        backend.read("m/k1")
    assert backend.list("m") == ["k0", "k2", "k3", "k4"]
    assert {e.key: e.size for e in backend.walk("m")} == {f"m/k{i}": 2 for i in (0, 2, 3, 4)}


class _FailingStream(io.RawIOBase):
    """Yields ``good`` pattern bytes, then fails like a dropped network download would."""

    def __init__(self, good: int):
        self.inner, self.good = PatternStream(good, b"failing"), good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.inner.readinto(buffer)
        if n == 0:
            raise ConnectionResetError("the source went away")
        return n


def test_a_failing_stream_stores_nothing_and_leaves_nothing(store_location):
    store = _open(store_location)
    with pytest.raises(ConnectionResetError):
        store.put_stream(_FailingStream(2 * MiB + 3))
    assert list(store.object_ids()) == []
    assert not store.has(_pattern_digest(2 * MiB + 3, b"failing"))
    if store_location.name == "local":
        assert os.listdir(store.backend.path("tmp")) == [], "a failed put_stream left its staging file"


def test_local_store_urls_name_the_same_store(tmp_path, monkeypatch):
    folder = tmp_path / "store"
    oid = open_store(str(folder)).put(b"where am I")
    assert open_store(f"file://{folder}", create=False).get(oid) == b"where am I"
    assert open_store(folder, create=False).get(oid) == b"where am I"  # os.PathLike
    monkeypatch.chdir(tmp_path)
    assert open_store("store", create=False).get(oid) == b"where am I"
    assert open_store("./store/", create=False).get(oid) == b"where am I"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert open_store("~/store", create=False).get(oid) == b"where am I"
