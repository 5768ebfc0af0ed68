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
import hashlib
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fstrack.errors import CorruptObjectError, FstrackError, InvalidNameError
from fstrack.records.fields import repair_fields
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
    from fstrack.store.objects import hash_bytes

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
    repair: Callable[[dict, str], dict] | None = None  # readers' fix of malformed fields (record, its name)


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
            raise self._not_found(task_id)
        return self._manifest(head[1]["manifest"])

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
        """Index position ``seq`` of a task (a tombstone for a deleted task). The head has already moved,
        so a failure here only lets the index lag; it must not fail the committed change."""
        name = f"{task_id}.{seq:020d}"
        record = manifest if manifest.get("deleted") else self.kind.summarize(manifest)
        index_dir = self.kind.index_dir
        try:
            self.store.backend.create(f"{index_dir}/{name}", pack(record))
            if seq > 1:
                self.store.backend.delete(f"{index_dir}/{task_id}.{seq - 1:020d}")
        except OSError as exc:
            warnings.warn(f"fstrack: the query index of {self.kind.name} {task_id} lags its head ({exc})", stacklevel=3)
            return
        self._records[name] = copy.deepcopy(record)

    def records(self) -> list[dict[str, Any]]:
        """The newest summary of every task (one listing, plus reads of summaries not yet cached)."""
        self._load_cache()
        newest: dict[str, str] = {}
        superseded: list[str] = []
        index_dir = self.kind.index_dir
        for name in self.store.backend.list(index_dir):  # sorted: a task's positions ascend
            task_id, _, seq = name.partition(".")
            if len(task_id) == 32 and len(seq) == 20:
                if task_id in newest:
                    superseded.append(newest[task_id])
                newest[task_id] = name
        self._drop_superseded(superseded)
        wanted = set(newest.values())
        missing = [f"{index_dir}/{n}" for n in wanted if n not in self._records]
        if missing:
            for key, data in self.store.backend.read_many(missing).items():
                try:
                    record = unpack(data)
                    if not isinstance(record, dict):
                        raise ValueError(f"a {type(record).__name__}, not a map")
                except Exception as exc:  # noqa: BLE001 - one bad summary must not hide the other tasks
                    problem = f"fstrack: {key} in store {self.store.url} is malformed ({exc}); skipped"
                    warnings.warn(problem, stacklevel=2)
                    wanted.discard(key.rsplit("/", 1)[-1])
                    continue
                if self.kind.repair is not None:
                    self.kind.repair(record, f"{self.kind.name} {record.get('id')} ({key}) in store {self.store.url}")
                self._records[key.rsplit("/", 1)[-1]] = record
            self._save_cache(wanted)
        for stale in set(self._records) - wanted:
            del self._records[stale]
        return [r for n in sorted(wanted) if (r := self._records.get(n)) is not None and not r.get("deleted")]

    def _drop_superseded(self, names: list[str]) -> None:
        """Delete summaries a higher position of the same task replaced (left by crashed or overtaken
        writers). Safe for any reader to do: readers only ever use a task's highest position."""
        for name in names:
            try:
                self.store.backend.delete(f"{self.kind.index_dir}/{name}")
            except OSError:
                return  # a read-only view of the store: leave them

    def _load_cache(self) -> None:
        if self._cache_loaded or self._cache_file is None:
            return
        self._cache_loaded = True
        try:
            with open(self._cache_file, "rb") as f:
                self._records.update(unpack(f.read()))
        except (OSError, ValueError):
            pass

    def _save_cache(self, wanted: set[str]) -> None:
        if self._cache_file is None:
            return
        os.makedirs(os.path.dirname(self._cache_file), exist_ok=True)
        staged = f"{self._cache_file}.{os.getpid()}.tmp"
        with open(staged, "wb") as f:
            f.write(pack({n: r for n, r in self._records.items() if n in wanted}))
        os.replace(staged, self._cache_file)

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
            warnings.warn(f"fstrack: could not remove the heartbeat of task {task_id}: {exc}", stacklevel=2)

    def store_now(self) -> float:
        """The store's clock now (:func:`store_clock_offset` measured at most once a minute)."""
        measured = self._clock
        if measured is None or time.monotonic() - measured[0] > _CLOCK_TRUST:
            measured = self._clock = (time.monotonic(), store_clock_offset(self.store))
        return time.time() + measured[1]
