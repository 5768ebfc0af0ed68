"""``Task.import_offline_session``: bring an offline session into the configured store.

Two kinds of session are accepted, each as a folder or a zip of it:

* **an fstrack offline folder** (what ``Task.set_offline(True)`` writes: an ordinary store). Without
  ``previous_task_id`` it is pushed whole (:func:`fstrack.sync.push`): every task keeps its id, history and bytes.
  With ``previous_task_id`` its one task is pushed and then *continued into* the previous task: its parameters,
  configuration, labels, user properties and script are merged in, its reports (scalars, plots, console, debug
  samples, single values) are appended with iterations shifted by ``iteration_offset``, and its artifacts and
  models are listed on the previous task, which ends ``completed`` (``failed`` or ``stopped`` if the session
  ended so: what a run saved at exit, :mod:`fstrack.sdk.unsent`).
* **a ClearML offline session** (``task.json``, ``metrics.jsonl``, ``log.jsonl``, ``data/``, ``models/``, as
  ClearML's ``Task.set_offline(True)`` leaves it in ``~/.clearml/cache/offline/<id>[.zip]``). It becomes a new
  task with ClearML's fields mapped to fstrack's (tasks.md): name, project, type, tags, comment, parameters
  (sections and types as ClearML wrote them), configuration objects, label enumeration, script (a standalone
  script that ClearML keeps in ``diff`` becomes ``code``), container; scalars (``Summary`` values at ClearML's
  single-value iteration become single values), plots (embedded images stored as objects), debug images and
  media, console lines with their levels and original timestamps; artifacts with their types, previews and
  metadata (so ``Artifact.get()`` returns the dict / array / file); output models with their weights. Files are
  found relative to the session folder, whatever absolute paths ``task.json`` recorded, so a session moved to
  another machine imports. With ``previous_task_id`` everything reported goes to that task instead (as ClearML
  does: the imported task keeps its parameters and models, the previous one gets the reports and artifacts).

Returns the id of the task holding the reports (the previous task, or the new one; for an fstrack folder of
several tasks, the newest).
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from fstrack import terminal
from fstrack.errors import FstrackError
from fstrack.records import config, metrics
from fstrack.sdk.unsent import RECORD_FIELDS
from fstrack.store.objects import BlobId
from fstrack.store.store import Store, object_key, open_store

if TYPE_CHECKING:  # pragma: no cover
    from fstrack.sdk.task import Task

#: ClearML's iteration for ``report_single_value`` (reported as a scalar of title "Summary").
CLEARML_SINGLE_VALUE_ITERATION = -(2**31)
CLEARML_SINGLE_VALUE_TITLE = "Summary"
_DEBUG_HISTORY = 100


class OfflineSessionError(FstrackError, ValueError):
    """The given path is not an offline session fstrack can import (the message says what was found)."""


# -- finding the session -----------------------------------------------------------------------------------------
def _session_root(folder: Path) -> tuple[str, Path]:
    """``("fstrack" | "clearml", folder)``: the session inside ``folder`` (or one level down, as a zip of the
    folder has it)."""
    candidates = [folder] + sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    for candidate in candidates:
        if (candidate / "fstrack.json").is_file():
            return "fstrack", candidate
        if (candidate / "task.json").is_file():
            return "clearml", candidate
    raise OfflineSessionError(
        f"{folder} is neither an fstrack offline folder (no fstrack.json) nor a ClearML offline session (no task.json)"
    )


def _unpack(path: Path, scratch: str) -> Path:
    if path.is_dir():
        return path
    if path.is_file() and zipfile.is_zipfile(path):
        from fstrack.sdk.artifacts import safe_extract

        target = os.path.join(scratch, "session")
        safe_extract(str(path), target)
        return Path(target)
    raise OfflineSessionError(f"could not find the session folder / zip-file {str(path)!r}")


def _target_db(url: str | None, storage_options: Mapping[str, Any] | None, *, create: bool = True):
    """The task database sessions are imported into: ``url``, else the configured store (offline mode aside)."""
    if url is None:
        url, options = config.online_location()
        storage_options = {**options, **dict(storage_options or {})}
    return config.get_taskdb(url, create=create, **dict(storage_options or {}))


def import_offline_session(
    task_cls: type[Task],
    session_folder_zip: str | os.PathLike,
    previous_task_id: str | None = None,
    iteration_offset: int | None = 0,
    *,
    url: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> str:
    """Import an fstrack offline folder or a ClearML offline session (folder or zip) as tasks of ``task_cls``
    (the ``Task`` class, passed in so that this module need not import it); see the module text.
    ``url``/``storage_options`` name the target store (default: the configured one, even in offline mode)."""
    offset = int(iteration_offset or 0)
    if not isinstance(iteration_offset, (int, type(None))) or isinstance(iteration_offset, bool):
        raise ValueError(f"iteration_offset must be an int, got {iteration_offset!r}")
    path = Path(os.fspath(session_folder_zip)).expanduser()
    scratch = tempfile.mkdtemp(prefix="fstrack-offline-")
    try:
        kind, root = _session_root(_unpack(path, scratch))
        db = _target_db(url, storage_options)
        if kind == "fstrack":
            return _import_fstrack(task_cls, root, db, previous_task_id, offset)
        return _import_clearml(task_cls, root, db, previous_task_id, offset)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _task(task_cls: type[Task], db, task_id: str):
    from fstrack.records.taskdb import check_task_id

    return task_cls._attach(db, check_task_id(task_id))


# -- fstrack folders -----------------------------------------------------------------------------------------------
def _import_fstrack(task_cls: type[Task], root: Path, db, previous_task_id: str | None, offset: int) -> str:
    from fstrack.records.taskdb import TaskDB
    from fstrack.sync import push

    source = open_store(str(root), create=False)
    records = TaskDB(source, cache_dir="").records()
    if not records:
        raise OfflineSessionError(f"the offline folder {root} holds no task")
    if previous_task_id is None:
        if offset:
            raise OfflineSessionError(
                "iteration_offset shifts reports appended to previous_task_id; a pushed "
                "fstrack folder keeps its tasks as they are (pass previous_task_id)"
            )
        report = push(source, db.store)
        if report["conflicts"] or report["errors"]:
            raise OfflineSessionError(
                f"importing {root} left conflicts/errors: {json.dumps(report['conflicts'] + report['errors'])[:2000]}"
            )
        return max(records, key=lambda r: (r.get("created") or 0, r["id"]))["id"]
    if len(records) != 1:
        raise OfflineSessionError(
            f"the offline folder {root} holds {len(records)} tasks; continuing "
            f"{previous_task_id} needs a folder with one (or push the folder as it is)"
        )
    offline_id = records[0]["id"]
    holding = _task(task_cls, db, previous_task_id)  # fails early, naming the id, if it does not exist
    report = push(source, db.store, task_ids=[offline_id])
    if report["conflicts"] or report["errors"]:
        raise OfflineSessionError(
            f"importing {root} left conflicts/errors: {json.dumps(report['conflicts'] + report['errors'])[:2000]}"
        )
    offline = _task(task_cls, db, offline_id)
    manifest = offline._data
    holding.mark_started(force=True)
    _merge_fields(holding, manifest)
    _append_reports(holding, _reports_of(db.store, db.refs, offline_id, manifest, holding.id, offset))
    artifacts = list((manifest.get("artifacts") or {}).values())
    if artifacts:
        holding.set_artifacts([dict(record) for record in artifacts])
    for side in ("input", "output"):
        for entry in (manifest.get("models") or {}).get(side) or ():
            holding._add_model_entry(side, entry["model"], entry["name"])
    _end_as(holding, manifest.get("status"), manifest)
    return holding.id


def _reports_of(store: Store, refs, task_id: str, manifest: Mapping[str, Any], target: str, offset: int) -> dict:
    """Every row of ``task_id``'s run as rows of ``target`` (kind -> table), iterations shifted by ``offset``."""
    tables = {}
    entries = metrics.log_entries(refs, task_id, int(manifest.get("run") or 1))
    for kind in metrics.KINDS:
        table = metrics.read_kind(store, refs, task_id, None, kind, entries=entries)
        if table.num_rows:
            tables[kind] = _retarget(table, kind, target, offset, store)
    return tables


