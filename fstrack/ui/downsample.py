"""Downsampling that never hides a point: per x-bucket min, max and last value, computed with pyarrow.

A series of any length is cut over the visible x-range ``[x_min, x_max]`` into ``buckets`` equal-width
buckets; each non-empty bucket becomes one point carrying the value of its last row (the line) and the
min and max of its values (the band). A single spike among a million rows is the max of its bucket at
every zoom level, so the chart always shows it. All the work is vectorised (``pyarrow.compute`` and a
hash group-by); Python touches only the ≤ ``buckets`` output rows of each series.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

#: The most buckets a client may ask for per series.
MAX_BUCKETS = 4000
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
) -> dict[str, Any]:
    """Downsample the rows of ``table`` (columns ``title``, ``series``, ``value`` and ``x_column``).

    Returns ``{"x_min", "x_max", "series": [{"title", "series", "x", "y", "min", "max", "count"}]}``: per
    series and non-empty bucket, ``x``/``y`` of the bucket's last row, ``min``/``max`` of its values (left
    out with ``band=False``) and ``count`` rows (summed over the series). ``x_min``/``x_max`` default to the
    data's range. Rows are taken in table order, so "last" is the last reported. Non-finite values become
    None in ``y`` and are ignored by ``min``/``max``.
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
    keep = pc.and_(pc.greater_equal(x, x_min), pc.less_equal(x, x_max))
    work = pa.table(
        {
            "title": table.column("title"),
            "series": table.column("series"),
            "x": raw_x,
            "position": x,
            "value": table.column("value"),
        }
    ).filter(keep)
    if work.num_rows == 0:
        return {"x_min": x_min, "x_max": x_max, "series": []}
    width = (x_max - x_min) / buckets or 1.0
    index = pc.floor(pc.divide(pc.subtract(work.column("position"), x_min), width))
    index = pc.cast(pc.min_element_wise(index, float(buckets - 1)), pa.int32())
    work = work.append_column("bucket", index)
    aggregations = [("x", "last"), ("value", "last"), ("value", "count", pc.CountOptions(mode="all"))]
    if band:
        aggregations += [("value", "min"), ("value", "max")]
    grouped = work.group_by(["title", "series", "bucket"], use_threads=False).aggregate(aggregations)
    for name in ("title", "series"):
        column = grouped.column(name)
        if pa.types.is_dictionary(column.type):
            grouped = grouped.set_column(grouped.schema.get_field_index(name), name, pc.cast(column, pa.string()))
    grouped = grouped.sort_by([("title", "ascending"), ("series", "ascending"), ("bucket", "ascending")])
    return {"x_min": x_min, "x_max": x_max, "series": _split_series(grouped, band)}


def _split_series(grouped: pa.Table, band: bool) -> list[dict[str, Any]]:
    """One dict per (title, series) run of the sorted group-by output."""
    titles = grouped.column("title").to_pylist()
    names = grouped.column("series").to_pylist()
    columns = {"x": grouped.column("x_last").to_pylist(), "y": _finite_or_null(grouped.column("value_last"))}
    if band:
        columns["min"] = _finite_or_null(grouped.column("value_min"))
        columns["max"] = _finite_or_null(grouped.column("value_max"))
    counts = grouped.column("value_count").to_pylist()
    out: list[dict[str, Any]] = []
    start = 0
    for end in range(1, len(titles) + 1):
        if end == len(titles) or titles[end] != titles[start] or names[end] != names[start]:
            item: dict[str, Any] = {"title": titles[start], "series": names[start]}
            for key, values in columns.items():
                item[key] = values[start:end]
            item["count"] = sum(counts[start:end])
            out.append(item)
            start = end
    return out
