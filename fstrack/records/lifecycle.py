"""The task lifecycle: types, statuses and the transitions between them (spec/tasks.md).

Pure rules over a manifest dict: no store access. The Task layer and the agent's leases both move tasks
through :func:`transition`, so the state table is enforced in one place.
"""

from __future__ import annotations

import time
from enum import Enum
from typing import Any

from fstrack.errors import FstrackError
from fstrack.records.taskdb import FINAL_STATUSES


class InvalidTransitionError(FstrackError, ValueError):
    """A status change the task lifecycle does not allow."""


class TaskTypes(str, Enum):
    training = "training"
    testing = "testing"
    inference = "inference"
    data_processing = "data_processing"
    application = "application"
    monitor = "monitor"
    controller = "controller"
    optimizer = "optimizer"
    service = "service"
    qc = "qc"
    custom = "custom"

    def __str__(self) -> str:
        return self.value


class TaskStatusEnum(str, Enum):
    created = "created"
    queued = "queued"
    in_progress = "in_progress"
    stopped = "stopped"
    published = "published"
    publishing = "publishing"
    closed = "closed"
    failed = "failed"
    completed = "completed"
    unknown = "unknown"

    def __str__(self) -> str:
        return self.value


#: status -> statuses it may move to without ``force`` (the concepts page's state table:
#: Draft=created, Pending=queued, Running=in_progress, Aborted=stopped).
TRANSITIONS: dict[str, frozenset[str]] = {
    "created": frozenset({"queued", "in_progress", "stopped", "failed", "completed", "closed"}),
    "queued": frozenset({"created", "in_progress", "stopped", "failed"}),
    "in_progress": frozenset({"stopped", "completed", "failed", "closed"}),
    "stopped": frozenset({"created", "queued", "published", "closed", "completed", "failed"}),
    "completed": frozenset({"created", "published", "closed"}),
    "failed": frozenset({"created", "closed"}),
    "closed": frozenset({"created", "published"}),
    "published": frozenset(),
}


def check_task_type(value: Any) -> str:
    raw = value.value if isinstance(value, Enum) else value
    if raw not in TaskTypes.__members__:
        raise ValueError(f"task type {value!r} is not one of {', '.join(TaskTypes.__members__)}")
    return str(raw)


def transition(task_id: str, m: dict[str, Any], status: str, *, force: bool, repeat: bool) -> float:
    """Move manifest ``m`` to ``status`` per :data:`TRANSITIONS`; returns the change's time."""
    current = m["status"]
    if (current != status or not repeat) and not force and status not in TRANSITIONS.get(current, frozenset()):
        allowed = ", ".join(sorted(TRANSITIONS.get(current, frozenset()))) or "none (use clone)"
        raise InvalidTransitionError(
            f"task {task_id} cannot go from {current!r} to {status!r}; from {current!r} "
            f"it may go to: {allowed} (or pass force=True)"
        )
    now = time.time()
    m.update(status=status, status_changed=now)
    if status == "in_progress" and current != "in_progress":
        m["started"] = now
        m["completed"] = None
    if status in FINAL_STATUSES and current not in FINAL_STATUSES:
        m["completed"] = now
    return now
