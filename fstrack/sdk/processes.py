"""Which process owns a task, and how the processes it starts report into it.

Only the process that called ``Task.init`` (or that an agent started for a run) ends a task: it sets the final
status at exit or ``close()``. Every other process that reports into the task is a *child*:

* a **forked** child (``os.fork``, ``multiprocessing`` with ``fork``, ``DataLoader`` workers) inherits the
  ``Task`` object. Its reports go to the store under a writer of its own (see
  :meth:`fstrack.records.metrics.MetricsWriter._forget_parent`); when it exits, whichever way, it flushes them and
  leaves the task's status alone.
* a **started** child (``multiprocessing`` with ``spawn``/``forkserver``, ``subprocess.Popen``) inherits the
  environment variable :data:`MASTER_ENV` that ``Task.init`` sets (``"<pid>:<task id>"``, as ClearML's
  ``CLEARML_PROC_MASTER_ID``) and :data:`STORE_ENV` (the store's URL and storage options, as ``fstrack agent``
  passes them). In such a process ``Task.current_task()``, ``Logger.current_logger()`` and ``Task.init(...)``
  return the parent's task, attached as a child: it reports, flushes at exit, and never ends the task.

``multiprocessing.Pool`` terminates its workers as soon as the last result is back, which can interrupt their
exit flush; so while a task runs, pool workers flush their reports before each result is handed back
(:func:`patch_pool`): when ``pool.map`` returns, what the workers reported is stored.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from multiprocessing import pool as mp_pool
from typing import Any, NoReturn

from fstrack import terminal
from fstrack.sdk import current, writeback

#: ``"<pid>:<task id>"`` of the process that owns the running task (set by ``Task.init``, inherited by children).
MASTER_ENV = "FSTRACK_PROC_MASTER_ID"
#: JSON ``{"url": ..., "storage_options": {...}}`` of the store that task lives in.
STORE_ENV = "FSTRACK_PROC_MASTER_STORE"


def announce(task_id: str, url: str, storage_options: dict[str, Any]) -> None:
    """Tell the processes this one starts from now on that ``task_id`` is the task they report into."""
    os.environ[MASTER_ENV] = f"{os.getpid()}:{task_id}"
    os.environ[STORE_ENV] = json.dumps({"url": url, "storage_options": storage_options}, default=str)
    patch_pool()


def withdraw(task_id: str) -> None:
    """The task ``task_id`` of this process ended: processes started from now on no longer report into it."""
    if os.environ.get(MASTER_ENV) == f"{os.getpid()}:{task_id}":
        os.environ.pop(MASTER_ENV, None)
        os.environ.pop(STORE_ENV, None)


def parent_task() -> tuple[str, str, dict[str, Any]] | None:
    """``(task id, store url, storage options)`` of the task a parent process runs, if this process is a child of
    one (the environment names a task of another process); else None."""
    value = os.environ.get(MASTER_ENV, "")
    pid, _, task_id = value.partition(":")
    if not task_id or pid == str(os.getpid()):
        return None
    raw = os.environ.get(STORE_ENV, "")
    try:
        where = json.loads(raw)
        url, options = where["url"], dict(where.get("storage_options") or {})
    except (ValueError, KeyError, TypeError, AttributeError):
        raise RuntimeError(
            f"{MASTER_ENV}={value!r} names the task of a parent process, but {STORE_ENV} does not name its store "
            f"(got {raw!r}; expected a JSON object with a 'url')"
        ) from None
    return task_id, url, options


# -- multiprocessing.Pool workers ------------------------------------------------------------------------------
_pool_module: Any = mp_pool  # typeshed does not declare multiprocessing.pool.worker (undocumented, but stable)
_original_worker = _pool_module.worker


def patch_pool() -> None:
    """Make pool workers started from now on flush their task's reports before handing back each result."""
    if _pool_module.worker is not _pool_worker:
        _pool_module.worker = _pool_worker


def _pool_worker(inqueue: Any, outqueue: Any, *args: Any, **kwargs: Any) -> Any:
    """``multiprocessing.pool.worker`` with an ``outqueue`` that flushes first (picklable: spawned workers import
    this module to run it)."""
    return _original_worker(inqueue, _FlushingQueue(outqueue), *args, **kwargs)


class _FlushingQueue:
    """A pool's result queue whose ``put`` first stores the reports this child process buffered for its task."""

    def __init__(self, queue: Any):
        self._queue = queue

    def put(self, obj: Any) -> None:
        flush_child_reports()
        self._queue.put(obj)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)


def flush_child_reports() -> None:
    """In a child process (not the task's owner, not a thread of it): store the reports buffered for the current
    task now. A failure is said, never raised: the worker's result must still reach the pool. What a failing store
    did not take is saved for ``fstrack push`` and named in one line (a forked worker ends with ``os._exit``: no
    exit hook would see it)."""
    task = current.main
    if task is None or getattr(task, "_owner_pid", None) == os.getpid():
        return
    try:
        stored = task.flush(wait_for_uploads=True)
    except Exception as exc:  # noqa: BLE001 - loud, but the pool must not lose the result or hang
        message = f"fstrack: reports of pool worker {os.getpid()} to task {task.id} were not stored: {exc}"
        print(terminal.escape(message), file=sys.stderr)
        return
    if not stored or not writeback.drain(writeback.call_wait()):  # rows, then the changes the worker made
        task._save_unsent(ending=False)


# -- os.fork ----------------------------------------------------------------------------------------------------
_exit_without_flush: Callable[[int], NoReturn] = os._exit  # the child's os._exit, set again after each fork


def _exit_flushing(status: int) -> NoReturn:
    """``os._exit`` in a forked child of a task: store what the child reported first (atexit does not run)."""
    flush_child_reports()
    _exit_without_flush(status)


def _after_fork_in_child() -> None:
    global _exit_without_flush
    if current.main is not None and os._exit is not _exit_flushing:
        _exit_without_flush = os._exit
        os._exit = _exit_flushing


os.register_at_fork(after_in_child=_after_fork_in_child)
