"""The reporting half of ``Task``: its logger, flushing, and reading back what was reported.

:class:`ReportingMixin` is a base class of :class:`fstrack.sdk.task.Task`. It relies on the host providing
``id``, ``_db`` (a :class:`~fstrack.records.taskdb.TaskDB`), ``_data`` (the newest manifest, with ``run``,
``last_iteration`` and ``last_metrics``), ``_edit(fn, fields=...)``, ``is_alive()``, and on ``Task._finish`` calling
:meth:`ReportingMixin._close_reporting`.

Readers return what is stored for the task's current ``run`` (a reset starts a new run); events this
process reported but has not flushed yet are flushed first, so a script reads its own reports.
"""

from __future__ import annotations

import copy
import datetime
import math
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from fstrack.records import metrics
from fstrack.records.metrics import MetricsWriter
from fstrack.records.taskdb import FINAL_STATUSES
from fstrack.sdk import current, writeback

if TYPE_CHECKING:  # pragma: no cover
    from fstrack.sdk.logger import Logger

#: Most points per series ``get_reported_scalars`` returns (ClearML's documented cap).
MAX_SAMPLES = 5000
_X_AXES = ("iter", "timestamp", "iso_time")
_CREATE_LOCK = threading.Lock()


def _iso(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _plain(table: pa.Table, columns: list[str]) -> pa.Table:
    """Dictionary-encoded string columns decoded (sorting and joins need plain strings)."""
    out = table.select(columns)
    for i, field in enumerate(out.schema):
        if pa.types.is_dictionary(field.type):
            out = out.set_column(i, field.name, pc.cast(out.column(i), field.type.value_type))
    return out


if TYPE_CHECKING:  # the host contract, for the type checker only (see fstrack.sdk.host)
    from fstrack.sdk.host import ReportingHost
else:
    ReportingHost = object


class ReportingMixin(ReportingHost):
    """``get_logger``/``logger``, ``flush``, and the ``get_reported_*`` readers of a task."""

    # -- iteration offset: Task assigns self._initial_iteration; the logger shifts iterations by it --------
    @property
    def _initial_iteration(self) -> int:
        return self.__dict__.get("_fstrack_initial_iteration", 0)

    @_initial_iteration.setter
    def _initial_iteration(self, value: int) -> None:
        value = int(value or 0)
        if not 0 <= value <= metrics.MAX_ITERATION:
            raise ValueError(f"initial iteration must be 0..2**62, got {value}")
        self.__dict__["_fstrack_initial_iteration"] = value
        logger = self.__dict__.get("_fstrack_logger")
        if logger is not None:
            logger._set_iteration_offset(value)

    # -- writing ----------------------------------------------------------------------------------------
    def _reporting_writer(self) -> MetricsWriter:
        writer = self.__dict__.get("_fstrack_writer")
        if writer is None:
            with _CREATE_LOCK:
                writer = self.__dict__.get("_fstrack_writer")
                if writer is None:
                    writer = MetricsWriter(
                        self._db.store,
                        self._db.refs,
                        self.id,
                        run=self._reporting_run,
                        on_flushed=self._apply_reporting_stats,
                    )
                    self.__dict__["_fstrack_writer"] = writer
        return writer

    def _reporting_run(self) -> int:
        return int(self._data.get("run") or 1)

    def _apply_reporting_stats(self, stats: dict) -> None:
        """One manifest edit per flush: fold the flush's last/min/max per series and its last iteration in."""

        def fold(manifest: dict) -> None:
            if manifest.get("status") in ("published", "publishing"):
                return  # read-only task: the events are stored, the summary stays as published
            metrics.apply_stats(manifest, stats)

        try:
            self._edit(fold, fields={"last_metrics", "last_iteration"})
        except LookupError:  # the task was deleted meanwhile: its events are stored, there is no manifest to fold into
            pass

    def get_logger(self) -> Logger:
        """The task's :class:`~fstrack.sdk.logger.Logger` (one per Task object)."""
        logger = self.__dict__.get("_fstrack_logger")
        if logger is None:
            from fstrack.sdk.logger import Logger

            writer = self._reporting_writer()
            with _CREATE_LOCK:
                logger = self.__dict__.get("_fstrack_logger")
                if logger is None:
                    logger = Logger(self, writer)
                    self.__dict__["_fstrack_logger"] = logger
        return logger

    @property
    def logger(self) -> Logger:
        return self.get_logger()

    def _flush_reports(self) -> bool:
        """Write everything reported so far to the store (images and media included). For the running task
        (``Task.init``'s) this waits while the store works and returns False when it fails (at once if it is
        already failing; see :meth:`MetricsWriter.flush_within`); for another task it raises
        :class:`fstrack.records.metrics.MetricsFlushError` if the store keeps failing. Either way the events stay
        buffered and are retried in the background."""
        writer = self.__dict__.get("_fstrack_writer")
        if writer is None or not writer.has_pending():
            return True
        if current.main is self:
            return writer.flush_within(writeback.call_wait())
        return writer.flush()

    def _close_reporting(self, compact: bool = True) -> None:
        """Flush everything and (``compact``) compact the task's event log (``Task.close``/exit), retrying until
        the store takes it: the caller bounds the time (``Task._finish``)."""
        writer = self.__dict__.get("_fstrack_writer")
        if writer is not None:
            writer.close(attempts=None, compact=compact)

    # -- reading ----------------------------------------------------------------------------------------
    def _flush_before_reading(self) -> None:
        """Read-your-writes: store what this process buffered. A store that fails here is reported by the
        next ``flush``/``close``; reading goes on with what is stored."""
        try:
            self._flush_reports()
        except metrics.MetricsFlushError:
            pass

    def _reporting_entries(self) -> list[tuple[int, dict]]:
        self._flush_before_reading()
        run = int(self._db.load(self.id).get("run") or 1)
        return metrics.log_entries(self._db.refs, self.id, run)

    def _reported(self, kind: str) -> pa.Table:
        return metrics.read_kind(self._db.store, self._db.refs, self.id, None, kind, entries=self._reporting_entries())

    def get_reported_scalars(self, max_samples: int = 0, x_axis: str = "iter") -> dict[str, dict[str, dict]]:
        """``{title: {series: {"name", "x", "y"}}}`` with at most ``max_samples`` (0: 5,000; never more than 5,000)
        points per series. Where a series has more points, x is cut into equal windows starting at multiples of
        ``ceil((max x - min x + 1) / samples)`` and each point is the window's start and the mean of its values
        (ClearML's server rule). ``x_axis``: ``iter``, ``timestamp`` (ms since epoch) or ``iso_time``."""
        if x_axis not in _X_AXES:
            raise ValueError(f"x_axis must be one of {', '.join(_X_AXES)}, got {x_axis!r}")
        if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 0:
            raise ValueError(f"max_samples must be an int >= 0, got {max_samples!r}")
        samples = min(max_samples or MAX_SAMPLES, MAX_SAMPLES)
        table = self._scalar_points(x_axis)
        if table.num_rows == 0:
            return {}
        stats = table.group_by(["title", "series"], use_threads=False).aggregate(
            [("x", "min"), ("x", "max"), ("x", "count")]
        )
        intervals = []
        for row in stats.to_pylist():
            low, high, count = row["x_min"], row["x_max"], row["x_count"]
            interval = 1 if count < samples else max(1, math.ceil((high - low + 1) / samples))
            intervals.append(interval)
        stats = stats.append_column("interval", pa.array(intervals, pa.int64())).select(["title", "series", "interval"])
        joined = table.join(stats, keys=["title", "series"], use_threads=False)
        bucket = pc.multiply(pc.divide(joined.column("x"), joined.column("interval")), joined.column("interval"))
        joined = joined.append_column("bucket", bucket)
        means = joined.group_by(["title", "series", "bucket"], use_threads=False).aggregate([("value", "mean")])
        means = means.sort_by([("title", "ascending"), ("series", "ascending"), ("bucket", "ascending")])
        return self._nest(means, "bucket", "value_mean", x_axis)

    def get_all_reported_scalars(self, x_axis: str = "iter") -> dict[str, dict[str, dict]]:
        """Every stored point: ``{title: {series: {"name", "x", "y"}}}``, x ascending; of several points at one x
        the last reported wins. ``x_axis``: ``iter``, ``timestamp`` (ms since epoch) or ``iso_time``."""
        if x_axis not in _X_AXES:
            raise ValueError(f"x_axis must be one of {', '.join(_X_AXES)}, got {x_axis!r}")
        table = self._scalar_points(x_axis)
        if table.num_rows == 0:
            return {}
        last = table.group_by(["title", "series", "x"], use_threads=False).aggregate([("value", "last")])
        last = last.sort_by([("title", "ascending"), ("series", "ascending"), ("x", "ascending")])
        return self._nest(last, "x", "value_last", x_axis)

    def _scalar_points(self, x_axis: str) -> pa.Table:
        table = self._reported("scalars")
        x = table.column("iteration") if x_axis == "iter" else pc.cast(table.column("timestamp"), pa.int64())
        points = _plain(table, ["title", "series", "value"])
        return points.append_column("x", x)

    @staticmethod
    def _nest(table: pa.Table, x_name: str, y_name: str, x_axis: str) -> dict[str, dict[str, dict]]:
        out: dict[str, dict[str, dict]] = {}
        titles = table.column("title").to_pylist()
        names = table.column("series").to_pylist()
        xs = table.column(x_name).to_pylist()
        ys = table.column(y_name).to_pylist()
        if x_axis == "iso_time":
            xs = [_iso(x) for x in xs]
        current: dict = {}  # (set on the first row: its key differs from None)
        key = None
        for title, name, x, y in zip(titles, names, xs, ys):
            if (title, name) != key:
                key = (title, name)
                current = out.setdefault(title, {}).setdefault(name, {"name": name, "x": [], "y": []})
            current["x"].append(x)
            current["y"].append(y)
        return out

    def get_last_scalar_metrics(self) -> dict[str, dict[str, dict[str, float]]]:
        """``{title: {series: {"last", "min", "max"}}}`` over everything flushed (min/max skip NaN)."""
        self._flush_before_reading()
        return copy.deepcopy(self._db.load(self.id).get("last_metrics") or {})

    def get_reported_plots(self, max_iterations: int | None = None) -> list[dict]:
        """Plot events, newest iteration first, of the last ``max_iterations`` (default 1) iterations of each
        title/series: dicts with ``timestamp`` (ms), ``type``, ``task``, ``iter``, ``metric``, ``variant``,
        ``plot_str`` (plotly JSON), ``plot_len`` and ``@timestamp``."""
        if max_iterations is not None and (
            isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or max_iterations < 0
        ):
            raise ValueError(f"max_iterations must be a positive int or None, got {max_iterations!r}")
        keep = max_iterations or 1
        rows = self._reported("plots").to_pylist()
        iterations: dict[tuple[str, str], list[int]] = {}
        for row in rows:
            iterations.setdefault((row["title"], row["series"]), []).append(row["iteration"])
        wanted = {key: set(sorted(set(its), reverse=True)[:keep]) for key, its in iterations.items()}
        events = []
        for row in rows:
            if row["iteration"] not in wanted[(row["title"], row["series"])]:
                continue
            ms = _ms(row["timestamp"])
            events.append(
                {
                    "timestamp": ms,
                    "type": "plot",
                    "task": self.id,
                    "iter": row["iteration"],
                    "metric": row["title"],
                    "variant": row["series"],
                    "plot_str": row["plot"],
                    "plot_len": len(row["plot"]),
                    "@timestamp": _iso(ms),
                }
            )
        events.sort(key=lambda e: e["iter"], reverse=True)
        return events

    def get_reported_console_output(self, number_of_reports: int = 1) -> list[str]:
        """The last ``number_of_reports`` console reports (oldest first)."""
        if isinstance(number_of_reports, bool) or not isinstance(number_of_reports, int) or number_of_reports < 1:
            raise ValueError(f"number_of_reports must be a positive int, got {number_of_reports!r}")
        messages = self._reported("console").column("message")
        start = max(0, len(messages) - number_of_reports)
        return messages.slice(start).to_pylist()

    def iter_console(
        self, *, follow: bool = False, poll_seconds: float = 1.0, stop: threading.Event | None = None
    ) -> Iterator[dict]:
        """Every console row of the task's current run, oldest first: dicts with ``timestamp`` (datetime),
        ``level``, ``stream`` (``stdout``, ``stderr``, ``logging``, ``report``) and ``message``.

        With ``follow`` it then waits for new rows like ``tail -f``, reading only the segment log entries added
        since (one listing per ``poll_seconds``), until the task reaches a final status, or runs with no
        process reporting it (``is_alive()`` False: it was killed), and its last rows are out; or until ``stop``
        is set. A reset of the task (a new run) ends the follow."""
        if not isinstance(poll_seconds, (int, float)) or isinstance(poll_seconds, bool) or poll_seconds <= 0:
            raise ValueError(f"poll_seconds must be a positive number, got {poll_seconds!r}")
        store, refs = self._db.store, self._db.refs
        run = int(self._db.load(self.id).get("run") or 1)
        entries = metrics.log_entries(refs, self.id, run)
        yield from metrics.read_kind(store, refs, self.id, run, "console", entries=entries).to_pylist()
        if not follow:
            return
        last = max((pos for pos, _entry in entries), default=0)
        seen = {(entry.get("writer"), entry.get("seq")) for _pos, entry in entries}
        stop = stop or threading.Event()
        while not stop.is_set():
            status = self._db.load(self.id).get("status")  # read before the log: no row is missed
            finished = status in FINAL_STATUSES or (status == "in_progress" and not self.is_alive())
            fresh = refs.entries(metrics.segments_key(self.id), after=last)
            for pos, entry in fresh:
                last = pos
                if not isinstance(entry, dict) or entry.get("checkpoint"):
                    continue  # a checkpoint repeats rows already shown
                if entry.get("run") != run:
                    return
                ident = (entry.get("writer"), entry.get("seq"))
                if ident in seen:
                    continue
                seen.add(ident)
                yield from metrics.read_kind(store, refs, self.id, run, "console", entries=[(pos, entry)]).to_pylist()
            if finished and not fresh:
                return
            stop.wait(poll_seconds)

    def get_debug_samples(self, title: str, series: str, n_last_iterations: int | None = None) -> list[dict]:
        """Debug samples (images, media) of ``title``/``series``, newest first: dicts with ``url`` (fsspec URL,
        readable with ``fsspec.open``), ``object`` (store object id or None), ``iter``, ``metric``, ``variant``,
        ``key`` (file name), ``timestamp`` (ms), ``content_type``, ``size``, ``width``, ``height``. Only the newest
        ``max_image_history`` samples are kept; ``n_last_iterations`` limits the result to that many iterations."""
        if n_last_iterations is not None and (
            isinstance(n_last_iterations, bool) or not isinstance(n_last_iterations, int) or n_last_iterations < 0
        ):
            raise TypeError(f"n_last_iterations must be a positive int or None, got {n_last_iterations!r}")
        table = metrics.prune_history(self._reported("debug_samples"))
        rows = [r for r in table.to_pylist() if r["title"] == title and r["series"] == series]
        rows.reverse()
        if n_last_iterations:
            recent = set(sorted({r["iteration"] for r in rows}, reverse=True)[:n_last_iterations])
            rows = [r for r in rows if r["iteration"] in recent]
        return [
            {
                "timestamp": _ms(r["timestamp"]),
                "type": "training_debug_image",
                "task": self.id,
                "iter": r["iteration"],
                "metric": r["title"],
                "variant": r["series"],
                "key": r["name"],
                "url": r["url"],
                "object": r["object"],
                "kind": r["kind"],
                "content_type": r["content_type"],
                "size": r["size"],
                "width": r["width"],
                "height": r["height"],
            }
            for r in rows
        ]

    def get_reported_single_values(self) -> dict[str, float]:
        """``{name: value}`` of every single value reported (the latest per name)."""
        table = self._reported("single_values")
        return dict(zip(table.column("name").to_pylist(), table.column("value").to_pylist()))

    def get_reported_single_value(self, name: str) -> float | None:
        """The latest value reported under ``name``, or None."""
        return self.get_reported_single_values().get(name)


def _ms(value: Any) -> int:
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    return int(value)
