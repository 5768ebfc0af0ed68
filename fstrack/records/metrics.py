"""Reported events as append-only Arrow segments: buffers, the segment log, flushing, compaction, reading.

What is stored (normative text: ``spec/metrics.md``)
---------------------------------------------------
Everything a task reports (scalars, single values, plots, console text, debug samples) is buffered
in memory in columnar form and written, by a background thread, as **segments**: Arrow IPC *file*
format blobs (``store.put``, content-addressed, ZSTD-compressed buffers), one per event kind and
flush. A segment is readable by plain pyarrow (``pyarrow.ipc.open_file(path).read_all()``); its
schema is :data:`SCHEMAS` ``[kind]`` and carries ``fstrack.kind``/``fstrack.format`` metadata.

Each task has an append-only log of segments: the ref sequence ``segments/<task id>``
(:data:`SEGMENTS_REF`). One entry per flush::

    {"v": 1, "run": 1, "writer": "<32 hex>", "seq": 3, "time": 1795244999.07,
     "segments": {"scalars": {"segment": <blob link>, "rows": 1000, "bytes": 8612,
                              "min_iteration": 0, "max_iteration": 999},
                  "debug_samples": {"segment": <blob link>, "rows": 2, "bytes": 900,
                                    "objects": [<blob link>, ...]}, ...}}

* ``run`` is the task manifest's ``run`` when the events were reported; ``reset`` increments the
  manifest's ``run``, and readers ignore entries of other runs.
* ``(writer, seq)`` is unique per flush: a reader keeps only the first entry with a given pair
  (a transport retry can append the same flush twice).
* ``objects`` lists every blob the segment's rows name (images, media), as links, so that ``fsck``
  and garbage collection see them.
* A **checkpoint** entry (``"checkpoint": true``) is written by compaction (at ``close``): its
  segments hold every row of every entry of the same ``run`` at lower positions. It is appended
  only at exactly the position after the last entry its writer read (a compare-and-swap), so it
  covers *all* lower positions. A reader walks the log from the newest entry backwards, stops at
  the first checkpoint of its run, and keeps that checkpoint and the entries of that run after it.

Rows are in report order within a segment; across segments, in log order. A SIGKILL loses only
rows not yet flushed: a segment becomes visible only through its log entry, written after the
segment object exists, and both writes are atomic.

Writing
-------
:class:`MetricsWriter` owns the buffers of one task in one process. ``Logger.report_scalar``
appends four values to one list with a single ``list.extend`` (atomic under the GIL, so rows from
several threads never interleave); the flusher takes a prefix of the list and deletes exactly that
prefix after the segment is stored, so no lock is taken on the reporting path. Failed flushes
keep the buffered rows, retry with exponential backoff and raise :class:`MetricsFlushError` on
an explicit :meth:`MetricsWriter.flush` or :meth:`MetricsWriter.close`.
"""

from __future__ import annotations

import array
import atexit
import contextlib
import json
import math
import os
import random
import re
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fstrack import terminal, threads
from fstrack.errors import FstrackError, StoreError
from fstrack.store.objects import BlobId, unpack
from fstrack.store.refs import REFS_DIR, SEQ_DIGITS, Refs
from fstrack.store.store import Store, object_key

with threads.signals_blocked():  # pyarrow starts a thread as it is imported (see fstrack.threads)
    import pyarrow as pa
    import pyarrow.compute as pc

try:  # the entry encoding of fstrack.store.refs (a token-wrapped value in newer versions)
    from fstrack.store.refs import entry_value as _entry_value
except ImportError:  # pragma: no cover - older refs module: entries are the bare value
    _entry_value = unpack

FORMAT = "1"
SEGMENTS_REF = "segments"
ENTRY_VERSION = 1
KINDS = ("scalars", "single_values", "plots", "console", "debug_samples")
#: Default seconds between background flushes (ClearML's ``report_period_sec`` default).
DEFAULT_FLUSH_PERIOD = float(os.environ.get("FSTRACK_FLUSH_PERIOD", "2"))
#: Buffered rows (all kinds) that trigger a flush before the period is over.
DEFAULT_MAX_ROWS = int(os.environ.get("FSTRACK_FLUSH_ROWS", "100000"))
#: ZSTD level of segment buffers (measured: ~8.5 bytes per noisy float64 scalar at level 1).
COMPRESSION = pa.Codec("zstd", 1)
_POLL_SECONDS = 0.1
_MAX_BACKOFF = 30.0
#: Largest accepted iteration: iterations and offsets are int64 columns.
MAX_ITERATION = 2**62
#: If set (``Logger.set_reporting_nan_value``/``set_reporting_inf_value``), NaN / +-inf scalars are stored as
#: this value instead of as given. Applied when a flush builds its segment.
NAN_VALUE: float | None = None
INF_VALUE: float | None = None

_STR = pa.dictionary(pa.int32(), pa.string())
_TS = pa.timestamp("ms", tz="UTC")


def _schema(kind: str, fields: list[tuple[str, pa.DataType, bool]]) -> pa.Schema:
    return pa.schema(
        [pa.field(name, typ, nullable=nullable) for name, typ, nullable in fields],
        metadata={"fstrack.kind": kind, "fstrack.format": FORMAT},
    )


