"""The process's main task: the one ``Task.init`` returned (``Task.current_task()``).

A slot of its own so that the modules ``Task`` is built from (logger, models, offline import) can find the
current task without importing :mod:`fstrack.sdk.task`, which imports them.
"""

from __future__ import annotations

from typing import Any

#: The main task of this process, or None before ``Task.init`` and after it closed.
main: Any = None
