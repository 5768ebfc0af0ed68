"""``fstrack agent``: take tasks from queues in the store and run them (normative text: spec/queues.md).

One agent process serves one or more queues (the first named has priority) with ``--workers`` slots. For
each entry it claims (the store's exactly-once claim, :meth:`fstrack.dispatch.queues.Queues.claims`) it:

1. checks the task is ``queued`` under that very entry (else the entry is stale: dequeued, aborted or
   re-enqueued meanwhile, and is skipped);
2. writes the task's lease (:mod:`fstrack.dispatch.leases`) and moves the task to ``in_progress`` with
   ``execution.worker = "host:pid"`` (a compare-and-swap conditioned on the entry: at most one run per
   entry, whatever else happens);
3. prepares the code in a fresh folder under ``--workdir``: a clone of the recorded repository at the
   recorded commit with the recorded uncommitted diff applied (``git apply``), or the stored standalone
   script; the recorded working directory, entry point and arguments;
4. optionally (``--venv``) a virtual environment with the recorded pip requirements, layered over the
   agent's own environment (which provides fstrack); by default the agent's own interpreter;
5. runs it with ``FSTRACK_TASK_ID`` (and the store's URL and options) in the environment, so ``Task.init``
   attaches to the task and connected parameters come from the store; streams its stdout/stderr into the
   task's console log (:class:`fstrack.sdk.logger.Logger`) and to the agent's own output;
6. sets the final status from the exit code unless the task (or anyone) already set it.

While a task runs, the agent renews its lease and the task's heartbeat and reads the task's status: if
someone else stops it (``fstrack abort``, ``mark_stopped``) the task's own process runs its abort callback
and exits; the agent terminates it after ``--kill-grace`` seconds if it does not. A run whose task got another
queue entry since (re-queued, re-enqueued) is stale: the agent and the task's process each kill it at once,
writing nothing more (fencing by run). A worker that cannot renew its lease kills its task well before anyone
may consider the lease expired. The child process dies with the agent (``PR_SET_PDEATHSIG`` on Linux, and a
parent watch in the child everywhere), so a killed agent never leaves a run behind that a re-queued run could
overlap.

Wake-ups: on a local store the agent watches the queues' entry folders (``watchdog`` filesystem events: no
polling delay); on object stores it polls with backoff (``--poll-max``, default 1 s).

SIGTERM/SIGINT: stop claiming, then finish the running tasks (``--on-sigterm finish``, the default) or
terminate them and put them back in their queues (``requeue``); a second signal escalates to ``requeue``.

Entry points for the ``fstrack`` command: :func:`main_agent`, :func:`main_abort`, :func:`main_watchdog`.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from watchdog.observers.api import BaseObserver

from fstrack import terminal, threads

AGENT_WORKER_ENV = "FSTRACK_AGENT_WORKER"
#: Set for a task run by an agent: its console is already streamed into the task by the agent.
AGENT_STREAMS_ENV = "FSTRACK_AGENT_STREAMS"
_CHILD_BOOT = "import sys; from fstrack.cli.agent import child_main; child_main(sys.argv[1])"
_STDERR_TAIL = 40
_MAX_LINE = 64 * 1024  # a longer run of output without a line break is stored in pieces


class PrepareError(Exception):
    """The task's code or environment could not be prepared (the task is marked failed with this message)."""


@dataclass
class AgentConfig:
    """What ``fstrack agent`` was asked to do (see :func:`main_agent` for the options)."""

    queues: list[str]
    workers: int = 1
    once: bool = False
    workdir: str = field(default_factory=lambda: os.path.join(os.path.expanduser("~"), ".fstrack", "agent"))
    venv: bool = False
    window: int = 8
    lease_ttl: float | None = None
    lease_grace: float | None = None
    on_expiry: str = "requeue"
    max_attempts: int = 2
    on_sigterm: str = "finish"
    kill_grace: float = 60.0
    watchdog_interval: float = 30.0
    stale_after: float | None = None
    poll_min: float = 0.05
    poll_max: float = 1.0
    keep_workdir: bool = False
    echo: bool = True


@dataclass
class Run:
    """One claimed entry being run."""

    task_id: str
    queue: str
    entry: str
    manifest: dict
    lease: Any
    started_wall: float = field(default_factory=time.time)
    #: why the run is being ended: "external" (someone stopped the task), "stale" (a later run owns it: fencing by
    #: run, spec/queues.md §5), "lease" (lease lost), "shutdown"
    stop: str | None = None
    stop_since: float = 0.0  # monotonic
    stop_wall: float = 0.0
    observed: tuple[str, str, float] | None = None  # (status, message, status_changed) an external stop set
    done: threading.Event = field(default_factory=threading.Event)
    returncode: int | None = None
    tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=_STDERR_TAIL))
    error: str | None = None
    keepalive: int | None = None  # write end of the pipe the task's process watches (one byte per renewal)
    keepalive_lock: threading.Lock = field(default_factory=threading.Lock)

    def keep_alive(self) -> None:
        with self.keepalive_lock:
            if self.keepalive is not None:
                try:
                    os.write(self.keepalive, b".")
                except OSError:  # the task's process is gone (or not reading): nothing to keep alive
                    pass

    def close_keepalive(self) -> None:
        with self.keepalive_lock:
            if self.keepalive is not None:
                os.close(self.keepalive)
                self.keepalive = None

    def request_stop(self, why: str) -> None:
        if self.stop is None or (why == "lease" and self.stop != "lease"):
            self.stop = why
            self.stop_since = time.monotonic()
            self.stop_wall = time.time()


