"""Tasks as chains of immutable manifests, and the index that answers queries without reading them.

Layout (see spec/tasks.md):

* ``refs/tasks/<task id>/<position>``: the task's head sequence. Each entry is
  ``{"manifest": <document id>, "time": float}``, or a tombstone ``{"deleted": True, "time": float}``.
* a manifest is a msgpack document holding every field of the task plus ``previous`` (the previous
  manifest's id, or None) and ``last_update`` (write time, epoch seconds). ``parent`` is the parent *task*.
* ``index/tasks/<task id>.<position>``: an immutable summary of the manifest at that position
  (the fields queries filter on). Writers create it after moving the head and delete the summary
  of the previous position; readers keep, per task, the summary with the highest position.
* ``index/projects/<encoded project name>``: ``{"name": str, "id": str, "created": float}``.
* ``heartbeats/<task id>``: replaced every few seconds by a running task; its store modification
  time tells whether the task's process is alive.

The same machinery serves other first-class records with their own ids (models, spec/models.md): a
:class:`Kind` names the ref prefix, the index folder, the summary function and the not-found error, and
``TaskDB(store, kind=...)`` (or :meth:`TaskDB.sibling`) works on records of that kind.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import os
import re
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fstrack import terminal, threads
from fstrack.errors import CorruptObjectError, FstrackError, InvalidNameError
from fstrack.records.fields import repair_fields
from fstrack.store.gc import read_object
from fstrack.store.objects import BlobId, DocId, hash_bytes, new_token, pack, unpack
from fstrack.store.refs import Refs, encode_name
from fstrack.store.store import Store

TASKS_REF = "tasks"
INDEX_DIR = "index/tasks"
PROJECTS_DIR = "index/projects"
HEARTBEATS_DIR = "heartbeats"
#: A running task whose heartbeat is older than this many of its writer's intervals is considered dead.
ALIVE_INTERVALS = 3
#: Statuses a task does not leave on its own: it has finished running (a reset starts it over).
FINAL_STATUSES = frozenset({"stopped", "completed", "failed", "closed", "published"})
SUMMARY_FIELDS = (
    "id",
    "name",
    "project",
    "type",
    "status",
    "status_message",
    "status_reason",
    "tags",
    "system_tags",
    "user",
    "parent",
    "comment",
    "created",
    "started",
    "completed",
    "last_update",
    "last_iteration",
    "archived",
    "last_metrics",
    "run",
)
_MANIFEST_CACHE_SIZE = 256
#: Manifest members that are large and rarely change (tasks.md §4.3): stored as blob links to their UTF-8 text
#: when longer than ``LINK_MEMBERS_ABOVE`` bytes, so that an edit of another field does not copy them again.
LINKED_MEMBERS = (("script", "diff"), ("script", "code"), ("script", "requirements", "pip"))
LINK_MEMBERS_ABOVE = 1024
#: How long a measured offset between the store's clock and this machine's is trusted (seconds).
_CLOCK_TRUST = 60.0

#: A decoded index summary (spec/tasks.md §7.1).
Summary = dict[str, Any]
_SUMMARY_NAME = re.compile(r"[0-9a-f]{32}\.[0-9]{20}")
#: A reader that lists at least this many tail entries writes the next index checkpoint (spec/tasks.md §7.4).
DEFAULT_TAIL_LIMIT = 256


def _tail_limit() -> int:
    """``FSTRACK_INDEX_TAIL`` (a positive integer), else :data:`DEFAULT_TAIL_LIMIT`."""
    raw = os.environ.get("FSTRACK_INDEX_TAIL")
    if raw is None:
        return DEFAULT_TAIL_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if limit < 1:
        raise FstrackError(f"FSTRACK_INDEX_TAIL must be a positive integer, got {raw!r}")
    return limit


def _newest(summaries: dict[str, Summary]) -> dict[str, Summary]:
    """Of ``name -> summary``, only each task's highest position (names sort by position: 20 digits)."""
    best: dict[str, str] = {}
    for name in summaries:
        task_id = name[:32]
        if name > best.get(task_id, ""):
            best[task_id] = name
    return {name: summaries[name] for name in best.values()}