def _end_as(holding, status: str | None, manifest: Mapping[str, Any]) -> None:
    """End ``holding`` as ``status`` when that is failed or stopped (with the message and reason of ``manifest``),
    else completed. Not ``mark_completed``: that ends the process running the task."""
    if status in ("failed", "stopped"):
        message, reason = manifest.get("status_message") or "", manifest.get("status_reason") or ""
        holding._set_status(status, force=True, message=message, reason=reason)
    else:
        holding._set_status("completed", force=True)


# -- continuation folders (spec/sync.md §12) -------------------------------------------------------------------------
#: Fields a continuation never applies: the task's identity and lifecycle (its status is §12's step 4).
_NOT_CONTINUED = frozenset(
    {"id", "previous", "kind", "created", "last_update", "run", "execution", "started", "completed"}
    | {"status", "status_message", "status_reason", "status_changed"}
)
_MERGED_MAPS = frozenset({"hyperparams", "configuration", "labels", "user_properties", "script", "runtime"})


def continue_task(
    task_cls: type[Task], folder: str, saved: Mapping[str, Any], url: str | None, storage_options: Mapping[str, Any]
) -> str:
    """Deliver a continuation folder (what a run saved at exit, :mod:`fstrack.sdk.unsent`; ``saved``: its
    ``continues.json``) into the task it names, in ``url`` (default: the configured store): spec/sync.md §12.
    The folder's task is read where it is, never copied in as a task of its own; only the fields the run changed
    are applied. A push repeated after one that failed part-way appends no row twice (the rows go in as one entry
    whose writer id is the folder task's). Changes the push cannot apply are named in a warning."""
    from fstrack.records.fields import FIELDS
    from fstrack.records.taskdb import TaskDB

    source = open_store(str(folder), create=False)
    source_db = TaskDB(source, cache_dir="")
    records = source_db.records()
    if len(records) != 1:
        raise OfflineSessionError(f"the saved folder {folder} holds {len(records)} tasks, expected exactly one")
    folder_task = records[0]["id"]
    manifest = source_db.load(folder_task)
    db = _target_db(url, storage_options, create=False)  # a mistyped store is refused, not created
    holding = _task(task_cls, db, saved["task"])  # fails, naming the id, before anything is written
    run, saved_run = int(holding._data.get("run") or 1), int(manifest.get("run") or 1)
    if run != saved_run:
        raise OfflineSessionError(
            f"{folder} holds what run {saved_run} of task {holding.id} could not write, but the task is at run {run} "
            "now (it was reset or run again): pushing it would mix the two runs"
        )
    changed = [str(f) for f in saved.get("changed") or ()]
    unknown = sorted({f for f in changed if f not in FIELDS})
    if unknown:
        terminal.warn(f"fstrack: {folder}: changes to {', '.join(unknown)} cannot be applied by a push", stacklevel=2)
    merged = {f: manifest[f] for f in changed if f in _MERGED_MAPS and manifest.get(f)}
    if merged:  # nested maps merge key by key
        holding.update_task(merged)
    applied = _NOT_CONTINUED | _MERGED_MAPS | set(RECORD_FIELDS)
    replaced = {f: manifest[f] for f in changed if f in FIELDS and f in manifest and f not in applied}
    for field in ("tags", "system_tags"):  # appended: a teammate's tags meanwhile stay
        if field in replaced:
            known = list(holding._data.get(field) or [])
            replaced[field] = [*known, *(t for t in replaced[field] if t not in known)]
    if replaced:
        holding.update_task(replaced)
    saved_records: Mapping[str, Any] = saved.get("records") or {}
    _apply_object_records(holding, saved_records)
    if saved_records.get("last_metrics") or saved_records.get("last_iteration"):  # stored rows, then the newer
        stats = {
            "run": run,
            "metrics": saved_records.get("last_metrics") or {},
            "last_iteration": int(saved_records.get("last_iteration") or 0),
        }
        holding._edit(lambda m: metrics.apply_stats(m, stats), fields={"last_metrics", "last_iteration"})
    tables = _reports_of(source, source_db.refs, folder_task, manifest, holding.id, 0)
    for table in tables.values():
        _copy_row_objects(table, source, db.store)
    _append_reports(holding, tables, writer=folder_task)
    if saved.get("status") is not None:
        _end_as(holding, saved["status"], manifest)
    return holding.id