class Agent:
    """Claims and runs tasks; see the module text. ``runner`` (default :class:`ProcessRunner`) executes a
    started run and returns its exit code."""

    def __init__(self, db, cfg: AgentConfig, runner: Any = None, log: Any = None):
        from fstrack.dispatch.leases import DEFAULT_GRACE, DEFAULT_STALE_AFTER, DEFAULT_TTL, worker_name
        from fstrack.dispatch.queues import Queues
        from fstrack.sdk import task as _task_layer  # noqa: F401 - imported now, not at the first claim

        if not cfg.queues:
            raise ValueError("an agent needs at least one queue (--queue NAME)")
        if cfg.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {cfg.workers}")
        if cfg.window < 1:
            raise ValueError(f"--window must be >= 1, got {cfg.window}")
        if cfg.on_expiry not in ("requeue", "fail"):
            raise ValueError(f"--on-lease-expiry must be 'requeue' or 'fail', got {cfg.on_expiry!r}")
        if cfg.on_sigterm not in ("finish", "requeue"):
            raise ValueError(f"--on-sigterm must be 'finish' or 'requeue', got {cfg.on_sigterm!r}")
        self.db = db
        self.cfg = cfg
        self.ttl = float(cfg.lease_ttl or DEFAULT_TTL)
        self.grace = float(cfg.lease_grace if cfg.lease_grace is not None else DEFAULT_GRACE)
        self.stale_after = float(cfg.stale_after or DEFAULT_STALE_AFTER)
        self.queues = Queues(db.store)
        self.worker = worker_name()
        self.runner = runner if runner is not None else ProcessRunner()
        self.log = log or _default_log
        self.active: dict[str, Run] = {}
        self.threads: list[threading.Thread] = []
        self.finished: list[dict] = []  # {"task", "entry", "status", "returncode"} per run (for callers/tests)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._requeue_on_stop = cfg.on_sigterm == "requeue"
        self._observer: BaseObserver | None = None
        self._local = db.store.backend.has_file_events
        self.check_interval = 0.5 if self._local else 1.0

    # -- main loop -------------------------------------------------------------------------------------
    def run(self) -> int:
        """Serve the queues until stopped (or, with ``once``, until they are drained). Returns 0."""
        qids = [self.queues.ensure(name) for name in self.cfg.queues]
        self._install_signals()
        self._watch(qids)
        watchdog_thread = None
        if self.cfg.watchdog_interval and self.cfg.watchdog_interval > 0:
            watchdog_thread = threading.Thread(target=self._watchdog_loop, name="fstrack-agent-watchdog", daemon=True)
            threads.start(watchdog_thread)
        self.log(
            f"fstrack agent {self.worker}: serving {', '.join(self.cfg.queues)} of {self.db.store.url} "
            f"with {self.cfg.workers} worker(s)"
        )
        delay = self.cfg.poll_min
        try:
            while not self._stopping:
                took = self._claim_some(qids)
                if self._stopping:
                    break
                if took:
                    delay = self.cfg.poll_min
                    if self._free() > 0:
                        continue
                with self._lock:
                    busy = bool(self.active)
                if self.cfg.once and not took and not busy:
                    break
                # wait for a new entry (events on local stores), a free slot, or the next poll
                timeout = delay if self._free() > 0 else 1.0
                self._wake.wait(timeout)
                self._wake.clear()
                if not took:
                    delay = min(self.cfg.poll_max, max(self.cfg.poll_min, delay * 1.5))
        finally:
            self._stopping = True
            self._unwatch()
            for thread in list(self.threads):
                thread.join()
        self.log(f"fstrack agent {self.worker}: stopped ({len(self.finished)} run(s))")
        return 0

    def _free(self) -> int:
        with self._lock:
            return self.cfg.workers - len(self.active)

    def _claim_some(self, qids: list[str]) -> int:
        """Claim entries (highest-priority queue first) while slots are free; returns how many runs started."""
        started = 0
        for qid in qids:
            if self._stopping or self._free() <= 0:
                break
            try:
                for claim in self.queues.claims(qid, window=self.cfg.window):
                    try:
                        if self._start(claim):
                            started += 1
                    except Exception as exc:  # noqa: BLE001 - the lease/watchdog rules settle this entry's task
                        self.log(f"could not start task {claim.task_id} of entry {claim.entry}: {exc!r}")
                    if self._stopping or self._free() <= 0:
                        break
            except Exception as exc:  # noqa: BLE001 - the store is unreachable (or an entry is junk): back off, retry
                self.log(f"reading queue {qid} failed: {exc!r}")
                continue
            if started:
                break  # start over from the highest-priority queue
        return started

    def _start(self, claim) -> bool:
        """Lease and start the task of a claimed entry; False if the entry was stale."""
        from fstrack.dispatch.leases import Lease, StaleEntry, start_run
        from fstrack.records.taskdb import TaskNotFoundError

        try:
            manifest = self.db.load(claim.task_id)
        except TaskNotFoundError:
            self.log(f"skipped entry {claim.entry}: task {claim.task_id} no longer exists")
            return False
        ex = manifest.get("execution") or {}
        if manifest["status"] != "queued" or ex.get("entry") != claim.entry:
            self.log(f"skipped stale entry {claim.entry} of task {claim.task_id} (now {manifest['status']!r})")
            return False
        lease = Lease(
            self.db.store.backend,
            task_id=claim.task_id,
            queue=claim.queue,
            entry=claim.entry,
            worker=self.worker,
            attempt=int(ex.get("attempts") or 0) + 1,
            ttl=self.ttl,
            grace=self.grace,
            on_expiry=self.cfg.on_expiry,
            max_attempts=self.cfg.max_attempts,
        )
        if not lease.renew():
            self.log(
                f"could not write the lease of task {claim.task_id} ({lease.last_error}); a watchdog will re-queue it"
            )
            return False
        try:
            manifest = start_run(self.db, claim.task_id, claim.entry, self.worker, message=f"running on {self.worker}")
        except StaleEntry as exc:
            lease.release()
            self.log(f"skipped stale entry {claim.entry}: {exc}")
            return False
        self._beat(claim.task_id, self._beat_every())
        run = Run(claim.task_id, claim.queue, claim.entry, manifest, lease)
        with self._lock:
            self.active[run.task_id] = run
        thread = threading.Thread(
            target=self._execute, args=(run,), name=f"fstrack-run-{run.task_id[:8]}", daemon=False
        )
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        threads.start(thread)
        return True

    def _beat(self, task_id: str, interval: float) -> None:
        import socket

        try:
            info = {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time(), "agent": self.worker}
            self.db.beat(task_id, {**info, "interval": interval})
        except Exception as exc:  # noqa: BLE001 - the lease is what protects the run; a beat may fail
            self.log(f"heartbeat of task {task_id} failed: {exc}")

    # -- one run ---------------------------------------------------------------------------------------
    def _execute(self, run: Run) -> None:
        monitor = threading.Thread(
            target=self._monitor, args=(run,), name=f"fstrack-lease-{run.task_id[:8]}", daemon=True
        )
        threads.start(monitor)
        try:
            if self._stopping and self._requeue_on_stop:
                run.request_stop("shutdown")
                run.returncode = None
            else:
                run.returncode = self.runner.execute(self, run)
        except PrepareError as exc:
            run.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - an agent bug must not lose the task: it ends failed
            run.error = f"agent error: {type(exc).__name__}: {exc}"
            self.log(f"run of task {run.task_id} failed in the agent: {exc!r}")
        finally:
            run.done.set()
            monitor.join(timeout=self.ttl)
            status = self._finish(run)
            with self._lock:
                self.active.pop(run.task_id, None)
                self.finished.append(
                    {"task": run.task_id, "entry": run.entry, "status": status, "returncode": run.returncode}
                )
            self._wake.set()

    def _renew(self, run: Run) -> None:
        """Renew the lease every ttl/4 (its own thread: a slow read elsewhere never delays a renewal)."""
        renew_every = max(0.05, self.ttl / 4)
        while not run.done.wait(renew_every):
            if run.stop in ("lease", "stale"):
                return
            if run.lease.held_for() > self.ttl * 0.5:  # renewals failed, or this process was frozen: the run
                run.request_stop("lease")  # is killed at 0.6 ttl (supervise; the task's own keep-alive watch)
                return
            if run.lease.renew():
                run.keep_alive()

    def _beat_every(self) -> float:
        from fstrack.sdk.task import HEARTBEAT_SECONDS

        return min(max(0.05, self.ttl / 4), HEARTBEAT_SECONDS)

    def _monitor(self, run: Run) -> None:
        """Beat the task's heartbeat; notice that someone else stopped (or reset, or re-enqueued) the task."""
        renewer = threading.Thread(
            target=self._renew, args=(run,), name=f"fstrack-renew-{run.task_id[:8]}", daemon=True
        )
        threads.start(renewer)
        beat_every = self._beat_every()
        last_beat = time.monotonic()
        while not run.done.wait(self.check_interval):
            now = time.monotonic()
            if now - last_beat >= beat_every and run.stop is None:
                self._beat(run.task_id, beat_every)
                last_beat = now
            try:
                m = self.db.load(run.task_id)
            except Exception as exc:  # noqa: BLE001 - judged again next round; the lease rules meanwhile
                if not isinstance(exc, OSError):
                    self.log(f"reading task {run.task_id} failed: {exc!r}")
                continue
            ex = m.get("execution") or {}
            mine = ex.get("entry") == run.entry
            if run.stop is None and not mine:  # fencing by run (spec/queues.md §5): a later run owns the task
                run.request_stop("stale")
                self.log(
                    f"task {run.task_id} was re-queued or run again (entry {ex.get('entry')}): ending this run at once"
                )
            # Under its own entry only an abort (stopped) or a reset (created) is enforced, with grace: a task
            # that marks itself completed or failed and goes on (or is told to end by its own heartbeat loop) is
            # let be.
            elif run.stop is None and m["status"] in ("stopped", "created", "queued"):
                run.observed = (m["status"], m.get("status_message") or "", m["status_changed"])
                run.request_stop("external")
                self.log(
                    f"task {run.task_id} is now {m['status']!r}: its process has {self.cfg.kill_grace:g}s to "
                    "exit before it is terminated"
                )
            elif (
                run.stop == "external"
                and mine
                and m["status"] == "in_progress"
                and run.observed
                and m["status_changed"] > run.observed[2]
            ):
                # the task's process (Task.init attaching) set it running again: re-apply the stop so that
                # its heartbeat loop sees it and runs the abort callback
                from fstrack.dispatch.leases import finish_run

                status, message, _ = run.observed
                if finish_run(self.db, run.task_id, run.entry, status, message=message):
                    run.observed = (status, message, self.db.load(run.task_id)["status_changed"])
        renewer.join(timeout=5)

    def _finish(self, run: Run) -> str:
        """Record how the run ended (unless the task already did); release the lease. Returns the status."""
        from fstrack.dispatch.leases import expire_run, finish_run, requeue_run

        task_id, entry = run.task_id, run.entry
        try:
            if run.stop == "lease":
                outcome = expire_run(self.db, task_id, run.lease.doc, judge=f"{self.worker} (its own lease)")
                self.log(f"task {task_id}: lease lost; {outcome or 'already handled'}")
                return outcome or "lease lost"
            if run.stop == "shutdown":
                new = requeue_run(
                    self.db,
                    task_id,
                    entry,
                    message=f"re-queued: agent {self.worker} shut down",
                    reason="agent shutdown",
                    count_attempt=False,
                    allowed_from=("in_progress", "stopped"),
                    changed_after=run.stop_wall - 1.0,
                )
                self.db.end_beats(task_id)  # the run is over (spec/tasks.md §9)
                run.lease.release()
                return "queued" if new else self.db.load(task_id)["status"]
            if run.stop == "external" and run.observed is not None:
                status, message, _ = run.observed
                done = finish_run(self.db, task_id, entry, status, message=message)
            elif run.error is not None:
                status = "failed"
                done = finish_run(self.db, task_id, entry, status, message=run.error[-4000:], reason="agent")
            elif run.returncode == 0:
                status = "completed"
                done = finish_run(self.db, task_id, entry, status)
            else:
                rc = run.returncode
                reason = f"killed by signal {-rc}" if rc is not None and rc < 0 else f"exit code {rc}"
                status = "failed"
                done = finish_run(
                    self.db, task_id, entry, status, reason=reason, message=("".join(run.tail) or reason)[-4000:]
                )
            self.db.end_beats(task_id)  # the run is over (spec/tasks.md §9)
            run.lease.release()
            return status if done else self.db.load(task_id)["status"]
        except Exception as exc:  # noqa: BLE001 - the watchdog settles a run whose end could not be recorded
            self.log(f"could not record the end of task {task_id}: {exc!r}")
            return "unknown"

    # -- stopping --------------------------------------------------------------------------------------
    def shutdown(self, requeue: bool | None = None) -> None:
        """Stop claiming; finish (or, with ``requeue``, terminate and re-queue) the running tasks."""
        if requeue is not None:
            self._requeue_on_stop = self._requeue_on_stop or requeue
        self._stopping = True
        if self._requeue_on_stop:
            with self._lock:
                for run in self.active.values():
                    run.request_stop("shutdown")
        self._wake.set()

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum, frame):
            again = self._stopping
            self.log(
                f"fstrack agent {self.worker}: {signal.Signals(signum).name}: "
                + (
                    "re-queueing running tasks"
                    if again or self._requeue_on_stop
                    else "finishing running tasks (signal again to re-queue them)"
                )
            )
            self.shutdown(requeue=True if again else None)

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    # -- wake-ups --------------------------------------------------------------------------------------
    def _watch(self, qids: list[str]) -> None:
        """Local stores: wake the loop on every new entry (inotify/FSEvents/... through ``watchdog``)."""
        if not self._local:
            return
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:  # pragma: no cover - watchdog is a dependency
            return
        wake = self._wake

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                if event.event_type in ("created", "moved"):
                    wake.set()

        from fstrack.dispatch.queues import QUEUES_DIR

        observer = Observer()
        for qid in qids:
            path = self.db.store.backend.path(f"{QUEUES_DIR}/{qid}/entries")
            os.makedirs(path, exist_ok=True)
            observer.schedule(_Handler(), path, recursive=False)
        observer.daemon = True
        threads.start(observer)
        self._observer = observer

    def _unwatch(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    def _watchdog_loop(self) -> None:
        from fstrack.dispatch.leases import Watchdog

        watchdog = Watchdog(self.db, stale_after=self.stale_after, grace=self.grace, judge=f"agent {self.worker}")
        while not self._stopping:
            deadline = time.monotonic() + self.cfg.watchdog_interval
            try:
                for action in watchdog.scan():
                    self.log(f"watchdog: task {action['task']} {action['action']} ({action['why']})")
                    if action["action"] in ("requeued", "repaired"):
                        self._wake.set()
            except Exception as exc:  # noqa: BLE001 - next scan
                self.log(f"watchdog scan failed: {exc!r}")
            while not self._stopping and time.monotonic() < deadline:
                time.sleep(min(0.2, self.cfg.watchdog_interval))


def _default_log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {terminal.escape(message)}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------
# running a task in a child process
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Prepared:
    cwd: str
    python: str
    spec: dict
    folder: str


class ProcessRunner:
    """Prepare the task's code and run it in a child process; the default runner of :class:`Agent`."""

    def execute(self, agent: Agent, run: Run) -> int | None:
        console = _Console(agent, run)
        try:
            prepared = self.prepare(agent, run, console)
            try:
                return self.supervise(agent, run, prepared, console)
            finally:
                if not agent.cfg.keep_workdir:
                    shutil.rmtree(prepared.folder, ignore_errors=True)
        finally:
            console.close()

    # -- code ------------------------------------------------------------------------------------------
    def prepare(self, agent: Agent, run: Run, console: _Console) -> Prepared:
        script = run.manifest.get("script") or {}
        runs = os.path.join(os.path.abspath(os.path.expanduser(agent.cfg.workdir)), "runs")
        os.makedirs(runs, exist_ok=True)
        folder = tempfile.mkdtemp(prefix=f"{run.task_id[:12]}-", dir=runs)
        try:
            root = self._code(script, folder, console)
            working_dir = (script.get("working_dir") or ".") if script.get("repository") else "."
            cwd = os.path.normpath(os.path.join(root, working_dir))
            if os.path.relpath(cwd, root).startswith(".."):
                raise PrepareError(f"working_dir {working_dir!r} leaves the code folder")
            os.makedirs(cwd, exist_ok=True)
            entry_point = (script.get("entry_point") or "").strip()
            argv = [str(a) for a in (script.get("argv") or [])]
            args = argv[1:] if argv and argv[0] not in ("", "-") else []
            if entry_point.startswith("-m "):
                spec = {"mode": "module", "target": entry_point[3:].strip(), "args": args}
            elif entry_point:
                target = os.path.normpath(os.path.join(cwd, entry_point))
                if not os.path.isfile(target):
                    raise PrepareError(f"entry point {entry_point!r} not found in {working_dir!r} of the prepared code")
                spec = {"mode": "path", "target": target, "args": args}
            elif script.get("code"):
                target = os.path.join(cwd, "__fstrack_command__.py")
                with open(target, "w", encoding="utf-8") as f:
                    f.write(script["code"])
                spec = {"mode": "path", "target": target, "args": args}
            else:
                raise PrepareError("the task records no entry point to run (script.entry_point is empty)")
            spec["init"] = bool(script.get("add_task_init_call"))
            python = sys.executable
            if agent.cfg.venv:
                python = ensure_venv(agent.cfg.workdir, (script.get("requirements") or {}).get("pip") or "", console)
            return Prepared(cwd, python, spec, folder)
        except BaseException:
            if not agent.cfg.keep_workdir:
                shutil.rmtree(folder, ignore_errors=True)
            raise

    def _code(self, script: dict, folder: str, console: _Console) -> str:
        """Write the task's code into ``folder``; returns its root (the repository's work tree)."""
        repository = script.get("repository") or ""
        if repository:
            root = os.path.join(folder, "repo")
            commit, branch = script.get("version_num") or "", script.get("branch") or ""
            console.note(f"cloning {repository} at {commit or branch or 'its default branch'}")
            _git(["clone", "--quiet", "--no-checkout", repository, root], folder)
            target = commit or (f"origin/{branch}" if branch else "HEAD")
            try:
                _git(["checkout", "--quiet", "--detach", target], root)
            except PrepareError:
                if not commit:
                    raise
                _git(["fetch", "--quiet", "origin", commit], root)
                _git(["checkout", "--quiet", "--detach", commit], root)
            diff = script.get("diff") or ""
            if diff.strip():
                console.note(f"applying the recorded uncommitted changes ({len(diff)} bytes)")
                _git(["apply", "--whitespace=nowarn", "-"], root, stdin=diff if diff.endswith("\n") else diff + "\n")
            return root
        code = script.get("code") or ""
        if not code:
            raise PrepareError("the task records neither a repository nor the script's code")
        root = os.path.join(folder, "code")
        os.makedirs(root, exist_ok=True)
        entry = (script.get("entry_point") or "").strip()
        if entry and not entry.startswith("-m "):
            path = os.path.normpath(os.path.join(root, entry))  # a standalone script runs in its own folder
            if os.path.relpath(path, root).startswith(".."):
                raise PrepareError(f"entry point {entry!r} leaves the code folder")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(code)
        return root

    # -- the child -------------------------------------------------------------------------------------
    def supervise(self, agent: Agent, run: Run, prepared: Prepared, console: _Console) -> int:
        env = child_environment(agent.db.store, run.task_id, agent.worker, run.entry)
        spec = dict(prepared.spec, parent=os.getpid())
        popen_kwargs: dict[str, Any] = {}
        keepalive_read = None
        if os.name == "posix":
            popen_kwargs["start_new_session"] = True
            # The task's process kills itself if no renewal reaches it for 0.6 ttl (the agent is frozen, or
            # cannot reach the store) or the pipe closes (the agent died): see child_main.
            keepalive_read, keepalive_write = os.pipe()
            os.set_blocking(keepalive_write, False)
            with run.keepalive_lock:
                run.keepalive = keepalive_write
            popen_kwargs["pass_fds"] = (keepalive_read,)
            spec.update(keepalive_fd=keepalive_read, keepalive_timeout=agent.ttl * 0.6)
        argv = [prepared.python, "-c", _CHILD_BOOT, json.dumps(spec)]
        console.note(f"running {prepared.spec['target']} {' '.join(prepared.spec['args'])} in {prepared.cwd}")
        try:
            with threads.signals_unblocked():  # a run slot's thread blocks them; the task script must not
                proc = subprocess.Popen(
                    argv,
                    cwd=prepared.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    **popen_kwargs,
                )
        except BaseException:
            run.close_keepalive()
            raise
        finally:
            if keepalive_read is not None:
                os.close(keepalive_read)
        readers = [
            threading.Thread(target=console.pump, args=(proc.stdout, "stdout"), daemon=True),
            threading.Thread(target=console.pump, args=(proc.stderr, "stderr"), daemon=True),
        ]
        for reader in readers:
            threads.start(reader)
        termed = killed = None
        while True:
            try:
                return_code = proc.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if run.lease.held_for() > agent.ttl * 0.6 and killed is None:
                run.request_stop("lease")  # we may no longer hold the task: it must end before anyone judges
                killed = now
                _signal_group(proc, signal.SIGKILL)
                continue
            if run.stop is None or killed is not None:
                continue
            if run.stop == "stale":  # no grace, and no SIGTERM: the task's exit hooks must not write to it
                killed = now
                _signal_group(proc, signal.SIGKILL)
                continue
            grace = 0.0 if run.stop == "shutdown" else agent.cfg.kill_grace
            if termed is None and now - run.stop_since >= grace:
                termed = now
                _signal_group(proc, signal.SIGTERM)
            elif termed is not None and now - termed >= min(10.0, max(2.0, agent.cfg.kill_grace)):
                killed = now
                _signal_group(proc, signal.SIGKILL)
        if os.name == "posix":
            _signal_group(proc, signal.SIGKILL)  # whatever the task left behind in its process group
        run.close_keepalive()
        for reader in readers:
            reader.join(timeout=10)
        return return_code


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, sig)
        else:  # pragma: no cover
            proc.send_signal(sig)
    except (ProcessLookupError, PermissionError):
        pass


