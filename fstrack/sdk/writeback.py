"""Store writes of the running task that its training loop never waits on for long (issue 13, item 13).

Changes the script makes to its own task (tags, parameters, status, artifact records, metric summaries) are
handed to one background thread per process, which applies them to the store in the order they were made. The
caller waits for its change while the store answers, at most :func:`call_wait` seconds; when the store fails
or is slow, the change stays queued, the caller goes on (its ``Task`` object shows the change at once) and the
thread retries with backoff until the store takes it. The first failure is reported once, as a warning naming
the store and the error; recovery is reported once too. An error that is not the store's (a published task
refusing an edit, a disallowed status change) is raised to a caller that is still waiting, else warned.

At process exit, :mod:`fstrack.sdk.task` drains the queue under the exit deadline (retries then come at least
every second); what is still queued then is taken by :func:`take_pending` and saved for ``fstrack push`` (see
:mod:`fstrack.sdk.unsent`).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fstrack import terminal, threads
from fstrack.errors import StoreError

#: Environment variable: seconds a store call from the training loop may wait for the store (default 5).
CALL_WAIT_ENV = "FSTRACK_CALL_TIMEOUT"
DEFAULT_CALL_WAIT = 5.0
#: Environment variable: seconds the end of a task (close, process exit) waits without a stored write (default 10).
EXIT_TIMEOUT_ENV = "FSTRACK_EXIT_TIMEOUT"
DEFAULT_EXIT_TIMEOUT = 10.0
_MAX_BACKOFF = 30.0
_DRAIN_BACKOFF = 1.0
#: Exception modules of the object-store client libraries: their errors are the store's.
_CLIENT_MODULES = ("botocore", "aiobotocore", "aiohttp", "s3fs", "gcsfs", "google", "azure", "adlfs", "requests")


def seconds_from_env(name: str, default: float) -> float:
    """A number of seconds >= 0 from environment variable ``name`` (``default`` when unset); a bad value is an
    error naming it."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also refuses NaN
        raise ValueError(f"{name} must be a number of seconds >= 0, got {raw!r}")
    return value


def call_wait() -> float:
    return seconds_from_env(CALL_WAIT_ENV, DEFAULT_CALL_WAIT)


def exit_timeout() -> float:
    return seconds_from_env(EXIT_TIMEOUT_ENV, DEFAULT_EXIT_TIMEOUT)


def is_store_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the store failed (unreachable, timed out, full, refusing: also credentials that
    expired or were refused, which s3fs and the local disk raise as PermissionError) rather than the change being
    wrong: store failures are retried, and saved for ``fstrack push`` at exit; other errors are the caller's."""
    if isinstance(exc, (OSError, TimeoutError, StoreError)):
        return not isinstance(exc, (FileNotFoundError, IsADirectoryError, NotADirectoryError))
    return type(exc).__module__.split(".", 1)[0] in _CLIENT_MODULES


