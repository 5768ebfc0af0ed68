"""The process's main task: the one ``Task.init`` returned (``Task.current_task()``).

A slot of its own so that the modules ``Task`` is built from (logger, models, offline import) can find the
current task without importing :mod:`fstrack.sdk.task`, which imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: The main task of this process, or None before ``Task.init`` and after it closed.
main: Any = None
#: Set by :mod:`fstrack.sdk.task`: attaches this process to the task of the parent process that started it (if
#: any; see :mod:`fstrack.sdk.processes`), making it ``main``, and returns it (or None).
attach_to_parent: Callable[[], Any] | None = None


def main_task() -> Any:
    """``main``; in a process started by a process running a task, that task (attached on first use)."""
    if main is None and attach_to_parent is not None:
        return attach_to_parent()
    return main