#: The Arrow schema of each kind of segment.
SCHEMAS: dict[str, pa.Schema] = {
    "scalars": _schema(
        "scalars",
        [
            ("task", _STR, False),
            ("title", _STR, False),
            ("series", _STR, False),
            ("iteration", pa.int64(), False),
            ("timestamp", _TS, False),
            ("value", pa.float64(), False),
        ],
    ),
    "single_values": _schema(
        "single_values",
        [("task", _STR, False), ("name", _STR, False), ("timestamp", _TS, False), ("value", pa.float64(), False)],
    ),
    "plots": _schema(
        "plots",
        [
            ("task", _STR, False),
            ("title", _STR, False),
            ("series", _STR, False),
            ("iteration", pa.int64(), False),
            ("timestamp", _TS, False),
            ("plot", pa.string(), False),  # plotly figure JSON: {"data": [...], "layout": {...}}
            ("object", pa.string(), True),
        ],
    ),  # hex id of a blob the plot shows (matplotlib image), or null
    "console": _schema(
        "console",
        [
            ("task", _STR, False),
            ("timestamp", _TS, False),
            ("level", pa.int16(), False),
            ("stream", _STR, False),  # "report" (Logger.report_text), "stdout", "stderr", "logging"
            ("message", pa.string(), False),
        ],
    ),
    "debug_samples": _schema(
        "debug_samples",
        [
            ("task", _STR, False),
            ("title", _STR, False),
            ("series", _STR, False),
            ("iteration", pa.int64(), False),
            ("timestamp", _TS, False),
            ("kind", _STR, False),  # "image" or "media"
            ("object", pa.string(), True),  # hex id of the blob holding the file, or null (url only)
            ("url", pa.string(), False),  # where to fetch it (fsspec URL)
            ("name", pa.string(), False),  # file name, e.g. "sample_00000003.png"
            ("content_type", _STR, False),
            ("size", pa.int64(), True),
            ("width", pa.int32(), True),
            ("height", pa.int32(), True),
            ("history", pa.int32(), False),
        ],
    ),  # max_history at report time (< 1: unlimited)
}


class MetricsFlushError(FstrackError):
    """Buffered events could not be written to the store (they stay buffered and are retried)."""


def segments_key(task_id: str) -> str:
    """The ref key of a task's segment log."""
    return f"{SEGMENTS_REF}/{task_id}"


# -- segment encoding ------------------------------------------------------------------------------
def encode_segment(table: pa.Table) -> bytes:
    """An Arrow IPC file with ZSTD-compressed buffers (dictionaries unified: the file format needs it)."""
    table = table.unify_dictionaries().combine_chunks()
    sink = pa.BufferOutputStream()
    with threads.signals_blocked():  # Arrow's compression pool starts its threads here (see fstrack.threads)
        with pa.ipc.new_file(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=COMPRESSION)) as writer:
            writer.write_table(table)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def decode_segment(data: bytes | pa.Buffer) -> pa.Table:
    with threads.signals_blocked():  # Arrow's decompression pool starts its threads here
        return pa.ipc.open_file(pa.BufferReader(data)).read_all()


# Columns are built from Python values through array.array buffers, never pyarrow.array(): pyarrow.array()
# imports pandas on first use (when installed), which would stall the reporting thread for ~0.5 s.
def _buffer_array(typecode: str, patype: pa.DataType, values: Sequence[Any]) -> pa.Array:
    data = array.array(typecode, values)
    return pa.Array.from_buffers(patype, len(data), [None, pa.py_buffer(data)])


def _f64(values: Sequence[float]) -> pa.Array:
    return _buffer_array("d", pa.float64(), values)


def _i64(values: Sequence[int]) -> pa.Array:
    return _buffer_array("q", pa.int64(), values)


def _i32(values: Sequence[int]) -> pa.Array:
    return _buffer_array("i", pa.int32(), values)


