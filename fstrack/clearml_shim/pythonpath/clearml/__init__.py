"""``clearml`` as seen by a process started with ``fstrack run``: fstrack under ClearML's names."""

from clearml import backend_api, model, storage, task_parameters, utilities
from clearml.model import InputModel, Model, OutputModel
from clearml.storage import StorageManager

import fstrack
from fstrack import Logger, Task, TaskTypes, UsageError

__version__ = f"2.1.0+fstrack.{fstrack.__version__}"

__all__ = [
    "__version__",
    "Task",
    "TaskTypes",
    "InputModel",
    "OutputModel",
    "Model",
    "Logger",
    "StorageManager",
    "UsageError",
    "backend_api",
    "model",
    "storage",
    "task_parameters",
    "utilities",
]
