"""fstrack: serverless experiment tracking with ClearML's Task API on any fsspec URL.

Replace ``from clearml import Task`` with ``from fstrack import Task`` and point ``FSTRACK_URL`` at a
folder or a bucket (or call :func:`set_store`). Names are imported on first use, so plumbing users
(``fstrack.store``, ``fstrack.refs``) do not pay for the Task layer.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Task": "fstrack.task",
    "TaskTypes": "fstrack.task",
    "TaskStatusEnum": "fstrack.task",
    "UsageError": "fstrack.task",
    "set_store": "fstrack.config",
    "Store": "fstrack.store",
    "open_store": "fstrack.store",
    "FstrackError": "fstrack.errors",
    "Logger": "fstrack.logger",
    "OutputModel": "fstrack.models",
    "InputModel": "fstrack.models",
    "Model": "fstrack.models",
    "scalars": "fstrack.analytics",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fstrack' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