def _unpack_many(data: bytes) -> Any:
    """``unpack`` of a value holding many containers (a checkpoint: 100,000 summaries), with the cyclic garbage
    collector paused: it would otherwise run over and over while millions of new objects appear (2-4x slower)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return unpack(data)
    finally:
        if was_enabled:
            gc.enable()


def _checkpoint_summaries(data: bytes) -> dict[str, Summary]:
    """The ``name -> summary`` map of a checkpoint blob (zlib-compressed msgpack, spec/tasks.md §7.4)."""
    body = _unpack_many(zlib.decompress(data))
    summaries = body.get("summaries") if isinstance(body, dict) else None
    if not isinstance(summaries, dict):
        raise ValueError("not an index checkpoint: no 'summaries' map")
    good = {
        n: r
        for n, r in summaries.items()
        if isinstance(n, str) and _SUMMARY_NAME.fullmatch(n) and isinstance(r, dict) and r.get("id") == n[:32]
    }
    if len(good) < len(summaries):
        terminal.warn(
            f"fstrack: skipping {len(summaries) - len(good)} malformed summaries of an index checkpoint", stacklevel=2
        )
    return good


def _write_file(path: str, data: bytes) -> None:
    """Replace a machine-local file whole (staged, then renamed)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    staged = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(staged, "wb") as f:
        f.write(data)
    os.replace(staged, path)


class TaskNotFoundError(FstrackError, LookupError):
    """No task with the given id exists in the store (or it was deleted)."""


def is_record_id(value: object) -> bool:
    """Task and model ids are 32 lowercase hex digits."""
    return isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def check_task_id(task_id: str) -> str:
    if not is_record_id(task_id):
        raise TaskNotFoundError(f"task id must be 32 lowercase hex digits, got {task_id!r}")
    return task_id


def check_project_name(name: str) -> str:
    """Project names are ``/``-separated paths of non-empty parts (``a/b/c``)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidNameError(f"project name must be a non-empty string, got {name!r}")
    if any(not part.strip() for part in name.split("/")):
        raise InvalidNameError(f"project name {name!r} has an empty part: expected 'a', 'a/b' or 'a/b/c'")
    return name


def project_id(name: str) -> str:
    """The deterministic id of a project: 32 hex digits of blake3 over its name."""
    return hash_bytes(b"project:" + check_project_name(name).encode("utf-8", "surrogatepass"))[:32]


def summarize(manifest: dict[str, Any]) -> dict[str, Any]:
    """The query record of a manifest: the fields filters and listings need."""
    record = {field: manifest.get(field) for field in SUMMARY_FIELDS}
    script = manifest.get("script") or {}
    record["script"] = {k: script.get(k) for k in ("repository", "branch", "version_num", "entry_point", "working_dir")}
    return record


def store_clock_offset(store: Store) -> float:
    """The store's clock minus this machine's, from the modification time of a fresh write to ``tmp/``
    (spec/tasks.md §9); 0 if the store cannot be written."""
    key = f"tmp/clock-{new_token()}"
    try:
        before = time.time()
        store.backend.create(key, b"")
        mtime = store.backend.info(key).mtime
        after = time.time()
        store.backend.delete(key)
    except OSError:
        return 0.0
    return mtime - (before + after) / 2


def is_beating(mtime: float, heartbeat: bytes, store_now: float, default_interval: float) -> bool:
    """Whether a heartbeat written at ``mtime`` (store clock) is younger than 3 of its writer's intervals."""
    try:
        info = unpack(heartbeat)
    except ValueError:
        info = None
    interval = info.get("interval") if isinstance(info, dict) else None
    if not isinstance(interval, (int, float)) or isinstance(interval, bool) or not interval > 0:
        interval = default_interval
    return store_now - mtime < ALIVE_INTERVALS * interval


