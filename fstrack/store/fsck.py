"""Integrity check: every object hashes to its name, every ref decodes and points at objects that exist."""

from __future__ import annotations

import itertools
import os
import re
import tempfile
import time
from dataclasses import dataclass, field

import msgpack

from fstrack.errors import CorruptObjectError, ObjectNotFoundError
from fstrack.store.backends.base import STAGING_DIR
from fstrack.store.objects import DocId, ObjectId, iter_links
from fstrack.store.refs import REFS_DIR, SEQ_DIGITS, entry_value
from fstrack.store.store import OBJECTS_DIR, Store, object_key

_STREAM_ABOVE = 64 << 20
_STALE_STAGING = 24 * 3600
_SEQ_NAME = re.compile(r"[0-9]{%d}" % SEQ_DIGITS)


@dataclass
class FsckReport:
    objects: int = 0
    refs: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def fsck(store: Store) -> FsckReport:
    """Check the whole store; problems are collected, not raised."""
    report = FsckReport()
    listed: set[str] = set()
    present = _check_objects(store, report, listed)
    _check_refs(store, present, listed, report)
    cutoff = time.time() - _STALE_STAGING
    for entry in store.backend.walk(STAGING_DIR, report.errors):
        if entry.mtime < cutoff:
            report.warnings.append(f"stale staging file {entry.key} (left by an interrupted writer; safe to delete)")
    for name in store.backend.list(""):
        if name not in (OBJECTS_DIR, REFS_DIR, STAGING_DIR):
            for _entry in store.backend.walk(name, report.errors):  # only links and odd files are reported here
                pass
    return report


def _check_objects(store: Store, report: FsckReport, listed: set[str]) -> set[str]:
    """The ids of the objects that verify; ``listed`` gets every object name the walk met."""
    present: set[str] = set()
    for entry in store.backend.walk(OBJECTS_DIR, report.errors):
        shard, _, rest = entry.key[len(OBJECTS_DIR) + 1 :].partition("/")
        oid = shard + rest
        try:
            if len(shard) != 2:
                raise ValueError(shard)
            ObjectId(oid)
        except ValueError:
            report.errors.append(f"{entry.key}: not an object name")
            continue
        report.objects += 1
        listed.add(oid)
        try:
            if entry.size > _STREAM_ABOVE:
                with tempfile.TemporaryDirectory() as scratch:
                    store.get_file(oid, os.path.join(scratch, "object"))
            else:
                store.get(oid)
        except CorruptObjectError as exc:
            report.errors.append(str(exc))
            continue
        except ObjectNotFoundError:
            continue  # removed by a concurrent garbage collection
        present.add(oid)
    return present


def _check_refs(store: Store, present: set[str], listed: set[str], report: FsckReport) -> None:
    from fstrack.store.gc import (  # what the collector keeps is what must be intact
        HEAD_ONLY_KINDS,
        classify_sequences,
        is_tombstone,
        list_sequences,
    )

    _live, _tombstones, dead = classify_sequences(store, list_sequences(store, []))
    visited_docs: set[str] = set()
    entries = (e for e in store.backend.walk(REFS_DIR, report.errors) if _entry_in_place(e.key, report))
    for directory, group in itertools.groupby(entries, key=lambda e: e.key.rpartition("/")[0]):
        decoded: list[tuple[str, object]] = []
        positions = []
        for entry in group:
            positions.append(int(entry.key.rpartition("/")[2]))
            report.refs += 1
            try:
                decoded.append((entry.key, entry_value(store.backend.read(entry.key))))
            except FileNotFoundError:
                continue
            except Exception as exc:
                report.errors.append(f"{entry.key}: ref entry does not decode ({type(exc).__name__}: {exc})")
        positions.sort()
        if positions != list(range(1, len(positions) + 1)):
            report.errors.append(f"{directory}: sequence has gaps (positions {positions[:3]}...{positions[-3:]})")
        for name in store.backend.list(directory):
            if _SEQ_NAME.fullmatch(name) and int(name) not in positions:
                report.errors.append(f"{directory}/{name}: a sequence entry that is not a file (an empty folder?)")
        if directory[len(REFS_DIR) + 1 :] in dead:
            # a deleted task or model (or a deleted task's log): only its tombstone's links are kept
            decoded = [(key, value) for key, value in decoded[-1:] if is_tombstone(value)]
        elif directory[len(REFS_DIR) + 1 :].split("/", 1)[0] in HEAD_ONLY_KINDS:
            decoded = decoded[-1:]  # index checkpoints: the collector keeps only the newest
        for key, value in decoded:
            _check_links(store, key, value, present, listed, visited_docs, report)


def _entry_in_place(key: str, report: FsckReport) -> bool:
    """Whether ``key`` is a sequence entry; a file below a folder named like an entry is reported."""
    parts = key.split("/")
    for depth, part in enumerate(parts[:-1]):
        if _SEQ_NAME.fullmatch(part):
            problem = f"{'/'.join(parts[: depth + 1])}: a folder where a sequence entry belongs"
            if problem not in report.errors[-1:]:
                report.errors.append(problem)
            return False
    return bool(_SEQ_NAME.fullmatch(parts[-1]))


def _written_since(store: Store, oid: str, listed: set[str], present: set[str]) -> bool:
    """Whether an object the walk did not meet exists now: stored after the walk by a writer that linked it
    while fsck ran (its hash is checked by the next run)."""
    if oid in listed or not store.backend.exists(object_key(oid)):
        return False
    present.add(oid)
    return True


def _foreign_ext(value: object) -> msgpack.ExtType | None:
    """The first ext value that is not a 32-byte link (ext type 1 or 2) inside a decoded value, if any:
    ``unpack`` leaves such values as ``msgpack.ExtType`` (store.md §5)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, msgpack.ExtType):
            return item
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _report_foreign_ext(where: str, value: object, report: FsckReport) -> None:
    odd = _foreign_ext(value)
    if odd is not None:
        report.errors.append(
            f"{where}: holds ext type {odd.code} of {len(odd.data)} bytes; "
            "expected only links (ext type 1 or 2, 32 bytes)"
        )


def _check_links(
    store: Store, where: str, value: object, present: set[str], listed: set[str], visited: set[str], report: FsckReport
) -> None:
    _report_foreign_ext(where, value, report)
    pending = [(where, link) for link in iter_links(value)]
    while pending:
        source, link = pending.pop()
        if link not in present and not _written_since(store, link, listed, present):
            report.errors.append(f"{source}: references missing or corrupt object {link}")
            continue
        if isinstance(link, DocId) and link not in visited:
            visited.add(link)
            try:
                document = store.get_doc(link)
            except CorruptObjectError as exc:
                report.errors.append(f"{source}: {exc}")
                continue
            _report_foreign_ext(f"object {link}", document, report)
            pending.extend((f"object {link}", inner) for inner in iter_links(document))