def _apply_object_records(holding, records: Mapping[str, Any]) -> None:
    """The changed artifact and model records of a continuation (JSON, object ids as hex) applied to ``holding``:
    artifacts that differ are set (each object must be in the task's store), missing model entries are added."""
    artifacts = records.get("artifacts") or {}
    if artifacts:
        mine = json.loads(json.dumps(holding._data.get("artifacts") or {}, default=str))
        different = [dict(record) for name, record in artifacts.items() if mine.get(name) != record]
        if different:
            holding.set_artifacts(different)
    for side in ("input", "output"):
        for entry in (records.get("models") or {}).get(side) or ():
            if entry not in (holding._data.get("models") or {}).get(side, []):
                holding._add_model_entry(side, entry["model"], entry["name"])


def _copy_row_objects(table: pa.Table, source: Store, target: Store) -> None:
    """Copy the objects ``table``'s rows show (debug samples, plot images) from ``source`` into ``target``."""
    if "object" not in table.column_names:
        return
    for oid in dict.fromkeys(table.column("object").to_pylist()):
        if oid and not target.has(oid):
            target.put(source.get(oid))


def _merge_fields(holding, manifest: Mapping[str, Any]) -> None:
    """ClearML's ``import_task(..., update=True)``: the session's parameters, configuration, labels, user
    properties, script and runtime are merged into the task (nested maps key by key), a comment replaces the
    task's; tags are added."""
    changes = {
        k: manifest[k]
        for k in ("hyperparams", "configuration", "labels", "user_properties", "script", "runtime", "comment")
        if manifest.get(k)
    }
    if changes:
        holding.update_task(changes)
    tags = [t for t in manifest.get("tags") or () if t not in holding.get_tags()]
    if tags:
        holding.add_tags(tags)


