"""What the UI's API returns: plain, JSON-ready data read from one store through the public read paths.

Task listings come from the task database's summaries (``TaskDB.records``, the query index) filtered and
sorted with :mod:`fstrack.query`; manifests are read only for what summaries lack (hyperparameter columns,
the task page). Reported events are read incrementally through :class:`~fstrack.ui.events.EventLogs`.
Nothing here writes to the store.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import math
import operator
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fstrack import threads
from fstrack.dispatch.leases import read_lease
from fstrack.dispatch.queues import Queues
from fstrack.records import query
from fstrack.records.metrics import prune_history
from fstrack.records.modeldb import MODEL_KIND
from fstrack.records.taskdb import FINAL_STATUSES, TaskDB
from fstrack.store.objects import ObjectId, pack, unpack
from fstrack.ui.downsample import DEFAULT_BUCKETS, bucketize
from fstrack.ui.events import EventLogs

#: Columns every task row can show, straight from the summaries.
BASE_COLUMNS = (
    "id",
    "name",
    "status",
    "type",
    "project",
    "user",
    "tags",
    "created",
    "started",
    "last_update",
    "completed",
    "duration",
    "last_iteration",
    "comment",
    "parent",
    "status_message",
    "archived",
)
DEFAULT_COLUMNS = ("status", "type", "name", "tags", "user", "started", "last_update", "duration")
METRIC_AGGREGATES = ("last", "min", "max")
MAX_PAGE = 1000
PREVIEW_BYTES = 64 * 1024
ALIVE_SECONDS = 30.0
_RECORDS_MAX_AGE = 1.0
_ORDERS_KEPT = 16


class BadRequest(ValueError):
    """A request parameter with a bad value; the message names it."""


class NotFound(LookupError):
    """The task, model, artifact or object asked for does not exist."""


def plain(value: Any) -> Any:
    """``value`` with NaN/±inf as None, object links as hex strings and bytes left out: safe for JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return None
    return value


# -- columns ------------------------------------------------------------------------------------------
def metric_column(title: str, series: str, aggregate: str = "last") -> str:
    """The column id of a metric: ``metric/<title>/<series>/<last|min|max>``, parts percent-encoded."""
    return f"metric/{quote(title, safe='')}/{quote(series, safe='')}/{aggregate}"


def param_column(section: str, name: str) -> str:
    """The column id of a hyperparameter: ``param/<section>/<name>``, parts percent-encoded."""
    return f"param/{quote(section, safe='')}/{quote(name, safe='')}"


def parse_column(column: str) -> tuple[str, tuple[str, ...]]:
    """``(kind, parts)`` of a column id; raises BadRequest naming a malformed one."""
    if column in BASE_COLUMNS:
        return "base", (column,)
    kind, _, rest = column.partition("/")
    parts = tuple(unquote(p) for p in rest.split("/"))
    if kind == "metric" and len(parts) == 3 and parts[2] in METRIC_AGGREGATES:
        return "metric", parts
    if kind == "param" and len(parts) == 2:
        return "param", parts
    raise BadRequest(
        f"unknown column {column!r}: expected one of {', '.join(BASE_COLUMNS)}, "
        "metric/<title>/<series>/<last|min|max> or param/<section>/<name>"
    )


def _duration(record: dict, now: float) -> float | None:
    started = record.get("started")
    if not started:
        return None
    end = record.get("completed") if record.get("status") in FINAL_STATUSES else None
    return max(0.0, (end or now) - started)


def _flat_params(manifest: dict) -> dict[str, str | None]:
    return {
        param_column(section, name): (entry or {}).get("value")
        for section, entries in (manifest.get("hyperparams") or {}).items()
        for name, entry in (entries or {}).items()
    }


