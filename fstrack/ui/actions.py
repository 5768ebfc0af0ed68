"""The UI's write actions, each one call of the Task API (so each is a compare-and-swap on the task's head
and safe while agents and scripts write the same task). They act on the configured store
(:func:`fstrack.config.set_store`), which ``fstrack ui`` sets to the store it serves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fstrack.sdk.abort import abort_task, who
from fstrack.sdk.task import Task
from fstrack.ui.views import BadRequest


def _text(body: dict, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string, got {value!r}")
    return value


def _tags(body: dict, key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
        raise BadRequest(f"{key} must be a list of non-empty strings, got {value!r}")
    return value


def abort(task: Task, message: str | None = None) -> dict[str, Any]:
    """Stop a running or queued task as ``fstrack abort`` does."""
    was = abort_task(task, message or f"aborted by {who()} (web UI)")
    return {"was": was, "status": "stopped"}


def _tags_action(task: Task, body: dict) -> dict[str, Any]:
    add, remove = _tags(body, "add"), _tags(body, "remove")
    if add:
        task.add_tags(add)
    if remove:
        task.remove_tags(remove)
    return {"tags": task.get_tags()}


def _clone(task: Task, body: dict) -> dict[str, Any]:
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise BadRequest(f"name must be a non-empty string, got {name!r}")
    params = body.get("parameters") or {}
    if not isinstance(params, dict) or not all(isinstance(k, str) and "/" in k for k in params):
        raise BadRequest(f"parameters must map 'Section/name' to values, got {params!r}")
    clone = Task.clone(task, name=name)
    if params:
        clone.update_parameters({k: str(v) for k, v in params.items()})
    result: dict[str, Any] = {"id": clone.id, "name": clone.name}
    queue = body.get("queue")
    if queue:
        result["enqueue"] = Task.enqueue(clone, queue_name=_text(body, "queue"))
    return result


ACTIONS: dict[str, Callable[[Task, dict], Any]] = {
    "tags": _tags_action,
    "rename": lambda task, body: task.set_name(_text(body, "name")),
    "comment": lambda task, body: task.set_comment(_text(body, "comment")),
    "archive": lambda task, body: task.set_archived(True),
    "restore": lambda task, body: task.set_archived(False),
    "abort": lambda task, body: abort(task, body.get("message") if isinstance(body.get("message"), str) else None),
    "publish": lambda task, body: task.publish(),
    "clone": _clone,
    "enqueue": lambda task, body: Task.enqueue(task, queue_name=_text(body, "queue"), force=bool(body.get("force"))),
    "dequeue": lambda task, body: Task.dequeue(task),
    "delete": lambda task, body: task.delete(),
}


def run_action(task_id: str, action: str, body: dict) -> Any:
    """Perform ``action`` on a task with the request ``body``; returns what the action reports."""
    handler = ACTIONS.get(action)
    if handler is None:
        raise BadRequest(f"unknown action {action!r}: expected one of {', '.join(ACTIONS)}")
    if not isinstance(body, dict):
        raise BadRequest(f"the request body must be a JSON object, got {body!r}")
    task = Task.get_task(task_id=task_id)
    result = handler(task, body)
    return result if isinstance(result, dict) else {"ok": True}
