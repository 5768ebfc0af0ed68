"""Plotly figure dicts for the ``Logger.report_*`` plot methods, and :class:`SeriesInfo`.

Figures are plain ``{"data": [...], "layout": {...}}`` dicts as plotly.js takes them; no plotly
package is needed. Inputs may be lists or numpy arrays (numpy is imported only if given one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def _rows(value: Any, what: str, *, ndim: int | None = None) -> list:
    """Nested lists of numbers from a list/tuple/array (checks it is numeric and rectangular)."""
    dtype = getattr(value, "dtype", None)
    if dtype is not None and getattr(dtype, "kind", None) in ("b", "i", "u", "f") and hasattr(value, "ndim"):
        if ndim is not None and value.ndim != ndim:
            raise ValueError(f"{what} must be {ndim}-dimensional, got {value.ndim} dimension(s)")
        return value.tolist() if value.ndim else [value.tolist()]
    if dtype is not None and getattr(dtype, "kind", None) not in (None, "O"):
        raise TypeError(f"{what} must hold numbers, got an array of dtype {dtype}")
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and not isinstance(value, (list, tuple)):
        value = tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise TypeError(f"{what} must be a sequence or array of numbers, got {type(value).__name__} {value!r:.80}")
    out = [
        _rows(v, what)
        if isinstance(v, (list, tuple)) or hasattr(v, "tolist") and not _is_number(v)
        else _number(v, what)
        for v in value
    ]
    depth = _depth(out)
    if ndim is not None and depth != ndim:
        raise ValueError(f"{what} must be {ndim}-dimensional, got {depth} dimension(s)")
    lengths = {len(r) if isinstance(r, list) else None for r in out}  # None: a number beside rows
    if len(lengths) > 1:
        shown = ["a number" if n is None else n for n in sorted(lengths, key=lambda n: -1 if n is None else n)]
        raise ValueError(f"{what} must be rectangular (rows of equal length), got row lengths {shown}")
    return out


def _depth(value: Any) -> int:
    depth = 0
    while isinstance(value, list):
        depth += 1
        if not value:
            break
        value = value[0]
    return depth


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) or (hasattr(value, "__float__") and not hasattr(value, "__len__"))


def _number(value: Any, what: str) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value
    if isinstance(value, (str, bytes)) or not hasattr(value, "__float__"):
        raise TypeError(f"{what} must hold numbers, got {type(value).__name__} {value!r:.80}")
    number = float(value)
    return int(number) if number.is_integer() and "int" in type(value).__name__ else number


def as_matrix(value: Any, what: str) -> list[list]:
    """A 2-D numeric matrix (a 1-D sequence becomes one row)."""
    rows = _rows(value, what)
    if _depth(rows) == 1:
        rows = [rows]
    if _depth(rows) != 2:
        raise ValueError(f"{what} must be 1- or 2-dimensional, got {_depth(rows)} dimensions")
    return rows


def as_points(value: Any, what: str, columns: int) -> list[list]:
    """Rows of ``columns`` numbers (e.g. (x, y) pairs)."""
    rows = _rows(value, what)
    if _depth(rows) == 1 and len(rows) == columns and not rows:
        rows = [rows]
    if _depth(rows) != 2 or (rows and len(rows[0]) != columns):
        shape = f"{len(rows)}x{len(rows[0])}" if _depth(rows) == 2 and rows else f"{_depth(rows)}-D"
        raise ValueError(f"{what} must be a sequence of {columns}-value points (an Nx{columns} array), got {shape}")
    return rows


class SeriesInfo:
    """One line of ``Logger.report_line_plot``: ``name``, ``data`` (an Nx2 array of (x, y)), optional ``labels``
    (one per point)."""

    __slots__ = ("name", "data", "labels")

    def __init__(self, name: str, data: Any, labels: Sequence[str] | None = None):
        if not isinstance(name, str):
            raise TypeError(f"SeriesInfo name must be a string, got {type(name).__name__} {name!r:.80}")
        self.name = name
        self.data = as_points(data, f"SeriesInfo {name!r} data", 2)
        if labels is not None and len(labels) != len(self.data):
            raise ValueError(
                f"SeriesInfo {name!r}: labels must be a list with one label per data point "
                f"({len(self.data)}), got {len(labels)}"
            )
        self.labels = list(labels) if labels is not None else None

    def __repr__(self) -> str:
        return f"SeriesInfo(name={self.name!r}, data=<{len(self.data)} points>, labels={self.labels!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SeriesInfo) and (self.name, self.data, self.labels) == (
            other.name,
            other.data,
            other.labels,
        )


def _axis(title: str | None) -> dict:
    return {"title": {"text": title}} if title else {}


def _layout(title: str, comment: str | None = None, **extra: Any) -> dict:
    layout: dict[str, Any] = {"title": {"text": title}, "showlegend": True}
    if comment:
        layout["title"]["text"] = f"{title}<br><sup>{comment}</sup>"
    layout.update({k: v for k, v in extra.items() if v is not None})
    return layout


def merge(base: dict, extra: dict | None) -> dict:
    """Deep-merge ``extra`` (a user's ``extra_layout``/``data_args``) into ``base``."""
    if not extra:
        return base
    if not isinstance(extra, dict):
        raise TypeError(f"extra layout/data must be a dict, got {type(extra).__name__} {extra!r:.80}")
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def histogram(
    values: Any,
    *,
    title: str,
    series: str,
    labels: Sequence[str] | None = None,
    xlabels: Sequence[str] | None = None,
    xaxis: str | None = None,
    yaxis: str | None = None,
    mode: str = "group",
    data_args: dict | None = None,
    extra_layout: dict | None = None,
) -> dict:
    """Bar chart: each row of ``values`` is one bar trace (a 1-D sequence is one trace named ``series``)."""
    if mode not in ("group", "stack", "relative"):
        raise ValueError(f"histogram mode must be 'group', 'stack' or 'relative', got {mode!r}")
    rows = as_matrix(values, "histogram values")
    if labels is not None and len(labels) != len(rows):
        raise ValueError(f"labels must name each of the {len(rows)} value rows, got {len(labels)} labels")
    if xlabels is not None and rows and len(xlabels) != len(rows[0]):
        raise ValueError(f"xlabels must label each of the {len(rows[0])} bins, got {len(xlabels)}")
    data = []
    for i, row in enumerate(rows):
        trace = {
            "type": "bar",
            "name": labels[i] if labels else series,
            "x": list(xlabels) if xlabels is not None else list(range(len(row))),
            "y": row,
        }
        data.append(merge(trace, data_args))
    layout = _layout(title, xaxis=_axis(xaxis), yaxis=_axis(yaxis), barmode=mode)
    return {"data": data, "layout": merge(layout, extra_layout)}


def scatter2d(
    points: Any,
    *,
    title: str,
    series: str,
    xaxis: str | None = None,
    yaxis: str | None = None,
    labels: Sequence[str] | None = None,
    mode: str = "lines",
    comment: str | None = None,
    extra_layout: dict | None = None,
) -> dict:
    rows = as_points(points, "scatter", 2)
    if labels is not None and len(labels) != len(rows):
        raise ValueError(f"labels must label each of the {len(rows)} points, got {len(labels)}")
    trace: dict[str, Any] = {
        "type": "scatter",
        "mode": mode,
        "name": series,
        "x": [r[0] for r in rows],
        "y": [r[1] for r in rows],
    }
    if labels is not None:
        trace["text"] = list(labels)
    layout = _layout(title, comment, xaxis=_axis(xaxis), yaxis=_axis(yaxis))
    return {"data": [trace], "layout": merge(layout, extra_layout)}


def line_plot(
    series: Sequence[SeriesInfo],
    *,
    title: str,
    xaxis: str | None,
    yaxis: str | None,
    mode: str = "lines",
    reverse_xaxis: bool = False,
    comment: str | None = None,
    extra_layout: dict | None = None,
) -> dict:
    data = []
    for s in series:
        trace: dict[str, Any] = {
            "type": "scatter",
            "mode": mode,
            "name": s.name,
            "x": [p[0] for p in s.data],
            "y": [p[1] for p in s.data],
        }
        if s.labels is not None:
            trace["text"] = list(s.labels)
        data.append(trace)
    x = _axis(xaxis)
    if reverse_xaxis:
        x["autorange"] = "reversed"
    layout = _layout(title, comment, xaxis=x, yaxis=_axis(yaxis))
    return {"data": data, "layout": merge(layout, extra_layout)}


def scatter3d(
    points: Any,
    *,
    title: str,
    series: str,
    xaxis: str | None = None,
    yaxis: str | None = None,
    zaxis: str | None = None,
    labels: Sequence[str] | None = None,
    mode: str = "markers",
    fill: bool = False,
    comment: str | None = None,
    extra_layout: dict | None = None,
) -> dict:
    groups = points if isinstance(points, list) and points and _is_group_list(points) else [points]
    data = []
    for i, group in enumerate(groups):
        rows = as_points(group, "scatter3d", 3)
        if labels is not None and len(groups) == 1 and len(labels) != len(rows):
            raise ValueError(f"labels must label each of the {len(rows)} points, got {len(labels)}")
        trace: dict[str, Any] = {
            "type": "scatter3d",
            "mode": mode,
            "name": series if len(groups) == 1 else f"{series} {i}",
            "x": [r[0] for r in rows],
            "y": [r[1] for r in rows],
            "z": [r[2] for r in rows],
        }
        if labels is not None and len(groups) == 1:
            trace["text"] = list(labels)
        if fill:
            trace["surfaceaxis"] = 2
        data.append(trace)
    scene = {"xaxis": _axis(xaxis), "yaxis": _axis(yaxis), "zaxis": _axis(zaxis)}
    return {"data": data, "layout": merge(_layout(title, comment, scene=scene), extra_layout)}


def _is_group_list(points: list) -> bool:
    first = points[0]
    if hasattr(first, "ndim"):
        return first.ndim == 2
    return isinstance(first, (list, tuple)) and bool(first) and isinstance(first[0], (list, tuple))


def heatmap(
    matrix: Any,
    *,
    title: str,
    series: str,
    xaxis: str | None = None,
    yaxis: str | None = None,
    xlabels: Sequence[str] | None = None,
    ylabels: Sequence[str] | None = None,
    yaxis_reversed: bool = False,
    comment: str | None = None,
    extra_layout: dict | None = None,
) -> dict:
    rows = as_matrix(matrix, "matrix")
    if xlabels is not None and rows and len(xlabels) != len(rows[0]):
        raise ValueError(f"xlabels must label each of the {len(rows[0])} columns, got {len(xlabels)}")
    if ylabels is not None and len(ylabels) != len(rows):
        raise ValueError(f"ylabels must label each of the {len(rows)} rows, got {len(ylabels)}")
    trace: dict[str, Any] = {"type": "heatmap", "name": series, "z": rows}
    if xlabels is not None:
        trace["x"] = list(xlabels)
    if ylabels is not None:
        trace["y"] = list(ylabels)
    y = _axis(yaxis)
    if yaxis_reversed:
        y["autorange"] = "reversed"
    return {"data": [trace], "layout": merge(_layout(title, comment, xaxis=_axis(xaxis), yaxis=y), extra_layout)}


def surface(
    matrix: Any,
    *,
    title: str,
    series: str,
    xaxis: str | None = None,
    yaxis: str | None = None,
    zaxis: str | None = None,
    xlabels: Sequence[str] | None = None,
    ylabels: Sequence[str] | None = None,
    camera: Sequence[float] | None = None,
    comment: str | None = None,
    extra_layout: dict | None = None,
) -> dict:
    rows = as_matrix(matrix, "surface matrix")
    trace: dict[str, Any] = {"type": "surface", "name": series, "z": rows}
    if xlabels is not None:
        trace["x"] = list(xlabels)
    if ylabels is not None:
        trace["y"] = list(ylabels)
    scene: dict[str, Any] = {"xaxis": _axis(xaxis), "yaxis": _axis(yaxis), "zaxis": _axis(zaxis)}
    if camera is not None:
        eye = [float(c) for c in camera]
        if len(eye) != 3:
            raise ValueError(f"camera must be (x, y, z), got {camera!r}")
        scene["camera"] = {"eye": {"x": eye[0], "y": eye[1], "z": eye[2]}}
    return {"data": [trace], "layout": merge(_layout(title, comment, scene=scene), extra_layout)}


def table(
    header: Sequence[Any],
    columns: Sequence[Sequence[Any]],
    *,
    title: str,
    series: str,
    extra_layout: dict | None = None,
    extra_data: dict | None = None,
) -> dict:
    """A plotly table: ``header`` names, ``columns`` the cell values column by column."""
    trace = {
        "type": "table",
        "name": series,
        "header": {"values": [_cell(h) for h in header]},
        "cells": {"values": [[_cell(v) for v in col] for col in columns]},
    }
    return {"data": [merge(trace, extra_data)], "layout": merge(_layout(title), extra_layout)}


def _cell(value: Any) -> Any:
    """Table cells as ClearML shows them: NaN/inf as the strings "NaN"/"Inf"/"-Inf"."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (str, bytes)):
        try:
            value = item()
        except (ValueError, TypeError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Inf" if value > 0 else "-Inf")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def image_plot(source: str, *, title: str, series: str, width: int | None = None, height: int | None = None) -> dict:
    """A plot showing one image (a non-interactive matplotlib figure)."""
    width, height = width or 640, height or 480
    layout = _layout(
        title,
        xaxis={"visible": False, "range": [0, width]},
        yaxis={"visible": False, "range": [0, height], "scaleanchor": "x"},
        images=[
            {
                "source": source,
                "xref": "x",
                "yref": "y",
                "x": 0,
                "y": height,
                "sizex": width,
                "sizey": height,
                "sizing": "stretch",
                "layer": "below",
            }
        ],
        width=width,
        height=height,
    )
    return {"data": [], "layout": layout, "name": series}