def _retarget(table: pa.Table, kind: str, task_id: str, offset: int, store: Store) -> pa.Table:
    """Rows of another task's segments as rows of ``task_id``: the task column, iterations shifted by ``offset``,
    and the URLs of the objects rows show (debug samples, plot images) as keys relative to the store
    (spec/metrics.md §1.4; readers resolve them against the store they read)."""
    n = table.num_rows
    table = table.set_column(table.schema.get_field_index("task"), "task", metrics._constant(task_id, n))
    if offset and "iteration" in table.column_names:
        shifted = pc.add(table.column("iteration"), pa.scalar(offset, pa.int64()))
        table = table.set_column(table.schema.get_field_index("iteration"), "iteration", shifted)
    if "object" in table.column_names:
        objects = table.column("object").to_pylist()
        column = "url" if "url" in table.column_names else "plot"
        values = table.column(column).to_pylist()
        fixed = []
        for oid, value in zip(objects, values):
            if oid and isinstance(value, str):
                value = re.sub(
                    r"[^\s\"']*/objects/%s/%s" % (oid[:2], oid[2:]),
                    lambda _m: object_key(oid),  # called right here: binds this oid
                    value,
                )
            fixed.append(value)
        table = table.set_column(
            table.schema.get_field_index(column), column, pa.array(fixed, table.schema.field(column).type)
        )
    return table.cast(metrics.SCHEMAS[kind])


def _append_reports(task, tables: Mapping[str, pa.Table], writer: str | None = None) -> None:
    """Store ``tables`` (kind -> rows) as one flush of ``task``'s segment log, then fold the scalars' last/min/max
    into its manifest, as the metrics writer does (spec: metrics.py module text). Linked blobs must be stored.
    ``writer``: the entry's writer id (default: a new one); when the log holds an entry of it already (an earlier
    push appended it and failed after), the rows are not appended again, only their summaries folded in again
    (minimum and maximum do not change, ``last`` is set to the same value)."""
    from fstrack.store.objects import new_token

    tables = {k: t for k, t in tables.items() if t.num_rows}
    if not tables:
        return
    db = task._db
    run = int(db.load(task.id).get("run") or 1)
    appended = writer is not None and any(
        e.get("writer") == writer for _pos, e in metrics.log_entries(db.refs, task.id, run)
    )
    if not appended:
        _append_entry(db, task.id, run, tables, writer or new_token())
    scalars = tables.get("scalars")
    if scalars is not None:
        stats = _scalar_stats(scalars, run)
        task._edit(lambda m: metrics.apply_stats(m, stats), fields={"last_metrics", "last_iteration"})


