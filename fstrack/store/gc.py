"""Garbage collection: reclaim objects nothing reachable links, safely while other writers run.

The protocol (spec/artifacts.md §6) is two-phase with a grace period, after duplicacy's fossil collection:

* **mark**: the roots are the values of every sequence entry under ``refs/``, except the sequences a
  tombstone ended (``tasks/<id>``, ``models/<id>``, ``outputs/<id>`` whose head is ``{"deleted": true, ...}``
  contribute only the links inside that tombstone) and the per-task logs of deleted tasks
  (``segments/<id>``). Every object linked from a root, directly or through documents, is reachable.
* **phase 1** (every run): objects that are unreachable *and* older than the grace period (by the store's
  own modification time) are moved to ``trash/<plan>/`` and the plan is recorded in ``gc/plans/<plan>``
  with the store time at which the moves ended. A writer that deduplicates against such an object after
  the move does not find it and uploads it again; readers that miss an object look in ``trash/``.
* **phase 2** (a later run, at least one grace period after the plan ended): reachability is marked
  again; trashed objects that became reachable (a writer that had checked for them before the move and
  committed after) are restored to ``objects/``, the others are deleted.

Writers that deduplicate re-check the object after committing the manifest that links it and upload it
again if it is gone; a writer's check-to-commit window must be shorter than the grace period.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from fstrack import threads
from fstrack.errors import CorruptObjectError, FstrackError, ObjectNotFoundError, StoreLinkError
from fstrack.store.objects import DocId, ObjectId, hash_bytes, iter_links, new_token, pack, unpack
from fstrack.store.refs import REFS_DIR, SEQ_DIGITS, entry_value
from fstrack.store.store import OBJECTS_DIR, Store, object_key, open_store

DEFAULT_GRACE_SECONDS = 24 * 3600.0
#: Below this, the protocol's assumption (a writer's dedupe-check to commit window is shorter than the
#: grace) is not credible; ``collect`` refuses smaller values unless ``allow_short_grace``.
MIN_GRACE_SECONDS = 600.0
GC_DIR = "gc"
LOCK_KEY = f"{GC_DIR}/lock"
PLANS_DIR = f"{GC_DIR}/plans"
TRASH_DIR = "trash"
STAGING_DIR = "tmp"
#: A lock whose store modification time is older than this belongs to a collector that died.
LOCK_STALE_SECONDS = 3600.0
_LOCK_REFRESH = 60.0
#: Sequences a tombstone head ends: only the tombstone's own links stay roots.
TOMBSTONED_KINDS = ("tasks", "models", "outputs")
#: Sequences of which only the head is a root: the index checkpoints (``index/tasks``, ``index/models``), each of
#: which holds the whole index, so older ones are garbage once a newer one exists.
HEAD_ONLY_KINDS = ("index",)
#: Per-task sequences that die with their task (``<kind>/<task id>``).
TASK_OWNED_KINDS = ("segments",)
_SEQ_NAME = re.compile(r"[0-9]{%d}" % SEQ_DIGITS)
_BATCH = 512
_STALE_STAGING = 24 * 3600.0


class GCBusyError(FstrackError, RuntimeError):
    """Another garbage collection holds the store's gc lock."""


@dataclass
class GCReport:
    url: str
    dry_run: bool
    grace_seconds: float
    objects: int = 0
    object_bytes: int = 0
    reachable: int = 0
    sequences: int = 0
    dead_sequences: int = 0
    planned: int = 0  # phase 1: moved to the trash now (dry run: would be)
    planned_bytes: int = 0
    restored: int = 0  # phase 2 (and phase 1's re-check): brought back because they became reachable
    deleted: int = 0  # phase 2: removed for good (dry run: would be)
    deleted_bytes: int = 0
    waiting_plans: list[dict[str, Any]] = field(default_factory=list)  # plans not yet old enough for phase 2
    staging_deleted: int = 0
    missing: list[str] = field(default_factory=list)  # linked objects found nowhere (corruption: see fsck)
    skipped: list[str] = field(default_factory=list)  # links and odd files left alone (see fsck)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- reading objects that may sit in the trash -------------------------------------------------------------------
