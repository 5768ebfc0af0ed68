"""Downsampling that never hides a point: per x-bucket min, max and last value, computed with pyarrow.

A series of any length is cut over the visible x-range ``[x_min, x_max]`` into ``buckets`` equal-width
buckets; each non-empty bucket becomes one point carrying the value of its last row (the line) and the
min and max of its values (the band). A single spike among a million rows is the max of its bucket at
every zoom level, so the chart always shows it. All the work is vectorised (``pyarrow.compute`` and a
hash group-by); Python touches only the ≤ ``buckets`` output rows of each series.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: The most buckets a client may ask for per series.
MAX_BUCKETS = 2000
DEFAULT_BUCKETS = 1000


def check_buckets(value: Any) -> int:
    """A bucket count from a request: an int in 1..MAX_BUCKETS."""
    try:
        buckets = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"buckets must be an integer in 1..{MAX_BUCKETS}, got {value!r}") from None
    if not 1 <= buckets <= MAX_BUCKETS:
        raise ValueError(f"buckets must be an integer in 1..{MAX_BUCKETS}, got {value!r}")
    return buckets


def _finite_or_null(values: pa.Array) -> list:
    """Python floats with NaN/±inf as None (JSON has no NaN)."""
    return pc.if_else(pc.is_finite(values), values, pa.scalar(None, pa.float64())).to_pylist()


def bucketize(
    table: pa.Table,
    x_column: str,
    *,
    x_min: float | None = None,
    x_max: float | None = None,
    buckets: int = DEFAULT_BUCKETS,
    band: bool = True,
    groups: pa.ChunkedArray | None = None,
) -> dict[str, Any]:
    """Downsample the rows of ``table`` (columns ``title``, ``series``, ``value`` and ``x_column``).

    Returns ``{"x_min", "x_max", "series": [{"title", "series", "x", "y", "min", "max", "count"}]}``: per
    series and non-empty bucket, ``x``/``y`` of the bucket's last row, ``min``/``max`` of its values (left
    out with ``band=False``) and ``count`` rows (summed over the series). ``x_min``/``x_max`` default to the
    data's range. Rows are taken in table order, so "last" is the last reported. Non-finite values become
    None in ``y`` and are ignored by ``min``/``max``. ``groups`` (an int64 per row, e.g. which task the row
    is of) splits series further: each series then has a ``group`` and the buckets of all groups line up.
    """
    buckets = check_buckets(buckets)
    raw_x = table.column(x_column)
    if pa.types.is_timestamp(raw_x.type):
        raw_x = pc.cast(raw_x, pa.int64())
    x = pc.cast(raw_x, pa.float64())
    if table.num_rows:
        lo, hi = pc.min_max(x).values()
        lo, hi = lo.as_py(), hi.as_py()
    else:
        lo = hi = None
    x_min = lo if x_min is None else float(x_min)
    x_max = hi if x_max is None else float(x_max)
    if x_min is None or x_max is None or table.num_rows == 0:
        return {"x_min": x_min, "x_max": x_max, "series": []}
    if x_max < x_min:
        raise ValueError(f"x_max ({x_max}) must not be below x_min ({x_min})")
    codes, labels = _series_codes(table)
    if groups is not None:
        codes = pc.add(pc.multiply(groups, len(labels)), codes)
    work = pa.table({"code": codes, "x": raw_x, "position": x, "value": table.column("value")})
    if x_min > lo or x_max < hi:  # the whole range needs no filter (a filter copies every column)
        work = work.filter(pc.and_(pc.greater_equal(x, x_min), pc.less_equal(x, x_max)))
    if work.num_rows == 0:
        return {"x_min": x_min, "x_max": x_max, "series": []}
    width = (x_max - x_min) / buckets or 1.0
    index = pc.floor(pc.divide(pc.subtract(work.column("position"), x_min), width))
    index = pc.cast(pc.min_element_wise(index, float(buckets - 1)), pa.int64())
    # one int64 key per (series, bucket): hashing it is several times faster than three columns
    work = work.append_column("key", pc.add(pc.multiply(work.column("code"), buckets), index))
    aggregations = [("x", "last"), ("value", "last"), ("value", "count", pc.CountOptions(mode="all"))]
    if band:
        aggregations += [("value", "min"), ("value", "max")]
    grouped = work.group_by("key", use_threads=False).aggregate(aggregations).sort_by("key")
    series = _split_series(grouped, buckets, labels, band)
    if groups is None:
        for item in series:
            del item["group"]
    return {"x_min": x_min, "x_max": x_max, "series": series}


def _series_codes(table: pa.Table) -> tuple[pa.ChunkedArray, list[tuple[str, str]]]:
    """An int64 code per row naming its (title, series), and the labels of the codes, from the columns'
    dictionary indices (no string is hashed per row)."""
    keys = table.select(["title", "series"])
    for i, field in enumerate(keys.schema):
        if not pa.types.is_dictionary(field.type):
            keys = keys.set_column(i, field.name, pc.dictionary_encode(keys.column(i)))
    keys = keys.unify_dictionaries()
    titles, series = keys.column("title"), keys.column("series")
    title_names = titles.chunk(0).dictionary.to_pylist() if titles.num_chunks else []
    series_names = series.chunk(0).dictionary.to_pylist() if series.num_chunks else []
    width = max(1, len(series_names))
    chunks = [
        pc.add(pc.multiply(pc.cast(t.indices, pa.int64()), width), pc.cast(s.indices, pa.int64()))
        for t, s in zip(titles.chunks, series.chunks)
    ]
    labels = [(title, name) for title in title_names for name in series_names]
    return pa.chunked_array(chunks, pa.int64()), labels


def _split_series(grouped: pa.Table, buckets: int, labels: list[tuple[str, str]], band: bool) -> list[dict[str, Any]]:
    """One dict per series of the group-by output (sorted by key = code * buckets + bucket), ordered by group,
    title and series."""
    codes = grouped.column("key").to_numpy() // buckets
    starts = [0, *(np.flatnonzero(np.diff(codes)) + 1).tolist()]
    ends = [*starts[1:], len(codes)]
    columns = {"x": grouped.column("x_last").to_pylist(), "y": _finite_or_null(grouped.column("value_last"))}
    if band:
        columns["min"] = _finite_or_null(grouped.column("value_min"))
        columns["max"] = _finite_or_null(grouped.column("value_max"))
    counts = np.add.reduceat(grouped.column("value_count").to_numpy(), starts).tolist() if len(codes) else []
    out: list[dict[str, Any]] = []
    for start, end, count in zip(starts, ends, counts):
        group, label = divmod(int(codes[start]), len(labels))
        title, name = labels[label]
        item: dict[str, Any] = {"title": title, "series": name, "group": group}
        for key, values in columns.items():
            item[key] = values[start:end]
        item["count"] = count
        out.append(item)
    out.sort(key=lambda item: (item["group"], item["title"], item["series"]))
    return out