def _append_entry(db, task_id: str, run: int, tables: Mapping[str, pa.Table], writer: str) -> None:
    """``tables`` as one entry of ``writer`` in the segment log of ``task_id``'s ``run``."""
    segments: dict[str, dict] = {}
    for kind, table in tables.items():
        data = metrics.encode_segment(table)
        info: dict[str, Any] = {"segment": db.store.put(data), "rows": table.num_rows, "bytes": len(data)}
        if "iteration" in table.column_names:
            info["min_iteration"] = pc.min(table.column("iteration")).as_py()
            info["max_iteration"] = pc.max(table.column("iteration")).as_py()
        if "object" in table.column_names:
            objects = [o for o in dict.fromkeys(table.column("object").to_pylist()) if o]
            if objects:
                info["objects"] = [BlobId(o) for o in objects]
        segments[kind] = info
    entry = {
        "v": metrics.ENTRY_VERSION,
        "run": run,
        "writer": writer,
        "seq": 1,
        "time": time.time(),
        "segments": segments,
    }
    db.refs.append(metrics.segments_key(task_id), entry)


def _scalar_stats(table: pa.Table, run: int) -> dict:
    metrics_out: dict[str, dict[str, dict[str, float | None]]] = {}
    titles = table.column("title").to_pylist()
    names = table.column("series").to_pylist()
    values = table.column("value").to_pylist()
    for title, name, value in zip(titles, names, values):
        mine = metrics_out.setdefault(title, {}).get(name)
        if mine is None:
            metrics_out[title][name] = {"last": value, "min": value, "max": value}
        else:
            mine.update(last=value, min=metrics._nan_min(mine["min"], value), max=metrics._nan_max(mine["max"], value))
    iterations = table.column("iteration")
    return {
        "run": run,
        "metrics": metrics_out,
        "last_iteration": pc.max(iterations).as_py(),
        "min_iteration": pc.min(iterations).as_py(),
    }


def _table(kind: str, task_id: str, columns: Mapping[str, list]) -> pa.Table:
    """A segment table of ``kind`` from plain column lists (the schema of :data:`fstrack.records.metrics.SCHEMAS`)."""
    schema = metrics.SCHEMAS[kind]
    n = len(next(iter(columns.values()))) if columns else 0
    arrays = []
    for field in schema:
        values = [task_id] * n if field.name == "task" else columns[field.name]
        if pa.types.is_dictionary(field.type):
            arrays.append(pa.array(values, pa.string()).dictionary_encode())
        else:
            arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


# -- ClearML sessions ------------------------------------------------------------------------------------------
def _read_json_lines(path: Path) -> list[dict]:
    """The events of a ClearML ``*.jsonl`` file: one JSON array of events per line (a torn last line, left by a
    killed process, is skipped)."""
    events: list[dict] = []
    if not path.is_file():
        return events
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                batch = json.loads(line)
            except ValueError:
                continue
            events.extend(e for e in (batch if isinstance(batch, list) else [batch]) if isinstance(e, dict))
    return events


class _SessionFiles:
    """Finds the files a ClearML session names by absolute paths in ``data/`` and ``models/`` of the folder it is
    now in (the paths were valid on the machine that wrote the session)."""

    def __init__(self, root: Path, export: Mapping[str, Any]):
        self.root = root
        self.data = root / "data"
        self.offline_folder = str(export.get("offline_folder") or "")

    def find(self, recorded: str | None, *, key: str | None = None) -> Path | None:
        candidates: list[Path] = []
        if key:
            candidates.append(self.data.joinpath(*key.split("/")))
        if recorded:
            text = str(recorded)
            if text.startswith("file://"):
                text = text[len("file://") :]
            for marker in (self.offline_folder.rstrip("/\\") + "/", self.offline_folder.rstrip("/\\") + os.sep):
                if self.offline_folder and text.startswith(marker):
                    candidates.append(self.root.joinpath(*text[len(marker) :].replace("\\", "/").split("/")))
            normalised = text.replace("\\", "/")
            for anchor in ("/data/", "/models/"):
                if anchor in normalised:
                    tail = normalised.rsplit(anchor, 1)[1]
                    candidates.append(self.root.joinpath(anchor.strip("/"), *tail.split("/")))
        for candidate in candidates:
            try:
                resolved = candidate.resolve()
            except OSError:
                continue
            if resolved.is_file() and os.path.commonpath([str(self.root.resolve()), str(resolved)]) == str(
                self.root.resolve()
            ):
                return resolved
        return None