def _params_cache_file(store_url: str) -> str | None:
    """The machine-local file (never in the store) remembering tasks' hyperparameters between UI runs, so a
    hyperparameter column costs one read of each manifest per change, not per server start."""
    if store_url.startswith("memory://"):
        return None
    root = os.environ.get("FSTRACK_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "fstrack")
    return os.path.join(root, "ui", hashlib.sha256(store_url.encode()).hexdigest()[:24] + ".params")


def _read_params_cache(path: str | None) -> dict[str, tuple[Any, dict[str, str | None]]]:
    if path is None:
        return {}
    try:
        with open(path, "rb") as f:
            cached = unpack(f.read())
        return {task_id: (entry[0], entry[1]) for task_id, entry in cached.items()}
    except (OSError, ValueError, TypeError, IndexError, AttributeError):
        return {}  # absent or unreadable: it is only a cache


def _write_params_cache(path: str, params: dict[str, tuple[Any, dict[str, str | None]]]) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        staged = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(staged, "wb") as f:
            f.write(pack({task_id: list(entry) for task_id, entry in params.items()}))
        os.replace(staged, path)
    except OSError:
        pass  # a read-only home: the cache lives in memory only


def _sort_key(value: Any, numeric_text: bool = False) -> tuple:
    """Order numbers numerically, then strings, then everything else; None last (in either direction).
    ``numeric_text``: strings that read as numbers (hyperparameter values) order as those numbers."""
    if value is None:
        return (1, 0, 0)
    if isinstance(value, bool):
        return (0, 0, float(value))
    if isinstance(value, (int, float)):
        return (0, 0, value) if not (isinstance(value, float) and math.isnan(value)) else (1, 0, 0)
    if isinstance(value, str):
        if numeric_text:
            try:
                return (0, 0, float(value))
            except ValueError:
                pass
        return (0, 1, value.lower())
    return (0, 2, json.dumps(value, default=str))


class StoreView:
    """Read-only views of one store's tasks, models, events and queues for the UI's API."""

    def __init__(self, db: TaskDB):
        self.db = db
        self.models = db.sibling(MODEL_KIND)
        self.events = EventLogs(db.refs)
        self.model_events = EventLogs(db.refs, capacity=32)
        self._records: tuple[float, list[dict]] | None = None
        # (filters, sort) -> (the records list they were computed from, ordered records, records by id)
        self._orders: OrderedDict[tuple, tuple[list[dict], list[dict], dict[str, dict]]] = OrderedDict()
        self._records_lock = threading.Lock()
        self._params: dict[str, tuple[Any, dict[str, str | None]]] = {}  # task id -> (last_update, flat params)
        self._params_lock = threading.Lock()
        self._params_file = _params_cache_file(db.store.url)
        self._params.update(_read_params_cache(self._params_file))
        self._pool = ThreadPoolExecutor(
            max_workers=16 if db.store.backend.concurrent_io else 4,
            thread_name_prefix="fstrack-ui",
            initializer=threads.block_process_signals,  # Ctrl-C reaches the server's main thread
        )

    # -- tasks --------------------------------------------------------------------------------------
    def records(self, *, fresh: bool = False) -> list[dict]:
        """Every task summary; re-listed at most once a second unless ``fresh``."""
        with self._records_lock:
            now = time.monotonic()
            if fresh or self._records is None or now - self._records[0] > _RECORDS_MAX_AGE:
                records = self.db.records()
                before = self._records[1] if self._records else None
                if before is not None and len(before) == len(records) and all(map(operator.is_, before, records)):
                    records = before  # nothing changed: keep the list, so orderings cached for it stay valid
                self._records = (now, records)
            return self._records[1]

    def forget_records(self) -> None:
        """Make the next listing re-read the index (after a write by this server)."""
        with self._records_lock:
            self._records = None

    def projects(self) -> list[dict]:
        """Every project with its task counts per status (its own tasks and all below it) and last update."""
        projects = {
            p["name"]: {
                "name": p["name"],
                "id": p["id"],
                "created": p.get("created"),
                "counts": {},
                "own_tasks": 0,
                "tasks": 0,
                "last_update": None,
            }
            for p in self.db.projects()
        }
        for record in self.records():
            name = record.get("project")
            if not name:
                continue
            parts = name.split("/")
            for depth in range(1, len(parts) + 1):
                entry = projects.setdefault(
                    "/".join(parts[:depth]),
                    {
                        "name": "/".join(parts[:depth]),
                        "id": None,
                        "created": None,
                        "counts": {},
                        "own_tasks": 0,
                        "tasks": 0,
                        "last_update": None,
                    },
                )
                if record.get("archived"):
                    continue
                entry["tasks"] += 1
                entry["own_tasks"] += depth == len(parts)
                status = record.get("status") or "unknown"
                entry["counts"][status] = entry["counts"].get(status, 0) + 1
                update = record.get("last_update")
                if update and (entry["last_update"] is None or update > entry["last_update"]):
                    entry["last_update"] = update
        return plain(sorted(projects.values(), key=lambda p: p["name"]))

    def _params_of(self, task_ids: Iterable[str], records: dict[str, dict]) -> dict[str, dict[str, str | None]]:
        """Flat hyperparameters of tasks, from manifests read (in parallel) only when the task changed."""
        task_ids = list(task_ids)
        wanted = [t for t in task_ids if t not in self._params or self._params[t][0] != records[t].get("last_update")]

        def load(task_id: str) -> tuple[str, dict | None]:
            try:
                return task_id, self.db.load(task_id)
            except LookupError:
                return task_id, None

        loaded = list(self._pool.map(load, wanted))
        with self._params_lock:
            for task_id, manifest in loaded:
                self._params[task_id] = (
                    records[task_id].get("last_update"),
                    _flat_params(manifest) if manifest else {},
                )
            if loaded and self._params_file:
                _write_params_cache(self._params_file, self._params)
        return {t: self._params.get(t, (None, {}))[1] for t in task_ids}

    def _filtered(
        self,
        *,
        project: str | None,
        subprojects: bool,
        status: list[str],
        task_type: list[str],
        user: list[str],
        tags: list[str],
        name: str | None,
        archived: bool,
        ids: list[str] | None = None,
        records: list[dict] | None = None,
    ) -> list[Any]:
        records = self.records() if records is None else records
        projects: list[str] | None = None
        if project:
            projects = [project]
            if subprojects:
                projects += sorted(
                    {r["project"] for r in records if (r.get("project") or "").startswith(project + "/")}
                )
        task_filter: dict[str, Any] = {"search_hidden": True}
        for key, values in (("status", status), ("type", task_type), ("user", user)):
            if values:
                task_filter[key] = values
        try:
            found = query.filter_records(
                records,
                task_ids=ids or None,
                project_name=projects,
                task_name=name or None,
                tags=tags or None,
                task_filter=task_filter,
                default_order=None,
            )
        except re.error as exc:
            raise BadRequest(f"name must be a regular expression, got {name!r} ({exc})") from None
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return [r for r in found if bool(r.get("archived")) == archived]

    def tasks(
        self,
        *,
        project: str | None = None,
        subprojects: bool = False,
        status: Sequence[str] = (),
        task_type: Sequence[str] = (),
        user: Sequence[str] = (),
        tags: Sequence[str] = (),
        name: str | None = None,
        archived: bool = False,
        sort: str = "-last_update",
        columns: Sequence[str] = DEFAULT_COLUMNS,
        offset: int = 0,
        limit: int = 100,
        ids: list[str] | None = None,
    ) -> dict[str, Any]:
        """One page of the tasks table: ``{"total", "offset", "rows", "columns"}``, filtered and sorted on the
        server. Rows carry ``id`` plus the requested columns (base fields, metric and parameter columns)."""
        if not 0 <= limit <= MAX_PAGE:
            raise BadRequest(f"limit must be in 0..{MAX_PAGE}, got {limit!r}")
        if offset < 0:
            raise BadRequest(f"offset must be >= 0, got {offset!r}")
        parsed = {c: parse_column(c) for c in columns}
        descending = sort.startswith("-")
        sort_column = sort[1:] if descending else sort
        sort_kind, sort_parts = parse_column(sort_column)
        now = time.time()
        key = (
            project,
            subprojects,
            tuple(status),
            tuple(task_type),
            tuple(user),
            tuple(tags),
            name,
            archived,
            tuple(ids or ()),
            sort,
        )
        records = self.records()
        with self._records_lock:
            cached = self._orders.get(key)
        if cached is not None and cached[0] is records:
            ordered, by_id = cached[1], cached[2]
        else:
            found = self._filtered(
                project=project,
                subprojects=subprojects,
                status=list(status),
                task_type=list(task_type),
                user=list(user),
                tags=list(tags),
                name=name,
                archived=archived,
                ids=ids,
                records=records,
            )
            by_id = {r["id"]: r for r in found}
            if sort_kind == "param":
                sort_params = self._params_of(by_id, by_id)
                keyed = [(_sort_key(sort_params[r["id"]].get(sort_column), True), r["id"], r) for r in found]
            else:
                keyed = [(_sort_key(self._cell(r, sort_kind, sort_parts, now, {})), r["id"], r) for r in found]
            present = [k for k in keyed if k[0][0] == 0]
            present.sort(key=lambda k: (k[0], k[1]), reverse=descending)
            ordered = [k[2] for k in present] + [
                k[2] for k in sorted((k for k in keyed if k[0][0] != 0), key=lambda k: k[1])
            ]
            with self._records_lock:
                self._orders[key] = (records, ordered, by_id)
                while len(self._orders) > _ORDERS_KEPT:
                    self._orders.popitem(last=False)
        page = ordered[offset : offset + limit]
        wanted_params = any(kind == "param" for kind, _ in parsed.values())
        params = self._params_of([r["id"] for r in page], by_id) if wanted_params else {}
        rows = []
        for record in page:
            row = {"id": record["id"]}
            for column, (kind, parts) in parsed.items():
                row[column] = self._cell(record, kind, parts, now, params.get(record["id"], {}), column)
            rows.append(row)
        return plain({"total": len(ordered), "offset": offset, "columns": list(columns), "sort": sort, "rows": rows})

    @staticmethod
    def _cell(
        record: dict, kind: str, parts: tuple[str, ...], now: float, params: dict[str, str | None], column: str = ""
    ) -> Any:
        if kind == "base":
            return _duration(record, now) if parts[0] == "duration" else record.get(parts[0])
        if kind == "metric":
            title, series, aggregate = parts
            return ((record.get("last_metrics") or {}).get(title, {}).get(series) or {}).get(aggregate)
        return params.get(column)

    def columns(self, project: str | None = None, subprojects: bool = False, sample: int = 50) -> dict[str, Any]:
        """The columns the tasks table can show for a project: base fields, every metric found in the
        summaries, and the hyperparameters of its ``sample`` newest tasks."""
        found = self._filtered(
            project=project,
            subprojects=subprojects,
            status=[],
            task_type=[],
            user=[],
            tags=[],
            name=None,
            archived=False,
        )
        metrics = sorted(
            {
                (title, series)
                for r in found
                for title, by_series in (r.get("last_metrics") or {}).items()
                for series in by_series
            }
        )
        newest = sorted(found, key=lambda r: r.get("last_update") or 0, reverse=True)[:sample]
        by_id = {r["id"]: r for r in newest}
        params = sorted({key for flat in self._params_of(by_id, by_id).values() for key in flat})
        return {
            "base": list(BASE_COLUMNS),
            "default": list(DEFAULT_COLUMNS),
            "metrics": [
                {"title": t, "series": s, "columns": [metric_column(t, s, a) for a in METRIC_AGGREGATES]}
                for t, s in metrics
            ],
            "params": [
                {"id": p, "section": unquote(p.split("/")[1]), "name": unquote(p.split("/")[2])} for p in params
            ],
            "users": sorted({r.get("user") for r in found if r.get("user")}),
            "tags": sorted({t for r in found for t in (r.get("tags") or [])}),
            "types": sorted({r.get("type") for r in found if r.get("type")}),
        }

    def manifest(self, task_id: str) -> dict:
        try:
            return self.db.load(task_id)
        except LookupError as exc:
            raise NotFound(str(exc)) from None

    def task(self, task_id: str) -> dict[str, Any]:
        """The task page's data: the whole manifest (links as hex) plus ``alive`` and the page cursors."""
        manifest = self.manifest(task_id)
        beat = self.db.last_beat(task_id)
        # by the store's clock and the writer's interval (spec/tasks.md §9); ALIVE_SECONDS for heartbeats without one
        alive = manifest.get("status") == "in_progress" and self.db.beating(task_id, ALIVE_SECONDS / 3)
        log = self.events.get(task_id, int(manifest.get("run") or 1))
        data = plain(manifest)
        data.pop("previous", None)
        names = {r["id"]: r for r in self.models.records()} if any((manifest.get("models") or {}).values()) else {}
        for entries in (data.get("models") or {}).values():
            for entry in entries:
                model = names.get(entry.get("model")) or {}
                entry.update(model_name=model.get("name"), framework=model.get("framework"))
        data["alive"] = alive
        data["heartbeat"] = beat
        data["events_position"] = log.position
        return data

    def history(self, task_id: str) -> list[dict]:
        """The manifest chain as a timeline: position, time, status and the fields each change touched."""
        try:
            chain = self.db.history(task_id)
        except LookupError as exc:
            raise NotFound(str(exc)) from None
        timeline, before = [], None
        for manifest in chain:
            changed = sorted(
                k
                for k in manifest
                if k not in ("previous", "last_update", "position")
                and (before is None or manifest.get(k) != before.get(k))
            )
            timeline.append(
                {
                    "position": manifest["position"],
                    "time": manifest.get("last_update"),
                    "status": manifest.get("status"),
                    "changed": changed if before else ["(created)"],
                }
            )
            before = manifest
        return plain(timeline)

    # -- events ---------------------------------------------------------------------------------------
    def task_log(self, task_id: str):
        return self.events.get(task_id, int(self.manifest(task_id).get("run") or 1))

    def model_log(self, model_id: str):
        self.model(model_id)
        return self.model_events.get(model_id, None)

    def scalar_titles(self, task_id: str) -> dict[str, Any]:
        log = self.task_log(task_id)
        return self._titles(log.table("scalars"), log.position)

    @staticmethod
    def _titles(table: pa.Table, position: int) -> dict[str, Any]:
        if table.num_rows == 0:
            return {"position": position, "titles": []}
        stats = table.select(["title", "series"]).group_by(["title", "series"]).aggregate([([], "count_all")])
        titles: dict[str, dict[str, int]] = {}
        for row in stats.to_pylist():
            titles.setdefault(str(row["title"]), {})[str(row["series"])] = row["count_all"]
        return {
            "position": position,
            "titles": [
                {"title": t, "series": [{"name": s, "points": n} for s, n in sorted(by.items())]}
                for t, by in sorted(titles.items())
            ],
        }

    def scalars(self, task_id: str, *, model: bool = False, **options: Any) -> dict[str, Any]:
        """Downsampled scalars of a task (or a model) over an x-range; see :func:`scalars_of_table`."""
        log = self.model_log(task_id) if model else self.task_log(task_id)
        result = scalars_of_table(log.table("scalars"), **options)
        result["position"] = log.position
        return result

    def compare_scalars(
        self,
        task_ids: list[str],
        *,
        x_axis: str = "iter",
        x_min: float | None = None,
        x_max: float | None = None,
        buckets: int = DEFAULT_BUCKETS,
        titles: Sequence[str] = (),
        band: bool = True,
    ) -> dict[str, Any]:
        """Downsampled scalars of several tasks over one x-range, so their buckets line up: ``{"x_min",
        "x_max", "tasks": [{"id", "name", "status", "t0", "series"}]}``. The tasks' rows are read in
        parallel and downsampled together (one group-by for all of them)."""
        if not task_ids:
            raise BadRequest("tasks must name at least one task id")
        manifests = list(self._pool.map(self.manifest, task_ids))
        runs = [int(m.get("run") or 1) for m in manifests]
        tables = list(self._pool.map(lambda pair: self.events.get(*pair).table("scalars"), zip(task_ids, runs)))
        columns = ["title", "series", "iteration", "timestamp", "value"]
        combined = pa.concat_tables([t.select(columns) for t in tables], promote_options="permissive")
        groups = pa.chunked_array([np.repeat(np.arange(len(tables), dtype=np.int64), [t.num_rows for t in tables])])
        if titles and combined.num_rows:
            keep = pc.is_in(pc.cast(combined.column("title"), pa.string()), pa.array(list(titles)))
            combined, groups = combined.filter(keep), groups.filter(keep)
        result = scalars_of_table(
            combined, x_axis=x_axis, x_min=x_min, x_max=x_max, buckets=buckets, band=band, groups=groups
        )
        per_task: list[list[dict]] = [[] for _ in task_ids]
        for item in result["series"]:
            per_task[item.pop("group")].append(item)
        return {
            "x_axis": x_axis,
            "x_min": result["x_min"],
            "x_max": result["x_max"],
            "tasks": [
                {
                    "id": task_id,
                    "name": m.get("name"),
                    "status": m.get("status"),
                    "series": series,
                    "t0": pc.min(t.column("timestamp")).value if t.num_rows else None,
                }
                for task_id, m, t, series in zip(task_ids, manifests, tables, per_task)
            ],
        }

    def console(
        self, task_id: str, *, after: int = -1, tail: int = 1000, limit: int = 5000, search: str | None = None
    ) -> dict[str, Any]:
        """Console rows of the task's run. ``after=-1``: the last ``tail`` rows; else the rows with index >
        ``after`` (at most ``limit``). ``search`` keeps rows containing it (case-insensitive). Each row has
        ``index`` (its cursor), ``time``, ``stream``, ``level``, ``message``."""
        if limit < 1 or tail < 0:
            raise BadRequest(f"limit must be >= 1 and tail >= 0, got limit={limit!r} tail={tail!r}")
        manifest = self.manifest(task_id)
        log = self.events.get(task_id, int(manifest.get("run") or 1))
        table = log.table("console")
        total = table.num_rows
        indexed = table.append_column("index", pa.array(range(total), pa.int64()))
        if search:
            hits = pc.match_substring(indexed.column("message"), search, ignore_case=True)
            indexed = indexed.filter(hits)
        if after < 0:
            picked = indexed.slice(max(0, indexed.num_rows - tail))
        else:
            first = pc.sum(pc.less_equal(indexed.column("index"), after)).as_py() or 0
            picked = indexed.slice(first, limit)
        rows = [
            {
                "index": r["index"],
                "time": r["timestamp"].timestamp() if r["timestamp"] else None,
                "stream": r["stream"],
                "level": r["level"],
                "message": r["message"],
            }
            for r in picked.select(["index", "timestamp", "stream", "level", "message"]).to_pylist()
        ]
        return {
            "rows": rows,
            "total": total,
            "next": rows[-1]["index"] if rows else max(after, total - 1),
            "status": manifest.get("status"),
            "run": int(manifest.get("run") or 1),
            "position": log.position,
        }

    def plots(self, task_id: str, *, model: bool = False, iterations: int = 1) -> dict[str, Any]:
        """The newest ``iterations`` plots of each title/series: ``{"plots": [{"title", "series", "iteration",
        "figure"}]}``, figures as parsed plotly JSON."""
        log = self.model_log(task_id) if model else self.task_log(task_id)
        rows = log.table("plots").select(["title", "series", "iteration", "plot"]).to_pylist()
        newest: dict[tuple[str, str], list[int]] = {}
        for row in rows:
            newest.setdefault((row["title"], row["series"]), []).append(row["iteration"])
        keep = {key: set(sorted(set(its), reverse=True)[:iterations]) for key, its in newest.items()}
        plots = []
        for row in reversed(rows):
            key = (row["title"], row["series"])
            if row["iteration"] in keep[key]:
                keep[key].discard(row["iteration"])
                try:
                    figure = json.loads(row["plot"])
                except ValueError:
                    figure = {"data": [], "layout": {"title": {"text": "unreadable figure"}}}
                plots.append(
                    {"title": row["title"], "series": row["series"], "iteration": row["iteration"], "figure": figure}
                )
        plots.sort(key=lambda p: (p["title"], p["series"], -p["iteration"]))
        return plain({"plots": plots, "position": log.position})

    def debug_samples(self, task_id: str, *, model: bool = False) -> dict[str, Any]:
        """Debug samples grouped by title/series, each with every kept iteration (newest first)."""
        log = self.model_log(task_id) if model else self.task_log(task_id)
        table = prune_history(log.table("debug_samples"))
        groups: dict[tuple[str, str], list[dict]] = {}
        for row in table.select(
            [
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
            ]
        ).to_pylist():
            row["timestamp"] = row["timestamp"].timestamp() if row["timestamp"] else None
            groups.setdefault((row.pop("title"), row.pop("series")), []).append(row)
        return plain(
            {
                "position": log.position,
                "samples": [
                    {"title": t, "series": s, "events": sorted(events, key=lambda e: -e["iteration"])}
                    for (t, s), events in sorted(groups.items())
                ],
            }
        )

    # -- artifacts and objects ------------------------------------------------------------------------
    def artifacts(self, task_id: str) -> list[dict]:
        manifest = self.manifest(task_id)
        return plain([dict(record, name=name) for name, record in (manifest.get("artifacts") or {}).items()])

    def artifact_preview(self, task_id: str, name: str) -> dict[str, Any]:
        """A safe preview of an artifact stored in this store: ``{"kind": "text"|"json"|"table"|"image"|"none",
        ...}``. Only the first 64 KiB is read (gzip decompressed up to that much); nothing is unpickled."""
        record = (self.manifest(task_id).get("artifacts") or {}).get(name)
        if record is None:
            raise NotFound(f"task {task_id} has no artifact named {name!r}")
        content_type = (record.get("content_type") or "").lower()
        filename = (record.get("filename") or "").lower()
        obj = record.get("object")
        base = {"name": name, "preview": record.get("preview") or "", "object": str(obj) if obj else None}
        if obj is None:
            return dict(
                base,
                kind="none",
                reason="stored outside this store" if record.get("store") or record.get("url") else "no content",
            )
        if content_type.startswith("image/") and content_type != "image/svg+xml":
            return dict(base, kind="image")
        textual = (
            content_type.startswith("text/")
            or content_type in ("application/json", "application/yaml")
            or filename.endswith((".json", ".yaml", ".yml", ".txt", ".csv", ".csv.gz", ".log", ".md"))
        )
        if not textual:
            return dict(base, kind="none", reason=f"no preview for {content_type or 'this type'}")
        data = self.db.store.get(obj)
        if filename.endswith(".gz"):
            try:
                data = gzip.GzipFile(fileobj=io.BytesIO(data)).read(PREVIEW_BYTES)
            except (OSError, EOFError):
                return dict(base, kind="none", reason="not a readable gzip file")
        truncated = len(data) > PREVIEW_BYTES
        text = data[:PREVIEW_BYTES].decode("utf-8", "replace")
        if "csv" in content_type or filename.endswith((".csv", ".csv.gz")):
            rows = list(csv.reader(io.StringIO(text)))[:200]
            return dict(base, kind="table", rows=rows, truncated=truncated or len(rows) == 200)
        if content_type == "application/json" or filename.endswith(".json"):
            try:
                return dict(base, kind="json", value=plain(json.loads(text)), truncated=False)
            except ValueError:
                pass
        return dict(base, kind="text", text=text, truncated=truncated)

    # -- models ---------------------------------------------------------------------------------------
    def model_records(
        self,
        *,
        project: str | None = None,
        sort: str = "-created",
        name: str | None = None,
        tags: Sequence[str] = (),
        archived: bool = False,
    ) -> list[dict]:
        records = self.models.records()
        try:
            found = query.filter_records(
                records,
                project_name=project or None,
                task_name=name or None,
                tags=list(tags) or None,
                default_order=sort,
            )
        except re.error as exc:
            raise BadRequest(f"name must be a regular expression, got {name!r} ({exc})") from None
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return plain([r for r in found if bool(r.get("archived")) == archived])

    def model(self, model_id: str) -> dict[str, Any]:
        try:
            manifest = self.models.load(model_id)
        except LookupError as exc:
            raise NotFound(str(exc)) from None
        data = plain(manifest)
        data.pop("previous", None)
        return data

    # -- queues ---------------------------------------------------------------------------------------
    def queues(self) -> dict[str, Any]:
        """Queues with their pending entries (oldest first, with task names) and the running tasks with their
        worker and lease age, grouped into workers."""
        queues = Queues(self.db.store)
        backend = self.db.store.backend
        records = {r["id"]: r for r in self.records(fresh=True)}
        out = []
        for queue in queues.all():
            pending = queues.pending(queue["id"])
            keys = [f"queues/{queue['id']}/entries/{entry}" for entry in pending]
            found = backend.read_many(keys) if keys else {}
            entries = []
            for entry, key in zip(pending, keys):
                data = found.get(key)
                value = unpack(data) if data else {}
                task_id = value.get("task")
                entries.append(
                    {
                        "entry": entry,
                        "task": task_id,
                        "enqueued": value.get("enqueued"),
                        "name": (records.get(task_id) or {}).get("name"),
                    }
                )
            out.append({"name": queue["name"], "id": queue["id"], "pending": entries})
        running = [r for r in records.values() if r.get("status") == "in_progress"]
        now = queues.store_now()
        workers: dict[str, list[dict]] = {}
        for record, manifest in zip(running, self._pool.map(lambda r: self._maybe_load(r["id"]), running)):
            execution = (manifest or {}).get("execution") or {}
            lease = read_lease(backend, record["id"])
            worker = execution.get("worker") or (lease[0].get("worker") if lease else None) or "(no agent)"
            workers.setdefault(worker, []).append(
                {
                    "task": record["id"],
                    "name": record.get("name"),
                    "project": record.get("project"),
                    "queue": execution.get("queue_name"),
                    "started": record.get("started"),
                    "lease_age": (now - lease[1]) if lease else None,
                    "lease_ttl": lease[0].get("ttl") if lease else None,
                }
            )
        return plain({"queues": out, "workers": [{"worker": w, "tasks": t} for w, t in sorted(workers.items())]})

    def _maybe_load(self, task_id: str) -> dict | None:
        try:
            return self.db.load(task_id)
        except LookupError:
            return None

    # -- compare --------------------------------------------------------------------------------------
    def compare(self, task_ids: list[str]) -> dict[str, Any]:
        """Parameters, configuration names and last metrics of several tasks side by side."""
        if not task_ids:
            raise BadRequest("tasks must name at least one task id")
        manifests = list(self._pool.map(self.manifest, task_ids))
        tasks = []
        for manifest in manifests:
            tasks.append(
                {
                    "id": manifest["id"],
                    "name": manifest.get("name"),
                    "status": manifest.get("status"),
                    "project": manifest.get("project"),
                    "params": {
                        f"{section}/{name}": (entry or {}).get("value")
                        for section, entries in (manifest.get("hyperparams") or {}).items()
                        for name, entry in (entries or {}).items()
                    },
                    "configuration": {
                        name: (entry or {}).get("value")
                        for name, entry in (manifest.get("configuration") or {}).items()
                    },
                    "metrics": {
                        f"{title}/{series}": values
                        for title, by_series in (manifest.get("last_metrics") or {}).items()
                        for series, values in by_series.items()
                    },
                }
            )
        return plain({"tasks": tasks})


def scalars_of_table(
    table: pa.Table,
    *,
    x_axis: str = "iter",
    x_min: float | None = None,
    x_max: float | None = None,
    buckets: int = DEFAULT_BUCKETS,
    titles: Sequence[str] = (),
    band: bool = True,
    groups: pa.ChunkedArray | None = None,
) -> dict[str, Any]:
    """Downsample a scalars table for charts. ``x_axis``: ``iter`` (iterations) or ``time`` (epoch ms);
    ``titles`` keeps only those titles. Returns :func:`~fstrack.ui.downsample.bucketize`'s result plus
    ``x_axis``, ``t0`` (the first report's time, ms) and ``points`` (rows in the range)."""
    if x_axis not in ("iter", "time"):
        raise BadRequest(f"x_axis must be 'iter' or 'time', got {x_axis!r}")
    if titles and table.num_rows:
        table = table.filter(pc.is_in(pc.cast(table.column("title"), pa.string()), pa.array(list(titles))))
    t0 = pc.min(table.column("timestamp")).value if table.num_rows else None
    try:
        result = bucketize(
            table,
            "iteration" if x_axis == "iter" else "timestamp",
            x_min=x_min,
            x_max=x_max,
            buckets=buckets,
            band=band,
            groups=groups,
        )
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    result.update(x_axis=x_axis, t0=t0, points=sum(s["count"] for s in result["series"]))
    return result
