"""Incremental readers of a record's segment log (spec/metrics.md), shared by every request of the UI.

An :class:`EventLog` remembers the last log position it read; a refresh lists the log and reads only the
entries after it, and a table of one kind is extended with only the segments it has not decoded yet. A
running task's charts and console therefore cost one listing per poll plus the new rows. A new ``run``
(the task was reset) starts over; checkpoint entries written by compaction repeat rows already read and
are skipped.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import pyarrow as pa

from fstrack.records import metrics
from fstrack.store.refs import Refs


class EventLog:
    """The live segment-log entries of one record's current run, and the rows of each kind read so far."""

    def __init__(self, refs: Refs, record_id: str):
        self._refs = refs
        self._id = record_id
        self._lock = threading.Lock()
        self._run: int | None = None
        self._position = 0
        self._seen: set[tuple[Any, Any]] = set()
        self._entries: list[tuple[int, dict]] = []
        self._tables: dict[str, tuple[int, pa.Table]] = {}  # kind -> (entries consumed, rows)

    @property
    def rows(self) -> int:
        """Rows decoded and kept, all kinds together."""
        return sum(table.num_rows for _consumed, table in self._tables.values())

    @property
    def position(self) -> int:
        """The newest log position read: a cursor clients send back to ask "anything new?"."""
        return self._position

    def refresh(self, run: int | None) -> None:
        """Read the log entries added since the last refresh (all live entries for a new ``run``)."""
        with self._lock:
            if self._run is None or (run is not None and run != self._run):
                entries = metrics.log_entries(self._refs, self._id, run)
                self._run = run if run is not None else (entries[-1][1].get("run") if entries else None)
                self._entries = entries
                self._seen = {(e.get("writer"), e.get("seq")) for _pos, e in entries}
                self._position = max([pos for pos, _e in entries], default=0)
                self._tables.clear()
                return
            for pos, entry in self._refs.entries(metrics.segments_key(self._id), after=self._position):
                self._position = pos
                if not isinstance(entry, dict) or entry.get("checkpoint") or entry.get("run") != self._run:
                    continue
                ident = (entry.get("writer"), entry.get("seq"))
                if ident not in self._seen:
                    self._seen.add(ident)
                    self._entries.append((pos, entry))

    def table(self, kind: str) -> pa.Table:
        """Every row of ``kind`` in the entries read so far, decoding only segments not decoded before."""
        with self._lock:
            consumed, table = self._tables.get(kind, (0, None))
            if table is None or consumed < len(self._entries):
                fresh = metrics.read_kind(
                    self._refs.store, self._refs, self._id, self._run, kind, entries=self._entries[consumed:]
                )
                if table is None:
                    table = fresh
                elif fresh.num_rows:
                    table = pa.concat_tables([table, fresh], promote_options="permissive").unify_dictionaries()
                self._tables[kind] = (len(self._entries), table)
            return table


class EventLogs:
    """A bounded cache of :class:`EventLog` per record id: at most ``capacity`` logs and about ``max_rows``
    decoded rows in all (least recently used dropped first; the one in use is always kept)."""

    def __init__(self, refs: Refs, capacity: int = 128, max_rows: int = 20_000_000):
        self._refs = refs
        self._capacity = capacity
        self._max_rows = max_rows
        self._logs: OrderedDict[str, EventLog] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, record_id: str, run: int | None) -> EventLog:
        """The log of ``record_id``, refreshed for ``run`` (None: the newest run found in the log)."""
        with self._lock:
            log = self._logs.pop(record_id, None) or EventLog(self._refs, record_id)
            self._logs[record_id] = log
            while len(self._logs) > 1 and (
                len(self._logs) > self._capacity or sum(kept.rows for kept in self._logs.values()) > self._max_rows
            ):
                self._logs.popitem(last=False)
        log.refresh(run)
        return log