def child_environment(store, task_id: str, worker: str, entry: str | None = None) -> dict[str, str]:
    """The environment of a task's process: the agent's, plus the task id and the store to attach to (and the
    queue entry of the run: ``FSTRACK_AGENT_ENTRY``, so that the task can tell its run from a later one)."""
    from fstrack.sdk import processes
    from fstrack.sdk.task import AGENT_ENTRY_ENV, AGENT_TASK_ENV

    env = dict(os.environ)
    env.pop("FSTRACK_OFFLINE", None)
    for name in (processes.MASTER_ENV, processes.STORE_ENV):  # the run owns its task, even if the agent is a child
        env.pop(name, None)
    env[AGENT_TASK_ENV] = task_id
    env["FSTRACK_URL"] = store.url
    env["FSTRACK_STORAGE_OPTIONS"] = json.dumps(store.storage_options, default=str)
    env[AGENT_WORKER_ENV] = worker
    if entry:
        env[AGENT_ENTRY_ENV] = entry
    env[AGENT_STREAMS_ENV] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _git(args: list[str], cwd: str, stdin: str | None = None) -> str:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, input=stdin, capture_output=True, text=True, env=env, timeout=600
        )
    except FileNotFoundError as exc:
        raise PrepareError("git is not installed on the agent's machine") from exc
    except subprocess.TimeoutExpired as exc:
        raise PrepareError(f"git {args[0]} took more than 600 s") from exc
    if done.returncode != 0:
        raise PrepareError(f"git {' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout


class _Console:
    """The task's console log as seen by the agent: the child's output and the agent's own notes."""

    def __init__(self, agent: Agent, run: Run):
        self.agent = agent
        self.run = run
        self.prefix = f"[{run.task_id[:8]}] " if agent.cfg.workers > 1 else ""
        self.logger = None
        self.writer = None
        try:
            from fstrack.records.metrics import MetricsWriter
            from fstrack.sdk.logger import Logger
            from fstrack.sdk.task import Task

            task = Task._attach(agent.db, run.task_id, manifest=run.manifest, remote=True)
            run_number = int(run.manifest.get("run") or 1)
            self.writer = MetricsWriter(agent.db.store, agent.db.refs, run.task_id, run=lambda: run_number)
            self.logger = Logger(task, self.writer)
        except Exception as exc:  # noqa: BLE001 - the run goes on; only the console log is missing
            agent.log(f"task {run.task_id}: console capture unavailable ({exc!r})")

    def _report(self, text: str, stream: str, level: int) -> None:
        if self.logger is not None:
            try:
                self.logger.report_console(text, level=level, stream=stream)
            except Exception:  # noqa: BLE001
                pass

    def note(self, message: str) -> None:
        line = f"fstrack agent {self.agent.worker}: {message}\n"
        self._report(line[:-1], "stdout", logging.INFO)
        if self.agent.cfg.echo:
            sys.stderr.write(self.prefix + terminal.escape(line[:-1]) + "\n")
            sys.stderr.flush()

    def pump(self, pipe, stream: str) -> None:
        """Copy one of the task's output streams into the console log (one row per line, as it finally reads
        after carriage returns) and on to the agent's own output as it arrives."""
        import codecs

        out = sys.stdout if stream == "stdout" else sys.stderr
        level = logging.INFO if stream == "stdout" else logging.ERROR
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        echo = self.agent.cfg.echo
        pending = ""
        fd = pipe.fileno()
        while True:
            chunk = os.read(fd, 65536)
            text = decoder.decode(chunk, final=not chunk)
            if echo and not self.prefix and text:
                self._echo(out, text)
            pending += text
            *lines, pending = pending.split("\n")
            if not chunk and pending:
                lines.append(pending)
                pending = ""
            elif len(pending) > _MAX_LINE:
                lines.append(pending)
                pending = ""
            for line in lines:
                line = line.rstrip("\r").rsplit("\r", 1)[-1]
                if stream == "stderr":
                    self.run.tail.append(line + "\n")
                self._report(line, stream, level)
                if echo and self.prefix:
                    self._echo(out, f"{self.prefix}{line}\n")
            if not chunk:
                break
        pipe.close()

    @staticmethod
    def _echo(out, text: str) -> None:
        try:
            out.write(text)
            out.flush()
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close(compact=False)
            except Exception as exc:  # noqa: BLE001
                self.agent.log(f"task {self.run.task_id}: console log not fully stored ({exc!r})")


def ensure_venv(workdir: str, requirements: str, console: _Console | None = None) -> str:
    """A virtual environment with ``requirements`` installed over the agent's own environment (which
    provides fstrack and whatever the requirements do not pin); cached per requirements text and Python.
    Returns its interpreter."""
    import site

    lines = [ln.strip() for ln in requirements.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#") and _requirement_name(ln) != "fstrack"]
    key = hashlib.sha256((sys.version + "\n" + "\n".join(lines)).encode()).hexdigest()[:16]
    venvs = os.path.join(os.path.abspath(os.path.expanduser(workdir)), "venvs")
    path = os.path.join(venvs, key)
    python = os.path.join(path, "Scripts" if os.name == "nt" else "bin", "python")
    if os.path.exists(os.path.join(path, "fstrack-ready")):
        return python
    os.makedirs(venvs, exist_ok=True)
    staged = tempfile.mkdtemp(prefix=f"{key}.", dir=venvs)
    note = console.note if console is not None else (lambda m: None)
    note(f"creating a virtualenv for {len(lines)} requirement(s) in {path}")
    pip = _pip_with_python_option()
    try:
        _run_logged([sys.executable, "-m", "venv", *(["--without-pip"] if pip else []), staged], console)
        staged_python = os.path.join(staged, "Scripts" if os.name == "nt" else "bin", "python")
        purelib = subprocess.run(
            [staged_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        import fstrack

        fallback = [os.path.dirname(os.path.dirname(os.path.abspath(fstrack.__file__)))]
        fallback += [p for p in [*site.getsitepackages(), site.getusersitepackages()] if os.path.isdir(p)]
        with open(os.path.join(purelib, "_fstrack_agent_fallback.pth"), "w", encoding="utf-8") as f:
            f.write("\n".join(dict.fromkeys(fallback)) + "\n")
        if lines:
            req = os.path.join(staged, "requirements.txt")
            with open(req, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
            installer = [*pip, "--python", staged_python] if pip else [staged_python, "-m", "pip"]
            _run_logged([*installer, "install", "--disable-pip-version-check", "--no-input", "-r", req], console)
        with open(os.path.join(staged, "fstrack-ready"), "w") as f:
            f.write(requirements)
        try:
            os.rename(staged, path)
        except OSError:  # another worker finished the same environment first
            shutil.rmtree(staged, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return python


def _pip_with_python_option() -> list[str] | None:
    """This interpreter's pip if it can install into another environment (``pip --python``, pip >= 22.3): the
    virtualenv is then created without its own pip, in a fraction of the time."""
    try:
        from importlib.metadata import version

        major, minor = (int(x) for x in version("pip").split(".")[:2])
    except Exception:  # noqa: BLE001 - no pip here, or an odd version string
        return None
    return [sys.executable, "-m", "pip"] if (major, minor) >= (22, 3) else None


def _requirement_name(line: str) -> str:
    import re

    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else ""


def _run_logged(argv: list[str], console: _Console | None) -> None:
    with threads.signals_unblocked():
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None  # stdout=PIPE
    tail: collections.deque = collections.deque(maxlen=20)
    for raw in iter(proc.stdout.readline, b""):
        line = raw.decode("utf-8", "replace")
        tail.append(line)
        if console is not None:
            console._report(line.rstrip("\r\n"), "stdout", logging.INFO)
    proc.stdout.close()
    if proc.wait() != 0:
        raise PrepareError(f"{' '.join(argv[:4])} failed ({proc.returncode}):\n{''.join(tail)}")


# ---------------------------------------------------------------------------------------------------------
# inside the task's process
# ---------------------------------------------------------------------------------------------------------


def child_main(spec_json: str) -> None:
    """Run the task's script as ``__main__`` (what ``python script.py args`` / ``python -m mod args`` does),
    dying with the agent."""
    import runpy

    spec = json.loads(spec_json)
    _die_with_parent(int(spec["parent"]), spec.get("keepalive_fd"), spec.get("keepalive_timeout"))
    target, args = spec["target"], list(spec.get("args") or [])
    if spec.get("init"):  # Task.create(add_task_init_call=True): attach before the script runs
        from fstrack import Task

        Task.init()
    if spec["mode"] == "module":
        sys.argv = [target, *args]
        sys.path[0] = os.getcwd()
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        sys.argv = [target, *args]
        sys.path[0] = os.path.dirname(os.path.abspath(target))
        runpy.run_path(target, run_name="__main__")


def _die_with_parent(parent: int, keepalive_fd: int | None = None, timeout: float | None = None) -> None:
    """SIGKILL this process (and its process group) as soon as the agent that started it is gone, or, with a
    keep-alive pipe, when no lease renewal reached it for ``timeout`` seconds (a frozen agent, or one that
    cannot reach the store: its lease may be judged expired soon, and the run must be over by then)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        except Exception:  # noqa: BLE001 - the watcher below still covers it
            pass
    if os.getppid() != parent:
        os._exit(137)

    def die() -> None:
        try:
            if os.name == "posix" and os.getpgrp() == os.getpid():
                os.killpg(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(137)

    def watch() -> None:
        import select

        while True:
            if keepalive_fd is not None:
                ready, _, _ = select.select([keepalive_fd], [], [], timeout)
                if not ready:
                    print(
                        f"fstrack: no lease renewal from the agent for {timeout:.1f}s: stopping this run",
                        file=sys.stderr,
                        flush=True,
                    )
                    die()
                if not os.read(keepalive_fd, 4096):  # end of file: the agent is gone
                    die()
            else:
                time.sleep(0.2)
            if os.getppid() != parent:
                die()

    threads.start(threading.Thread(target=watch, name="fstrack-agent-parent-watch", daemon=True))


# ---------------------------------------------------------------------------------------------------------
# command-line entry points (wired as ``fstrack agent``, ``fstrack abort``, ``fstrack watchdog``)
# ---------------------------------------------------------------------------------------------------------


def _store_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="store URL or path (default: the configured store)")
    parser.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fsspec storage option, repeatable (e.g. -o endpoint_url=http://...)",
    )


def _open_db(args: argparse.Namespace, *, create: bool = False):
    """The task database of ``--url``/``-o`` (or the configured store); only ``create`` makes a new store."""
    from fstrack.records import config

    options: dict[str, Any] = {}
    for number, pair in enumerate(args.option, 1):
        key, sep, value = pair.partition("=")
        if not sep or not key:  # the text itself is not shown: it may be a credential
            raise ValueError(f"storage option #{number} (-o) must look like KEY=VALUE; it has no '=' or no key")
        try:
            options[key] = json.loads(value) if value[:1] in "[{" or value in ("true", "false") else value
        except ValueError as exc:
            raise ValueError(f"storage option {key!r} (-o) is not valid JSON ({exc})") from None
    if args.url:
        config.set_store(args.url, **options)
    return config.get_taskdb(create=create)


def build_agent_parser(prog: str = "fstrack agent") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Take tasks from queues in the store and run them.")
    p.add_argument(
        "--queue",
        action="append",
        required=True,
        metavar="NAME",
        help="queue to serve, repeatable (the first has priority); created on first use",
    )
    _store_args(p)
    p.add_argument("--workers", type=int, default=1, help="tasks run at once by this agent (default 1)")
    p.add_argument("--once", action="store_true", help="drain the queues, wait for the runs, then exit")
    p.add_argument(
        "--workdir",
        default=os.path.join(os.path.expanduser("~"), ".fstrack", "agent"),
        help="where code is prepared and virtualenvs are cached (default ~/.fstrack/agent)",
    )
    p.add_argument(
        "--venv",
        action="store_true",
        help="run each task in a virtualenv with its recorded requirements (default: this interpreter)",
    )
    p.add_argument(
        "--window",
        type=int,
        default=8,
        help="claim among the N oldest entries, at random (less contention; FIFO within N; default 8)",
    )
    p.add_argument(
        "--lease-seconds",
        type=float,
        default=None,
        help="lease ttl: a run that cannot renew for this long is killed (default FSTRACK_LEASE_SECONDS or 60)",
    )
    p.add_argument(
        "--lease-grace",
        type=float,
        default=None,
        help="extra seconds judges wait past the ttl (default FSTRACK_LEASE_GRACE or the ttl)",
    )
    p.add_argument(
        "--on-lease-expiry",
        choices=("requeue", "fail"),
        default="requeue",
        help="what happens to a task whose worker died (default: requeue, up to --max-attempts runs)",
    )
    p.add_argument(
        "--max-attempts",
        type=int,
        default=2,
        help="runs per enqueue before a dead worker's task fails (default 2: re-queued once)",
    )
    p.add_argument(
        "--on-sigterm",
        choices=("finish", "requeue"),
        default="finish",
        help="on SIGTERM, finish the running tasks (default) or terminate and re-queue them",
    )
    p.add_argument(
        "--kill-grace",
        type=float,
        default=60.0,
        help="seconds an aborted task may take to exit by itself before it is terminated (default 60)",
    )
    p.add_argument(
        "--watchdog-interval",
        type=float,
        default=30.0,
        help="seconds between watchdog scans of the store (0: none; default 30)",
    )
    p.add_argument(
        "--stale-after",
        type=float,
        default=None,
        help="a running task with no heartbeat for this long is marked stopped (default "
        "FSTRACK_WATCHDOG_SECONDS or 7200)",
    )
    p.add_argument(
        "--poll-max",
        type=float,
        default=1.0,
        help="longest wait between polls of the queues when idle, seconds (default 1)",
    )
    p.add_argument("--keep-workdir", action="store_true", help="keep each run's prepared code folder")
    p.add_argument("--quiet", action="store_true", help="do not echo the tasks' output")
    return p


def main_agent(argv: Sequence[str] | None = None) -> int:
    """``fstrack agent --queue NAME [--queue ...] [--url URL] [--workers N] [--once] [--workdir DIR] [--venv]
    [--window N] ...``. Returns the process exit code."""
    args = build_agent_parser().parse_args(argv)
    try:
        db = _open_db(args, create=True)
        cfg = AgentConfig(
            queues=args.queue,
            workers=args.workers,
            once=args.once,
            workdir=args.workdir,
            venv=args.venv,
            window=args.window,
            lease_ttl=args.lease_seconds,
            lease_grace=args.lease_grace,
            on_expiry=args.on_lease_expiry,
            max_attempts=args.max_attempts,
            on_sigterm=args.on_sigterm,
            kill_grace=args.kill_grace,
            watchdog_interval=args.watchdog_interval,
            stale_after=args.stale_after,
            poll_max=args.poll_max,
            keep_workdir=args.keep_workdir,
            echo=not args.quiet,
        )
        return Agent(db, cfg).run()
    except (ValueError, LookupError, OSError) as exc:
        print(terminal.escape(f"fstrack agent: error: {exc}"), file=sys.stderr)
        return 2


def abort(task_id: str, message: str | None = None) -> str:
    """Abort a task (``fstrack abort``); returns the status it had (see :func:`fstrack.sdk.abort.abort_task`)."""
    from fstrack.sdk.abort import abort_task, who
    from fstrack.sdk.task import Task

    return abort_task(Task.get_task(task_id=task_id), message or f"aborted by {who()}")


def main_abort(argv: Sequence[str] | None = None) -> int:
    """``fstrack abort TASK [TASK ...] [--url URL] [--message TEXT]``."""
    p = argparse.ArgumentParser(prog="fstrack abort", description="Abort running or queued tasks.")
    p.add_argument("task", nargs="+", help="task id")
    _store_args(p)
    p.add_argument("--message", help="status message (default: 'aborted by user@host')")
    p.add_argument("--json", action="store_true", help="print one JSON object per task")
    args = p.parse_args(argv)
    from fstrack.errors import FstrackError

    code = 0
    try:
        _open_db(args)
    except (ValueError, OSError, FstrackError) as exc:
        print(terminal.escape(f"fstrack abort: error: {exc}"), file=sys.stderr)
        return 2
    for task_id in args.task:
        try:
            was = abort(task_id, args.message)
        except (FstrackError, LookupError, ValueError, RuntimeError) as exc:
            print(terminal.escape(f"fstrack abort: error: {exc}"), file=sys.stderr)
            code = 2  # an error, as every command reports one
            continue
        print(
            json.dumps({"task": task_id, "was": was, "status": "stopped"})
            if args.json
            else terminal.escape(f"task {task_id}: {was} -> stopped")
        )
    return code


def main_watchdog(argv: Sequence[str] | None = None) -> int:
    """``fstrack watchdog [--url URL] [--stale-after S] [--grace S] [--repair-after S] [--loop S] [--json]``:
    judge expired leases, non-responsive running tasks and lost queue entries once (or every ``--loop``
    seconds)."""
    from fstrack.dispatch.leases import DEFAULT_REPAIR_AFTER, DEFAULT_STALE_AFTER, MIN_GRACE, Watchdog

    p = argparse.ArgumentParser(
        prog="fstrack watchdog",
        description="Abort non-responsive tasks and settle the "
        "tasks of dead workers (expired leases) per their policy.",
    )
    _store_args(p)
    p.add_argument(
        "--stale-after",
        type=float,
        default=DEFAULT_STALE_AFTER,
        help=f"seconds without a heartbeat before a running task is stopped (default {DEFAULT_STALE_AFTER:.0f})",
    )
    p.add_argument("--grace", type=float, default=MIN_GRACE, help="least extra seconds past a lease's ttl")
    p.add_argument(
        "--repair-after",
        type=float,
        default=DEFAULT_REPAIR_AFTER,
        help="seconds before a queued task whose entry is lost is given a new one",
    )
    p.add_argument("--loop", type=float, default=0.0, help="scan every N seconds until interrupted")
    p.add_argument("--json", action="store_true", help="print actions as JSON lines")
    args = p.parse_args(argv)
    try:
        db = _open_db(args, create=True)
        watchdog = Watchdog(
            db, stale_after=args.stale_after, grace=args.grace, repair_after=args.repair_after, judge="fstrack watchdog"
        )
        while True:
            actions = watchdog.scan()
            for action in actions:
                print(
                    json.dumps(action)
                    if args.json
                    else terminal.escape(f"task {action['task']}: {action['action']} ({action['why']})"),
                    flush=True,
                )
            if not args.json and not actions and not args.loop:
                print("nothing to do")
            if not args.loop:
                return 0
            time.sleep(args.loop)
    except KeyboardInterrupt:
        return 0
    except (ValueError, LookupError, OSError) as exc:
        print(terminal.escape(f"fstrack watchdog: error: {exc}"), file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_agent())
