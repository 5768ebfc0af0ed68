"""bucketize against a plain reference: per series and bucket, the last, min and max of the rows in range."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from fstrack.ui.downsample import bucketize


def _reference(rows, x_min, x_max, buckets):
    width = (x_max - x_min) / buckets or 1.0
    out: dict[tuple[str, str], dict[int, list]] = {}
    for title, series, x, value in rows:
        if x_min <= x <= x_max:
            bucket = min(int(math.floor((x - x_min) / width)), buckets - 1)
            out.setdefault((title, series), {}).setdefault(bucket, []).append((x, value))
    return {
        key: [
            (points[-1][0], points[-1][1], min(v for _, v in points), max(v for _, v in points), len(points))
            for _, points in sorted(by_bucket.items())
        ]
        for key, by_bucket in out.items()
    }


@pytest.mark.parametrize("encoded", [True, False])
@pytest.mark.parametrize("window", [None, (100, 900), (450, 451)])
def test_matches_the_reference(encoded, window):
    rng = np.random.default_rng(1)
    rows = [
        (f"t{t}", f"s{s}", int(x), float(rng.normal()))
        for x in range(1000)
        for t in range(2)
        for s in range(3)
        if rng.random() < 0.8
    ]
    chunks = []
    for part in (rows[: len(rows) // 2], rows[len(rows) // 2 :]):  # two chunks with different dictionaries
        columns = list(zip(*part))
        title, series = pa.array(columns[0]), pa.array(columns[1])
        if encoded:
            title, series = title.dictionary_encode(), series.dictionary_encode()
        chunks.append(
            pa.table(
                {
                    "title": title,
                    "series": series,
                    "iteration": pa.array(columns[2], pa.int64()),
                    "value": pa.array(columns[3], pa.float64()),
                }
            )
        )
    table = pa.concat_tables(chunks, promote_options="permissive")
    x_min, x_max = window or (0, 999)
    result = bucketize(table, "iteration", x_min=window and window[0], x_max=window and window[1], buckets=37)
    expected = _reference(rows, x_min, x_max, 37)
    assert [(s["title"], s["series"]) for s in result["series"]] == sorted(expected)
    for s in result["series"]:
        got = list(zip(s["x"], s["y"], s["min"], s["max"]))
        assert got == [e[:4] for e in expected[(s["title"], s["series"])]]
        assert s["count"] == sum(e[4] for e in expected[(s["title"], s["series"])])


def test_non_finite_values_and_empty_ranges():
    table = pa.table(
        {
            "title": ["a"] * 4,
            "series": ["b"] * 4,
            "iteration": [0, 1, 2, 3],
            "value": [1.0, float("nan"), float("inf"), 2.0],
        }
    )
    series = bucketize(table, "iteration", buckets=4)["series"][0]
    assert series["y"] == [1.0, None, None, 2.0] and series["max"] == [1.0, None, None, 2.0]
    assert bucketize(table, "iteration", x_min=10, x_max=20)["series"] == []
    with pytest.raises(ValueError, match="buckets must be an integer in 1..2000, got 0"):
        bucketize(table, "iteration", buckets=0)