def _hyperparams(raw: Any) -> dict:
    out: dict[str, dict[str, dict]] = {}
    for section, params in (raw or {}).items():
        if not isinstance(params, Mapping):
            continue
        for name, param in params.items():
            if not isinstance(param, Mapping):
                param = {"value": param}
            value = param.get("value")
            out.setdefault(section, {})[param.get("name") or name] = {
                "value": "" if value is None else str(value),
                "type": str(param.get("type") or ""),
                "description": str(param.get("description") or ""),
            }
    return out


def _configuration(raw: Any) -> dict:
    out = {}
    for name, item in (raw or {}).items():
        if not isinstance(item, Mapping):
            item = {"value": item}
        value = item.get("value")
        out[item.get("name") or name] = {
            "value": "" if value is None else str(value),
            "type": str(item.get("type") or ""),
            "description": str(item.get("description") or ""),
        }
    return out


def _script(raw: Any) -> dict:
    script = {k: v for k, v in dict(raw or {}).items() if v is not None}
    diff = script.get("diff") or ""
    if not script.get("repository") and diff and not diff.lstrip().startswith(("diff ", "--- ", "Index:")):
        # ClearML keeps a script that is not in a repository in ``diff``; fstrack keeps it in ``code``
        script["code"], script["diff"] = diff, ""
        script.setdefault("kind", "script")
    requirements = script.get("requirements")
    if isinstance(requirements, Mapping):
        script["requirements"] = {k: v for k, v in requirements.items() if isinstance(v, str) and v}
    return script


def _container(execution: Mapping[str, Any], raw: Any) -> dict:
    if isinstance(raw, Mapping) and raw.get("image"):
        return {
            "image": str(raw.get("image") or ""),
            "arguments": str(raw.get("arguments") or ""),
            "setup_shell_script": str(raw.get("setup_shell_script") or ""),
        }
    docker = str(execution.get("docker_cmd") or "").strip()
    if not docker:
        return {}
    image, _, arguments = docker.partition(" ")
    return {"image": image, "arguments": arguments.strip(), "setup_shell_script": ""}