def _linked_members(manifest: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """``(parent map, member name)`` of each LINKED_MEMBERS member present in ``manifest``."""
    found = []
    for path in LINKED_MEMBERS:
        parent: Any = manifest
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and path[-1] in parent:
            found.append((parent, path[-1]))
    return found


def _with_member_linked(value: Any, path: tuple[str, ...], link: Callable[[str], Any]) -> Any:
    """A copy of ``value`` whose text at ``path`` is replaced by ``link(text)``, sharing everything else."""
    if not isinstance(value, dict) or path[0] not in value:
        return value
    inner = value[path[0]]
    if len(path) == 1:
        replaced = link(inner) if isinstance(inner, str) else inner
    else:
        replaced = _with_member_linked(inner, path[1:], link)
    if replaced is inner:
        return value
    return {**value, path[0]: replaced}


@dataclass(frozen=True)
class Kind:
    """What a :class:`TaskDB` stores: ``refs/<ref>/<id>/`` heads, ``<index_dir>/<id>.<position>`` summaries."""

    name: str  # "task": used in messages
    ref: str  # ref key prefix of the head sequences
    index_dir: str  # folder of the immutable summaries
    summarize: Callable[[dict[str, Any]], dict[str, Any]]  # manifest -> summary
    not_found: type[Exception]  # raised for a missing (or deleted, or malformed) id
    cache_suffix: str = ""  # suffix of the machine-local summary cache file
    #: readers' fix of malformed fields (record, its name)
    repair: Callable[[dict[str, Any], str], dict[str, Any]] | None = None

    @property
    def tail_dir(self) -> str:
        """Folder of the tail: a copy of every summary not yet in a checkpoint (``index/tail/tasks``)."""
        return f"index/tail/{self.index_dir.rsplit('/', 1)[-1]}"

    @property
    def checkpoint_ref(self) -> str:
        """Ref key of the sequence of index checkpoints (``index/tasks``: ``refs/index/tasks/<position>``)."""
        return f"index/{self.index_dir.rsplit('/', 1)[-1]}"


TASK_KIND = Kind("task", TASKS_REF, INDEX_DIR, summarize, TaskNotFoundError, repair=repair_fields)


class _Unchanged(Exception):
    def __init__(self, manifest: dict[str, Any]):
        self.manifest = manifest


class TaskDB:
    """The tasks of one store: create, load, update (compare-and-swap), history, query records."""

    def __init__(self, store: Store, *, cache_dir: str | None = None, kind: Kind = TASK_KIND):
        self.store = store
        self.kind = kind
        self.refs = Refs(store)
        self._siblings: dict[str, TaskDB] = {kind.name: self}
        self._cache_dir_arg = cache_dir
        self._manifests: dict[str, bytes] = {}
        self._manifests_lock = threading.Lock()
        self._member_texts: dict[str, str] = {}  # blob id -> text of linked members known to be stored
        self._clock: tuple[float, float] | None = None  # (monotonic time measured, store clock - local clock)
        self._records: dict[str, dict[str, Any]] = {}  # index entry name -> summary
        self._known_projects: set[str] = set()
        if cache_dir is None and not store.url.startswith("memory://"):
            cache_dir = os.environ.get("FSTRACK_CACHE_DIR") or os.path.join(
                os.path.expanduser("~"), ".cache", "fstrack"
            )
        self._cache_file = (
            os.path.join(cache_dir, "index", hashlib.sha256(store.url.encode()).hexdigest()[:24] + kind.cache_suffix)
            if cache_dir
            else None
        )
        self._cache_loaded = False
        self._records_dirty = False
        self._tombstones_seen: set[str] = set()
        self._checkpoint_cache: tuple[str, dict[str, Summary]] | None = None  # (blob id, its summaries)

    def sibling(self, kind: Kind) -> TaskDB:
        """The database of another kind of record in the same store (sharing refs, projects and cache folder)."""
        db = self._siblings.get(kind.name)
        if db is None:
            db = TaskDB(self.store, cache_dir=self._cache_dir_arg, kind=kind)
            db.refs = self.refs
            db._known_projects = self._known_projects
            db._siblings = self._siblings
            self._siblings[kind.name] = db
        return db

    def _not_found(self, record_id: str) -> Exception:
        return self.kind.not_found(f"no {self.kind.name} with id {record_id!r} in store {self.store.url!r}")

    # -- manifests ---------------------------------------------------------------
    def _manifest(self, doc_id: DocId) -> dict[str, Any]:
        """A fresh (mutable, unshared) copy of a manifest document, its linked members read back as text."""
        data = self._manifests.get(doc_id)
        if data is None:
            data = self.store.get(doc_id)
            self._remember(doc_id, data)
        try:
            manifest: dict[str, Any] = unpack(data)
        except Exception as exc:
            raise CorruptObjectError(
                f"{self.kind.name} manifest {doc_id} in store {self.store.url!r} does not decode ({exc}); "
                "run fstrack fsck"
            ) from None
        if not isinstance(manifest, dict):
            raise CorruptObjectError(f"{self.kind.name} manifest {doc_id} in store {self.store.url!r} is not a map")
        for parent, name in _linked_members(manifest):
            blob = parent[name]
            if isinstance(blob, BlobId):
                text = self._member_texts.get(blob)
                if text is None:
                    text = self.store.get(blob).decode("utf-8", "surrogatepass")
                    self._remember_member(blob, text)
                parent[name] = text
        if self.kind.repair is not None:
            self.kind.repair(manifest, f"{self.kind.name} {manifest.get('id')} in store {self.store.url}")
        return manifest

    def _put_manifest(self, manifest: dict[str, Any]) -> DocId:
        """Store a manifest, its large linked members (LINKED_MEMBERS) as blobs stored once."""
        stored = copy.copy(manifest)
        for path in LINKED_MEMBERS:
            stored = _with_member_linked(stored, path, self._member_blob)
        doc = self.store.put_doc(stored)
        self._remember(doc, pack(stored))
        return doc

    def _member_blob(self, text: str) -> BlobId | str:
        data = text.encode("utf-8", "surrogatepass")
        if len(data) <= LINK_MEMBERS_ABOVE:
            return text
        blob = BlobId(hash_bytes(data))
        if blob not in self._member_texts:
            blob = self.store.put(data)
            self._remember_member(blob, text)
        return blob

    def _remember_member(self, blob: str, text: str) -> None:
        with self._manifests_lock:
            if len(self._member_texts) >= _MANIFEST_CACHE_SIZE // 8:
                del self._member_texts[next(iter(self._member_texts))]
            self._member_texts[blob] = text

    def _remember(self, doc_id: str, data: bytes) -> None:
        """Cache a manifest's bytes (bounded; the flusher thread edits manifests too, hence the lock)."""
        with self._manifests_lock:
            if len(self._manifests) >= _MANIFEST_CACHE_SIZE:
                del self._manifests[next(iter(self._manifests))]
            self._manifests[doc_id] = data

    def _key(self, record_id: str) -> str:
        if not is_record_id(record_id):
            raise self.kind.not_found(f"{self.kind.name} id must be 32 lowercase hex digits, got {record_id!r}")
        return f"{self.kind.ref}/{record_id}"

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Store a new task whose manifest already carries its ``id``; returns the stored manifest."""
        task_id = manifest["id"]
        manifest = dict(manifest, previous=None, last_update=time.time())
        doc = self._put_manifest(manifest)
        if not self.refs.try_append(self._key(task_id), 1, {"manifest": doc, "time": manifest["last_update"]}):
            raise FstrackError(f"{self.kind.name} id {task_id} already exists")
        self._write_summary(task_id, 1, manifest)
        return manifest

    def load(self, task_id: str) -> dict[str, Any]:
        """The newest manifest of a task."""
        head = self.refs.head(self._key(task_id))
        if head is None or head[1].get("deleted"):
            if head is not None:
                self._repair_index_tombstone(task_id, head[0])
            raise self._not_found(task_id)
        return self._manifest(head[1]["manifest"])

    def _repair_index_tombstone(self, task_id: str, seq: int) -> None:
        """Create the index tombstone of a deleted task if its deleter died before writing it, so listings stop
        showing the task (spec/tasks.md §7.2). Silent: a read-only reader leaves it."""
        name = f"{task_id}.{seq:020d}"
        if name in self._tombstones_seen:
            return
        self._tombstones_seen.add(name)
        data = pack({"id": task_id, "deleted": True})
        try:
            if self.store.backend.create(f"{self.kind.index_dir}/{name}", data):
                self.store.backend.create(f"{self.kind.tail_dir}/{name}", data)
        except OSError:
            pass

    def exists(self, task_id: str) -> bool:
        try:
            self.load(task_id)
        except self.kind.not_found:
            return False
        return True

    def update(self, task_id: str, fn: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply ``fn`` (which mutates a fresh copy of the newest manifest) atomically; returns the new manifest.

        ``fn`` may run more than once (once per lost race). If it raises, nothing is stored. An edit that
        changes nothing writes nothing.
        """
        written: dict[str, dict[str, Any]] = {}

        def advance(entry: dict[str, Any] | None) -> dict[str, Any]:
            if entry is None or entry.get("deleted"):
                raise self._not_found(task_id)
            before = self._manifest(entry["manifest"])
            after = copy.deepcopy(before)
            fn(after)
            if after == before:
                raise _Unchanged(before)
            after["previous"] = entry["manifest"]
            after["last_update"] = time.time()
            doc = self._put_manifest(after)
            written["manifest"] = after
            return {"manifest": doc, "time": after["last_update"]}

        try:
            seq, _entry = self.refs.update(self._key(task_id), advance)
        except _Unchanged as unchanged:
            return unchanged.manifest
        self._write_summary(task_id, seq, written["manifest"])
        return written["manifest"]

    def delete(self, task_id: str) -> None:
        """Replace the task's head by a tombstone and drop it from the index."""

        def tombstone(entry: dict[str, Any] | None) -> dict[str, Any]:
            if entry is None or entry.get("deleted"):
                raise self._not_found(task_id)
            return {"deleted": True, "time": time.time()}

        seq, _ = self.refs.update(self._key(task_id), tombstone)
        self._write_summary(task_id, seq, {"id": task_id, "deleted": True})
        if self.kind is TASK_KIND:
            self.end_beats(task_id)

    def history(self, task_id: str) -> list[dict[str, Any]]:
        """Every manifest the task ever had, oldest first (each with ``position`` added)."""
        chain = []
        for seq, entry in self.refs.entries(self._key(task_id)):
            if entry.get("deleted"):
                continue
            manifest = self._manifest(entry["manifest"])
            manifest["position"] = seq
            chain.append(manifest)
        if not chain:
            raise self._not_found(task_id)
        return chain

    # -- index -------------------------------------------------------------------
    def _write_summary(self, task_id: str, seq: int, manifest: dict[str, Any]) -> None:
        """Index position ``seq`` of a task (an index tombstone for a deleted task): its summary, then its tail
        entry (spec/tasks.md §7). The head has already moved, so a failure here only lets the index lag; it
        must not fail the committed change."""
        name = f"{task_id}.{seq:020d}"
        record = manifest if manifest.get("deleted") else self.kind.summarize(manifest)
        data = pack(record)
        backend = self.store.backend
        try:
            backend.create(f"{self.kind.index_dir}/{name}", data)
            backend.create(f"{self.kind.tail_dir}/{name}", data)
            if seq > 1:
                lower = f"{task_id}.{seq - 1:020d}"
                backend.delete(f"{self.kind.index_dir}/{lower}")
                backend.delete(f"{self.kind.tail_dir}/{lower}")
        except OSError as exc:
            terminal.warn(f"fstrack: the query index of {self.kind.name} {task_id} lags its head ({exc})", stacklevel=3)
            return
        self._records[name] = copy.deepcopy(record)

    def records(self) -> list[dict[str, Any]]:
        """The newest summary of every live task: the newest index checkpoint plus the tail written after it
        (a handful of requests whatever the number of tasks), or, before a store has a checkpoint, one listing
        of the summaries plus reads of those not yet cached. A reader that finds the tail long writes the next
        checkpoint."""
        self._load_cache()
        newest = self._index()
        return [r for n in sorted(newest) if not (r := newest[n]).get("deleted")]

    def _index(self) -> dict[str, Summary]:
        """Summary name -> summary, the highest position of every task (index tombstones included)."""
        tail = self._names(self.kind.tail_dir)  # before the head: see spec/tasks.md §7.3
        head = self._checkpoint_head()
        base = self._checkpoint(head) if head is not None else None
        if head is None or base is None:
            return self._index_from_listing(tail, head)
        found = self._read_summaries(self.kind.tail_dir, tail)
        if len(found) < len(tail):  # deleted since the listing: a newer checkpoint covers them, or a writer's
            newer = self._checkpoint_head()  # own higher tail entry does
            if newer is not None and newer[0] != head[0] and (checkpoint := self._checkpoint(newer)) is not None:
                head, base = newer, checkpoint
        newest = _newest({**base, **found})
        if len(self._records) > len(found):  # keep only the tail's summaries: the checkpoint holds the rest
            self._records = dict(found)
            self._records_dirty = True
        self._save_cache()
        if len(tail) >= _tail_limit():
            self._write_checkpoint(head[0], newest, base, list(found), tail)
        return newest

    def _index_from_listing(self, tail: list[str], head: tuple[int, Any] | None) -> dict[str, Summary]:
        """The index as a store without a (readable) checkpoint has it: every summary, from one listing."""
        names = sorted(set(self._names(self.kind.index_dir)) | set(tail))
        found = self._read_summaries(self.kind.index_dir, names)
        newest = _newest(found)
        superseded = [n for n in names if n not in newest]
        self._drop(self.kind.index_dir, superseded)
        self._save_cache()
        if len(names) >= _tail_limit():
            position = head[0] if head is not None else 0
            self._write_checkpoint(position, newest, {}, list(newest), tail)
        return newest

    def compact_index(self) -> bool:
        """Write a checkpoint of the whole index from a full listing of the summaries (whatever the tail's
        length), and delete the summaries and tail entries it makes redundant. Used by gc and after a sync;
        returns whether this call's checkpoint became the newest."""
        self._load_cache()
        tail = self._names(self.kind.tail_dir)
        head = self._checkpoint_head()
        base = (self._checkpoint(head) if head is not None else None) or {}
        names = sorted(set(self._names(self.kind.index_dir)) | set(tail))
        found = self._read_summaries(self.kind.index_dir, [n for n in names if n not in base])
        newest = _newest({**base, **found})
        self._drop(self.kind.index_dir, [n for n in names if n not in newest])
        return self._write_checkpoint(head[0] if head is not None else 0, newest, base, names, tail)

    def _write_checkpoint(
        self, position: int, newest: dict[str, Summary], base: dict[str, Summary], covered: list[str], tail: list[str]
    ) -> bool:
        """Publish ``newest`` as checkpoint ``position + 1`` (create-only: a lost race writes nothing more),
        then delete the tail entries it covers and the summaries of lower positions it names (spec/tasks.md
        §7.4). Best effort: a read-only store, or any store error, leaves the index as it was."""
        superseded = [n for n in set(base) | set(covered) if n not in newest]
        data = zlib.compress(pack({"index": self.kind.index_dir, "summaries": newest}), 1)
        try:
            blob = self.store.put(data)
            value = {"checkpoint": blob, "summaries": len(newest), "time": time.time()}
            if not self.refs.try_append(self.kind.checkpoint_ref, position + 1, value):
                return False
        except OSError:
            return False
        self._checkpoint_cache = (str(blob), newest)
        self._save_checkpoint_cache(str(blob), data)
        self._drop(self.kind.index_dir, superseded)
        self._drop(self.kind.tail_dir, tail)
        return True

    def _checkpoint_head(self) -> tuple[int, Any] | None:
        """The newest checkpoint entry ``(position, value)``, or None (none yet, or not a checkpoint entry)."""
        try:
            head = self.refs.head(self.kind.checkpoint_ref)
        except Exception as exc:  # noqa: BLE001 - an unreadable head: read the summaries instead
            terminal.warn(f"fstrack: ignoring the index checkpoint of {self.store.url!r} ({exc})", stacklevel=4)
            return None
        if head is None:
            return None
        link = head[1].get("checkpoint") if isinstance(head[1], dict) else None
        if not isinstance(link, BlobId):
            terminal.warn(
                f"fstrack: ignoring malformed index checkpoint entry {head[0]} of {self.store.url!r}", stacklevel=2
            )
            return None
        return head

    def _checkpoint(self, head: tuple[int, Any]) -> dict[str, Summary] | None:
        """The summaries a checkpoint holds (from memory, the machine-local cache or the store), or None with a
        warning when it cannot be read: the caller then reads the summaries themselves."""
        link = str(head[1]["checkpoint"])
        if self._checkpoint_cache is not None and self._checkpoint_cache[0] == link:
            return self._checkpoint_cache[1]
        summaries = self._load_checkpoint_cache(link)
        if summaries is None:
            try:
                data = read_object(self.store, link)
                summaries = _checkpoint_summaries(data)
            except Exception as exc:  # noqa: BLE001 - corrupt, missing or malformed: fall back to the listing
                terminal.warn(f"fstrack: ignoring index checkpoint {link} of {self.store.url!r} ({exc})", stacklevel=4)
                return None
            self._save_checkpoint_cache(link, data)
        if self.kind.repair is not None:  # a checkpoint is another writer's bytes too
            for name, record in summaries.items():
                self.kind.repair(
                    record, f"{self.kind.name} {name[:32]} (index checkpoint {link}) in store {self.store.url}"
                )
        self._checkpoint_cache = (link, summaries)
        return summaries

    def _names(self, folder: str) -> list[str]:
        """The summary names (``<32 hex>.<20 digits>``) in an index folder, sorted."""
        return [n for n in self.store.backend.list(folder) if _SUMMARY_NAME.fullmatch(n)]

    def _read_summaries(self, folder: str, names: list[str]) -> dict[str, Summary]:
        """``name -> summary`` for the names still in ``folder`` (cached by name: summaries never change). A
        summary that does not decode to a map with its task's id is skipped with a warning."""
        missing = [f"{folder}/{n}" for n in names if n not in self._records]
        if missing:
            for key, data in self.store.backend.read_many(missing).items():
                name = key.rsplit("/", 1)[-1]
                error: Exception | None = None
                try:
                    record = unpack(data)
                except Exception as exc:  # noqa: BLE001 - a bad summary must not break the listing
                    record, error = None, exc
                if not isinstance(record, dict) or record.get("id") != name[:32]:
                    terminal.warn(
                        f"fstrack: skipping malformed index summary {key} ({error or 'not a summary'})", stacklevel=2
                    )
                    continue
                if self.kind.repair is not None:
                    self.kind.repair(record, f"{self.kind.name} {record['id']} ({key}) in store {self.store.url}")
                self._records[name] = record
                self._records_dirty = True
        return {n: r for n in names if (r := self._records.get(n)) is not None}

    def _drop(self, folder: str, names: list[str]) -> None:
        """Delete redundant summaries or tail entries (a higher position, or a checkpoint, holds what they
        hold). Best effort: a read-only view of the store leaves them."""
        keys = [f"{folder}/{n}" for n in names]
        if not keys:
            return
        try:
            if self.store.backend.concurrent_io and len(keys) > 1:
                with ThreadPoolExecutor(max_workers=16, initializer=threads.block_process_signals) as pool:
                    list(pool.map(self.store.backend.delete, keys))
            else:
                for key in keys:
                    self.store.backend.delete(key)
        except OSError:
            pass
        for name in names:
            self._records.pop(name, None)

    # -- machine-local cache (spec/tasks.md §10) -----------------------------------
    def _load_cache(self) -> None:
        if self._cache_loaded or self._cache_file is None:
            return
        self._cache_loaded = True
        try:
            with open(self._cache_file, "rb") as f:
                cached = _unpack_many(f.read())
            self._records.update(cached["records"])
        except (OSError, ValueError, KeyError, TypeError):
            pass

    def _save_cache(self) -> None:
        """Keep the summaries read so far (the tail's, or all of them before the first checkpoint)."""
        if self._cache_file is None or not self._records_dirty:
            return
        self._records_dirty = False
        _write_file(self._cache_file, pack({"records": self._records}))

    def _checkpoint_cache_file(self, link: str) -> str | None:
        return None if self._cache_file is None else f"{self._cache_file}.checkpoint-{link}"

    def _load_checkpoint_cache(self, link: str) -> dict[str, Summary] | None:
        path = self._checkpoint_cache_file(link)
        if path is None:
            return None
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None
        try:
            return _checkpoint_summaries(data) if hash_bytes(data) == link else None
        except Exception:  # noqa: BLE001 - a damaged cache file: read the store instead
            return None

    def _save_checkpoint_cache(self, link: str, data: bytes) -> None:
        """Keep the newest checkpoint's bytes on this machine (immutable, named by its id), dropping older ones."""
        path = self._checkpoint_cache_file(link)
        if path is None:
            return
        folder, prefix = os.path.split(path.rsplit("-", 1)[0] + "-")
        try:
            _write_file(path, data)
            for old in os.listdir(folder):
                if old.startswith(prefix) and os.path.join(folder, old) != path:
                    os.unlink(os.path.join(folder, old))
        except OSError:
            pass

    # -- projects ----------------------------------------------------------------
    def ensure_project(self, name: str) -> str:
        """Record a project (and its parents) if new; returns its id."""
        check_project_name(name)
        parts = name.split("/")
        for depth in range(1, len(parts) + 1):
            path = "/".join(parts[:depth])
            if path not in self._known_projects:
                record = {"name": path, "id": project_id(path), "created": time.time()}
                self.store.backend.create(f"{PROJECTS_DIR}/{encode_name(path)}", pack(record))
                self._known_projects.add(path)
        return project_id(name)

    def projects(self) -> list[dict[str, Any]]:
        """Every recorded project, sorted by name."""
        keys = [f"{PROJECTS_DIR}/{n}" for n in self.store.backend.list(PROJECTS_DIR)]
        return sorted((unpack(d) for d in self.store.backend.read_many(keys).values()), key=lambda p: p["name"])

    # -- liveness ----------------------------------------------------------------
    def beat(self, task_id: str, info: dict[str, Any]) -> None:
        self.store.backend.replace(f"{HEARTBEATS_DIR}/{check_task_id(task_id)}", pack(info))

    def last_beat(self, task_id: str) -> float | None:
        """When the task's process last beat, by the store's clock (its heartbeat's modification time); None if
        it has no heartbeat."""
        try:
            return self.store.backend.info(f"{HEARTBEATS_DIR}/{check_task_id(task_id)}").mtime
        except FileNotFoundError:
            return None

    def beating(self, task_id: str, default_interval: float) -> bool:
        """Whether the task's process beat within 3 of its intervals, by the store's clock (tasks.md §9)."""
        key = f"{HEARTBEATS_DIR}/{check_task_id(task_id)}"
        try:
            mtime = self.store.backend.info(key).mtime
            data = self.store.backend.read(key)
        except FileNotFoundError:
            return False
        return is_beating(mtime, data, self.store_now(), default_interval)

    def end_beats(self, task_id: str) -> None:
        """Remove a task's heartbeat (its run ended, or it was deleted); best-effort."""
        try:
            self.store.backend.delete(f"{HEARTBEATS_DIR}/{check_task_id(task_id)}")
        except OSError as exc:
            terminal.warn(f"fstrack: could not remove the heartbeat of task {task_id}: {exc}", stacklevel=2)

    def store_now(self) -> float:
        """The store's clock now (:func:`store_clock_offset` measured at most once a minute)."""
        measured = self._clock
        if measured is None or time.monotonic() - measured[0] > _CLOCK_TRUST:
            measured = self._clock = (time.monotonic(), store_clock_offset(self.store))
        return time.time() + measured[1]
