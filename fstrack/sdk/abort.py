"""Aborting a task from outside its process: what ``fstrack abort`` and the web UI's abort action both do."""

from __future__ import annotations

import getpass
import socket

from fstrack.dispatch.queues import Queues
from fstrack.sdk.task import Task, UsageError


def who() -> str:
    """``user@host`` of this process (the host alone where there is no user name)."""
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except Exception:  # noqa: BLE001 - no user name in this environment
        return socket.gethostname()


def abort_task(task: Task, message: str) -> str:
    """``in_progress`` or ``queued`` -> ``stopped``; returns the status the task had. A queued task's entry is
    withdrawn if no worker took it yet; a running task's process sees the change at its next heartbeat, runs
    its abort callback and exits (its agent terminates it after a grace period otherwise)."""
    status = task.get_status()
    if status not in ("in_progress", "queued"):
        raise UsageError(f"task {task.id} is {status!r}: only a running or queued task can be aborted")
    execution = task.data.get("execution") or {}
    if status == "queued" and execution.get("queue") and execution.get("entry"):
        try:  # else the worker that takes it finds the task stopped
            Queues(task._db.store).claim(execution["queue"], execution["entry"])
        except OSError:
            pass
    task.mark_stopped(status_message=message)
    return status