def trash_key(plan: str, oid: str) -> str:
    return f"{TRASH_DIR}/{plan}/{oid[:2]}/{oid[2:]}"


def find_trashed(store: Store, oid: str) -> str | None:
    """The trash key holding object ``oid`` (moved there by phase 1 of a collection), or None."""
    oid = ObjectId(oid)
    for plan in store.backend.list(TRASH_DIR):
        key = trash_key(plan, oid)
        if store.backend.exists(key):
            return key
    return None


def read_object(store: Store, oid: str) -> bytes:
    """The verified bytes of ``oid``, from ``objects/`` or, if a collection moved it, from ``trash/``."""
    try:
        return store.get(oid)
    except ObjectNotFoundError:
        key = find_trashed(store, oid)
        if key is None:
            raise
        try:
            data = store.backend.read(key)
        except FileNotFoundError:  # restored or deleted meanwhile
            return store.get(oid)
        if hash_bytes(data) != oid:
            raise CorruptObjectError(f"object {oid} in the trash of {store.url!r} is corrupt") from None
        return data


def fetch_object(store: Store, oid: str, local_path: str, size_hint: int | None = None) -> int:
    """Download ``oid`` to ``local_path`` (atomically, verified, bounded memory), looking in ``trash/`` too.

    The backend copies and hashes in one pass (see :meth:`Backend.download_hashing`). The file appears under
    ``local_path`` only once its hash matched."""
    oid = ObjectId(oid)
    backend = store.backend
    directory = os.path.dirname(os.path.abspath(local_path))
    fd, partial = tempfile.mkstemp(dir=directory, prefix=".fstrack-download-")
    os.close(fd)

    def copy(key: str) -> tuple[str, int]:
        return backend.download_hashing(key, partial, size_hint)

    try:
        key = object_key(oid)
        try:
            digest, size = copy(key)
        except FileNotFoundError:
            trashed = find_trashed(store, oid)
            if trashed is None:
                raise ObjectNotFoundError(f"object {oid} is not in store {store.url!r}") from None
            try:
                digest, size = copy(trashed)
                key = trashed
            except FileNotFoundError:  # restored meanwhile
                key = object_key(oid)
                digest, size = copy(key)
        if digest != oid:
            raise CorruptObjectError(
                f"object {oid} ({key}) in store {store.url!r} is corrupt: its bytes hash to {digest}"
            )
        os.replace(partial, local_path)
        return size
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


# -- marking -------------------------------------------------------------------------------------------------------
@dataclass
class _Mark:
    reachable: set[str] = field(default_factory=set)
    seen_entries: set[str] = field(default_factory=set)
    visited_docs: set[str] = field(default_factory=set)
    sequences: int = 0
    dead: int = 0
    missing: set[str] = field(default_factory=set)


def list_sequences(store: Store, skipped: list[str] | None = None) -> dict[str, list[str]]:
    """Every sequence directory under ``refs/`` (relative ref key) -> its entry keys, ascending. What the walk
    leaves out (links in a local store) goes to ``skipped``; without it, any such entry is an error."""
    found: dict[str, list[str]] = {}
    refuse = skipped is None
    skipped = [] if skipped is None else skipped
    for entry in store.backend.walk(REFS_DIR, skipped):
        directory, _, name = entry.key.rpartition("/")
        if _SEQ_NAME.fullmatch(name):
            found.setdefault(directory[len(REFS_DIR) + 1 :], []).append(entry.key)
    if skipped and refuse:  # the roots behind a link are unknown: collecting would delete what they link
        raise StoreLinkError(f"garbage collection refused: {skipped[0]} (run fstrack fsck to see every problem)")
    for keys in found.values():
        keys.sort()
    return found


def is_tombstone(value: Any) -> bool:
    """A head entry that ends a deleted task's, model's or output pin's sequence."""
    return isinstance(value, dict) and value.get("deleted") is True


