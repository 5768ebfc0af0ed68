"""Scalars of many tasks at once, as one Arrow table: :func:`scalars`.

Using other engines on the same data
------------------------------------
:func:`scalars` returns a ``pyarrow.Table``; every Arrow-aware engine reads it without copying:

* pandas: ``fstrack.scalars(project="p").to_pandas()`` (``task``/``project``/``task_name``/``title``/``series``
  become categoricals, ``timestamp`` a UTC datetime).
* DuckDB: ``tbl = fstrack.scalars(project="p")`` then ``duckdb.sql("SELECT task_name, max(value) FROM tbl
  WHERE title = 'loss' GROUP BY ALL")`` (DuckDB scans Python variables holding Arrow tables), or
  ``duckdb.from_arrow(tbl)``.
* polars: ``polars.from_arrow(fstrack.scalars(project="p"))``.

The segments themselves are Arrow IPC files that these tools can open directly. Which segments hold a task's
current data is decided by the segment log (older runs and compacted segments must be skipped), so ask
:func:`scalar_segment_urls` for the live ones::

    urls = fstrack.records.analytics.scalar_segment_urls(project="p")      # local paths or s3://... URLs
    polars.scan_ipc(urls)                                           # lazy polars frame
    pyarrow.dataset.dataset(urls, format="ipc", filesystem=fs)      # fs: the store's fsspec filesystem

(each segment carries a ``task`` column; join ``project``/``task_name`` from ``Task.query_tasks`` if needed).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fstrack import threads
from fstrack.records import config, metrics, query
from fstrack.records.taskdb import TaskDB

with threads.signals_blocked():  # pyarrow starts a thread as it is imported (see fstrack.threads)
    import pyarrow as pa
    import pyarrow.compute as pc

COLUMNS = ("task", "project", "task_name", "title", "series", "iteration", "timestamp", "value")
_STR = pa.dictionary(pa.int32(), pa.string())
SCHEMA = pa.schema(
    [
        ("task", _STR),
        ("project", _STR),
        ("task_name", _STR),
        ("title", _STR),
        ("series", _STR),
        ("iteration", pa.int64()),
        ("timestamp", pa.timestamp("ms", tz="UTC")),
        ("value", pa.float64()),
    ]
)


def _names(value: str | Iterable[str] | None, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    values = list(value)
    bad = [v for v in values if not isinstance(v, str)]
    if bad:
        raise TypeError(f"{what} must be a string or a list of strings, got {bad[:3]!r}")
    return values


def _iteration_range(iterations: Any) -> tuple[int | None, int | None] | None:
    if iterations is None:
        return None
    if isinstance(iterations, range):
        if iterations.step != 1:
            raise ValueError(f"iterations range must have step 1, got {iterations!r}")
        return iterations.start, iterations.stop - 1
    if (
        not isinstance(iterations, (tuple, list))
        or len(iterations) != 2
        or any(v is not None and (isinstance(v, bool) or not isinstance(v, int)) for v in iterations)
    ):
        raise ValueError(
            f"iterations must be (first, last) ints (inclusive; None for open) or a range, got {iterations!r}"
        )
    return iterations[0], iterations[1]


def _tasks(
    db: TaskDB, *, project: Any, task_ids: Any, task_name: Any, tags: Any, allow_archived: bool, task_filter: Any
) -> list[dict[str, Any]]:
    records = db.records()
    return query.filter_records(
        records,
        task_ids=task_ids,
        project_name=project,
        task_name=task_name,
        tags=tags,
        allow_archived=allow_archived,
        task_filter=task_filter,
    )


def _run_of(db: TaskDB, record: dict[str, Any]) -> int:
    run = record.get("run")
    if run is None:  # the query record does not carry the run: read the manifest
        run = db.load(record["id"]).get("run")
    return int(run or 1)


def scalars(
    url: str | os.PathLike[str] | None = None,
    *,
    project: str | Sequence[str] | None = None,
    task_ids: str | Sequence[str] | None = None,
    task_name: str | None = None,
    tags: Sequence[str] | None = None,
    allow_archived: bool = True,
    task_filter: dict[str, Any] | None = None,
    metrics: str | Sequence[str] | None = None,
    series: str | Sequence[str] | None = None,
    iterations: tuple[int | None, int | None] | range | None = None,
    max_workers: int | None = None,
    **storage_options: Any,
) -> pa.Table:
    """Every stored scalar of the matching tasks as one ``pyarrow.Table`` (pandas: ``.to_pandas()``).

    Columns: ``task`` (id), ``project``, ``task_name``, ``title`` (metric), ``series`` (variant), ``iteration``,
    ``timestamp`` (UTC, ms) and ``value`` (float64, NaN/inf as reported); tasks newest first, each task's rows in
    report order. Only each task's current run is read (a reset task shows what it reported since).

    Tasks are chosen as ``Task.get_tasks`` chooses them: ``project`` (exact name or names), ``task_ids``,
    ``task_name`` (regex), ``tags`` (tag language), ``allow_archived``, ``task_filter`` (status, type, user,
    parent, search_text, _all_/_any_, order_by, ...). Rows are then filtered by ``metrics`` (titles),
    ``series`` and ``iterations`` (``(first, last)`` inclusive, None for open ends, or a ``range``).

    ``url``/``storage_options`` name the store (default: the configured one). Segments are read concurrently
    (``max_workers`` threads; default 8 on a local disk, 32 on object stores). See the module docstring for
    DuckDB and polars.
    """
    titles, names, bounds = _names(metrics, "metrics"), _names(series, "series"), _iteration_range(iterations)
    db = config.get_taskdb(url, **storage_options) if url is not None else config.get_taskdb()
    records = _tasks(
        db,
        project=project,
        task_ids=task_ids,
        task_name=task_name,
        tags=tags,
        allow_archived=allow_archived,
        task_filter=task_filter,
    )
    if not records:
        return SCHEMA.empty_table()
    workers = max_workers or (32 if db.store.backend.concurrent_io else 8)

    def one(record: dict[str, Any]) -> pa.Table | None:
        table = metrics_module.read_kind(db.store, db.refs, record["id"], _run_of(db, record), "scalars")
        if table.num_rows == 0:
            return None
        table = _filter(table, titles, names, bounds)
        if table.num_rows == 0:
            return None
        n = table.num_rows
        return pa.Table.from_arrays(
            [
                table.column("task"),
                metrics_module._constant(record.get("project") or "", n),
                metrics_module._constant(record.get("name") or "", n),
                table.column("title"),
                table.column("series"),
                table.column("iteration"),
                table.column("timestamp"),
                table.column("value"),
            ],
            schema=SCHEMA,
        )

    if len(records) == 1 or workers <= 1:
        tables = [one(r) for r in records]
    else:
        with ThreadPoolExecutor(
            max_workers=min(workers, len(records)), initializer=threads.block_process_signals
        ) as pool:
            tables = list(pool.map(one, records))
    tables = [t for t in tables if t is not None]
    if not tables:
        return SCHEMA.empty_table()
    return pa.concat_tables(tables)


metrics_module = metrics


def _filter(
    table: pa.Table, titles: list[str] | None, names: list[str] | None, bounds: tuple[int | None, int | None] | None
) -> pa.Table:
    mask = None

    def both(a: Any, b: Any) -> Any:
        return b if a is None else pc.and_(a, b)

    if titles is not None:
        mask = both(
            mask, pc.is_in(pc.cast(table.column("title"), pa.string()), value_set=pa.array(titles, pa.string()))
        )
    if names is not None:
        mask = both(
            mask, pc.is_in(pc.cast(table.column("series"), pa.string()), value_set=pa.array(names, pa.string()))
        )
    if bounds is not None:
        low, high = bounds
        if low is not None:
            mask = both(mask, pc.greater_equal(table.column("iteration"), low))
        if high is not None:
            mask = both(mask, pc.less_equal(table.column("iteration"), high))
    return table if mask is None else table.filter(mask)


def scalar_segment_urls(
    url: str | os.PathLike[str] | None = None,
    *,
    project: str | Sequence[str] | None = None,
    task_ids: str | Sequence[str] | None = None,
    task_name: str | None = None,
    tags: Sequence[str] | None = None,
    allow_archived: bool = True,
    task_filter: dict[str, Any] | None = None,
    **storage_options: Any,
) -> list[str]:
    """The fsspec URLs (local paths for a local store) of the Arrow IPC segments holding the current scalars of
    the matching tasks (filters as in :func:`scalars`), for engines that read Arrow IPC files themselves."""
    db = config.get_taskdb(url, **storage_options) if url is not None else config.get_taskdb()
    records = _tasks(
        db,
        project=project,
        task_ids=task_ids,
        task_name=task_name,
        tags=tags,
        allow_archived=allow_archived,
        task_filter=task_filter,
    )
    urls: list[str] = []
    for record in records:
        entries = metrics.log_entries(db.refs, record["id"], _run_of(db, record))
        urls.extend(metrics.object_url(db.store, oid) for oid in metrics._segment_ids(entries, "scalars"))
    return urls
