"""Push, pull and watch: copy tasks between two stores, like ``git push`` (normative text: spec/sync.md).

A sync copies from a *source* store to a *destination* store:

1. **List** both stores: the source's ``index/``, ``refs/``, ``heartbeats/`` and then ``objects/`` (in that
   order: every entry the source listing shows was written before the object listing started, so every object
   it links is in the object listing); the destination's ``index/``, ``refs/`` and ``objects/``.
2. **Objects** the destination lacks (the difference of the two listings, never found by reading) are
   copied in parallel, each verified against its id on the way.
3. **Project and queue records** the destination lacks are created.
4. **Refs**: every sequence is merged entry by entry, copying the entries' exact bytes (tokens included, so an
   entry is the same entry in both stores) with the destination's create-only write. Task and model heads
   (``tasks/``, ``models/`` and every sequence whose kind this module does not know) only move forward: the
   source's entries after the common prefix are appended; a head that moved on both sides is *diverged* and is
   reported, never overwritten. Logs (``segments/``, ``outputs/``) merge by union. Logs go first, then models,
   then tasks, so a task's head lands after its scalars and models.
5. **Index summaries** of the heads that now equal the source's are copied, then the **heartbeats** of tasks
   running in the source.

A machine-local state file (``<cache>/sync/<32 hex>``) remembers, per sequence, how far the two stores are known
to agree (entries never change, so what was equal stays equal): a second push of an unchanged folder reads no
entry and writes nothing; it costs the listings. Every step is idempotent, so a push killed at any point and run
again completes, and a reader of the destination never sees an entry before the objects it links.

:func:`push` and :func:`pull` (the same copy with the default locations swapped) take the same arguments;
:func:`watch` keeps mirroring a live local store with filesystem events.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import blake3

from fstrack import threads
from fstrack.errors import CorruptObjectError, FstrackError, ObjectNotFoundError
from fstrack.records import config
from fstrack.records.taskdb import is_beating, store_clock_offset
from fstrack.store.backends.local import LocalBackend
from fstrack.store.objects import DocId, ObjectId, hash_bytes, iter_links, pack, unpack
from fstrack.store.refs import REFS_DIR, SEQ_DIGITS, check_key, encode_name, entry_value
from fstrack.store.store import MARKER_KEY, OBJECTS_DIR, Store, object_key, open_store

__all__ = ["push", "pull", "watch", "SyncProgress", "SyncError", "format_progress", "LOG_KINDS"]

#: Sequence kinds merged by union (append-only logs). Every other kind only moves forward.
LOG_KINDS = frozenset({"segments", "outputs"})
#: Kinds whose heads have index summaries: ref kind -> index folder.
SUMMARY_DIRS = {"tasks": "index/tasks", "models": "index/models"}
#: Ref kinds that are each store's own and never copied: the index checkpoints (spec/sync.md §6) summarise the
#: summaries of one store; the destination makes its own from the summaries and tail entries a sync writes.
STORE_OWN_KINDS = frozenset({"index"})
#: Index folders of records that are created once and never change (copied if missing).
RECORD_DIRS = ("index/projects", "index/queues")
HEARTBEATS_DIR = "heartbeats"
#: Objects larger than this are copied through a file (the destination's staging area on a local disk, else a
#: temporary file) instead of memory: at most ``workers`` times this much is held in memory at once.
STREAM_ABOVE = 16 << 20
#: Objects per batch read when following links.
_BATCH = 256
#: How many times the append to one sequence re-reads the destination after losing a race.
_RACE_ROUNDS = 50
_SEQ_NAME = re.compile(r"[0-9]{%d}" % SEQ_DIGITS)
_HEX32 = re.compile(r"[0-9a-f]{32}")
_SUMMARY_NAME = re.compile(r"([0-9a-f]{32})\.([0-9]{%d})" % SEQ_DIGITS)
_DIGEST = 16
_STATE_VERSION = 1
_MEMORY_STATES: dict[str, dict] = {}


class SyncError(FstrackError, RuntimeError):
    """A push or pull could not run (bad arguments, a store that cannot be opened, the same store twice)."""


@dataclass
class SyncProgress:
    """What a sync is doing, for a progress display. ``files``/``bytes`` count the current phase's work;
    ``*_total`` is None while unknown. ``rate`` is bytes per second over the phase so far."""

    phase: str  # "listing", "objects", "records", "refs", "index", "done"
    files_done: int = 0
    files_total: int | None = None
    bytes_done: int = 0
    bytes_total: int | None = None
    rate: float = 0.0
    elapsed: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


ProgressCallback = Callable[[SyncProgress], None]


def format_progress(progress: SyncProgress) -> str:
    """One line for a terminal, e.g. ``1,234/5,000 objects  12.3 MB/45.6 MB  3.4 MB/s  8s``."""

    def size(n: float) -> str:
        for unit in ("B", "KB", "MB", "GB", "TB"):
            if n < 1000 or unit == "TB":
                return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
            n /= 1000
        return ""

    if progress.phase == "listing":
        return f"listing both stores  {progress.elapsed:.0f}s"
    unit = {"objects": "objects", "done": "objects", "refs": "entries", "index": "summaries", "records": "records"}.get(
        progress.phase, "files"
    )
    files = f"{progress.files_done:,}" + (f"/{progress.files_total:,}" if progress.files_total is not None else "")
    parts = [f"{files} {unit}"]
    if progress.bytes_done or progress.bytes_total:
        total = f"/{size(progress.bytes_total)}" if progress.bytes_total is not None else ""
        parts.append(f"{size(progress.bytes_done)}{total}")
        parts.append(f"{size(progress.rate)}/s")
    parts.append(f"{progress.elapsed:.0f}s")
    return "  ".join(parts)


# -- listings ----------------------------------------------------------------------------------------------
def _walk(store: Store, prefix: str, stat: bool) -> Iterator[tuple[str, int, float]]:
    """``(key, size, mtime)`` of every file below ``prefix`` (size/mtime 0 unless ``stat`` on local stores)."""
    backend = store.backend
    if not isinstance(backend, LocalBackend):
        for entry in backend.walk(prefix):
            yield entry.key, entry.size, entry.mtime
        return
    top = backend.path(prefix)
    stack = [] if os.path.islink(top) else [(top, prefix)]  # no link inside a store is followed (store.md §2)
    while stack:
        path, rel = stack.pop()
        try:
            it = os.scandir(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with it:
            for item in it:
                key = f"{rel}/{item.name}"
                if item.is_symlink():
                    continue
                if item.is_dir(follow_symlinks=False):
                    stack.append((item.path, key))
                elif stat:
                    try:
                        st = item.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    yield key, st.st_size, st.st_mtime
                else:
                    yield key, 0, 0.0


@dataclass
class _Listing:
    objects: dict[str, int] = field(default_factory=dict)  # object id -> size (once listed)
    seqs: dict[str, int] = field(default_factory=dict)  # ref key -> entries 1..N present (contiguous)
    index: dict[str, set[str]] = field(default_factory=dict)  # index folder -> names
    heartbeats: dict[str, float] = field(default_factory=dict)  # task id -> store mtime
    marker: bytes = b""


def _list_index(store: Store, listing: _Listing) -> None:
    for key, _size, _mtime in _walk(store, "index", False):
        folder, _, name = key.rpartition("/")
        listing.index.setdefault(folder, set()).add(name)


def _list_refs(
    store: Store, listing: _Listing, only: Iterable[str] | None = None, pool: ThreadPoolExecutor | None = None
) -> None:
    """The sequences of ``refs/`` (only those named in ``only``, if given: one listing each, concurrently on
    ``pool``; more than 64 are picked from one listing of the whole ``refs/``)."""
    found: dict[str, set[int]] = {}
    wanted = None if only is None else list(dict.fromkeys(only))
    if wanted is None or len(wanted) > 64:
        keys: Iterable = _walk(store, REFS_DIR, False)
        if wanted is not None:
            chosen = set(wanted)
            keys = (k for k in keys if k[0][len(REFS_DIR) + 1 :].rpartition("/")[0] in chosen)
    else:
        lister = pool.map if pool is not None else map
        names = lister(lambda ref: store.backend.list(f"{REFS_DIR}/{ref}"), wanted)
        keys = ((f"{REFS_DIR}/{ref}/{name}", 0, 0.0) for ref, listed in zip(wanted, names) for name in listed)
    for key, *_ in keys:
        directory, _, name = key.rpartition("/")
        if _SEQ_NAME.fullmatch(name):
            found.setdefault(directory[len(REFS_DIR) + 1 :], set()).add(int(name))
    for ref, positions in found.items():
        try:
            check_key(ref)
        except FstrackError:
            continue
        if ref.split("/", 1)[0] in STORE_OWN_KINDS:
            continue
        count = 0
        while count + 1 in positions:  # a listing racing a writer may show n + 1 without n: stop at the gap
            count += 1
        if count:
            listing.seqs[ref] = count
    for ref in wanted or ():
        listing.seqs.setdefault(ref, 0)


def _list_objects(store: Store, listing: _Listing) -> None:
    objects: dict[str, int] = {}
    start = len(OBJECTS_DIR) + 1
    for key, size, _mtime in _walk(store, OBJECTS_DIR, True):
        shard, _, rest = key[start:].partition("/")
        if len(shard) == 2 and len(rest) == 62 and "/" not in rest:
            objects[shard + rest] = size
    listing.objects = objects


def _list_heartbeats(store: Store, listing: _Listing) -> None:
    for key, _size, mtime in _walk(store, HEARTBEATS_DIR, True):
        name = key.rpartition("/")[2]
        if _HEX32.fullmatch(name):
            listing.heartbeats[name] = mtime


def _marker(store: Store) -> bytes:
    return store.backend.read(MARKER_KEY)


# -- the machine-local state ---------------------------------------------------------------------------------
@dataclass
class _SeqState:
    """Source entries 1..s are in the destination, whose entries 1..d have the digests ``h``. ``aligned``:
    source and destination hold the same entry at every position up to ``s``."""

    s: int
    d: int
    h: bytes
    aligned: bool


class _State:
    def __init__(self, src: Store, dst: Store, cache_dir: str | None):
        ident = hashlib.sha256(b"\0".join([src.url.encode(), _marker(src), dst.url.encode(), _marker(dst)]))
        self.name = ident.hexdigest()[:32]
        self.seqs: dict[str, _SeqState] = {}
        self.path: str | None = None
        if src.url.startswith("memory://") or dst.url.startswith("memory://") or cache_dir == "":
            raw = _MEMORY_STATES.get(self.name)
        else:
            root = (
                cache_dir
                or os.environ.get("FSTRACK_CACHE_DIR")
                or os.path.join(os.path.expanduser("~"), ".cache", "fstrack")
            )
            self.path = os.path.join(root, "sync", self.name)
            try:
                with open(self.path, "rb") as f:
                    raw = unpack(f.read())
            except (OSError, ValueError):
                raw = None
        if isinstance(raw, dict) and raw.get("v") == _STATE_VERSION:
            for key, value in (raw.get("seqs") or {}).items():
                try:
                    s, d, h, aligned = value
                    if isinstance(h, bytes) and len(h) == d * _DIGEST and 0 <= s and 0 <= d:
                        self.seqs[key] = _SeqState(int(s), int(d), h, bool(aligned))
                except (TypeError, ValueError):
                    continue

    def save(self) -> None:
        raw = {"v": _STATE_VERSION, "seqs": {k: [v.s, v.d, v.h, v.aligned] for k, v in list(self.seqs.items())}}
        if self.path is None:
            _MEMORY_STATES[self.name] = raw
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        staged = f"{self.path}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(staged, "wb") as f:
            f.write(pack(raw))
        os.replace(staged, self.path)


def _digest(data: bytes) -> bytes:
    return blake3.blake3(data).digest()[:_DIGEST]


def _entry_key(ref: str, position: int) -> str:
    return f"{REFS_DIR}/{ref}/{position:0{SEQ_DIGITS}d}"


def _is_checkpoint(data: bytes) -> bool:
    try:
        value = entry_value(data)
    except Exception:  # noqa: BLE001 - a malformed entry is copied as it is (fsck reports it)
        return False
    return isinstance(value, dict) and bool(value.get("checkpoint"))


# -- one sequence --------------------------------------------------------------------------------------------
@dataclass
class _Seq:
    key: str
    n: int  # source entries 1..n
    m: int  # destination entries 1..m (at listing time)
    state: _SeqState | None
    src: dict[int, bytes] = field(default_factory=dict)
    dst_digests: list[bytes] = field(default_factory=list)
    s0: int = 0  # the state's s and alignment the decision started from
    aligned0: bool = True
    mode: str = "none"  # "none", "append", "union", "conflict"
    base: int = 0  # positions 1..base hold the same entries in both stores
    to_append: list[bytes] = field(default_factory=list)
    appended: int = 0
    conflict: dict | None = None
    error: str | None = None
    untouched: bool = False  # the source had nothing new: the state stands as it was

    @property
    def kind(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def record_id(self) -> str:
        return self.key.split("/", 1)[1] if "/" in self.key else self.key

    def reads(self) -> tuple[list[int], list[int]]:
        """Positions to read in the source and in the destination to decide this sequence."""
        s, d = (self.state.s, self.state.d) if self.state else (0, 0)
        if self.n <= s:
            return [], []
        # entry s too (when there is one): the last entry known to be in both, whose links need no walk
        return list(range(max(1, s), self.n + 1)), list(range(d + 1, self.m + 1))

    def decide(self, dst_entries: Mapping[int, bytes]) -> None:
        state = self.state or _SeqState(0, 0, b"", True)
        self.dst_digests = [state.h[i * _DIGEST : (i + 1) * _DIGEST] for i in range(state.d)]
        self.s0, self.aligned0 = state.s, state.aligned
        if self.n <= state.s:  # nothing new in the source: the destination's newer entries are not read
            self.untouched = True
            self.mode, self.base = "none", (state.s if state.aligned else 0)
            return
        self.dst_digests += [_digest(dst_entries[p]) for p in range(state.d + 1, self.m + 1)]
        self.plan()

    def dst_count(self) -> int:
        return max(self.m, len(self.dst_digests))

    def plan(self) -> None:
        """Decide from the source's entries after ``s0`` and the digests of every destination entry."""
        s, aligned = self.s0, self.aligned0
        n, m = self.n, len(self.dst_digests)
        self.to_append, self.conflict = [], None
        if n <= s:
            self.mode, self.base = "none", (s if aligned else 0)
            return
        if aligned:
            p = s + 1
            while p <= min(n, m) and _digest(self.src[p]) == self.dst_digests[p - 1]:
                p += 1
            if p > min(n, m):  # one is a prefix of the other
                self.base = min(n, m)
                self.mode = "append" if n > m else "none"
                self.to_append = [self.src[i] for i in range(m + 1, n + 1)]
                return
            self.base = p - 1
            if self.kind not in LOG_KINDS:  # a head that moved on both sides: report, never overwrite
                self.mode = "conflict"
                self.conflict = {
                    "ref": self.key,
                    "kind": _KIND_NAMES.get(self.kind, self.kind),
                    "id": self.record_id,
                    "position": p,
                    "source_head": n,
                    "destination_head": m,
                }
                return
            s = self.base
        # A log whose entries differ at some position: append the source's entries the destination lacks, in
        # source order. Checkpoints are left out: one stands for every entry below its own position, which holds
        # in the source but not once the destination's other entries are below it.
        self.mode, self.base = "union", 0
        present = set(self.dst_digests)
        for i in range(s + 1, n + 1):
            data = self.src[i]
            digest = _digest(data)
            if digest not in present and not _is_checkpoint(data):
                present.add(digest)
                self.to_append.append(data)

    def heads_equal(self) -> bool:
        """After merging: the destination's head is the source's head entry."""
        if self.error is not None or self.conflict is not None or self.to_append:
            return False
        return (
            self.dst_count() == self.n
            and self.mode in ("append", "none")
            and (self.mode == "append" or self.base == self.n)
        )

    def new_state(self) -> _SeqState:
        if self.untouched and self.state is not None:
            return self.state
        h = b"".join(self.dst_digests)
        if self.mode == "conflict" or self.error is not None or self.to_append:
            return _SeqState(self.base if self.mode != "union" else 0, len(self.dst_digests), h, self.mode != "union")
        if self.mode == "union" or not self.aligned0:
            return _SeqState(self.n, len(self.dst_digests), h, False)
        return _SeqState(self.n, len(self.dst_digests), h, True)


