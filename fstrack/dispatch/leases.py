"""Leases on claimed queue entries, and the watchdog that judges them (normative text: spec/queues.md).

A worker that claimed a queue entry for a task writes ``leases/<task id>`` with ``replace`` and renews it
while the task runs. Whether a lease is still held is judged only by the *store's* clock: the lease key's
modification time (as the store reports it) against :meth:`fstrack.dispatch.queues.Queues.store_now`, so that the
clocks of the machines involved never matter. The lease document itself::

    {"task": <task id>, "queue": <queue id>, "entry": <entry name>, "worker": "host:pid",
     "agent": <32 hex, one per run>, "attempt": int, "ttl": float, "grace": float,
     "on_expiry": "requeue" | "fail", "max_attempts": int, "time": float (writer's clock, informative)}

The holder promises to have *stopped its task* (killed the process) no later than ``ttl`` seconds, by its
own monotonic clock, after the start of its last successful renewal. A judge declares the lease expired
only when ``store_now - mtime > ttl + grace`` (``grace`` >= :data:`MIN_GRACE` covers the one-second
modification times of object stores, the time a kill takes, and clock *rate* differences). So when a judge
acts, the run it judges has already ended: a task is never run twice at once.

An expired lease is handled by its own policy (chosen by the agent that took the task): ``requeue`` while
the run's ``execution.attempts`` is below ``max_attempts`` (default 2: re-queued once), else ``fail``. Both
are compare-and-swap changes of the task's manifest conditioned on ``execution.entry`` still naming the
lease's entry, so concurrent judges (every agent scans) act at most once.

:class:`Watchdog` is the scan any agent runs periodically and ``fstrack watchdog`` runs once: expired
leases, ``in_progress`` tasks without a lease whose heartbeat stopped (ClearML's non-responsive task
monitor: marked ``stopped``), and ``queued`` tasks whose queue entry was lost.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from fstrack import terminal
from fstrack.dispatch.queues import QUEUES_DIR, Queues
from fstrack.records.taskdb import HEARTBEATS_DIR, TaskDB, TaskNotFoundError, check_task_id
from fstrack.store.backends.base import Backend
from fstrack.store.objects import new_token, pack, unpack

LEASES_DIR = "leases"
#: Seconds a worker may go without renewing before it must have stopped its task.
DEFAULT_TTL = float(os.environ.get("FSTRACK_LEASE_SECONDS", "60"))
#: Extra seconds a judge waits beyond ``ttl`` before it declares a lease expired.
DEFAULT_GRACE = float(os.environ.get("FSTRACK_LEASE_GRACE", str(DEFAULT_TTL)))
MIN_GRACE = 2.0
#: ClearML server's default non-responsive threshold (``non_responsive_tasks_watchdog.threshold_sec``).
DEFAULT_STALE_AFTER = float(os.environ.get("FSTRACK_WATCHDOG_SECONDS", "7200"))
#: A queued task whose entry is neither pending nor claimed for this long gets a new entry.
DEFAULT_REPAIR_AFTER = float(os.environ.get("FSTRACK_QUEUE_REPAIR_SECONDS", "300"))
POLICIES = ("requeue", "fail")


def lease_key(task_id: str) -> str:
    return f"{LEASES_DIR}/{check_task_id(task_id)}"


def worker_name() -> str:
    """``host:pid`` of this process (``execution.worker``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class _Gone(Exception):
    """The task is no longer in the state the caller judged (another process acted first)."""


def read_lease(backend: Backend, task_id: str) -> tuple[dict[str, Any], float] | None:
    """``(lease document, store modification time)`` of a task's lease, or None if it has none."""
    key = lease_key(task_id)
    try:
        data = backend.read(key)
        mtime = backend.info(key).mtime
    except FileNotFoundError:
        return None
    try:
        return unpack(data), mtime
    except Exception:  # noqa: BLE001 - a torn lease cannot exist (replace is atomic); a foreign one is ignored
        return None


def lease_expired(lease: dict[str, Any], mtime: float, now: float, grace: float | None = None) -> bool:
    """Whether a judge may treat the lease as lost: ``now - mtime > ttl + max(grace of lease, grace)``."""
    ttl = float(lease.get("ttl") or DEFAULT_TTL)
    wait = max(float(lease.get("grace") or 0), grace or 0, MIN_GRACE)
    return now - mtime > ttl + wait


class Lease:
    """The lease one worker holds on one claimed entry while it runs the task."""

    def __init__(
        self,
        backend: Backend,
        *,
        task_id: str,
        queue: str,
        entry: str,
        worker: str,
        attempt: int = 1,
        ttl: float = DEFAULT_TTL,
        grace: float = DEFAULT_GRACE,
        on_expiry: str = "requeue",
        max_attempts: int = 2,
    ):
        if on_expiry not in POLICIES:
            raise ValueError(f"lease expiry policy must be one of {POLICIES}, got {on_expiry!r}")
        if ttl <= 0:
            raise ValueError(f"lease ttl must be > 0 seconds, got {ttl!r}")
        self.backend = backend
        self.key = lease_key(task_id)
        self.ttl = float(ttl)
        self.doc = {
            "task": task_id,
            "queue": queue,
            "entry": entry,
            "worker": worker,
            "agent": new_token(),
            "attempt": int(attempt),
            "ttl": self.ttl,
            "grace": max(float(grace), MIN_GRACE),
            "on_expiry": on_expiry,
            "max_attempts": int(max_attempts),
        }
        self.last_ok: float | None = None  # monotonic start of the last successful write
        self.failures = 0
        self.last_error: BaseException | None = None

    def renew(self) -> bool:
        """Write the lease (first write and renewals). False (and the error kept) if the store refused."""
        started = time.monotonic()
        try:
            self.backend.replace(self.key, pack(dict(self.doc, time=time.time())))
        except Exception as exc:  # noqa: BLE001 - the caller decides when a failing store means "stop"
            self.failures += 1
            self.last_error = exc
            return False
        self.failures = 0
        self.last_ok = started
        return True

    def held_for(self) -> float:
        """Seconds since the start of the last successful renewal (inf if never written)."""
        return float("inf") if self.last_ok is None else time.monotonic() - self.last_ok

    def release(self) -> None:
        """Delete the lease if it is still this run's (a newer run of the task may have replaced it)."""
        try:
            try:
                current = unpack(self.backend.read(self.key))
            except FileNotFoundError:
                return
            if current.get("agent") == self.doc["agent"]:
                self.backend.delete(self.key)
        except Exception as exc:  # noqa: BLE001 - a leftover lease is cleaned by any watchdog
            terminal.warn(f"fstrack: could not release lease {self.key}: {exc}", stacklevel=2)


def _clear_lease_if(backend: Backend, task_id: str, entry: str | None) -> None:
    """Delete the task's lease if it names ``entry`` (a run that is over)."""
    current = read_lease(backend, task_id)
    if current is not None and current[0].get("entry") == entry:
        backend.delete(lease_key(task_id))


# -- status changes of the queue layer (all compare-and-swap on the task's manifest) -------------------
def start_run(db: TaskDB, task_id: str, entry: str, worker: str, message: str = "") -> dict[str, Any]:
    """``queued`` -> ``in_progress`` for the worker that claimed ``entry``; raises :class:`StaleEntry` if the
    task is not queued under that entry (dequeued, aborted, re-enqueued, deleted). Returns the new manifest."""
    from fstrack.records.lifecycle import transition

    def start(m: dict[str, Any]) -> None:
        ex = m.get("execution") or {}
        if m["status"] != "queued" or ex.get("entry") != entry:
            raise StaleEntry(
                f"task {task_id} is {m['status']!r} with entry {ex.get('entry')!r}, not queued under {entry!r}"
            )
        transition(task_id, m, "in_progress", force=False, repeat=False)
        m["execution"] = dict(ex, worker=worker, attempts=int(ex.get("attempts") or 0) + 1)
        m["status_message"] = message
        m["status_reason"] = ""

    try:
        return db.update(task_id, start)
    except TaskNotFoundError as exc:
        raise StaleEntry(str(exc)) from exc


class StaleEntry(Exception):
    """A claimed entry whose task is no longer queued under it: skipped."""


def finish_run(
    db: TaskDB,
    task_id: str,
    entry: str,
    status: str,
    *,
    message: str = "",
    reason: str = "",
    allowed_from: tuple[str, ...] = ("in_progress",),
) -> bool:
    """Set the final status of the run of ``entry`` unless the task (or anyone) already changed it.
    True if this call set it."""
    from fstrack.records.lifecycle import transition

    def fn(m: dict[str, Any]) -> None:
        ex = m.get("execution") or {}
        if ex.get("entry") != entry or m["status"] not in allowed_from:
            raise _Gone
        transition(task_id, m, status, force=True, repeat=True)
        m["status_message"] = message
        m["status_reason"] = reason

    try:
        db.update(task_id, fn)
    except (_Gone, TaskNotFoundError):
        return False
    return True


def requeue_run(
    db: TaskDB,
    task_id: str,
    entry: str,
    *,
    message: str,
    reason: str = "requeued",
    count_attempt: bool = True,
    allowed_from: tuple[str, ...] = ("in_progress", "queued"),
    changed_after: float | None = None,
) -> str | None:
    """Put the task of (the run of) ``entry`` back in its queue under a new entry. ``count_attempt=False``
    gives the attempt back (a worker shut down: not the task's fault). Returns the new entry, or None if
    the task moved on meanwhile. ``changed_after``: a ``stopped`` status only counts as the run's own
    (from ``allowed_from``) if it was set after this time."""
    from fstrack.records.lifecycle import transition

    new_entry = Queues.new_entry_name()
    seen: dict[str, Any] = {}

    def fn(m: dict[str, Any]) -> None:
        ex = m.get("execution") or {}
        if ex.get("entry") != entry or m["status"] not in allowed_from or not ex.get("queue"):
            raise _Gone
        if (
            m["status"] not in ("in_progress", "queued")
            and changed_after is not None
            and m["status_changed"] < changed_after
        ):
            raise _Gone
        transition(task_id, m, "queued", force=True, repeat=True)
        attempts = int(ex.get("attempts") or 0) - (0 if count_attempt else 1)
        m["execution"] = dict(ex, entry=new_entry, worker=None, attempts=max(0, attempts))
        m["status_message"] = message
        m["status_reason"] = reason
        seen["queue"] = ex["queue"]

    try:
        db.update(task_id, fn)
    except (_Gone, TaskNotFoundError):
        return None
    _clear_lease_if(db.store.backend, task_id, entry)
    Queues(db.store).push(seen["queue"], task_id, new_entry)
    return new_entry


def expire_run(db: TaskDB, task_id: str, lease: dict[str, Any], *, judge: str) -> str | None:
    """Apply an expired lease's policy to its run. Returns "requeued", "failed" or None (nothing to do)."""
    entry = lease["entry"]
    try:
        m = db.load(task_id)
    except TaskNotFoundError:
        return None
    ex = m.get("execution") or {}
    if ex.get("entry") != entry or m["status"] not in ("in_progress", "queued"):
        return None
    attempts = int(ex.get("attempts") or 0)
    worker = lease.get("worker") or "?"
    if lease.get("on_expiry", "requeue") == "requeue" and attempts < int(lease.get("max_attempts") or 2):
        message = (
            f"re-queued by {judge}: the lease of worker {worker} expired (attempt {attempts} of "
            f"{lease.get('max_attempts')})"
        )
        if requeue_run(db, task_id, entry, message=message, reason="lease expired"):
            return "requeued"
        return None
    message = f"failed by {judge}: the lease of worker {worker} expired after {attempts} attempt(s)"
    if finish_run(
        db, task_id, entry, "failed", message=message, reason="lease expired", allowed_from=("in_progress", "queued")
    ):
        _clear_lease_if(db.store.backend, task_id, entry)
        return "failed"
    return None


@dataclass
class Watchdog:
    """One pass over the store's leases, running tasks and queued tasks (see the module text).

    ``stale_after``: seconds without a heartbeat after which an ``in_progress`` task that no worker holds a
    lease on is marked ``stopped``. ``grace``: the least extra time this judge waits past a lease's ttl.
    """

    db: TaskDB
    stale_after: float = DEFAULT_STALE_AFTER
    grace: float = MIN_GRACE
    repair_after: float = DEFAULT_REPAIR_AFTER
    judge: str = field(default_factory=worker_name)

    def scan(self) -> list[dict[str, Any]]:
        """Judge everything once; returns what was done (``{"task", "action", "why"}`` per change)."""
        queues = Queues(self.db.store)
        backend = self.db.store.backend
        now = queues.store_now()
        actions: list[dict[str, Any]] = []
        leased: dict[str, tuple[dict[str, Any], float]] = {}
        listed = {item.key.rsplit("/", 1)[-1]: item.mtime for item in backend.walk(LEASES_DIR)}
        for task_id, data in backend.read_many([lease_key(t) for t in listed if len(t) == 32]).items():
            task_id = task_id.rsplit("/", 1)[-1]
            try:
                leased[task_id] = (unpack(data), listed[task_id])
            except Exception:  # noqa: BLE001 - not a lease this implementation wrote: ignored
                continue
        for task_id, (lease, mtime) in leased.items():
            if not lease_expired(lease, mtime, now, self.grace):
                continue
            action = expire_run(self.db, task_id, lease, judge=self.judge)
            if action:
                actions.append(
                    {
                        "task": task_id,
                        "action": action,
                        "why": f"lease of {lease.get('worker')} silent for {now - mtime:.1f}s",
                    }
                )
            else:  # the run is over (or never started): the lease is a leftover
                _clear_lease_if(backend, task_id, lease.get("entry"))
        records = self.db.records()
        for record in records:
            if record.get("status") == "in_progress":
                judged = self._judge_running(record, leased.get(record["id"]), now)
                if judged:
                    actions.append(judged)
        actions += self._repair_queued([r for r in records if r.get("status") == "queued"], queues, now)
        return actions

    def _judge_running(
        self, record: dict[str, Any], lease: tuple[dict[str, Any], float] | None, now: float
    ) -> dict[str, Any] | None:
        """The non-responsive task monitor: no live lease on the task and no heartbeat for ``stale_after``."""
        task_id = record["id"]
        if lease is not None and not lease_expired(*lease, now, self.grace):
            return None  # a worker holds a run of this task (if not the current one, it stops it soon)
        backend = self.db.store.backend
        try:
            last = backend.info(f"{HEARTBEATS_DIR}/{task_id}").mtime
        except FileNotFoundError:  # never beat: judge by its last change (writer's clock; a generous threshold)
            last = float(record.get("last_update") or now)
        if now - last <= self.stale_after:
            return None
        try:
            m = self.db.load(task_id)
        except TaskNotFoundError:
            return None
        if m["status"] != "in_progress":
            return None
        silent = now - last
        status_changed = m["status_changed"]
        message = (
            f"aborted by the non-responsive task watchdog ({self.judge}): no heartbeat for "
            f"{silent:.0f}s (threshold {self.stale_after:.0f}s)"
        )
        from fstrack.records.lifecycle import transition

        def stop(manifest: dict[str, Any]) -> None:
            if manifest["status"] != "in_progress" or manifest["status_changed"] != status_changed:
                raise _Gone
            transition(task_id, manifest, "stopped", force=False, repeat=False)
            manifest["status_message"] = message
            manifest["status_reason"] = "non-responsive"

        try:
            self.db.update(task_id, stop)
        except (_Gone, TaskNotFoundError):
            return None
        return {"task": task_id, "action": "stopped", "why": message}

    def _repair_queued(self, records: list[dict[str, Any]], queues: Queues, now: float) -> list[dict[str, Any]]:
        """Queued tasks whose entry is gone (a crash between the status change and the push, or a claimant
        that died before it leased the task) get a new entry."""
        old = [r for r in records if now - float(r.get("last_update") or now) > self.repair_after]
        if not old:
            return []
        actions = []
        listings: dict[str, tuple[set[str], set[str]]] = {}
        backend = self.db.store.backend
        for record in old:
            try:
                m = self.db.load(record["id"])
            except TaskNotFoundError:
                continue
            ex = m.get("execution") or {}
            qid, entry = ex.get("queue"), ex.get("entry")
            if m["status"] != "queued" or not qid or not entry:
                continue
            if qid not in listings:
                listings[qid] = (
                    set(backend.list(f"{QUEUES_DIR}/{qid}/entries")),
                    set(backend.list(f"{QUEUES_DIR}/{qid}/claimed")),
                )
            pending, claimed = listings[qid]
            if entry in pending and entry not in claimed:
                continue  # waiting for a worker: fine
            lease = read_lease(backend, record["id"])
            if lease is not None and lease[0].get("entry") == entry and not lease_expired(*lease, now, self.grace):
                continue  # a worker is about to start it
            why = "claimed but never started" if entry in claimed else "its queue entry is missing"
            new = requeue_run(
                self.db,
                record["id"],
                entry,
                allowed_from=("queued",),
                message=f"re-queued by {self.judge}: {why}",
                reason="queue repair",
            )
            if new:
                actions.append({"task": record["id"], "action": "repaired", "why": why})
        return actions
