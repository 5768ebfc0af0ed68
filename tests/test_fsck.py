"""fsck finds every kind of corruption spec/fsck.md lists, on every backend, and nothing on a clean store."""

from __future__ import annotations

import os
import time

import msgpack
import pytest
from workers.common import corrupt_object

from fstrack.store.fsck import fsck
from fstrack.store.objects import BlobId, DocId, hash_bytes, pack
from fstrack.store.refs import Refs
from fstrack.store.store import object_key, open_store

SEQ1, SEQ2, SEQ3, SEQ5 = (str(n).zfill(20) for n in (1, 2, 3, 5))


@pytest.fixture
def populated(store_location):
    """A clean store: blobs, documents linking them (and each other), a head and a log."""
    store = open_store(store_location.url, **store_location.storage_options)
    refs = Refs(store)
    blobs = [store.put(b"blob %d" % i) for i in range(3)] + [store.put(b"")]
    inner = store.put_doc({"blobs": blobs[:2]})
    outer = store.put_doc({"inner": inner, "blob": blobs[2], "key-link": {blobs[3]: 1}})
    refs.update("tasks/t1", lambda _: {"manifest": outer})
    refs.update("tasks/t1", lambda v: {"manifest": outer, "previous": v["manifest"]})
    for blob in blobs:
        refs.append("logs/l1", {"blob": blob})
    unreferenced = store.put(b"nobody links me")
    return store, refs, {"blobs": blobs, "inner": inner, "outer": outer, "unreferenced": unreferenced}


def test_objects_written_while_fsck_runs_are_not_reported_missing(populated):
    """A writer stores an object and links it after fsck walked objects/ (it walks refs/ later): fsck looks the
    object up before calling it missing, while a link to an object that is really absent is still reported."""
    store, refs, _ids = populated
    original_walk = store.backend.walk
    written = []

    def walk(prefix, skipped=None):
        if prefix == "refs" and not written:  # after the object walk, before the refs: a writer commits
            written.append(True)
            doc = store.put_doc({"blob": store.put(b"written during fsck")})
            refs.append("logs/live", {"doc": doc})
            refs.append("logs/live", {"doc": DocId("1" * 64)})  # and one link to nothing
        return original_walk(prefix, skipped)

    store.backend.walk = walk
    report = fsck(store)
    assert report.errors == [f"refs/logs/live/{SEQ2}: references missing or corrupt object {'1' * 64}"]


def _errors_mentioning(report, *needles):
    return [e for e in report.errors if all(n in e for n in needles)]


def test_clean_store_passes(populated):
    store, _, ids = populated
    report = fsck(store)
    assert report.ok, report.errors
    assert report.errors == [] and report.warnings == []
    assert report.objects == len(ids["blobs"]) + 3
    assert report.refs == 2 + len(ids["blobs"])


def test_empty_store_passes(store_location):
    report = fsck(open_store(store_location.url, **store_location.storage_options))
    assert report.ok and (report.objects, report.refs) == (0, 0)


def test_flipped_byte_in_an_object_is_reported(populated):
    store, _, ids = populated
    for victim in (ids["unreferenced"], ids["blobs"][1]):
        corrupt_object(store, victim)
        report = fsck(store)
        assert not report.ok
        assert _errors_mentioning(report, victim), report.errors
    # the corrupt blob is also reported as a bad link from the document that links it
    assert any("references missing or corrupt" in e and ids["blobs"][1] in e for e in report.errors), report.errors


def test_flipped_byte_in_a_linked_document_is_reported(populated):
    store, _, ids = populated
    corrupt_object(store, ids["inner"])
    report = fsck(store)
    assert not report.ok
    assert _errors_mentioning(report, ids["inner"])


def test_ref_entry_linking_a_missing_object_is_reported(populated):
    store, refs, _ = populated
    missing = BlobId(hash_bytes(b"never written"))
    refs.append("logs/l1", {"blob": missing})
    report = fsck(store)
    assert not report.ok
    assert _errors_mentioning(report, "refs/logs/l1/", missing), report.errors


def test_document_linking_a_missing_object_is_reported(populated):
    store, refs, ids = populated
    missing_doc = DocId(hash_bytes(b"no such document"))
    doc = store.put_doc({"child": missing_doc, "ok": ids["blobs"][0]})
    refs.update("tasks/t2", lambda _: {"manifest": doc})
    report = fsck(store)
    assert not report.ok
    assert _errors_mentioning(report, missing_doc), report.errors


def test_deleted_object_linked_from_a_ref_is_reported(populated):
    store, _, ids = populated
    store.backend.delete(object_key(ids["outer"]))
    report = fsck(store)
    assert not report.ok
    assert _errors_mentioning(report, "refs/tasks/t1/", ids["outer"]), report.errors


def test_linked_document_that_is_not_msgpack_is_reported(populated):
    store, refs, _ = populated
    garbage = store.put(b"\xc1 not msgpack")
    refs.append("logs/l2", {"doc": DocId(garbage)})
    report = fsck(store)
    assert not report.ok
    assert _errors_mentioning(report, garbage), report.errors