def _level(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = logging.getLevelName(str(value or "info").upper())
    return number if isinstance(number, int) else logging.INFO


def _image_size(path: Path) -> tuple[int | None, int | None]:
    try:
        from PIL import Image

        with Image.open(path) as image:
            return image.size
    except Exception:  # noqa: BLE001 - sizes are informative
        return None, None


def _import_clearml(task_cls: type[Task], root: Path, db, previous_task_id: str | None, offset: int) -> str:
    from fstrack.records.lifecycle import check_task_type
    from fstrack.store.store import put_local_file

    try:
        with open(root / "task.json", encoding="utf-8") as f:
            export = json.load(f)
    except (OSError, ValueError) as exc:
        raise OfflineSessionError(f"could not read the ClearML task {root / 'task.json'}: {exc}") from exc
    if not isinstance(export, dict):
        raise OfflineSessionError(f"{root / 'task.json'} does not hold a ClearML task")
    files = _SessionFiles(root, export)
    execution = export.get("execution") or {}
    holding = _task(task_cls, db, previous_task_id) if previous_task_id else None
    events = _read_json_lines(root / "metrics.jsonl")
    logs = _read_json_lines(root / "log.jsonl")
    stamps = [e["timestamp"] for e in events + logs if isinstance(e.get("timestamp"), (int, float))]
    runtime = dict(export.get("runtime") or {})
    runtime["imported_from"] = {
        "clearml_offline_session": str(export.get("id") or ""),
        "folder": str(root),
        "imported_at": time.time(),
    }
    fields: dict[str, Any] = {
        "comment": str(export.get("comment") or ""),
        "hyperparams": _hyperparams(export.get("hyperparams")),
        "configuration": _configuration(export.get("configuration")),
        "labels": {str(k): int(v) for k, v in (execution.get("model_labels") or {}).items()},
        "script": _script(export.get("script")),
        "container": _container(execution, export.get("container")),
        "runtime": runtime,
    }
    if isinstance(export.get("user_properties"), Mapping):
        fields["user_properties"] = {
            str(k): {
                "name": str(k),
                "value": str(v.get("value", "") if isinstance(v, Mapping) else v),
                "description": str(v.get("description", "") if isinstance(v, Mapping) else ""),
            }
            for k, v in export["user_properties"].items()
        }
    project = str(export.get("project_name") or export.get("project") or "imported")
    try:
        task_type = check_task_type(export.get("type") or "training")
    except ValueError:
        task_type = "custom"
    created = task_cls._new(
        db,
        name=str(export.get("name") or "imported offline session"),
        project=project,
        task_type=task_type,
        tags=list(export.get("tags") or []),
        **fields,
    )
    if holding is None:
        holding = created
    else:
        holding.update_task(
            {
                k: v
                for k, v in fields.items()
                if k in ("hyperparams", "configuration", "labels", "user_properties", "script") and v
            }
        )
    holding.mark_started(force=True)
    _report_clearml(holding, export, events, logs, files, offset)
    _artifacts_clearml(holding, execution, files, put_local_file)
    _models_clearml(created, export, files)
    completed = max(stamps) / 1000.0 if stamps else None
    holding._set_status("completed", force=True)  # not mark_completed: that ends the process running the task
    if completed is not None and holding is created:
        started = min(stamps) / 1000.0
        holding._edit(lambda m: m.update(started=started, completed=completed), fields={"started", "completed"})
    return holding.id


def _report_clearml(
    task, export: Mapping[str, Any], events: list[dict], logs: list[dict], files: _SessionFiles, offset: int
) -> None:
    store = task._db.store
    org_id = str(export.get("id") or "")
    rows: dict[str, dict[str, list]] = {kind: {} for kind in metrics.KINDS}

    def add(table: str, **values: Any) -> None:
        for column, value in values.items():
            rows[table].setdefault(column, []).append(value)

    def stored(path: Path) -> str:
        oid = store.put(path.read_bytes())
        return str(oid)

    for event in events:
        kind = event.get("type")
        stamp = int(event.get("timestamp") or 0)
        title, series = str(event.get("metric", "")), str(event.get("variant", ""))
        iteration = event.get("iter")
        iteration = int(iteration) if isinstance(iteration, (int, float)) else 0
        if kind == "training_stats_scalar":
            value = event.get("value")
            value = float("nan") if value is None else float(value)
            if iteration == CLEARML_SINGLE_VALUE_ITERATION and title == CLEARML_SINGLE_VALUE_TITLE:
                add("single_values", name=series, timestamp=stamp, value=value)
            else:
                add("scalars", title=title, series=series, iteration=iteration + offset, timestamp=stamp, value=value)
        elif kind == "plot":
            plot, oid = _clearml_plot(str(event.get("plot_str") or "{}"), org_id, files, store, stored)
            add(
                "plots",
                title=title,
                series=series,
                iteration=iteration + offset,
                timestamp=stamp,
                plot=plot,
                object=oid,
            )
        elif kind in ("training_debug_image", "training_debug_media") or event.get("key") or event.get("url"):
            key, url = event.get("key"), event.get("url")
            local = files.find(url, key=key)
            name = os.path.basename(str(key or url or "sample"))
            content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            width = height = None
            oid = None
            size = None
            if local is not None:
                oid = stored(local)
                size = local.stat().st_size
                url = object_key(oid)
                if content_type.startswith("image/"):
                    width, height = _image_size(local)
            add(
                "debug_samples",
                title=title,
                series=series,
                iteration=iteration + offset,
                timestamp=stamp,
                kind="image" if content_type.startswith("image/") else "media",
                object=oid,
                url=str(url or ""),
                name=name,
                content_type=content_type,
                size=size,
                width=width,
                height=height,
                history=_DEBUG_HISTORY,
            )
    for event in logs:
        message = event.get("msg")
        if message is None:
            continue
        level = _level(event.get("level"))
        add(
            "console",
            timestamp=int(event.get("timestamp") or 0),
            level=level,
            stream="stderr" if level >= logging.ERROR else "stdout",
            message=str(message),
        )
    tables = {kind: _table(kind, task.id, columns) for kind, columns in rows.items() if columns}
    _append_reports(task, tables)


def _clearml_plot(text: str, org_id: str, files: _SessionFiles, store: Store, stored) -> tuple[str, str | None]:
    """A ClearML plot's JSON, with images it embeds from the session (matplotlib figures) stored as objects."""
    try:
        plot = json.loads(text)
    except ValueError:
        return text, None
    oid = None
    images = (plot.get("layout") or {}).get("images") if isinstance(plot, dict) else None
    for image in images or ():
        source = image.get("source") if isinstance(image, dict) else None
        if not isinstance(source, str):
            continue
        local = files.find(source)
        if local is None and org_id and f".{org_id}/" in source.replace("\\", "/"):
            pre, post = source.replace("\\", "/").split(f".{org_id}/", 1)
            local = files.find(None, key="/".join([*pre.split("/")[-2:-1], pre.split("/")[-1] + f".{org_id}", post]))
        if local is not None:
            oid = stored(local)
            image["source"] = object_key(oid)
    return (json.dumps(plot) if oid else text), oid


def _artifacts_clearml(task, execution: Mapping[str, Any], files: _SessionFiles, put_local_file) -> None:
    store = task._db.store
    records = []
    for artifact in execution.get("artifacts") or ():
        if not isinstance(artifact, Mapping) or not artifact.get("key"):
            continue
        name = str(artifact["key"])
        uri = artifact.get("uri")
        type_data = artifact.get("type_data") or {}
        metadata = {}
        for item in artifact.get("display_data") or ():
            if isinstance(item, (list, tuple)) and len(item) == 2:
                metadata[str(item[0])] = str(item[1])
        record: dict[str, Any] = {
            "name": name,
            "type": str(artifact.get("type") or "custom"),
            "mode": str(artifact.get("mode") or "output"),
            "content_type": type_data.get("content_type"),
            "preview": str(type_data.get("preview") or ""),
            "metadata": metadata,
            "timestamp": float(artifact.get("timestamp") or time.time()),
            "size": None,
            "hash": None,
            "object": None,
            "store": None,
            "url": None,
            "filename": os.path.basename(str(uri or name).rstrip("/")) or name,
        }
        local = files.find(uri)
        if local is not None:
            oid, size, _existed = put_local_file(store, str(local))
            record.update(hash=str(oid), size=size)
        elif uri:
            record["url"] = str(uri)  # uploaded elsewhere by ClearML (output_uri): recorded, not copied
        else:
            continue
        records.append(record)
    if records:
        task.set_artifacts(records)


def _models_clearml(task, export: Mapping[str, Any], files: _SessionFiles) -> None:
    from fstrack.sdk.models import OutputModel

    for item in export.get("offline_output_models") or ():
        if not isinstance(item, Mapping):
            continue
        init = dict(item.get("init") or {})
        weights = dict(item.get("weights") or {})
        comment = init.get("comment")
        if isinstance(comment, str) and comment.startswith("Created by task id:"):
            comment = None  # fstrack writes its own line naming the new task
        labels = init.get("label_enumeration")
        config_text = init.get("config_text") or None
        model = OutputModel(
            task=task,
            name=init.get("name"),
            tags=init.get("tags") or None,
            comment=comment,
            framework=init.get("framework"),
            config_text=config_text,
            config_dict=None if config_text else (init.get("config_dict") or None),
            label_enumeration=labels if isinstance(labels, Mapping) and labels else None,
        )
        local = files.find(weights.get("weights_filename"))
        if local is not None:
            model.update_weights(
                weights_filename=str(local),
                iteration=weights.get("iteration"),
                auto_delete_file=False,
                is_package=bool(weights.get("is_package")),
                target_filename=weights.get("target_filename"),
                async_enable=False,
            )
        elif weights.get("register_uri"):
            model.update_weights(
                register_uri=str(weights["register_uri"]), iteration=weights.get("iteration"), async_enable=False
            )
