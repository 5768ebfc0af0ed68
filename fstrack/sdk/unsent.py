"""What a process could not write to its store before its exit deadline: counted, said in one line, and saved
to a local folder that ``fstrack push`` delivers later (issue 13, items 13-15).

The folder (``<offline folder>/unsent/<task id>-<UTC time>``) is an fstrack offline folder holding one task: the
running task's fields as this process last knew them (its queued changes applied), its final status, and the
reports that were still buffered. A file ``continues.json`` says which task it continues, which fields this
process changed without storing them, and the records among those that name objects of the task's store
(artifacts, models, metric summaries: spec/sync.md §12). ``fstrack push FOLDER [STORE]`` continues that task
(:func:`fstrack.sdk.offline_import.continue_task`): the changed fields are applied, the reports appended, and the
task ends with the saved status (its status is left alone when none was saved: a child process, or a task another
process had stopped).
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from fstrack import terminal
from fstrack.records import config, metrics
from fstrack.records.taskdb import TaskDB
from fstrack.store.objects import new_token
from fstrack.store.store import open_store

#: The file in a saved folder that names the task it continues.
CONTINUES_FILE = "continues.json"


def report_counts(writer: metrics.MetricsWriter | None) -> Counter[str]:
    """Rows buffered in ``writer`` by kind (``scalars``, ``console lines``, ...)."""
    counts: Counter[str] = Counter()
    if writer is None:
        return counts
    counts["scalars"] = len(writer.scalars) // 4
    names = {"console": "console lines", "plots": "plots", "debug_samples": "debug samples"}
    for kind, rows in writer.rows.items():
        counts[names.get(kind, kind.replace("_", " "))] += len(rows)
    return counts


#: Members whose records name objects of the task's store (or fold metric summaries): the saved task leaves them
#: empty, ``continues.json`` carries the changed ones as JSON (object ids as hex), spec/sync.md §12.
RECORD_FIELDS = ("artifacts", "models", "last_metrics", "last_iteration")


def save(
    manifest: dict[str, Any] | None,
    writer: metrics.MetricsWriter | None,
    store_url: str,
    status: tuple[str, str, str] | None,
    changed: Iterable[str],
) -> str:
    """Save ``manifest`` (the task as this process knows it, its unstored ``changed`` fields applied),
    ``writer``'s buffered rows and the final ``status`` (``(status, message, reason)``) to a new folder under the
    offline folder; returns its path. ``store_url`` must hold no credential. Raises OSError if the folder cannot
    be written (a full disk): the caller says the data is lost."""
    if manifest is None:
        raise OSError("the task's fields were never read from the store")
    task_id = manifest["id"]
    changed = set(changed)
    view = copy.deepcopy(manifest)
    if writer is not None and writer.unfolded_stats is not None:  # stored rows whose summary was not folded in yet
        metrics.apply_stats(view, writer.unfolded_stats)
        changed |= {"last_metrics", "last_iteration"}
    records = {name: view.get(name) for name in RECORD_FIELDS if name in changed}
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = os.path.join(config.offline_folder(), "unsent", f"{task_id}-{stamp}-{new_token()[:6]}")
    db = TaskDB(open_store(folder, create=True), cache_dir="")
    saved = view
    saved.update(
        id=new_token(),
        artifacts={},  # records of the task's store's objects: in continues.json when changed
        models={"input": [], "output": []},
        last_metrics={},
        execution={"queue": None, "worker": None},
    )
    if status is not None:
        state, message, reason = status
        saved.update(status=state, status_message=message[-4000:], status_reason=reason, status_changed=time.time())
    db.ensure_project(saved["project"])
    db.create(saved)
    if writer is not None and writer.has_pending():
        copy_writer = metrics.MetricsWriter(
            db.store, db.refs, saved["id"], run=lambda: int(saved.get("run") or 1), start=False
        )
        copy_writer.scalars = list(writer.scalars)
        copy_writer.series = list(writer.series)
        copy_writer.rows = {kind: list(rows) for kind, rows in writer.rows.items()}
        copy_writer.flush(attempts=1)
    data = {
        "task": task_id,
        "store": store_url,
        "status": status[0] if status is not None else None,
        "changed": sorted(changed),
        "records": records,
    }
    with open(os.path.join(folder, CONTINUES_FILE), "w", encoding="utf-8") as f:
        json.dump(data, f, default=str)  # object ids (BlobId) as hex
    return folder


def continuation(folder: str) -> dict[str, Any] | None:
    """What ``folder``'s ``continues.json`` says (``task``, ``store``, ``delivered``), or None for an ordinary
    offline folder."""
    try:
        with open(os.path.join(folder, CONTINUES_FILE), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("task"), str) else None


def mark_delivered(folder: str) -> None:
    """Record in ``continues.json`` that the folder was pushed (spec/sync.md §12): it is refused from now on."""
    data = continuation(folder) or {}
    staged = os.path.join(folder, CONTINUES_FILE + ".tmp")
    with open(staged, "w", encoding="utf-8") as f:
        json.dump({**data, "delivered": time.time()}, f)
    os.replace(staged, os.path.join(folder, CONTINUES_FILE))


def line(
    task_id: str,
    store_url: str,
    why: str,
    reports: Counter[str],
    changes: Iterable[str],
    uploads: Iterable[str],
    status: str | None,
    saved: str | None,
) -> str:
    """The one line printed at exit for what was not written: counts per kind, and how to recover it."""
    parts = [", ".join(f"{n:,} {kind}" for kind, n in sorted(reports.items()) if n)]
    changes = sorted(set(changes), key=str)
    if changes:
        parts.append(f"changes to {', '.join(changes)}")
    if status is not None:
        parts.append(f"the final status {status!r}")
    uploads = sorted(uploads)
    if uploads:
        parts.append(f"{len(uploads)} upload(s) ({', '.join(uploads)}; not saved: upload them again)")
    what = "; ".join(p for p in parts if p) or "nothing"
    if saved is not None:
        recover = f"saved to {saved}; deliver it with: fstrack push {saved} {store_url}"
    else:
        recover = "it could not be saved either and is lost"
    text = f"fstrack: store {store_url} failed ({why}); not written for task {task_id}: {what}; {recover}"
    return terminal.escape(" ".join(text.split()))  # one line, whatever the error held; nothing a terminal acts on