@pytest.mark.parametrize("torn", [b"", b"\xc1", b"\x92\xc4\x10" + b"\x00" * 8, "cut"])
def test_torn_ref_entry_is_reported(populated, torn):
    store, refs, _ = populated
    if torn == "cut":  # the first half of a real entry
        whole = store.backend.read(f"refs/logs/l1/{SEQ1}")
        torn = whole[: len(whole) // 2]
    assert store.backend.create(f"refs/logs/l1/{SEQ5}", torn)  # the log's next position
    report = fsck(store)
    assert not report.ok
    assert _errors_mentioning(report, f"refs/logs/l1/{SEQ5}", "does not decode"), report.errors


def test_sequence_with_a_gap_is_reported(populated):
    store, _, ids = populated
    entry = pack([os.urandom(16), {"blob": ids["blobs"][0]}])
    assert store.backend.create(f"refs/gappy/log/{SEQ1}", entry)
    assert store.backend.create(f"refs/gappy/log/{SEQ3}", entry)
    report = fsck(store)
    assert not report.ok
    assert _errors_mentioning(report, "refs/gappy/log", "gap"), report.errors


def test_sequence_not_starting_at_one_is_reported(populated):
    store, _, ids = populated
    entry = pack([os.urandom(16), None])
    assert store.backend.create(f"refs/late/log/{SEQ2}", entry)
    report = fsck(store)
    assert _errors_mentioning(report, "refs/late/log"), report.errors


@pytest.mark.parametrize(
    "bad_key",
    [
        "objects/zz/" + "0" * 62,  # not hex
        "objects/ab/" + "0" * 61,  # too short
        "objects/abc/" + "0" * 61,  # 64 hex digits split elsewhere
        "objects/ab/cd/" + "0" * 60,  # too deep
        "objects/" + "0" * 64,  # too shallow
    ],
)
def test_files_that_are_not_object_names_are_reported(populated, bad_key):
    store, _, _ = populated
    assert store.backend.create(bad_key, b"stray")
    report = fsck(store)
    assert _errors_mentioning(report, bad_key, "not an object name"), report.errors


def test_every_problem_is_reported_not_just_the_first(populated):
    store, refs, ids = populated
    corrupt_object(store, ids["unreferenced"])
    corrupt_object(store, ids["blobs"][0])
    refs.append("logs/l3", {"blob": BlobId(hash_bytes(b"missing"))})
    assert store.backend.create(f"refs/gappy/log/{SEQ2}", pack([os.urandom(16), None]))
    report = fsck(store)
    assert len(report.errors) >= 4, report.errors


def test_keys_fsck_does_not_own_are_ignored(populated):
    store, _, _ = populated
    assert store.backend.create("refs/queues/q/pending/e1", b"not msgpack, not an entry")
    assert store.backend.create("heartbeats/task", b"\x00")
    assert store.backend.create("somewhere/else", b"\xc1")
    assert fsck(store).ok


def test_staging_files_are_warnings_only_once_stale(location_factory):
    """tmp/ files are a crashed writer's garbage: warned about after 24 hours, never errors."""
    loc = location_factory("local")
    store = open_store(loc.url, **loc.storage_options)
    fresh = store.backend.path("tmp/create-fresh")
    stale = store.backend.path("tmp/stream-stale")
    for path in (fresh, stale):
        with open(path, "wb") as f:
            f.write(b"half an obj")
    day_and_a_bit = time.time() - 25 * 3600
    os.utime(stale, (day_and_a_bit, day_and_a_bit))
    report = fsck(store)
    assert report.ok, report.errors
    assert len(report.warnings) == 1 and "tmp/stream-stale" in report.warnings[0]


@pytest.mark.parametrize(
    "entry",
    [
        {"manifest": 1, "time": 2},  # the pre-token format: a bare 2-key map
        [b"short token", "value"],  # token not 16 bytes
        ["x" * 16, "value"],  # token not a bin
        [b"\x00" * 16, "value", "extra"],  # not a pair
        "value",
    ],
    ids=["map", "short-token", "str-token", "triple", "bare"],
)
def test_entry_that_is_not_a_token_value_pair_is_reported(location_factory, entry):
    """refs.md §4: anything but [16-byte bin, value] is malformed, and fsck reports it."""
    loc = location_factory("local")
    store = open_store(loc.url, **loc.storage_options)
    assert store.backend.create(f"refs/old/head/{SEQ1}", msgpack.packb(entry, use_bin_type=True))
    report = fsck(store)
    assert _errors_mentioning(report, f"refs/old/head/{SEQ1}"), report.errors
    with pytest.raises(ValueError):
        Refs(store).head("old/head")


@pytest.mark.parametrize("ext", [msgpack.ExtType(1, b"short"), msgpack.ExtType(2, b"x" * 33), msgpack.ExtType(7, b"")])
@pytest.mark.parametrize("where", ["entry", "document"])
def test_foreign_ext_values_are_reported(location_factory, ext, where):
    """fsck.md: ext types other than 1/2, and ext 1/2 values not 32 bytes long, are errors (in entries and in
    the documents they link)."""
    loc = location_factory("local")
    store = open_store(loc.url, **loc.storage_options)
    value = {"odd": ext}
    if where == "document":
        value = {"doc": msgpack.ExtType(1, bytes.fromhex(store.put_doc(value)))}
    entry = msgpack.packb([os.urandom(16), value], use_bin_type=True)
    assert store.backend.create(f"refs/odd/log/{SEQ1}", entry)
    report = fsck(store)
    assert [e for e in report.errors if f"ext type {ext.code}" in e], report.errors