@dataclass(eq=False)
class Change:
    """One queued write: ``kind`` names it in reports ("tags", "status", ...); ``apply`` does it."""

    kind: str
    apply: Callable[[], Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None
    waited: bool = True  # the caller is still waiting for it (else errors are warned)
    on_stored: Callable[[Any], None] | None = None


class _Queue:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.changes: deque[Change] = deque()
        self.thread: threading.Thread | None = None
        self.failure: BaseException | None = None  # the last attempt's store failure (None: the store answers)
        self.failing_since: float | None = None
        self.reported = False
        self.where = ""
        self.last_stored = time.monotonic()  # when a change was last stored
        self.draining = 0  # callers of drain() waiting


_queue = _Queue()


def submit(change: Change, where: str) -> Change:
    """Queue ``change`` (``where``: the store's URL, for reports) and start the thread if needed."""
    with _queue.cond:
        _queue.where = where
        _queue.changes.append(change)
        if _queue.thread is None or not _queue.thread.is_alive():
            _queue.thread = threading.Thread(target=_run, name="fstrack-writeback", daemon=True)
            threads.start(_queue.thread)
        _queue.cond.notify_all()
    return change


def call(change: Change, where: str) -> bool:
    """Queue ``change`` and wait for it while the store answers (at most :func:`call_wait` s; not at all while
    it is failing). True if it was stored (``change.result`` is set); raises an error that is not the store's.
    False: it stays queued and is retried in the background."""
    wait = call_wait()  # a bad FSTRACK_CALL_TIMEOUT fails here, before anything is queued
    healthy = failure() is None and not _queue.changes
    submit(change, where)
    if healthy:
        change.done.wait(wait)
    with _queue.cond:  # the thread decides under this lock whether an error is the caller's or a warning
        stored = change.done.is_set()
        change.waited = stored
    if stored and change.error is not None:
        raise change.error
    return stored


def failure() -> BaseException | None:
    """The store failure the queue is retrying, or None while the store takes its changes."""
    return _queue.failure


def last_stored() -> float:
    """``time.monotonic()`` when the store last took a change (or the queue was made)."""
    return _queue.last_stored


def drain(timeout: float) -> bool:
    """Wait until every queued change is stored (True) or ``timeout`` seconds passed (False). While someone
    drains, a backoff is cut short and retries come at least every :data:`_DRAIN_BACKOFF` seconds: a store that
    has recovered is not waited for through a long backoff at exit."""
    deadline = time.monotonic() + timeout
    with _queue.cond:
        _queue.draining += 1
        _queue.cond.notify_all()  # wakes a backoff in progress
        try:
            while _queue.changes:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                _queue.cond.wait(min(remaining, 0.2))
        finally:
            _queue.draining -= 1
    return True


def take_pending() -> list[Change]:
    """Remove and return the changes not yet stored (at exit, once they are saved elsewhere)."""
    with _queue.cond:
        taken = list(_queue.changes)
        _queue.changes.clear()
        _queue.cond.notify_all()
    return taken


def _run() -> None:
    attempts = 0
    while True:
        with _queue.cond:
            while not _queue.changes:
                _queue.cond.wait()
            change = _queue.changes[0]
        try:
            change.result = change.apply()
        except BaseException as exc:  # noqa: BLE001 - the thread must survive every error
            if is_store_failure(exc):
                attempts += 1
                _failed(exc, attempts)
                continue
            change.error = exc
        else:
            _queue.last_stored = time.monotonic()
            if attempts:
                _recovered(attempts)
            attempts = 0
            if change.on_stored is not None:
                try:
                    change.on_stored(change.result)
                except Exception as exc:  # noqa: BLE001
                    terminal.warn(f"fstrack: {exc}", stacklevel=1)
        with _queue.cond:
            if _queue.changes and _queue.changes[0] is change:
                _queue.changes.popleft()
            change.done.set()
            unheard = change.error is not None and not change.waited
            _queue.cond.notify_all()
        if unheard:
            terminal.warn(f"fstrack: a queued {change.kind} change was not applied: {change.error}", stacklevel=1)


def _failed(exc: BaseException, attempts: int) -> None:
    with _queue.cond:
        _queue.failure = exc
        if _queue.failing_since is None:
            _queue.failing_since = time.monotonic()
        queued = len(_queue.changes)
        report = not _queue.reported
        _queue.reported = True
    if report:
        terminal.warn(
            f"fstrack: the store at {_queue.where} is failing ({type(exc).__name__}: {exc}); {queued} change(s) "
            "to the running task are queued and retried in the background (the script goes on)",
            RuntimeWarning,
            stacklevel=1,
        )
    delay = min(_MAX_BACKOFF, 0.25 * 2 ** min(attempts, 10)) * random.uniform(0.75, 1.25)
    with _queue.cond:  # the head change is retried after the delay; a drain (at exit) cuts it short
        if _queue.draining:
            delay = min(delay, _DRAIN_BACKOFF)
        _queue.cond.wait(delay)


def _recovered(attempts: int) -> None:
    with _queue.cond:
        since, _queue.failure, _queue.failing_since = _queue.failing_since, None, None
        _queue.reported = False  # the next outage is reported again
    waited = time.monotonic() - since if since is not None else 0.0
    terminal.warn(
        f"fstrack: the store at {_queue.where} answers again: queued changes are being stored "
        f"(after {attempts} failed attempt(s), {waited:.0f} s)",
        RuntimeWarning,
        stacklevel=1,
    )


def _after_fork_in_child() -> None:
    """A forked child has no writeback thread: the parent stores what it queued."""
    global _queue
    _queue = _Queue()


os.register_at_fork(after_in_child=_after_fork_in_child)