def _nullable(typecode: str, patype: pa.DataType, values: Sequence[Any]) -> pa.Array:
    """A numeric column whose None items are nulls."""
    if all(v is not None for v in values):
        return _buffer_array(typecode, patype, values)
    valid = bytearray((len(values) + 7) // 8)
    for i, v in enumerate(values):
        if v is not None:
            valid[i >> 3] |= 1 << (i & 7)
    data = array.array(typecode, [0 if v is None else v for v in values])
    return pa.Array.from_buffers(patype, len(data), [pa.py_buffer(bytes(valid)), pa.py_buffer(data)])


def _str_array(values: Sequence[str | None]) -> pa.Array:
    """A string column (None items are nulls)."""
    encoded = [b"" if v is None else v.encode("utf-8", "surrogatepass") for v in values]
    offsets = array.array("q", [0])
    total = 0
    for item in encoded:
        total += len(item)
        offsets.append(total)
    valid = None
    if any(v is None for v in values):
        bits = bytearray((len(values) + 7) // 8)
        for i, v in enumerate(values):
            if v is not None:
                bits[i >> 3] |= 1 << (i & 7)
        valid = pa.py_buffer(bytes(bits))
    large = pa.Array.from_buffers(
        pa.large_string(), len(encoded), [valid, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    )
    return large.cast(pa.string()) if total < 2**31 - 1 else large


def _dict_column(values: Sequence[str], indices: pa.Array) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(indices, _str_array(values))


def _constant(value: str, n: int) -> pa.DictionaryArray:
    zeros = pa.Array.from_buffers(pa.int32(), n, [None, pa.py_buffer(bytes(4 * n))])
    return pa.DictionaryArray.from_arrays(zeros, _str_array([value]))


def _strings(values: Sequence[str]) -> pa.DictionaryArray:
    """A dictionary-encoded string column from Python strings."""
    return pc.dictionary_encode(_str_array(values))


_THOUSAND = _f64([1000.0])[0]


def _timestamps(seconds: Sequence[float]) -> pa.Array:
    ms = pc.multiply(_f64(seconds), _THOUSAND)
    return pc.cast(pc.floor(ms), pa.int64()).cast(_TS)


def empty_table(kind: str) -> pa.Table:
    return SCHEMAS[kind].empty_table()


# -- the log -----------------------------------------------------------------------------------------
def _entry_keys(task_id: str, positions: Iterable[int]) -> dict[str, int]:
    directory = f"{REFS_DIR}/{segments_key(task_id)}"
    return {f"{directory}/{str(p).zfill(SEQ_DIGITS)}": p for p in positions}


def log_entries(
    refs: Refs, task_id: str, run: int | None, *, upto: int | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """The live entries of a task's segment log for ``run`` (None: the newest run in the log), oldest first.

    Reads from the newest entry backwards in growing batches and stops at the first checkpoint of the
    run, so a compacted task costs one listing and a few reads whatever its history. ``upto`` limits the
    walk to positions ``<= upto``. Duplicates of one ``(writer, seq)`` are dropped.
    """
    positions = refs.seqs(segments_key(task_id))
    if upto is not None:
        positions = [p for p in positions if p <= upto]
    backend = refs.store.backend
    newest_first: list[tuple[int, dict[str, Any]]] = []
    end, batch = len(positions), 8
    done = False
    while end > 0 and not done:
        chunk = positions[max(0, end - batch) : end]
        keys = _entry_keys(task_id, chunk)
        found = backend.read_many(list(keys))
        for key, pos in sorted(keys.items(), key=lambda kv: -kv[1]):
            data = found.get(key)
            if data is None:
                try:
                    data = backend.read(key)
                except FileNotFoundError:
                    raise StoreError(
                        f"segment log entry {key} of task {task_id} is listed but cannot be read"
                    ) from None
            entry = _entry_value(data)
            if not isinstance(entry, dict):
                continue
            if run is None:
                run = entry.get("run", 1)
            newest_first.append((pos, entry))
            if entry.get("checkpoint") and entry.get("run") == run:
                done = True
                break
        end -= len(chunk)
        batch = min(batch * 4, 4096)
    seen: set[tuple[Any, Any]] = set()
    live = []
    for pos, entry in reversed(newest_first):
        if entry.get("run") != run:
            continue
        ident = (entry.get("writer"), entry.get("seq"))
        if ident in seen:
            continue
        seen.add(ident)
        live.append((pos, entry))
    return live


def _segment_ids(entries: Iterable[tuple[int, dict[str, Any]]], kind: str) -> list[BlobId]:
    ids = []
    for _pos, entry in entries:
        info = (entry.get("segments") or {}).get(kind)
        if info and info.get("segment"):
            ids.append(info["segment"])
    return ids


def _read_blobs(store: Store, ids: Sequence[str], max_workers: int | None = None) -> list[bytes]:
    """Verified bytes of several objects, read concurrently when there are several."""
    if len(ids) <= 1:
        return [store.get(i) for i in ids]
    workers = max_workers or (16 if store.backend.concurrent_io else 4)
    with ThreadPoolExecutor(max_workers=min(workers, len(ids)), initializer=threads.block_process_signals) as pool:
        try:
            futures = [pool.submit(store.get, oid) for oid in ids]
        except RuntimeError:  # exit hooks run after concurrent.futures stopped taking work: read one by one
            return [store.get(oid) for oid in ids]
        return [future.result() for future in futures]


def read_kind(
    store: Store,
    refs: Refs,
    task_id: str,
    run: int | None,
    kind: str,
    entries: list[tuple[int, dict[str, Any]]] | None = None,
) -> pa.Table:
    """Every stored row of one kind for a task's run, in log order (``empty_table(kind)`` if none)."""
    if kind not in SCHEMAS:
        raise ValueError(f"unknown event kind {kind!r}; expected one of {', '.join(KINDS)}")
    if entries is None:
        entries = log_entries(refs, task_id, run)
    ids = _segment_ids(entries, kind)
    tables = [decode_segment(data) for data in _read_blobs(store, ids)]
    if not tables:
        return empty_table(kind)
    table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    return resolve_objects(store, table)


def resolve_objects(store: Store, table: pa.Table) -> pa.Table:
    """Point the rows that name a stored object (``object`` not null) at that object in ``store``, the store being
    read (spec/metrics.md §1.4): a debug sample's ``url`` becomes the object's URL there, and in a plot's JSON every
    string naming the object's key (``objects/<2>/<62>``, with any prefix: older writers stored their own store's
    absolute URL) is replaced by it."""
    if "object" not in table.column_names:
        return table
    objects = table.column("object").to_pylist()
    if not any(objects):
        return table
    column = "url" if "url" in table.column_names else "plot"
    values = table.column(column).to_pylist()
    fixed = []
    for oid, value in zip(objects, values):
        if oid:
            where = object_url(store, oid)
            if column == "url":
                value = where
            else:
                value = re.sub(r"(?:[^\s\"']*/)?%s\b" % re.escape(object_key(oid)), lambda _m: where, value)
        fixed.append(value)
    index = table.schema.get_field_index(column)
    return table.set_column(index, table.schema.field(column), _str_array(fixed))


def prune_history(table: pa.Table) -> pa.Table:
    """Debug samples: keep, per (title, series), only the newest ``history`` rows (the history of the newest
    row; ``history < 1`` keeps all), as ClearML's ``max_image_history`` does."""
    if table.num_rows == 0:
        return table
    titles = table.column("title").to_pylist()
    series = table.column("series").to_pylist()
    history = table.column("history").to_pylist()
    keep = [False] * table.num_rows
    counts: dict[tuple[str, str], int] = {}
    limits: dict[tuple[str, str], int] = {}
    for i in range(table.num_rows - 1, -1, -1):
        key = (titles[i], series[i])
        limit = limits.setdefault(key, history[i])
        count = counts.get(key, 0)
        if limit < 1 or count < limit:
            keep[i] = True
        counts[key] = count + 1
    if all(keep):
        return table
    return table.filter(pc.cast(_buffer_array("b", pa.int8(), keep), pa.bool_()))


# -- writing -------------------------------------------------------------------------------------------
class _Prepared:
    """One flush, built and ready to store; kept as is across retries so a retry writes identical bytes."""

    __slots__ = ("taken", "blobs", "segments", "entry", "stats", "stored_entry", "error")

    def __init__(self) -> None:
        self.taken: dict[str, int] = {}  # buffer name -> rows (or list items) taken from its front
        self.blobs: list[tuple[bytes, Any]] = []  # (bytes, after-store callback or None) to put first
        self.segments: dict[str, bytes] = {}
        self.entry: dict[str, Any] | None = None
        self.stats: dict[str, Any] | None = None
        self.stored_entry = False
        self.error: BaseException | None = None  # a kind that could not be built (its rows stay buffered)


class MetricsWriter:
    """The event buffers and background flusher of one task in one process.

    ``run()`` returns the task's current run; ``on_flushed(stats)`` is called after each stored flush
    that contained scalars with ``{"run", "last_iteration", "metrics": {title: {series: {last, min,
    max}}}}`` (the task updates its manifest there). Exceptions from it are retried like store errors.
    """

    def __init__(
        self,
        store: Store,
        refs: Refs,
        task_id: str,
        *,
        run: Callable[[], int],
        on_flushed: Callable[[dict[str, Any]], None] | None = None,
        flush_period: float | None = DEFAULT_FLUSH_PERIOD,
        max_rows: int = DEFAULT_MAX_ROWS,
        start: bool = True,
    ):
        from fstrack.store.objects import new_token

        self.store = store
        self.refs = refs
        self.task_id = task_id
        self.writer_id = new_token()
        self._run = run
        self._on_flushed = on_flushed
        self.flush_period = flush_period
        self.max_rows = max_rows
        # scalars: flat [series id, iteration, value, time, ...]; series ids index self.series
        self.scalars: list[Any] = []
        self.series: list[tuple[str, str, int]] = []  # (title, series, iteration offset)
        # other kinds: one tuple per row (columns as in _build_* below)
        self.rows: dict[str, list[tuple[Any, ...]]] = {k: [] for k in KINDS if k != "scalars"}
        self._seq = 0
        self._prepared: _Prepared | None = None
        self._pending_stats: dict[str, Any] | None = None
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._closed = False
        self._failures = 0
        self._retry_at = 0.0
        self.last_error: BaseException | None = None
        self._last_flush = time.monotonic()
        self._thread: threading.Thread | None = None
        self._requested = 0  # flushes asked for by flush_within ...
        self._served = 0  # ... and how many of those a stored flush covered
        self._flushed = threading.Event()  # set after every stored flush
        self._abandoned = False
        self.flushes = 0
        _WRITERS.add(self)
        if start:
            self.start()

    # -- control -----------------------------------------------------------------------------------
    def _forget_parent(self) -> None:
        """In a forked child: the parent flushes what it had buffered, so this copy drops those rows and
        writes as a new writer (a reused writer id and sequence would make readers drop the parent's
        later entries as duplicates). Locks held by the parent's threads are replaced."""
        from fstrack.store.objects import new_token

        had_thread = self._thread is not None and not self._closed
        self.writer_id = new_token()
        self._seq = 0
        del self.scalars[:]
        for rows in self.rows.values():
            del rows[:]
        self._prepared = None
        self._pending_stats = None
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._flushed = threading.Event()
        self._thread = None
        if had_thread:
            self.start()

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(target=self._loop, name=f"fstrack-metrics-{self.task_id[:8]}", daemon=True)
            threads.start(self._thread)

    def set_flush_period(self, period: float | None) -> None:
        """Seconds between background flushes; None or 0 flushes only when buffers fill or on request."""
        if period is not None and (
            not isinstance(period, (int, float)) or isinstance(period, bool) or period < 0 or math.isnan(period)
        ):
            raise ValueError(f"flush period must be a number of seconds >= 0 or None, got {period!r}")
        self.flush_period = float(period) if period else None
        self._wake.set()

    def pending_rows(self) -> int:
        return len(self.scalars) // 4 + sum(len(r) for r in self.rows.values())

    def has_pending(self) -> bool:
        return (
            bool(self.scalars)
            or any(self.rows.values())
            or self._prepared is not None
            or self._pending_stats is not None
        )

    def _loop(self) -> None:
        while not self._stopping:
            self._wake.wait(_POLL_SECONDS)
            self._wake.clear()
            if self._stopping:
                break
            now = time.monotonic()
            if now < self._retry_at or not self.has_pending():
                continue
            period = self.flush_period
            due = (
                self._requested > self._served
                or self._prepared is not None
                or self._pending_stats is not None
                or self._failures
                or self.pending_rows() >= self.max_rows
                or (period and now - self._last_flush >= period)
            )
            if not due:
                continue
            try:
                self._flush_once()
            except BaseException as exc:  # noqa: BLE001 - keep the thread alive, retry later
                self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        self.last_error = exc
        self._failures += 1
        delay = min(_MAX_BACKOFF, 0.25 * 2 ** min(self._failures, 10)) * random.uniform(0.75, 1.25)
        self._retry_at = time.monotonic() + delay
        if self._failures in (1, 5) or self._failures % 50 == 0:
            terminal.warn(
                f"fstrack: writing reported events of task {self.task_id} failed "
                f"({self._failures}x, retrying in {delay:.1f}s; {self.pending_rows()} rows kept): "
                f"{type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=1,
            )

    def flush(self, *, attempts: int = 3, backoff: float = 0.2) -> bool:
        """Write everything buffered now, in the calling thread. Raises :class:`MetricsFlushError` if the store
        keeps failing (the events stay buffered; the background thread keeps retrying)."""
        error: BaseException | None = None
        for attempt in range(max(1, attempts)):
            try:
                self._flush_once()
                return True
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # noqa: BLE001
                error = exc
                self._failed(exc)
                if attempt + 1 < attempts:
                    time.sleep(backoff * 2**attempt)
        raise MetricsFlushError(
            f"could not write {self.pending_rows()} buffered events of task {self.task_id} to store "
            f"{self.store.url!r}: {type(error).__name__}: {error} (they stay buffered and are retried)"
        ) from error

    def flush_within(self, timeout: float, *, attempts: int = 3) -> bool:
        """Have the background thread write everything buffered now and wait for it while the store works (the
        training loop's flush). Returns False at once if the store is already failing, else as soon as
        ``attempts`` attempts failed or one failed and ``timeout`` seconds passed: the events stay buffered and
        the thread keeps retrying."""
        thread = self._thread
        if thread is None or not thread.is_alive() or self._stopping:
            return not self.has_pending()
        self._requested += 1
        request = self._requested
        self._wake.set()
        if self.last_error is not None:
            return False
        started = time.monotonic()
        while self._served < request and self.has_pending():  # rows reported later are not waited for
            failures = self._failures
            if not thread.is_alive() or failures >= attempts:
                return False
            if failures and time.monotonic() - started >= timeout:
                return False
            self._flushed.wait(_POLL_SECONDS)
            self._flushed.clear()
        return True

    def close(self, *, attempts: int | None = 5, compact: bool = True) -> None:
        """Stop the flusher, write everything, and compact the log (errors in compaction only warn).
        ``attempts=None``: retry until stored (the caller bounds the time, see ``Task._finish``)."""
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._closed = True
        if attempts is not None:
            self.flush(attempts=attempts)
        else:
            while not self._abandoned:
                try:
                    self._flush_once()
                    break
                except Exception as exc:  # noqa: BLE001 - retried until stored or abandoned
                    self._failed(exc)
                    time.sleep(max(0.0, self._retry_at - time.monotonic()))
            if self._abandoned:
                return
        if compact:
            try:
                compact_log(
                    self.store, self.refs, self.task_id, self._run(), writer_id=self.writer_id, next_seq=self._next_seq
                )
            except Exception as exc:  # noqa: BLE001 - compaction is an optimisation
                terminal.warn(
                    f"fstrack: could not compact the event log of task {self.task_id}: {exc}",
                    RuntimeWarning,
                    stacklevel=2,
                )

    def abandon(self) -> None:
        """Drop everything buffered and stop writing (at exit, once it was saved elsewhere or reported lost)."""
        self._abandoned = True
        self._stopping = True
        self._wake.set()
        self.drop_buffered()

    @contextlib.contextmanager
    def flushes_held(self, timeout: float) -> Iterator[bool]:
        """While inside, no flush of this writer starts (what is buffered can be saved elsewhere and dropped);
        yields False if a flush was still under way after ``timeout`` seconds (stuck on the store: it may yet
        store what is buffered)."""
        held = self._flush_lock.acquire(timeout=timeout)
        try:
            yield held
        finally:
            if held:
                self._flush_lock.release()

    @property
    def unfolded_stats(self) -> dict[str, Any] | None:
        """Summaries of stored rows not yet folded into the task's manifest (``apply_stats`` form), or None."""
        return self._pending_stats

    def drop_buffered(self) -> None:
        """Drop everything buffered, once it was saved elsewhere, and forget the failure: the next rows are
        tried afresh (call it inside :meth:`flushes_held`)."""
        del self.scalars[:]
        for rows in self.rows.values():
            del rows[:]
        self._prepared = None
        self._pending_stats = None
        self.last_error = None
        self._failures = 0
        self._retry_at = 0.0

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # -- one flush -----------------------------------------------------------------------------------
    def _flush_once(self) -> None:
        with self._flush_lock:
            requested = self._requested  # rows reported before this are in the snapshot below
            build_error = None
            for _round in range(2):  # a flush left prepared by a failed attempt first, then what is buffered now
                if self._prepared is None:
                    if not (self.scalars or any(self.rows.values())):
                        break
                    self._prepared = self._prepare()
                self._store_prepared(self._prepared)
                build_error = build_error or self._prepared.error
                self._prepared = None
            if self._pending_stats is not None:
                stats, self._pending_stats = self._pending_stats, None
                try:
                    if self._on_flushed is not None:
                        self._on_flushed(stats)
                except BaseException:
                    self._pending_stats = _merge_stats(stats, self._pending_stats)
                    raise
            if build_error is not None:
                raise build_error
            self._failures = 0
            self._retry_at = 0.0
            self.last_error = None
            self._last_flush = time.monotonic()
            self._served = requested
            self._flushed.set()

    def _prepare(self) -> _Prepared:
        """Snapshot the front of every buffer into segments (buffers are not changed here)."""
        prepared = _Prepared()
        run = self._run()
        segments: dict[str, dict[str, Any]] = {}
        n = len(self.scalars) // 4 * 4
        if n:
            prepared.taken["scalars"] = n
            table, stats = self._build_scalars(self.scalars, n)
            prepared.stats = dict(stats, run=run)
            prepared.segments["scalars"] = encode_segment(table)
            segments["scalars"] = {
                "rows": table.num_rows,
                "min_iteration": stats["min_iteration"],
                "max_iteration": stats["last_iteration"],
            }
        for kind, buffer in self.rows.items():
            count = len(buffer)
            if not count:
                continue
            rows = buffer[:count]
            try:
                table, objects, blobs = getattr(self, f"_build_{kind}")(rows)
            except Exception as exc:  # e.g. an upload destination that is down: the other kinds still go
                prepared.error = prepared.error or exc
                continue
            prepared.taken[kind] = count
            prepared.blobs.extend(blobs)
            prepared.segments[kind] = encode_segment(table)
            info: dict[str, Any] = {"rows": table.num_rows}
            if objects:
                info["objects"] = [BlobId(o) for o in dict.fromkeys(objects)]
            if "iteration" in table.column_names and table.num_rows:
                info["min_iteration"] = pc.min(table.column("iteration")).as_py()
                info["max_iteration"] = pc.max(table.column("iteration")).as_py()
            segments[kind] = info
        for kind, data in prepared.segments.items():
            segments[kind]["bytes"] = len(data)
        prepared.entry = {
            "v": ENTRY_VERSION,
            "run": run,
            "writer": self.writer_id,
            "seq": self._next_seq(),
            "time": time.time(),
            "segments": segments,
        }
        return prepared

    def _store_prepared(self, prepared: _Prepared) -> None:
        if not prepared.stored_entry:
            deduplicated: list[tuple[BlobId, bytes]] = []
            for data, done in prepared.blobs:
                oid = _put(self.store, data, deduplicated)
                if done is not None:
                    done(oid)
            for kind, data in prepared.segments.items():
                assert prepared.entry is not None  # built together with the segments
                prepared.entry["segments"][kind]["segment"] = _put(self.store, data, deduplicated)
            if prepared.segments:
                self.refs.append(segments_key(self.task_id), prepared.entry)
                self.flushes += 1
            _recheck(self.store, deduplicated)
            prepared.blobs = []
            prepared.stored_entry = True
            # the rows are stored: drop exactly the prefix that was taken (reporters only append)
            for name, count in prepared.taken.items():
                if name == "scalars":
                    del self.scalars[:count]
                else:
                    del self.rows[name][:count]
            if prepared.stats is not None:
                self._pending_stats = _merge_stats(self._pending_stats, prepared.stats)

    # -- building segments from buffered rows -------------------------------------------------------------
    def _build_scalars(self, flat: list[Any], n: int) -> tuple[pa.Table, dict[str, Any]]:
        """Columns from the first ``n`` items of the flat buffer (strided slices: no copy of the whole prefix)."""
        sids = _i32(flat[0:n:4])
        iterations = _i64(flat[1:n:4])
        values = _f64(flat[2:n:4])
        stamps = _timestamps(flat[3:n:4])
        n = len(sids)
        series = self.series[: pc.max(sids).as_py() + 1]
        titles: dict[str, int] = {}
        names: dict[str, int] = {}
        title_of, name_of, offsets = [], [], []
        for title, name, offset in series:
            title_of.append(titles.setdefault(title, len(titles)))
            name_of.append(names.setdefault(name, len(names)))
            offsets.append(offset)
        if any(offsets):
            iterations = pc.add(iterations, pc.take(_i64(offsets), sids))
        if NAN_VALUE is not None:
            values = pc.if_else(pc.is_nan(values), _f64([NAN_VALUE])[0], values)
        if INF_VALUE is not None:
            values = pc.if_else(pc.is_inf(values), _f64([INF_VALUE])[0], values)
        table = pa.Table.from_arrays(
            [
                _constant(self.task_id, n),
                _dict_column(list(titles), pc.take(_i32(title_of), sids)),
                _dict_column(list(names), pc.take(_i32(name_of), sids)),
                iterations,
                stamps,
                values,
            ],
            schema=SCHEMAS["scalars"],
        )
        bounds = pc.min_max(iterations)
        stats = {
            "metrics": _series_stats(sids, values, series),
            "last_iteration": bounds["max"].as_py(),
            "min_iteration": bounds["min"].as_py(),
        }
        return table, stats

    def _build_single_values(self, rows: list[tuple[Any, ...]]) -> tuple[pa.Table, list[Any], list[Any]]:
        names, values, stamps = zip(*rows)
        table = pa.Table.from_arrays(
            [_constant(self.task_id, len(rows)), _strings(names), _timestamps(stamps), _f64(values)],
            schema=SCHEMAS["single_values"],
        )
        return table, [], []

    def _build_console(self, rows: list[tuple[Any, ...]]) -> tuple[pa.Table, list[Any], list[Any]]:
        stamps, levels, streams, messages = zip(*rows)
        table = pa.Table.from_arrays(
            [
                _constant(self.task_id, len(rows)),
                _timestamps(stamps),
                _buffer_array("h", pa.int16(), levels),
                _strings(streams),
                _str_array(messages),
            ],
            schema=SCHEMAS["console"],
        )
        return table, [], []

    def _build_plots(self, rows: list[tuple[Any, ...]]) -> tuple[pa.Table, list[Any], list[Any]]:
        # row: (title, series, iteration, time, plot json, pending blob or None)
        blobs, objects, plots, object_col = [], [], [], []
        for _title, _series, _iteration, _stamp, plot, blob in rows:
            oid = None
            if blob is not None:
                oid = blob.object_id()
                blobs.append((blob.data(), None))
                objects.append(oid)
                plot = plot.replace(PENDING_URL, object_key(oid))  # resolved by readers: resolve_objects
            plots.append(plot)
            object_col.append(oid)
        titles, series, iterations, stamps = list(zip(*rows))[:4]
        table = pa.Table.from_arrays(
            [
                _constant(self.task_id, len(rows)),
                _strings(titles),
                _strings(series),
                _i64(iterations),
                _timestamps(stamps),
                _str_array(plots),
                _str_array(object_col),
            ],
            schema=SCHEMAS["plots"],
        )
        return table, objects, blobs

    def _build_debug_samples(self, rows: list[tuple[Any, ...]]) -> tuple[pa.Table, list[Any], list[Any]]:
        # row: (title, series, iteration, time, kind, pending blob | None, url | None, name, content type,
        #       size | None, width | None, height | None, history, destination writer | None)
        columns: dict[str, list[Any]] = {
            k: []
            for k in (
                "title",
                "series",
                "iteration",
                "timestamp",
                "kind",
                "object",
                "url",
                "name",
                "content_type",
                "size",
                "width",
                "height",
                "history",
            )
        }
        blobs, objects = [], []
        for (
            title,
            series,
            iteration,
            stamp,
            kind,
            blob,
            url,
            name,
            ctype,
            size,
            width,
            height,
            history,
            destination,
        ) in rows:
            oid = None
            if blob is not None:
                data = blob.data()
                size = len(data)
                if destination is not None:
                    url = destination(data)
                else:
                    oid = blob.object_id()
                    blobs.append((data, None))
                    objects.append(oid)
                    url = object_key(oid)  # relative to the store; readers resolve it (resolve_objects)
            for key, value in (
                ("title", title),
                ("series", series),
                ("iteration", iteration),
                ("timestamp", stamp),
                ("kind", kind),
                ("object", oid),
                ("url", url),
                ("name", name),
                ("content_type", ctype),
                ("size", size),
                ("width", width),
                ("height", height),
                ("history", history),
            ):
                columns[key].append(value)
        table = pa.Table.from_arrays(
            [
                _constant(self.task_id, len(rows)),
                _strings(columns["title"]),
                _strings(columns["series"]),
                _i64(columns["iteration"]),
                _timestamps(columns["timestamp"]),
                _strings(columns["kind"]),
                _str_array(columns["object"]),
                _str_array(columns["url"]),
                _str_array(columns["name"]),
                _strings(columns["content_type"]),
                _nullable("q", pa.int64(), columns["size"]),
                _nullable("i", pa.int32(), columns["width"]),
                _nullable("i", pa.int32(), columns["height"]),
                _i32(columns["history"]),
            ],
            schema=SCHEMAS["debug_samples"],
        )
        return table, objects, blobs


def _put(store: Store, data: bytes, deduplicated: list[tuple[BlobId, bytes]]) -> BlobId:
    """Store a blob; one that was already there is noted for :func:`_recheck`."""
    from fstrack.store.objects import hash_bytes

    oid = BlobId(hash_bytes(data))
    if not store.backend.create(object_key(oid), bytes(data)):
        deduplicated.append((oid, data))
    return oid


def _recheck(store: Store, deduplicated: list[tuple[BlobId, bytes]]) -> None:
    """After committing the entry that links them: blobs found already stored must still be there (a garbage
    collection may have trashed them between the check and the commit, see fstrack.store.gc); store them again if
    not."""
    for oid, data in deduplicated:
        if not store.has(oid):
            store.backend.create(object_key(oid), bytes(data))


#: Placeholder in plot JSON for the URL of a blob that is stored at flush time.
PENDING_URL = "fstrack-pending-object://"


def object_url(store: Store, oid: str) -> str:
    """The fsspec URL of an object of ``store`` (what readers present as a debug sample's ``url``)."""
    return f"{store.url.rstrip('/')}/{object_key(oid)}"


class PendingBlob:
    """Bytes to store at flush time, produced lazily (e.g. PNG encoding off the reporting thread)."""

    __slots__ = ("_make", "_data", "_oid")

    def __init__(self, make: Callable[[], bytes] | bytes):
        self._make = make
        self._data: bytes | None = make if isinstance(make, (bytes, bytearray)) else None
        self._oid: str | None = None

    def data(self) -> bytes:
        if self._data is None:
            assert callable(self._make)  # bytes given to __init__ are self._data already
            self._data = bytes(self._make())
        return self._data

    def object_id(self) -> str:
        if self._oid is None:
            from fstrack.store.objects import hash_bytes

            self._oid = hash_bytes(self.data())
        return self._oid


def _series_stats(
    sids: pa.Array, values: pa.Array, series: list[tuple[str, str, int]]
) -> dict[str, dict[str, dict[str, float]]]:
    """{title: {series: {"last", "min", "max"}}} of one flush (min/max skip NaN unless all values are NaN)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    if len(sids) == 0:
        return out
    bounds = pc.min_max(sids)
    if bounds["min"].as_py() == bounds["max"].as_py():  # one series: no sorting
        mm = pc.min_max(values)
        title, name, _ = series[bounds["min"].as_py()]
        out[title] = {name: {"last": values[-1].as_py(), "min": mm["min"].as_py(), "max": mm["max"].as_py()}}
        return out
    order = pc.sort_indices(sids)  # stable: rows of one series keep their report order
    runs = pc.run_end_encode(pc.take(sids, order))
    ordered = pc.take(values, order)
    positions = order.to_pylist()
    latest: dict[tuple[str, str], int] = {}
    start = 0
    for end, sid in zip(runs.run_ends.to_pylist(), runs.values.to_pylist()):
        chunk = ordered.slice(start, end - start)
        mm = pc.min_max(chunk)
        title, name, _ = series[sid]
        stats = {"last": chunk[-1].as_py(), "min": mm["min"].as_py(), "max": mm["max"].as_py()}
        mine = out.setdefault(title, {}).get(name)
        if mine is not None:  # one title/series under several ids (iteration offset changed)
            later = positions[end - 1] > latest[(title, name)]
            stats = {
                "last": stats["last"] if later else mine["last"],
                "min": _nan_min(mine["min"], stats["min"]),
                "max": _nan_max(mine["max"], stats["max"]),
            }
        if mine is None or positions[end - 1] > latest[(title, name)]:
            latest[(title, name)] = positions[end - 1]
        out[title][name] = stats
        start = end
    return out


def _nan_min(a: float | None, b: float | None) -> float | None:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return a
    return min(a, b)


def _nan_max(a: float | None, b: float | None) -> float | None:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return a
    return max(a, b)


def _merge_stats(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    """Combine flush statistics (``new`` is later than ``old``)."""
    if old is None:
        return new
    if new is None:
        return old
    if old.get("run") != new.get("run"):
        return new
    metrics = {t: {s: dict(v) for s, v in series.items()} for t, series in old["metrics"].items()}
    for title, series in new["metrics"].items():
        for name, value in series.items():
            mine = metrics.setdefault(title, {}).get(name)
            metrics[title][name] = (
                value
                if mine is None
                else {
                    "last": value["last"],
                    "min": _nan_min(mine["min"], value["min"]),
                    "max": _nan_max(mine["max"], value["max"]),
                }
            )
    return {
        "run": new["run"],
        "metrics": metrics,
        "last_iteration": max(old["last_iteration"], new["last_iteration"]),
        "min_iteration": min(old["min_iteration"], new["min_iteration"]),
    }


def apply_stats(manifest: dict[str, Any], stats: dict[str, Any]) -> None:
    """Fold flush statistics into a task manifest's ``last_metrics`` and ``last_iteration`` (same run only)."""
    if manifest.get("run", 1) != stats["run"]:
        return
    last = manifest.setdefault("last_metrics", {})
    for title, series in stats["metrics"].items():
        target = last.setdefault(title, {})
        for name, value in series.items():
            mine = target.get(name)
            target[name] = (
                dict(value)
                if mine is None
                else {
                    "last": value["last"],
                    "min": _nan_min(mine.get("min"), value["min"]),
                    "max": _nan_max(mine.get("max"), value["max"]),
                }
            )
    manifest["last_iteration"] = max(int(manifest.get("last_iteration") or 0), int(stats["last_iteration"]))


# -- compaction ----------------------------------------------------------------------------------------
def compact_log(
    store: Store,
    refs: Refs,
    task_id: str,
    run: int,
    *,
    writer_id: str | None = None,
    next_seq: Callable[[], int] | None = None,
    attempts: int = 8,
    max_bytes: int = 256 << 20,
) -> dict[str, Any] | None:
    """Replace the live entries of ``run`` by one checkpoint entry (one segment per kind).

    The checkpoint is appended at exactly the position after the newest entry read; if another writer
    appended meanwhile, its entries are merged in and the append retried. Returns the checkpoint entry,
    or None when there was nothing to compact (at most one live entry), the live segments hold more than
    ``max_bytes`` (compressed; rewriting them would make ``close`` slow), or every attempt lost.
    """
    from fstrack.store.objects import new_token

    writer_id = writer_id or new_token()
    key = segments_key(task_id)
    decoded: dict[str, pa.Table] = {}
    for _attempt in range(attempts):
        positions = refs.seqs(key)
        head = positions[-1] if positions else 0
        live = log_entries(refs, task_id, run, upto=head)
        if len(live) <= 1:
            return None
        stored = sum(info.get("bytes", 0) for _pos, entry in live for info in (entry.get("segments") or {}).values())
        if stored > max_bytes:
            return None  # too big to rewrite at close; readers read the segments as they are
        segments: dict[str, dict[str, Any]] = {}
        blobs: dict[str, bytes] = {}
        for kind in KINDS:
            ids = _segment_ids(live, kind)
            if not ids:
                continue
            missing = [i for i in ids if i not in decoded]
            for oid, data in zip(missing, _read_blobs(store, missing)):
                decoded[oid] = decode_segment(data)
            table = pa.concat_tables([decoded[i] for i in ids], promote_options="permissive")
            if kind == "debug_samples":
                table = prune_history(table)
            data = encode_segment(table)
            blobs[kind] = data
            info: dict[str, Any] = {"rows": table.num_rows, "bytes": len(data)}
            if "iteration" in table.column_names and table.num_rows:
                info["min_iteration"] = pc.min(table.column("iteration")).as_py()
                info["max_iteration"] = pc.max(table.column("iteration")).as_py()
            if "object" in table.column_names:
                objects = [o for o in table.column("object").to_pylist() if o]
                if objects:
                    info["objects"] = [BlobId(o) for o in dict.fromkeys(objects)]
            segments[kind] = info
        deduplicated: list[tuple[BlobId, bytes]] = []
        for kind, data in blobs.items():
            segments[kind]["segment"] = _put(store, data, deduplicated)
        entry = {
            "v": ENTRY_VERSION,
            "run": run,
            "writer": writer_id,
            "seq": next_seq() if next_seq is not None else 1,
            "time": time.time(),
            "checkpoint": True,
            "replaces": [live[0][0], live[-1][0]],
            "segments": segments,
        }
        if refs.try_append(key, head + 1, entry):
            _recheck(store, deduplicated)
            return entry
        time.sleep(random.uniform(0.001, 0.02))
    return None


# -- process exit ----------------------------------------------------------------------------------------
_WRITERS: weakref.WeakSet[MetricsWriter] = weakref.WeakSet()


def flush_all(timeout: float = 5.0, *, failing_too: bool = False) -> None:
    """Flush every writer of this process that still holds events (run at interpreter exit), waiting at most
    ``timeout`` seconds for each. A writer whose store is failing is first left to its task's exit, which has the
    deadline and saves what it cannot write (``Task._finish``, the running task's); ``failing_too`` (the last
    call, after that exit) tries each such writer once more and names what it could not store."""
    for writer in list(_WRITERS):
        if not writer.has_pending() or writer._abandoned or (writer.last_error is not None and not failing_too):
            continue
        if writer.last_error is None and writer._thread is not None and writer._thread.is_alive():
            if not writer._stopping:
                writer.flush_within(timeout)
                continue
        try:
            writer.flush(attempts=1)
        except Exception as exc:  # noqa: BLE001 - said, with what is lost: the process is ending
            rows = writer.pending_rows()
            message = f"fstrack: {rows:,} reported rows of task {writer.task_id} were not stored and are lost: {exc}"
            print(terminal.escape(message), file=sys.stderr)


# Flush at exit twice: before threads are joined (while fsspec/s3fs sessions are certainly still open; atexit
# handlers and weakref finalizers registered after this module would otherwise close them first), and again
# from atexit for events reported by non-daemon threads that ran on after that.
if hasattr(threading, "_register_atexit"):
    threading._register_atexit(flush_all)
atexit.register(flush_all, failing_too=True)


def _forget_parents() -> None:
    for writer in list(_WRITERS):
        writer._forget_parent()


os.register_at_fork(after_in_child=_forget_parents)


def dumps_plot(figure: Any) -> str:
    """Plotly JSON text of a figure dict (numpy arrays and scalars become lists/numbers; NaN/inf become null,
    as plotly's own encoder does). Raises TypeError naming the first value that is not JSON."""
    try:
        return json.dumps(figure, allow_nan=False, default=_json_default, separators=(",", ":"))
    except ValueError:
        return json.dumps(_finite(figure), allow_nan=False, default=_json_default, separators=(",", ":"))


def _json_default(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and type(value).__module__.split(".")[0] in ("numpy", "pandas"):
        return _finite(tolist())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    try:
        from decimal import Decimal

        if isinstance(value, Decimal):
            return float(value)
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(
        f"a plot figure must be plotly JSON data; {type(value).__name__} {value!r:.80} is not JSON serializable"
    )


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
