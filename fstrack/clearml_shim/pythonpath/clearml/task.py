from fstrack import Task, TaskTypes

__all__ = ["Task", "TaskTypes"]