_KIND_NAMES = {"tasks": "task", "models": "model"}


# -- the engine ----------------------------------------------------------------------------------------------
class _Engine:
    """One source, one destination; rounds of sync (one round for push/pull, many for watch)."""

    def __init__(
        self,
        src: Store,
        dst: Store,
        *,
        workers: int,
        progress: ProgressCallback | None,
        dry_run: bool = False,
        cache_dir: str | None = None,
    ):
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise SyncError(f"workers must be an int >= 1, got {workers!r}")
        self.src, self.dst = src, dst
        self.workers = workers
        self.progress = progress
        self.dry_run = dry_run
        self.state = _State(src, dst, cache_dir)
        self.pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="fstrack-sync", initializer=threads.block_process_signals
        )
        self.dst_present: set[str] = set()  # objects known to be in the destination
        self.verified: set[str] = set()  # documents whose whole closure is known to be in the destination
        self.projects_done: set[str] = set()
        self._dst_objects: _Listing | None = None
        self._trash_plans: list[str] | None = None
        self.t0 = time.monotonic()

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    # -- progress ------------------------------------------------------------------------------------------
    def report(
        self,
        phase: str,
        files: int = 0,
        files_total: int | None = None,
        nbytes: int = 0,
        bytes_total: int | None = None,
        since: float | None = None,
    ) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        spent = now - (since if since is not None else self.t0)
        self.progress(
            SyncProgress(
                phase, files, files_total, nbytes, bytes_total, nbytes / spent if spent > 0 else 0.0, now - self.t0
            )
        )

    def _run_all(
        self,
        phase: str,
        fn: Callable[[Any], int],
        items: Sequence[Any],
        bytes_total: int | None = None,
        *,
        moves_bytes: bool = True,
    ) -> list[int]:
        """``fn(item)`` for every item on the pool (it returns the bytes it moved if ``moves_bytes``, else a
        count), reporting progress from the calling thread; the first exception is raised once every call has
        finished."""
        since = time.monotonic()
        self.report(phase, 0, len(items), 0, bytes_total, since)
        futures = [self.pool.submit(fn, item) for item in items]
        self._gather(
            futures,
            lambda files, moved: self.report(phase, files, len(items), moved if moves_bytes else 0, bytes_total, since),
        )
        return [f.result() for f in futures]

    @staticmethod
    def _gather(futures: Sequence[Future], report: Callable[[int, int], None]) -> None:
        """Wait for ``futures``, calling ``report(finished, sum of their int results)`` from this thread about ten
        times a second; then raise the first exception, if any. (Completion callbacks, not ``wait``: waiting on
        many thousand futures at once costs time proportional to their number at every wake-up.)"""
        changed = threading.Condition()
        tally = [0, 0]

        def finished(future: Future) -> None:
            result = future.result() if future.exception() is None else 0
            with changed:
                tally[0] += 1
                tally[1] += result if isinstance(result, int) else 0
                changed.notify()

        for future in futures:
            future.add_done_callback(finished)
        last = 0.0
        while True:
            with changed:
                if tally[0] < len(futures):
                    changed.wait(0.1)
                count, total = tally
            if count == len(futures) or time.monotonic() - last >= 0.1:
                last = time.monotonic()
                report(count, total)
            if count == len(futures):
                break
        for future in futures:
            error = future.exception()
            if error is not None:
                raise error

    # -- reading -------------------------------------------------------------------------------------------
    def source_bytes(self, oid: str) -> bytes:
        """Verified bytes of a source object; one a collector moved to the source's ``trash/`` is read there."""
        try:
            return self.src.get(oid)
        except ObjectNotFoundError:
            if self._trash_plans is None:
                self._trash_plans = self.src.backend.list("trash")
            for plan in self._trash_plans:
                key = f"trash/{plan}/{oid[:2]}/{oid[2:]}"
                try:
                    data = self.src.backend.read(key)
                except FileNotFoundError:
                    continue
                if hash_bytes(data) != oid:
                    raise CorruptObjectError(f"object {oid} in {key} of store {self.src.url!r} is corrupt") from None
                return data
            raise

    def _try_source_bytes(self, oid: str) -> bytes | None:
        try:
            return self.source_bytes(oid)
        except (ObjectNotFoundError, CorruptObjectError):
            return None

    def read_many(self, store: Store, keys: list[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        if not keys:
            return found
        if isinstance(store.backend, LocalBackend) or len(keys) <= _BATCH:
            found.update(store.backend.read_many(keys))
            return found
        chunks = [keys[i : i + _BATCH] for i in range(0, len(keys), _BATCH)]
        for part in self.pool.map(store.backend.read_many, chunks):
            found.update(part)
        return found

    # -- objects -------------------------------------------------------------------------------------------
    def _copy_object(self, item: tuple[str, int | None]) -> int:
        oid, size = item
        key = object_key(oid)
        if self.dry_run:
            return size or 0
        if size is not None and size > STREAM_ABOVE and isinstance(self.dst.backend, LocalBackend):
            staged = self.dst.backend.staging_file()
            staged.close()
            try:
                try:
                    size = self.src.get_file(oid, staged.name)  # verified before it is used
                except ObjectNotFoundError:
                    data = self.source_bytes(oid)
                    with open(staged.name, "wb") as f:
                        f.write(data)
                    size = len(data)
            except BaseException:
                os.unlink(staged.name)
                raise
            self.dst.backend.adopt(staged.name, key)  # linked into place, atomically (store.md §9.1)
        elif size is not None and size > STREAM_ABOVE:
            import tempfile

            with tempfile.TemporaryDirectory(prefix="fstrack-sync-") as scratch:
                local = os.path.join(scratch, oid)
                try:
                    size = self.src.get_file(oid, local)  # verified before it is used
                except ObjectNotFoundError:
                    data = self.source_bytes(oid)
                    with open(local, "wb") as f:
                        f.write(data)
                    size = len(data)
                if not self.dry_run:
                    self.dst.backend.upload(local, key)  # atomic as a whole (store.md §7)
        else:
            data = self.source_bytes(oid)
            size = len(data)
            if not self.dry_run:
                self.dst.backend.create(key, data)  # "exists" is success: same id, same bytes
        if not self.dry_run:
            self.dst_present.add(oid)
        return size

    def copy_objects(self, wanted: Mapping[str, int | None], summary: dict) -> set[str]:
        """Copy objects (id -> size, or None if unknown); returns the ids the source could not provide (missing
        or corrupt). Transport errors propagate: running the sync again resumes."""
        items = sorted(wanted.items())
        failed: set[str] = set()
        sizes = [s for _oid, s in items if s is not None]
        total = sum(sizes) if len(sizes) == len(items) else None

        def one(item: tuple[str, int | None]) -> int:
            try:
                return self._copy_object(item)
            except (ObjectNotFoundError, CorruptObjectError) as exc:
                failed.add(item[0])
                summary["errors"].append(f"object {item[0]} not copied: {exc}")
                return 0

        moved = self._run_all("objects", one, items, total)
        summary["objects_copied"] += len(items) - len(failed)
        summary["bytes_copied"] += sum(moved)
        summary["objects_failed"] += len(failed)
        return failed

    def dst_has(self, oids: Iterable[str]) -> set[str]:
        """Which of ``oids`` the destination holds: known ones, then its object listing if it was taken, else
        existence checks (cheap on a local disk; a handful of requests on object stores)."""
        oids = list(dict.fromkeys(oids))
        unknown = [o for o in oids if o not in self.dst_present]
        if unknown:
            if self._dst_objects is not None:
                there = {o for o in unknown if o in self._dst_objects.objects}
            else:
                answers = list(self.pool.map(lambda o: self.dst.backend.exists(object_key(o)), unknown))
                there = {o for o, yes in zip(unknown, answers) if yes}
            self.dst_present |= there
        return {o for o in oids if o in self.dst_present}

    def list_dst_objects(self) -> None:
        if self._dst_objects is None:
            listing = _Listing()
            _list_objects(self.dst, listing)
            self._dst_objects = listing
            self.dst_present |= set(listing.objects)

    def closure(
        self, roots: Iterable[ObjectId], summary: dict, models: set[str] | None = None
    ) -> tuple[dict[str, int | None], set[str]]:
        """The objects reachable from ``roots`` that the destination lacks (id -> size if known), and those the
        source cannot provide. Documents known to have their closure in the destination are not followed; the
        models named by task manifests met on the way are added to ``models``."""
        missing: dict[str, int | None] = {}
        unavailable: set[str] = set()
        seen: set[str] = set()
        frontier: list[str] = list(dict.fromkeys(roots))
        while frontier:
            level = [o for o in dict.fromkeys(frontier) if o not in seen]
            seen.update(level)
            present = self.dst_has(level)
            for oid in level:
                if oid not in present:
                    missing[oid] = None
            docs = [o for o in level if isinstance(o, DocId) and o not in self.verified]
            frontier = []
            for oid, data in zip(docs, self.pool.map(self._try_source_bytes, docs)):
                if data is None:
                    if oid in missing:
                        unavailable.add(oid)
                        summary["errors"].append(f"object {oid} is missing or corrupt in the source")
                    continue
                if oid in missing:
                    missing[oid] = len(data)
                try:
                    document = unpack(data)
                except Exception as exc:  # noqa: BLE001 - copied as it is; fsck reports it
                    summary["errors"].append(f"document {oid} does not decode: {exc}")
                    continue
                if models is not None and isinstance(document, dict) and document.get("kind") == "task":
                    models.update(_model_ids(document))
                frontier.extend(link for link in iter_links(document) if link not in seen)
        for oid in unavailable:
            missing.pop(oid, None)
        return missing, unavailable

    # -- refs ------------------------------------------------------------------------------------------------
    def sequences(
        self, src_seqs: Mapping[str, int], dst_seqs: Mapping[str, int], only: Iterable[str] | None = None
    ) -> list[_Seq]:
        keys = sorted(src_seqs) if only is None else sorted(k for k in set(only) if src_seqs.get(k))
        seqs = []
        for key in keys:
            n, m = src_seqs[key], dst_seqs.get(key, 0)
            state = self.state.seqs.get(key)
            if state is not None and (state.s > n or state.d > m):
                state = None  # a listing behind the state, or a store replaced: decide from the entries
            seqs.append(_Seq(key, n, m, state))
        return seqs

    def decide(self, seqs: list[_Seq]) -> None:
        """Read what each sequence needs (in bulk) and decide how to merge it."""
        src_keys: dict[str, tuple[_Seq, int]] = {}
        dst_keys: dict[str, tuple[_Seq, int]] = {}
        for seq in seqs:
            src_pos, dst_pos = seq.reads()
            src_keys.update((_entry_key(seq.key, p), (seq, p)) for p in src_pos)
            dst_keys.update((_entry_key(seq.key, p), (seq, p)) for p in dst_pos)
        src_data = self.read_many(self.src, list(src_keys))
        dst_data = self.read_many(self.dst, list(dst_keys))
        dst_entries: dict[str, dict[int, bytes]] = {}
        for key, (seq, p) in src_keys.items():
            if key in src_data:
                seq.src[p] = src_data[key]
        for key, (seq, p) in dst_keys.items():
            if key in dst_data:
                dst_entries.setdefault(seq.key, {})[p] = dst_data[key]
        for seq in seqs:
            src_pos, dst_pos = seq.reads()
            mine = dst_entries.get(seq.key, {})
            lacking = [p for p in src_pos if p not in seq.src] + [p for p in dst_pos if p not in mine]
            if lacking:
                seq.error = f"sequence {seq.key}: entries {lacking[:3]} are listed but cannot be read"
                seq.mode = "none"
                continue
            seq.decide(mine)

    def _apply(self, seq: _Seq) -> int:
        """Append ``seq.to_append`` with create-only writes. An entry already there with the same bytes is fine
        (an earlier run, or another push of the same source); a different one means another writer moved: read
        the destination's new entries and decide again. Returns the entries this call created."""
        created = 0
        backend = self.dst.backend
        for _round in range(_RACE_ROUNDS):
            if seq.mode not in ("append", "union") or not seq.to_append:
                return created
            position = len(seq.dst_digests)
            lost = False
            done = 0
            for data in seq.to_append:
                position += 1
                key = _entry_key(seq.key, position)
                if backend.create(key, data):
                    created += 1
                else:
                    try:
                        there = backend.read(key)
                    except FileNotFoundError:
                        there = None
                    if there != data:
                        lost = True
                        break
                seq.dst_digests.append(_digest(data))
                done += 1
            del seq.to_append[:done]
            if not lost:
                return created
            known = len(seq.dst_digests)
            names = sorted(int(n) for n in backend.list(f"{REFS_DIR}/{seq.key}") if _SEQ_NAME.fullmatch(n))
            fresh = self.read_many(self.dst, [_entry_key(seq.key, p) for p in names if p > known])
            p = known + 1
            while _entry_key(seq.key, p) in fresh:
                seq.dst_digests.append(_digest(fresh[_entry_key(seq.key, p)]))
                p += 1
            seq.plan()
        seq.error = f"sequence {seq.key}: gave up after {_RACE_ROUNDS} lost races with other writers"
        return created

    def merge(self, seqs: list[_Seq], summary: dict) -> None:
        """Apply every sequence: logs first, then models, then tasks (each group in parallel)."""
        groups: dict[int, list[_Seq]] = {}
        for seq in seqs:
            groups.setdefault(_RANK.get(seq.kind, 0), []).append(seq)
        planned = {seq.key: len(seq.to_append) for seq in seqs}
        todo = sum(planned.values())
        done = 0
        since = time.monotonic()
        for rank in sorted(groups):
            group = [s for s in groups[rank] if s.to_append and s.mode in ("append", "union")]
            if not group:
                continue
            if self.dry_run:
                done += sum(len(s.to_append) for s in group)
                continue
            futures = [self.pool.submit(self._apply, seq) for seq in group]
            before = done
            self._gather(futures, lambda _finished, created: self.report("refs", before + created, todo, since=since))
            for seq, future in zip(group, futures):
                seq.appended = future.result()
                done += seq.appended
        for seq in seqs:
            if self.dry_run:
                seq.appended = planned[seq.key]
            if seq.appended:
                summary["sequences_updated"] += 1
                summary["refs_appended"] += seq.appended
                if seq.mode == "union":
                    summary["logs_merged"].append(seq.key)
            if seq.conflict is not None:
                summary["conflicts"].append(seq.conflict)
            if seq.error is not None:
                summary["errors"].append(seq.error)
            if not self.dry_run:
                self.state.seqs[seq.key] = seq.new_state()

    # -- index, records, heartbeats ------------------------------------------------------------------------
    def summaries(
        self,
        seqs: list[_Seq],
        src_index: Mapping[str, set[str]] | None,
        dst_index: Mapping[str, set[str]] | None,
        summary: dict,
        *,
        force: Iterable[str] = (),
    ) -> None:
        """Give every head that now equals the source's head its summary in the destination (the source's, or
        one computed from the manifest when the source's lags), and delete the destination's lower ones.

        With ``dst_index`` (a listing) a summary is created only where it is missing; without, only for heads
        this round moved, heads seen for the first time, and the keys in ``force``."""
        force = set(force)
        jobs = []
        for seq in seqs:
            folder = SUMMARY_DIRS.get(seq.kind)
            if folder is None or not seq.heads_equal():
                continue
            name = f"{seq.record_id}.{seq.n:0{SEQ_DIGITS}d}"
            if dst_index is not None:
                names = dst_index.get(folder, set())
                if name in names:
                    continue
                lower = sorted(x for x in names if x.startswith(seq.record_id + ".") and x < name)
            else:
                if not (seq.appended or seq.state is None or seq.key in force):
                    continue
                lower = [f"{seq.record_id}.{seq.m:0{SEQ_DIGITS}d}"] if 0 < seq.m < seq.n else []
            in_source = src_index is None or name in src_index.get(folder, set())
            jobs.append((seq, folder, name, lower, in_source))
        if not jobs:
            return
        if self.dry_run:
            summary["index_copied"] += len(jobs)
            return

        def one(job: tuple) -> int:
            seq, folder, name, lower, in_source = job
            data = None
            if in_source:
                try:
                    data = self.src.backend.read(f"{folder}/{name}")
                except FileNotFoundError:
                    data = None
            if data is None:
                data = self._make_summary(seq)
                if data is None:
                    return 0
            tail = f"index/tail/{folder.rsplit('/', 1)[-1]}"
            self.dst.backend.create(f"{folder}/{name}", data)
            self.dst.backend.create(f"{tail}/{name}", data)  # so the destination's checkpoint readers see it
            for old in lower:
                self.dst.backend.delete(f"{folder}/{old}")
                self.dst.backend.delete(f"{tail}/{old}")
            return 1

        summary["index_copied"] += sum(self._run_all("index", one, jobs, moves_bytes=False))

    def _make_summary(self, seq: _Seq) -> bytes | None:
        """The summary of the source's head computed from its manifest (tasks.md §7 allows any process to)."""
        data = seq.src.get(seq.n)
        if data is None:
            try:
                data = self.src.backend.read(_entry_key(seq.key, seq.n))
            except FileNotFoundError:
                return None
        value = entry_value(data)
        if not isinstance(value, dict):
            return None
        if value.get("deleted"):
            return pack({"id": seq.record_id, "deleted": True})
        manifest = unpack(self.source_bytes(value["manifest"]))
        if seq.kind == "tasks":
            from fstrack.records.taskdb import summarize

            return pack(summarize(manifest))
        from fstrack.records.modeldb import summarize_model

        return pack(summarize_model(manifest))

    def records(self, names_by_folder: Mapping[str, Iterable[str]], summary: dict) -> None:
        """Create the project/queue records the destination lacks (a lost create is fine: records never change)."""
        jobs = [(folder, name) for folder, names in names_by_folder.items() for name in sorted(set(names))]
        if not jobs:
            return
        if self.dry_run:
            summary["records_copied"] += len(jobs)
            return

        def one(job: tuple[str, str]) -> int:
            folder, name = job
            try:
                data = self.src.backend.read(f"{folder}/{name}")
            except FileNotFoundError:
                return 0
            return int(self.dst.backend.create(f"{folder}/{name}", data))

        summary["records_copied"] += sum(self._run_all("records", one, jobs, moves_bytes=False))

    def heartbeats(self, beats: Mapping[str, float], summary: dict) -> None:
        """Mirror the heartbeats of tasks alive in the source (by the source's clock and each writer's interval,
        spec/tasks.md §9), so the destination's readers see them running; a finished or dead task's heartbeat is
        not copied."""
        if not beats or self.dry_run:
            return
        default_interval = float(os.environ.get("FSTRACK_HEARTBEAT_SECONDS", "10"))
        source_now = time.time() + store_clock_offset(self.src)
        alive = sorted(beats)

        def one(task_id: str) -> int:
            try:
                data = self.src.backend.read(f"{HEARTBEATS_DIR}/{task_id}")
            except FileNotFoundError:
                return 0
            if not is_beating(beats[task_id], data, source_now, default_interval):
                return 0
            self.dst.backend.replace(f"{HEARTBEATS_DIR}/{task_id}", data)
            return 1

        summary["heartbeats_copied"] += sum(self.pool.map(one, alive))

    # -- rounds ----------------------------------------------------------------------------------------------
    def full_round(self, summary: dict) -> None:
        """Everything in the source, deciding from listings of both stores."""
        since = time.monotonic()
        src_listing, dst_listing = self._list_both()
        self._dst_objects = dst_listing
        self.dst_present |= set(dst_listing.objects)
        summary["listing_seconds"] += time.monotonic() - since
        seqs = self.sequences(src_listing.seqs, dst_listing.seqs)
        self.decide(seqs)
        wanted = {o: s for o, s in src_listing.objects.items() if o not in dst_listing.objects}
        summary["objects_skipped"] += len(src_listing.objects) - len(wanted)
        failed = self.copy_objects(wanted, summary)
        if failed:
            self._exclude_broken(seqs, failed, summary)
        self.records(
            {
                folder: src_listing.index.get(folder, set()) - dst_listing.index.get(folder, set())
                for folder in RECORD_DIRS
            },
            summary,
        )
        self.merge(seqs, summary)
        self.summaries(seqs, src_listing.index, dst_listing.index, summary)
        self.heartbeats(src_listing.heartbeats, summary)
        summary["sequences"] += len(seqs)

    def _list_both(self) -> tuple[_Listing, _Listing]:
        self.report("listing")
        src_listing, dst_listing = _Listing(), _Listing()

        def list_source() -> None:
            # index and refs before objects: every entry listed was written before the object listing began,
            # and the objects it links before it, so they are all in the object listing
            _list_index(self.src, src_listing)
            _list_refs(self.src, src_listing)
            _list_heartbeats(self.src, src_listing)
            _list_objects(self.src, src_listing)

        # the destination's listings in any order: all at once, beside the source's
        jobs = [
            list_source,
            lambda: _list_index(self.dst, dst_listing),
            lambda: _list_refs(self.dst, dst_listing),
            lambda: _list_objects(self.dst, dst_listing),
        ]
        with ThreadPoolExecutor(
            max_workers=len(jobs), thread_name_prefix="fstrack-sync-list", initializer=threads.block_process_signals
        ) as pool:
            for future in [pool.submit(job) for job in jobs]:
                future.result()
        return src_listing, dst_listing

    def _exclude_broken(self, seqs: list[_Seq], failed: set[str], summary: dict) -> None:
        """Some objects could not be copied: sequences whose new entries reach one of them are not merged."""
        for seq in seqs:
            if not seq.to_append:
                continue
            _missing, unavailable = self.closure(self._links(seq.to_append), summary)
            if unavailable or set(_missing) & failed:
                seq.error = f"sequence {seq.key}: not merged: it links objects the source cannot provide"
                seq.to_append = []

    def closure_round(
        self,
        task_ids: Iterable[str] | None,
        keys: Iterable[str],
        summary: dict,
        *,
        extra_objects: Iterable[str] = (),
        force_summaries: Iterable[str] = (),
    ) -> None:
        """Only some sequences: those of ``task_ids`` (their head, segment log and pins, and the same for every
        model their manifests name) and ``keys``. Objects are found by following the new entries' links; the
        destination is asked about those objects instead of being listed whole."""
        since = time.monotonic()
        keys = set(keys)
        task_ids = set(task_ids or ())
        for task_id in task_ids:
            keys.update((f"tasks/{task_id}", f"segments/{task_id}", f"outputs/{task_id}"))
        seqs: list[_Seq] = []
        models: set[str] = set()
        for named in self.pool.map(self._models_of_head, [f"tasks/{t}" for t in sorted(task_ids)]):
            models |= named  # the models the current manifests name (an unchanged task's too)
        missing: dict[str, int | None] = {}
        unavailable: set[str] = set()
        done_models: set[str] = set()
        done_keys: set[str] = set()
        first = True
        while keys:
            src_listing, dst_listing = _Listing(), _Listing()
            ordered = sorted(keys - done_keys)
            done_keys |= keys
            _list_refs(self.src, src_listing, only=ordered, pool=self.pool)
            _list_refs(self.dst, dst_listing, only=ordered, pool=self.pool)
            batch = self.sequences(src_listing.seqs, dst_listing.seqs, ordered)
            if first:
                first = False
                for task_id in sorted(task_ids):
                    if not src_listing.seqs.get(f"tasks/{task_id}"):
                        summary["errors"].append(f"task {task_id} is not in the source store")
            self.decide(batch)
            seqs.extend(batch)
            roots = [link for seq in batch for link in self._new_links(seq)]
            if self._dst_objects is None and not isinstance(self.dst.backend, LocalBackend) and len(roots) > 512:
                self.list_dst_objects()
            found: set[str] = set()
            more, lost = self.closure(roots, summary, models=found)
            missing.update(more)
            unavailable |= lost
            models |= found
            keys = {f"{kind}/{m}" for m in models - done_models for kind in ("models", "segments", "outputs")}
            done_models |= models
        summary["listing_seconds"] += time.monotonic() - since
        for oid in extra_objects:
            missing.setdefault(oid, None)
        there = self.dst_has(missing)
        wanted = {o: s for o, s in missing.items() if o not in there}
        summary["objects_skipped"] += len(missing) - len(wanted)
        failed = self.copy_objects(wanted, summary) | unavailable
        if failed:
            self._exclude_broken(seqs, failed, summary)
        projects: set[str] = set()
        heads = [seq for seq in seqs if seq.kind in SUMMARY_DIRS and seq.n and (seq.to_append or seq.state is None)]
        for found in self.pool.map(self._projects_of_head, heads):
            projects |= found
        projects -= self.projects_done
        self.records({"index/projects": [encode_name(p) for p in projects]}, summary)
        self.merge(seqs, summary)
        self.summaries(seqs, None, None, summary, force=force_summaries)
        if not self.dry_run:
            self.projects_done |= projects
            for seq in seqs:  # their closures are in the destination now
                if seq.error is None and seq.conflict is None:
                    self.verified.update(link for link in self._links(seq.src.values()) if isinstance(link, DocId))
        summary["sequences"] += len(seqs)

    @staticmethod
    def _links(entries: Iterable[bytes]) -> list[ObjectId]:
        links: list[ObjectId] = []
        for data in entries:
            try:
                links.extend(iter_links(entry_value(data)))
            except Exception:  # noqa: BLE001 - a malformed entry is copied as it is; fsck reports it
                continue
        return links

    def _new_links(self, seq: _Seq) -> list[ObjectId]:
        """The links of the entries ``seq`` will append. The documents its last common entry links have their
        closure in the destination already, so they are marked verified and the walk stops there."""
        if seq.base and seq.base in seq.src:
            self.verified.update(link for link in self._links([seq.src[seq.base]]) if isinstance(link, DocId))
        return self._links(seq.to_append)

    def _head_manifest(self, key: str, data: bytes | None = None) -> dict | None:
        if data is None:
            names = [n for n in self.src.backend.list(f"{REFS_DIR}/{key}") if _SEQ_NAME.fullmatch(n)]
            if not names:
                return None
            try:
                data = self.src.backend.read(f"{REFS_DIR}/{key}/{max(names)}")
            except FileNotFoundError:
                return None
        try:
            value = entry_value(data)
            if not isinstance(value, dict) or not value.get("manifest"):
                return None
            manifest = unpack(self.source_bytes(value["manifest"]))
        except (ObjectNotFoundError, CorruptObjectError, ValueError):
            return None
        return manifest if isinstance(manifest, dict) else None

    def _models_of_head(self, key: str) -> set[str]:
        return _model_ids(self._head_manifest(key) or {})

    def _projects_of_head(self, seq: _Seq) -> set[str]:
        manifest = self._head_manifest(seq.key, seq.src.get(seq.n)) or {}
        project = manifest.get("project")
        if not isinstance(project, str) or not project:
            return set()
        parts = project.split("/")
        return {"/".join(parts[:i]) for i in range(1, len(parts) + 1)}


_RANK = {"models": 1, "tasks": 2}


def _model_ids(manifest: Any) -> set[str]:
    """The model ids a task manifest lists (``models.input``/``models.output``)."""
    found = set()
    models = manifest.get("models") if isinstance(manifest, dict) else None
    if isinstance(models, dict):
        for side in ("input", "output"):
            for item in models.get(side) or []:
                model = item.get("model") if isinstance(item, dict) else None
                if isinstance(model, str) and _HEX32.fullmatch(model):
                    found.add(model)
    return found


# -- the public API ------------------------------------------------------------------------------------------
def _open(
    url: Any, options: Mapping[str, Any] | None, default: Callable[[], tuple[str, dict]], *, create: bool, role: str
) -> Store:
    if isinstance(url, Store):
        return url
    if url is None:
        url, configured = default()
        options = {**configured, **dict(options or {})}
    try:
        return open_store(url, create=create, **dict(options or {}))
    except FstrackError as exc:
        raise SyncError(f"cannot open the {role} store {os.fspath(url)!r}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - one clear line for the CLI
        raise SyncError(f"cannot open the {role} store {os.fspath(url)!r}: {type(exc).__name__}: {exc}") from exc


def _same_store(a: Store, b: Store) -> bool:
    if a.url == b.url:
        return True
    if isinstance(a.backend, LocalBackend) and isinstance(b.backend, LocalBackend):
        try:
            return os.path.samefile(a.backend.root, b.backend.root)
        except OSError:
            return False
    return False


def _select(
    src: Store,
    project: str | Sequence[str] | None,
    task_ids: Sequence[str] | str | None,
    task_filter: Mapping[str, Any] | None,
) -> set[str] | None:
    """The ids of the source's tasks the filters select (None: no filter given, everything)."""
    if project is None and task_ids is None and task_filter is None:
        return None
    from fstrack.records import query
    from fstrack.records.taskdb import TaskDB, check_task_id

    if isinstance(task_ids, str):
        task_ids = [task_ids]
    ids = {check_task_id(t) for t in task_ids} if task_ids is not None else None
    if project is None and task_filter is None:
        return ids
    if task_filter is not None and not isinstance(task_filter, Mapping):
        raise SyncError(f"task_filter must be a dict as Task.get_tasks takes it, got {task_filter!r}")
    records = TaskDB(src, cache_dir="").records()
    in_project = query.project_matcher(project, include_subprojects=True)
    records = [r for r in records if in_project(r.get("project"))]
    task_filter = dict(task_filter or {})
    task_filter.setdefault("search_hidden", True)
    chosen = {r["id"] for r in query.filter_records(records, task_filter=task_filter, default_order=None)}
    return chosen if ids is None else chosen & ids


def _checkpoint_index(dst: Store) -> None:
    """Read the destination's task and model index once, as any reader does: a reader that finds the tail long
    (or a store without a checkpoint holding many summaries) writes the next checkpoint, so the first reader
    after a large push need not."""
    from fstrack.records.modeldb import MODEL_KIND
    from fstrack.records.taskdb import TaskDB

    tasks = TaskDB(dst, cache_dir="")
    tasks.records()
    tasks.sibling(MODEL_KIND).records()


def _new_summary(direction: str, src: Store, dst: Store, selected: set[str] | None, dry_run: bool) -> dict:
    return {
        "direction": direction,
        "source": src.url,
        "destination": dst.url,
        "tasks": None if selected is None else len(selected),
        "dry_run": dry_run,
        "objects_copied": 0,
        "objects_skipped": 0,
        "objects_failed": 0,
        "bytes_copied": 0,
        "sequences": 0,
        "sequences_updated": 0,
        "refs_appended": 0,
        "logs_merged": [],
        "conflicts": [],
        "index_copied": 0,
        "records_copied": 0,
        "heartbeats_copied": 0,
        "errors": [],
        "listing_seconds": 0.0,
        "seconds": 0.0,
    }


def _sync(
    direction: str,
    src_url: Any,
    dst_url: Any,
    *,
    src_options: Mapping[str, Any] | None,
    dst_options: Mapping[str, Any] | None,
    project: Any,
    task_ids: Any,
    task_filter: Any,
    progress: ProgressCallback | None,
    workers: int,
    dry_run: bool,
    cache_dir: str | None,
    src_default: Callable[[], tuple[str, dict]],
    dst_default: Callable[[], tuple[str, dict]],
) -> dict:
    started = time.monotonic()
    src = _open(src_url, src_options, src_default, create=False, role="source")
    stand_in = None
    try:
        dst = _open(dst_url, dst_options, dst_default, create=not dry_run, role="destination")
    except SyncError:
        if not dry_run:
            raise
        # a dry run writes nothing, not even a new store's marker: an empty store stands in for it
        from fstrack.store.objects import new_token

        stand_in = dst = open_store(f"memory://fstrack-dry-run-{new_token()}")
    if _same_store(src, dst):
        raise SyncError(f"source and destination are the same store ({src.url!r})")
    selected = _select(src, project, task_ids, task_filter)
    summary = _new_summary(direction, src, dst, selected, dry_run)
    if stand_in is not None:
        summary["destination"] = (
            os.fspath(dst_url) if dst_url is not None and not isinstance(dst_url, Store) else dst_default()[0]
        )
    engine = _Engine(src, dst, workers=workers, progress=progress, dry_run=dry_run, cache_dir=cache_dir)
    try:
        if selected is None:
            engine.full_round(summary)
        else:
            engine.closure_round(selected, (), summary)
        if not dry_run:
            engine.state.save()
            if summary["index_copied"]:
                _checkpoint_index(dst)
    finally:
        engine.close()
        if stand_in is not None:
            stand_in.backend.fs.rm(stand_in.backend.root, recursive=True)
    summary["seconds"] = round(time.monotonic() - started, 4)
    summary["listing_seconds"] = round(summary["listing_seconds"], 4)
    engine.report(
        "done",
        summary["objects_copied"],
        summary["objects_copied"],
        summary["bytes_copied"],
        summary["bytes_copied"],
        since=engine.t0,
    )
    return summary


def push(
    src_url: str | os.PathLike | Store | None = None,
    dst_url: str | os.PathLike | Store | None = None,
    *,
    src_options: Mapping[str, Any] | None = None,
    dst_options: Mapping[str, Any] | None = None,
    project: str | Sequence[str] | None = None,
    task_ids: Sequence[str] | str | None = None,
    task_filter: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    workers: int = 16,
    dry_run: bool = False,
    cache_dir: str | None = None,
) -> dict:
    """Copy what ``dst_url`` lacks from ``src_url``: objects, then project/queue records, then refs (see the module
    text and spec/sync.md). Defaults: ``src_url`` the offline folder, ``dst_url`` the configured store (offline
    mode aside). URLs may be paths, fsspec URLs or opened :class:`Store` objects; ``*_options`` are fsspec
    storage options. The destination is created if needed.

    Filters, combined with "and": ``project`` (a name or names; subprojects included), ``task_ids``,
    ``task_filter`` (as :meth:`Task.get_tasks` takes it; hidden tasks included). With a filter only those tasks
    are copied, with everything they link (manifests and their history, artifacts, metric segments and samples,
    pins) and the models their manifests name. ``progress(SyncProgress)`` is called from the calling thread a
    few times a second. ``dry_run`` reads both stores and reports what would be copied, writing nothing.
    ``cache_dir`` overrides where the state file lives (``""``: keep it in memory only).

    Returns a JSON-able summary: ``objects_copied``/``objects_skipped``/``objects_failed``, ``bytes_copied``,
    ``sequences``/``sequences_updated``/``refs_appended``, ``logs_merged`` (logs that had diverged, merged by
    union), ``conflicts`` (heads that moved on both sides: ``ref``, ``kind``, ``id``, ``position`` of the first
    difference, ``source_head``, ``destination_head``; nothing of them is written), ``index_copied``,
    ``records_copied``, ``heartbeats_copied``, ``errors``, ``listing_seconds``, ``seconds``.
    """
    return _sync(
        "push",
        src_url,
        dst_url,
        src_options=src_options,
        dst_options=dst_options,
        project=project,
        task_ids=task_ids,
        task_filter=task_filter,
        progress=progress,
        workers=workers,
        dry_run=dry_run,
        cache_dir=cache_dir,
        src_default=config.offline_location,
        dst_default=config.online_location,
    )


def pull(
    src_url: str | os.PathLike | Store | None = None,
    dst_url: str | os.PathLike | Store | None = None,
    *,
    src_options: Mapping[str, Any] | None = None,
    dst_options: Mapping[str, Any] | None = None,
    project: str | Sequence[str] | None = None,
    task_ids: Sequence[str] | str | None = None,
    task_filter: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    workers: int = 16,
    dry_run: bool = False,
    cache_dir: str | None = None,
) -> dict:
    """:func:`push` with the default locations swapped: from ``src_url`` (default: the configured store) into
    ``dst_url`` (default: the offline folder). Data always flows from ``src_url`` to ``dst_url``."""
    return _sync(
        "pull",
        src_url,
        dst_url,
        src_options=src_options,
        dst_options=dst_options,
        project=project,
        task_ids=task_ids,
        task_filter=task_filter,
        progress=progress,
        workers=workers,
        dry_run=dry_run,
        cache_dir=cache_dir,
        src_default=config.online_location,
        dst_default=config.offline_location,
    )


# -- watch ---------------------------------------------------------------------------------------------------
class _Changes:
    """Keys of the source written since the last round, from filesystem events."""

    def __init__(self, root: str):
        self.root = os.path.realpath(root).rstrip(os.sep)
        self.lock = threading.Lock()
        self.event = threading.Event()
        self._reset()

    def _reset(self) -> None:
        self.objects: set[str] = set()
        self.refs: set[str] = set()
        self.index: set[str] = set()
        self.heartbeats: set[str] = set()

    def add(self, path: str) -> None:
        path = os.fsdecode(path)
        if not path.startswith(self.root + os.sep):
            path = os.path.realpath(path)
            if not path.startswith(self.root + os.sep):
                return
        key = path[len(self.root) + 1 :].replace(os.sep, "/")
        top, _, rest = key.partition("/")
        with self.lock:
            if top == OBJECTS_DIR:
                shard, _, name = rest.partition("/")
                if len(shard) == 2 and len(name) == 62:
                    self.objects.add(shard + name)
            elif top == REFS_DIR:
                directory, _, name = rest.rpartition("/")
                if _SEQ_NAME.fullmatch(name) and directory and directory.split("/", 1)[0] not in STORE_OWN_KINDS:
                    self.refs.add(directory)
            elif top == "index" and "/" in rest:
                self.index.add(rest)
            elif top == HEARTBEATS_DIR and _HEX32.fullmatch(rest):
                self.heartbeats.add(rest)
            else:
                return
        self.event.set()

    def add_tree(self, path: str) -> None:
        """A directory appeared: files linked into it before its watch was set up raise no event."""
        for directory, _dirs, files in os.walk(os.fsdecode(path)):
            for name in files:
                self.add(os.path.join(directory, name))

    def take(self) -> tuple[set[str], set[str], set[str], set[str]]:
        with self.lock:
            taken = (self.objects, self.refs, self.index, self.heartbeats)
            self._reset()
            self.event.clear()
        return taken


def _add_totals(total: dict, part: dict) -> None:
    for key, value in part.items():
        if key in ("direction", "source", "destination", "tasks", "dry_run", "round"):
            total.setdefault(key, value)
        elif isinstance(value, list):
            total.setdefault(key, []).extend(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            total[key] = round(total.get(key, 0) + value, 4)


def watch(
    src_url: str | os.PathLike | Store | None = None,
    dst_url: str | os.PathLike | Store | None = None,
    *,
    src_options: Mapping[str, Any] | None = None,
    dst_options: Mapping[str, Any] | None = None,
    project: str | Sequence[str] | None = None,
    task_ids: Sequence[str] | str | None = None,
    task_filter: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    workers: int = 16,
    interval: float = 0.5,
    full_every: float = 300.0,
    stop_event: threading.Event | None = None,
    on_push: Callable[[dict], None] | None = None,
    cache_dir: str | None = None,
) -> dict:
    """Keep mirroring a live local store into ``dst_url`` (defaults as :func:`push`).

    One push first; then, whenever filesystem events (watchdog) report new objects, entries, summaries, records
    or heartbeats in the source, a push of just those (at most one round per ``interval`` seconds while writes
    keep coming), and a full push every ``full_every`` seconds in case an event was missed. A task running on the
    source shows up in the destination about ``interval`` plus one round after it writes. A source that is not
    a local directory is polled with a full push every ``interval`` seconds instead.

    Runs until ``stop_event`` is set or KeyboardInterrupt (it then pushes what is pending and returns).
    ``on_push(summary)`` gets each round's summary (with ``round``: ``"full"`` or ``"changes"``); the return value
    adds them up, with ``rounds`` counting them. Filters as :func:`push` (re-evaluated every round).
    """
    if not isinstance(interval, (int, float)) or interval <= 0:
        raise SyncError(f"interval must be a positive number of seconds, got {interval!r}")
    src = _open(src_url, src_options, config.offline_location, create=False, role="source")
    dst = _open(dst_url, dst_options, config.online_location, create=True, role="destination")
    if _same_store(src, dst):
        raise SyncError(f"source and destination are the same store ({src.url!r})")
    stop_event = stop_event or threading.Event()
    engine = _Engine(src, dst, workers=workers, progress=progress, cache_dir=cache_dir)
    totals: dict[str, Any] = {"rounds": 0}

    def run_round(kind: str, taken: tuple | None = None) -> None:
        started = engine.t0 = time.monotonic()
        selected = _select(src, project, task_ids, task_filter)
        summary = _new_summary("watch", src, dst, selected, False)
        summary["round"] = kind
        if taken is None:
            if selected is None:
                engine.full_round(summary)
            else:
                engine.closure_round(selected, (), summary)
        else:
            objects, refs, index, beats = taken
            summaries = set()
            records: dict[str, list[str]] = {}
            for name in index:
                folder, _, record = name.rpartition("/")
                match = _SUMMARY_NAME.fullmatch(record)
                if f"index/{folder}" in RECORD_DIRS:
                    records.setdefault(f"index/{folder}", []).append(record)
                elif match and folder in ("tasks", "models"):
                    summaries.add(f"{folder}/{match.group(1)}")
            keys = refs | summaries
            if selected is not None:
                keys = {k for k in keys if _owner(k) in selected}
                objects = set()  # only what the selected tasks link is copied
                records.pop("index/queues", None)
            engine.records(records, summary)
            engine.closure_round((), keys, summary, extra_objects=objects, force_summaries=summaries)
            engine.heartbeats({t: time.time() for t in beats if selected is None or t in selected}, summary)
        engine.state.save()
        summary["seconds"] = round(time.monotonic() - started, 4)
        totals["rounds"] += 1
        _add_totals(totals, summary)
        if on_push is not None:
            on_push(summary)

    observer = None
    changes: _Changes | None = None
    try:
        if src.backend.has_file_events:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer

            changes = _Changes(src.backend.root)
            collected = changes

            class _Handler(FileSystemEventHandler):
                def on_created(self, event: Any) -> None:
                    if event.is_directory:
                        collected.add_tree(event.src_path)
                    else:
                        collected.add(event.src_path)

                def on_moved(self, event: Any) -> None:
                    if event.is_directory:
                        collected.add_tree(event.dest_path)
                    else:
                        collected.add(event.dest_path)

            observer = Observer()
            with threads.signals_blocked():  # the observer's threads inherit the mask
                observer.schedule(_Handler(), src.backend.root, recursive=True)
                observer.start()
        run_round("full")  # a first round that fails (bad URL, credentials) raises
        last_full = time.monotonic()
        failures = 0
        need_full = False
        while not stop_event.is_set():
            try:
                if changes is None:
                    if not stop_event.wait(interval):
                        run_round("full")
                elif need_full or time.monotonic() - last_full >= full_every:
                    changes.take()
                    run_round("full")
                    last_full, need_full = time.monotonic(), False
                elif changes.event.wait(min(interval, 0.25)) and not stop_event.is_set():
                    stop_event.wait(min(interval, 0.05))  # let a burst of writes land together
                    taken = changes.take()
                    if any(taken):
                        run_round("changes", taken)
                failures = 0
            except Exception as exc:  # noqa: BLE001 - a store that is down for a while: retry with a full round
                failures += 1
                need_full = True
                totals.setdefault("errors", []).append(f"round failed ({type(exc).__name__}: {exc}); retrying")
                if on_push is not None:
                    on_push({"round": "failed", "errors": [f"{type(exc).__name__}: {exc}"]})
                stop_event.wait(min(60.0, interval * 2 ** min(failures, 8)))
    except KeyboardInterrupt:
        pass
    finally:
        try:
            if changes is not None:
                taken = changes.take()
                if any(taken):
                    run_round("changes", taken)
        finally:
            if observer is not None:
                observer.stop()
                observer.join(timeout=10)
            engine.close()
    return totals


def _owner(ref: str) -> str | None:
    """The task id a sequence belongs to (its head, segment log or pins), or None."""
    kind, _, rest = ref.partition("/")
    head = rest.split("/", 1)[0]
    return head if kind in ("tasks", "segments", "outputs") and _HEX32.fullmatch(head) else None
