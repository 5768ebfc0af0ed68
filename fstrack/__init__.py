"""fstrack: serverless experiment tracking with ClearML's Task API on any fsspec URL.

Replace ``from clearml import Task`` with ``from fstrack import Task`` and point ``FSTRACK_URL`` at a
folder or a bucket (or call :func:`set_store`). Names are imported on first use, so plumbing users
(``fstrack.store``) do not pay for the Task layer. The package is layered (ARCHITECTURE.md): ``store``
(bytes on a URL) < ``records`` (manifests, metrics, queries) < ``dispatch`` (queues) < ``sync`` <
``capture`` (the running process) < ``sdk`` (ClearML's API) < ``cli``.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what __getattr__ imports on first use, re-exported for type checkers (fstrack ships py.typed)
    from fstrack.errors import FstrackError as FstrackError
    from fstrack.records.analytics import scalar_segment_urls as scalar_segment_urls
    from fstrack.records.analytics import scalars as scalars
    from fstrack.records.config import set_store as set_store
    from fstrack.records.lifecycle import TaskStatusEnum as TaskStatusEnum
    from fstrack.records.lifecycle import TaskTypes as TaskTypes
    from fstrack.sdk.logger import Logger as Logger
    from fstrack.sdk.models import InputModel as InputModel
    from fstrack.sdk.models import Model as Model
    from fstrack.sdk.models import OutputModel as OutputModel
    from fstrack.sdk.task import Task as Task
    from fstrack.sdk.task import UsageError as UsageError
    from fstrack.store.store import Store as Store
    from fstrack.store.store import open_store as open_store

__version__ = "0.1.0"

_EXPORTS = {
    "Task": "fstrack.sdk.task",
    "TaskTypes": "fstrack.records.lifecycle",
    "TaskStatusEnum": "fstrack.records.lifecycle",
    "UsageError": "fstrack.sdk.task",
    "set_store": "fstrack.records.config",
    "Store": "fstrack.store.store",
    "open_store": "fstrack.store.store",
    "FstrackError": "fstrack.errors",
    "Logger": "fstrack.sdk.logger",
    "OutputModel": "fstrack.sdk.models",
    "InputModel": "fstrack.sdk.models",
    "Model": "fstrack.sdk.models",
    "scalars": "fstrack.records.analytics",
    "scalar_segment_urls": "fstrack.records.analytics",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fstrack' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