def _read_many(store: Store, keys: list[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for start in range(0, len(keys), _BATCH):
        found.update(store.backend.read_many(keys[start : start + _BATCH]))
    return found


def classify_sequences(
    store: Store, sequences: dict[str, list[str]] | None = None
) -> tuple[dict[str, list[str]], dict[str, Any], set[str]]:
    """The roots of the store: ``(live, tombstones, dead)``.

    ``live`` maps each sequence to the entry keys that are roots (all of them, or only the head of an index
    checkpoint sequence); ``tombstones`` maps the head
    key of each sequence ended by a tombstone (``tasks/``, ``models/``, ``outputs/``) to the tombstone value,
    whose own links stay roots; ``dead`` holds the ref keys whose entries are not roots (those sequences and
    the per-task logs of deleted tasks). fsck uses this to check only what the collector keeps.
    """
    sequences = list_sequences(store) if sequences is None else sequences
    heads = {ref: keys[-1] for ref, keys in sequences.items() if ref.split("/", 1)[0] in TOMBSTONED_KINDS}
    tombstones: dict[str, Any] = {}
    for key, data in _read_many(store, list(heads.values())).items():
        try:
            value = entry_value(data)
        except Exception:  # noqa: BLE001 - a malformed entry is fsck's business; it is no tombstone
            continue
        if is_tombstone(value):
            tombstones[key] = value
    dead = {ref for ref, key in heads.items() if key in tombstones}
    dead_tasks = {ref.split("/", 1)[1] for ref in dead if ref.startswith("tasks/")}
    for ref in sequences:
        kind, _, rest = ref.partition("/")
        if kind in TASK_OWNED_KINDS and rest.split("/", 1)[0] in dead_tasks:
            dead.add(ref)
    live = {
        ref: keys[-1:] if ref.split("/", 1)[0] in HEAD_ONLY_KINDS else keys
        for ref, keys in sequences.items()
        if ref not in dead
    }
    return live, tombstones, dead


def _mark(store: Store, mark: _Mark | None = None) -> _Mark:
    """Reachability from the roots. Called again with the previous result, it reads only entries it has not
    seen (documents are immutable, so what it followed once needs no second visit)."""
    mark = mark or _Mark()
    sequences = list_sequences(store)
    mark.sequences = len(sequences)
    live, tombstones, dead = classify_sequences(store, sequences)
    mark.dead = len(dead)
    wanted: list[str] = []
    links: list[ObjectId] = []
    for key, value in tombstones.items():
        if key not in mark.seen_entries:
            mark.seen_entries.add(key)
            links.extend(iter_links(value))
    for keys in live.values():
        wanted.extend(k for k in keys if k not in mark.seen_entries)
    for key, data in _read_many(store, wanted).items():
        mark.seen_entries.add(key)
        try:
            links.extend(iter_links(entry_value(data)))
        except Exception:  # noqa: BLE001 - undecodable entry: reported by fsck; it holds no link we can follow
            continue
    _follow(store, links, mark)
    return mark


def _follow(store: Store, links: Iterable[ObjectId], mark: _Mark) -> None:
    pending = list(links)
    while pending:
        docs: list[str] = []
        for link in pending:
            mark.reachable.add(str(link))
            if isinstance(link, DocId) and link not in mark.visited_docs:
                mark.visited_docs.add(link)
                docs.append(link)
        pending = []
        if not docs:
            break
        found = _read_many(store, [object_key(d) for d in docs])
        for doc in docs:
            data = found.get(object_key(doc))
            if data is None:
                try:
                    data = read_object(store, doc)  # in the trash, waiting for phase 2
                except (ObjectNotFoundError, CorruptObjectError):
                    mark.missing.add(doc)
                    continue
            try:
                pending.extend(iter_links(unpack(data)))
            except Exception:  # noqa: BLE001 - not a document: fsck reports it
                continue


# -- the lock and the store's clock ----------------------------------------------------------------------------------
def _process_namespace() -> str:
    """What makes a pid meaningful: this machine's boot and pid namespace ("" where unknown). Two containers may
    share a host name; a pid is compared only between processes of one boot and one pid namespace."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot = f.read().strip()
        return f"{boot}:{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return ""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class _Lock:
    def __init__(self, store: Store, break_lock: bool = False):
        self.store = store
        self.token = new_token()
        self.break_lock = break_lock
        self.body = pack(
            {
                "token": self.token,
                "host": socket.gethostname(),
                "namespace": _process_namespace(),
                "pid": os.getpid(),
                "time": time.time(),
            }
        )
        self.refreshed = 0.0

    def _holder_dead(self, holder: Any) -> bool:
        """Whether the lock's holder is a process of this machine (same host, boot and pid namespace) that is gone."""
        namespace = _process_namespace()
        return (
            isinstance(holder, dict)
            and bool(namespace)
            and holder.get("host") == socket.gethostname()
            and holder.get("namespace") == namespace
            and isinstance(holder.get("pid"), int)
            and not _pid_alive(holder["pid"])
        )

    def acquire(self) -> None:
        backend = self.store.backend
        for _ in range(3):
            if backend.create(LOCK_KEY, self.body):
                self.refreshed = time.monotonic()
                return
            try:
                age = self.now() - backend.info(LOCK_KEY).mtime
                holder = unpack(backend.read(LOCK_KEY))
            except FileNotFoundError:
                continue
            except ValueError:  # an undecodable lock: its holder cannot be told
                holder = None
            if age < LOCK_STALE_SECONDS and not self.break_lock and not self._holder_dead(holder):
                who = holder if isinstance(holder, dict) else {}
                raise GCBusyError(
                    f"another garbage collection runs on {self.store.url!r} (host {who.get('host')!r}, pid "
                    f"{who.get('pid')}, lock refreshed {age:.0f} s ago); if it is dead, run fstrack gc --break-lock"
                )
            # a dead collector's lock (or one the user broke): exactly one breaker takes it
            backend.claim(LOCK_KEY, f"{GC_DIR}/broken-{new_token()}")
        raise GCBusyError(f"could not take the gc lock of {self.store.url!r}")

    def now(self) -> float:
        """The store's clock: the modification time of a key written just now (no skew with object mtimes)."""
        backend = self.store.backend
        probe = f"{GC_DIR}/clock-{self.token}"
        backend.replace(probe, b"")
        try:
            return backend.info(probe).mtime
        finally:
            backend.delete(probe)

    def refresh(self, force: bool = False) -> None:
        if force or time.monotonic() - self.refreshed > _LOCK_REFRESH:
            try:
                if unpack(self.store.backend.read(LOCK_KEY)).get("token") != self.token:
                    raise GCBusyError("the gc lock was taken over by another collector (this one ran too long)")
            except FileNotFoundError:
                raise GCBusyError("the gc lock disappeared while collecting") from None
            self.store.backend.replace(LOCK_KEY, self.body)
            self.refreshed = time.monotonic()

    def release(self) -> None:
        try:
            if unpack(self.store.backend.read(LOCK_KEY)).get("token") == self.token:
                self.store.backend.delete(LOCK_KEY)
        except FileNotFoundError:
            pass
        for name in self.store.backend.list(GC_DIR):
            if name.startswith("broken-"):
                self.store.backend.delete(f"{GC_DIR}/{name}")


# -- moving objects ---------------------------------------------------------------------------------------------------
def _restore(store: Store, trashed: str, oid: str) -> None:
    """Put a trashed object back under ``objects/`` (unless a writer already re-uploaded it), then drop the
    trash copy."""
    backend = store.backend
    key = object_key(oid)
    if not backend.exists(key):
        backend.copy(trashed, key)  # same bytes whoever wins (store.md §7); POSIX never replaces an upload
    backend.delete(trashed)


def _each(store: Store, fn: Any, items: list[Any], lock: _Lock | None) -> list[Any]:
    """``fn`` over ``items``, 16 at a time on object stores (each is a request or two), refreshing the lock."""
    results: list[Any] = []
    width = 16 if store.backend.concurrent_io else 1
    for start in range(0, len(items), 256):
        if lock is not None:
            lock.refresh()
        chunk = items[start : start + 256]
        if width == 1:
            results.extend(fn(item) for item in chunk)
        else:
            with ThreadPoolExecutor(max_workers=width, initializer=threads.block_process_signals) as pool:
                results.extend(pool.map(fn, chunk))
    return results


def _walk_plan(store: Store, plan: str) -> Iterator[tuple[str, str, int]]:
    prefix = f"{TRASH_DIR}/{plan}/"
    for entry in store.backend.walk(f"{TRASH_DIR}/{plan}"):
        shard, _, rest = entry.key[len(prefix) :].partition("/")
        if len(shard) == 2 and len(rest) == 62:
            yield entry.key, shard + rest, entry.size


def _objects(store: Store, skipped: list[str] | None = None) -> Iterator[tuple[str, int, float]]:
    for entry in store.backend.walk(OBJECTS_DIR, skipped):
        shard, _, rest = entry.key[len(OBJECTS_DIR) + 1 :].partition("/")
        if len(shard) == 2 and len(rest) == 62 and "/" not in rest:
            yield shard + rest, entry.size, entry.mtime


def _plans(store: Store) -> dict[str, dict[str, Any] | None]:
    """Every plan: its record (None for a trash folder whose record was never written: a crash in phase 1)."""
    plans: dict[str, dict[str, Any] | None] = {name: None for name in store.backend.list(TRASH_DIR)}
    keys = [f"{PLANS_DIR}/{name}" for name in store.backend.list(PLANS_DIR)]
    for key, data in _read_many(store, keys).items():
        try:
            plans[key.rsplit("/", 1)[1]] = unpack(data)
        except Exception:  # noqa: BLE001
            plans[key.rsplit("/", 1)[1]] = None
    return plans


# -- the collector -----------------------------------------------------------------------------------------------------
def collect(
    store: Store,
    *,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    dry_run: bool = False,
    allow_short_grace: bool = False,
    break_lock: bool = False,
) -> GCReport:
    """One collection run on ``store``: phase 2 of every plan old enough, then phase 1 of a new plan.

    ``dry_run`` changes nothing and reports what a run would move to the trash now and delete for good.
    ``break_lock`` takes the gc lock even from a live-looking holder (the user knows it is dead); a holder on this
    machine whose process is gone is detected without it.
    """
    started = time.monotonic()
    grace = float(grace_seconds)
    if grace < 0 or (grace < MIN_GRACE_SECONDS and not allow_short_grace):
        raise ValueError(
            f"grace period must be at least {MIN_GRACE_SECONDS:.0f} s (got {grace}); a writer that "
            "deduplicates must commit within it"
        )
    report = GCReport(store.url, dry_run, grace)
    lock = None if dry_run else _Lock(store, break_lock)
    if lock is not None:
        lock.acquire()
    try:
        now = time.time() if lock is None else lock.now()
        mark = _mark(store)
        report.sequences, report.dead_sequences = mark.sequences, mark.dead
        _phase2(store, mark, now, grace, report, lock)
        _phase1(store, mark, now, grace, report, lock)
        report.reachable = len(mark.reachable)
        report.missing = sorted(mark.missing)
        cutoff = now - max(grace, _STALE_STAGING)
        for entry in store.backend.walk(STAGING_DIR, report.skipped):
            if entry.mtime < cutoff and not entry.key.startswith(f"{STAGING_DIR}/probe-"):
                report.staging_deleted += 1
                if not dry_run:
                    store.backend.delete(entry.key)
    finally:
        if lock is not None:
            lock.release()
    report.seconds = time.monotonic() - started
    return report


def _phase2(store: Store, mark: _Mark, now: float, grace: float, report: GCReport, lock: _Lock | None) -> None:
    for plan, record in sorted(_plans(store).items()):
        if record is None:
            # trash without a record (phase 1 crashed before writing it): its grace starts now
            if lock is not None:
                store.backend.create(
                    f"{PLANS_DIR}/{plan}",
                    pack({"created": now, "grace": grace, "objects": None, "bytes": None, "recovered": True}),
                )
            report.waiting_plans.append({"plan": plan, "due_in": grace})
            continue
        due = float(record.get("created", now)) + max(grace, float(record.get("grace") or 0))
        if due > now:
            report.waiting_plans.append(
                {
                    "plan": plan,
                    "due_in": round(due - now, 1),
                    "objects": record.get("objects"),
                    "bytes": record.get("bytes"),
                }
            )
            continue
        trashed = list(_walk_plan(store, plan))
        for _key, oid, size in trashed:
            if oid in mark.reachable:
                report.restored += 1
            else:
                report.deleted += 1
                report.deleted_bytes += size
        if lock is not None:
            _each(
                store,
                lambda t: _restore(store, t[0], t[1]) if t[1] in mark.reachable else store.backend.delete(t[0]),
                trashed,
                lock,
            )
        if lock is not None:
            store.backend.remove_empty_dirs(f"{TRASH_DIR}/{plan}")
            store.backend.delete(f"{PLANS_DIR}/{plan}")


def _phase1(store: Store, mark: _Mark, now: float, grace: float, report: GCReport, lock: _Lock | None) -> None:
    cutoff = now - grace
    candidates = []
    for oid, size, mtime in _objects(store, report.skipped):
        report.objects += 1
        report.object_bytes += size
        if oid not in mark.reachable and mtime < cutoff:
            candidates.append((oid, size))
    report.planned = len(candidates)
    report.planned_bytes = sum(size for _, size in candidates)
    if lock is None or not candidates:
        return
    plan = f"{int(now * 1000):015d}-{new_token()[:8]}"

    def move(candidate: tuple[str, int]) -> tuple[str, int] | None:
        oid, _size = candidate
        return candidate if store.backend.move(object_key(oid), trash_key(plan, oid)) else None

    moved = [c for c in _each(store, move, candidates, lock) if c is not None]
    # phase 1b: whatever a writer linked while we marked and moved comes straight back
    _mark(store, mark)
    for oid, _size in moved:
        if oid in mark.reachable:
            report.restored += 1
            _restore(store, trash_key(plan, oid), oid)
    end = lock.now()
    store.backend.create(
        f"{PLANS_DIR}/{plan}",
        pack({"created": end, "grace": grace, "objects": len(moved), "bytes": sum(s for _, s in moved)}),
    )
    report.planned = len(moved)
    report.planned_bytes = sum(s for _, s in moved)


# -- the command ------------------------------------------------------------------------------------------------------
def gc_command(
    url: str,
    dry_run: bool = False,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    allow_short_grace: bool = False,
    break_lock: bool = False,
    **storage_options: Any,
) -> dict[str, Any]:
    """``fstrack gc URL [--dry-run] [--grace SECONDS]``: run :func:`collect` on the store at ``url`` and return
    the report as a dict (``text`` holds the human-readable summary)."""
    store = open_store(url, create=False, **storage_options)
    report = collect(
        store, grace_seconds=grace_seconds, dry_run=dry_run, allow_short_grace=allow_short_grace, break_lock=break_lock
    )
    result = report.as_dict()
    result["text"] = format_report(report)
    return result


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{n} B"


def format_report(report: GCReport) -> str:
    verb = "would " if report.dry_run else ""
    lines = [
        f"{report.url}: {report.objects} objects ({_size(report.object_bytes)}), {report.reachable} reachable "
        f"from {report.sequences} sequences ({report.dead_sequences} ended by a tombstone)"
    ]
    lines.append(
        f"phase 2: {verb}free {report.deleted} objects ({_size(report.deleted_bytes)}); "
        f"{verb}restore {report.restored} that became reachable"
    )
    lines.append(
        f"phase 1: {verb}move {report.planned} unreachable objects older than {report.grace_seconds:.0f} s "
        f"({_size(report.planned_bytes)}) to the trash; they are freed by a run at least "
        f"{report.grace_seconds:.0f} s later"
    )
    for plan in report.waiting_plans:
        lines.append(f"  plan {plan['plan']}: {plan.get('objects')} objects waiting, due in {plan['due_in']:.0f} s")
    if report.staging_deleted:
        lines.append(f"{verb}delete {report.staging_deleted} stale staging files")
    if report.missing:
        lines.append(f"WARNING: {len(report.missing)} linked documents are missing (run fstrack fsck)")
    for problem in report.skipped:
        lines.append(f"WARNING: left alone: {problem}")
    return "\n".join(lines)
