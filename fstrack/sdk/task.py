"""ClearML's ``Task`` on an fstrack store.

A task is an id whose head names its newest manifest (see :mod:`fstrack.records.taskdb`); every method
that changes a task writes a new manifest through a compare-and-swap, so concurrent writers (a
script and an agent, two scripts) never lose each other's changes.

Where ClearML talks to a server, fstrack reads and writes the store directly; where ClearML
points at its web UI, fstrack points at the store and the ``fstrack`` CLI.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import json
import math
import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent import futures
from datetime import UTC
from typing import Any, ClassVar, NoReturn, TypeAlias, overload

from fstrack import terminal, threads
from fstrack.capture import execution, frameworks
from fstrack.dispatch.queues import Queues
from fstrack.errors import FstrackError, InvalidNameError
from fstrack.records import config, metrics, query
from fstrack.records.fields import field_problems
from fstrack.records.lifecycle import (
    TRANSITIONS,
    InvalidTransitionError,
    TaskStatusEnum,
    TaskTypes,
    check_task_type,
    transition,
)
from fstrack.records.taskdb import (
    FINAL_STATUSES,
    SUMMARY_FIELDS,
    TaskDB,
    TaskNotFoundError,
    check_project_name,
    check_task_id,
    project_id,
)
from fstrack.sdk import current, models, parameters, processes, unsent, writeback
from fstrack.sdk.artifacts import ArtifactsMixin
from fstrack.sdk.models import InputModel, ModelsMixin, OutputModel
from fstrack.sdk.parameters import ParametersMixin
from fstrack.sdk.reporting import ReportingMixin
from fstrack.store import transfer
from fstrack.store.store import public_url

AGENT_TASK_ENV = "FSTRACK_TASK_ID"
#: Set by ``fstrack agent``: the queue entry of the run it started this process for (spec/queues.md §6).
AGENT_ENTRY_ENV = "FSTRACK_AGENT_ENTRY"
HEARTBEAT_SECONDS = float(os.environ.get("FSTRACK_HEARTBEAT_SECONDS", "10"))


class UsageError(FstrackError, RuntimeError):
    """The API was used in a way it does not support."""


#: Fields a published (read-only) task still lets you change; ``status`` follows TRANSITIONS.
_EDITABLE_WHEN_PUBLISHED = frozenset(
    {"tags", "system_tags", "comment", "name", "archived", "user_properties", "status"}
)
_PRIVATE = object()


class AttrView(Mapping):
    """Read-only attribute access over a manifest (ClearML's ``task.data.script.repository``)."""

    def __init__(self, data: Mapping):
        self._d = data

    def __getattr__(self, name: str) -> Any:
        try:
            value = self._d[name]
        except KeyError:
            raise AttributeError(name) from None
        return AttrView(value) if isinstance(value, Mapping) else value

    def __getitem__(self, key: str) -> Any:
        return self._d[key]

    def __iter__(self):
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __repr__(self) -> str:
        return f"AttrView({dict(self._d)!r})"


def _tags(tags: Any, what: str = "tags") -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = [tags]
    tags = list(tags)
    bad = [t for t in tags if not isinstance(t, str) or not t]
    if bad:
        raise ValueError(f"{what} must be non-empty strings, got {bad!r}")
    return list(dict.fromkeys(tags))


def _clear_outputs(m: dict) -> None:
    """Drop the outputs of the previous run (a reset): a new run number, no metrics, artifacts or output models."""
    m.update(
        run=m["run"] + 1,
        started=None,
        completed=None,
        last_iteration=0,
        last_metrics={},
        artifacts={},
        progress=None,
        models={"input": m["models"]["input"], "output": []},
    )


def _reusable(m: dict) -> bool:
    """ClearML's reuse rule: no artifacts or output models, not published, not archived."""
    return not (
        m.get("artifacts")
        or m["models"].get("output")
        or m["status"] in ("published", "publishing")
        or m.get("archived")
    )


class _NotReusable(Exception):
    pass


_MANAGED_FIELDS = frozenset({"id", "previous", "last_update", "kind"})


def _failure_reason(message: str) -> str:
    """``status_reason`` of a run that failed with ``message`` (ClearML's: "exception" for a traceback)."""
    return "exception" if message.startswith("Traceback") else message


def _check_task_data(db: TaskDB, data: dict) -> None:
    """Validate the fields of ``update_task``/``import_task`` data that have rules; record new projects."""
    managed = _MANAGED_FIELDS & set(data)
    if managed:
        raise ValueError(f"cannot update fields {sorted(managed)} (managed by fstrack)")
    if "name" in data and (not isinstance(data["name"], str) or not data["name"].strip()):
        raise InvalidNameError(f"task name must be a non-empty string, got {data['name']!r}")
    problems = field_problems(data)
    if problems:
        raise ValueError(f"task data refused: {'; '.join(problems)} (spec/tasks.md §4 gives each field's shape)")
    if "type" in data:
        check_task_type(data["type"])
    if "status" in data and data["status"] not in TRANSITIONS:
        raise ValueError(f"status {data['status']!r} is not one of {', '.join(TRANSITIONS)}")
    for field in ("tags", "system_tags"):
        if field in data:
            _tags(data[field], field)
    if "project" in data:
        db.ensure_project(data["project"])


def _container(
    image: str | None,
    command: str | None,
    arguments: str | Sequence[str] | None,
    setup_script: str | Sequence[str] | None,
) -> dict[str, str]:
    """The ``container`` record: ``docker_cmd`` ("image args...") or image and arguments apart."""
    if command:
        head, _, rest = command.strip().partition(" ")
        image, arguments = image or head, arguments or rest or None
    if arguments is not None and not isinstance(arguments, str):
        arguments = " ".join(arguments)
    if setup_script is not None and not isinstance(setup_script, str):
        setup_script = "\n".join(setup_script)
    return {"image": image or "", "arguments": arguments or "", "setup_shell_script": setup_script or ""}


class Task(ReportingMixin, ArtifactsMixin, ModelsMixin, ParametersMixin):
    """A single code execution session, stored as a chain of immutable manifests."""

    TaskTypes: TypeAlias = TaskTypes
    TaskStatusEnum = TaskStatusEnum

    _added_requirements: ClassVar[dict[str, str | None]] = {}
    _ignored_requirements: ClassVar[set[str]] = set()
    _freeze_requirements: ClassVar[bool] = False
    _standalone_script: ClassVar[bool] = False
    _random_seed: ClassVar[int | None] = 1337
    _resource_monitor_option: Any  # Task.init's auto_resource_monitoring (a bool, a dict or a monitor class)

    def __init__(self, private: Any = None, **kwargs: Any):
        if private is not _PRIVATE:
            raise UsageError("Task() cannot be constructed directly: use Task.init(), Task.create() or Task.get_task()")
        self._db: TaskDB = kwargs["db"]
        self.id: str = kwargs["task_id"]
        self._manifest: dict | None = kwargs.get("manifest")
        self._record: dict | None = kwargs.get("record")
        self._remote = bool(kwargs.get("remote", False))
        #: The process that may end this task (set its final status); None in a child attached to a parent's task.
        self._owner_pid: int | None = os.getpid()
        self._ignore_remote_overrides = False
        self._closed = False
        self._exit_status: tuple[str, str] | None = None
        self._abort_callback: tuple[Callable[[], None], float] | None = None
        self._heartbeat_stop = threading.Event()
        self._beat_lock = threading.Lock()  # a heartbeat is never written after _finish removed it
        self._beaten = False
        self._capture: futures.Future | None = None
        self._initial_iteration = 0
        self._publish_on_completion = False
        #: ``status_changed`` of the status changes this object made (a change applied to the local view while
        #: it waits in the writeback queue makes a time of its own, which the store never sees)
        self._own_status_changes: set[float] = set()
        self._ending: tuple[str | None, str] = (None, "")  # the final status being stored, and its message
        self._final_stored = False  # the final status and every queued change are in the store
        self._view_lock = threading.Lock()
        self._unwritten: list[tuple[writeback.Change, Callable[[dict], None]]] = []  # queued edits, oldest first

    def __repr__(self) -> str:
        return f"<Task id={self.id} name={self.name!r} project={self.get_project_name()!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Task) and other.id == self.id and other._db.store.url == self._db.store.url

    def __hash__(self) -> int:
        return hash(self.id)

    # -- the manifest ------------------------------------------------------------------
    @property
    def _data(self) -> dict:
        if self._manifest is None:
            self._manifest = self._db.load(self.id)
        return self._manifest

    def _field(self, name: str) -> Any:
        if self._manifest is None and self._record is not None and name in self._record:
            return self._record[name]
        return self._data.get(name)

    def _edit(self, fn: Callable[[dict], object], *, fields: Iterable[str] | None = None) -> None:
        """Atomically apply ``fn`` to a fresh copy of the newest manifest (see :meth:`TaskDB.update`).

        ``fields`` names what ``fn`` changes; an edit that does not say is refused on a published task.
        """
        touched = set(fields) if fields is not None else {"(unspecified fields)"}

        def guarded(manifest: dict) -> None:
            if manifest["status"] == "published" and not touched <= _EDITABLE_WHEN_PUBLISHED:
                raise UsageError(
                    f"task {self.id} is published and read-only; clone it to change "
                    f"{', '.join(sorted(touched)) or 'it'}"
                )
            fn(manifest)

        if current.main is not self:
            self._manifest = self._db.update(self.id, guarded)
            self._record = None
            return
        # the running task: the store write is the writeback thread's; the loop waits only while the store answers
        kind = ", ".join(sorted(fields)) if fields is not None else "other fields"
        change = writeback.Change(kind=kind, apply=lambda: self._db.update(self.id, guarded))
        change.on_stored = lambda stored: self._stored(change, stored)
        with self._view_lock:
            self._unwritten.append((change, guarded))
        try:
            if writeback.call(change, self._db.store.url):
                return
        except BaseException:
            with self._view_lock:
                self._unwritten = [(c, g) for c, g in self._unwritten if c is not change]
            raise
        with self._view_lock:  # queued: this object shows the change now, the store when the thread stores it
            if self._manifest is not None and any(c is change for c, _ in self._unwritten):
                shown = copy.deepcopy(self._manifest)
                try:
                    guarded(shown)
                except Exception:  # noqa: BLE001 - raised again (to a warning) when the thread applies it
                    return
                self._manifest = shown

    def _stored(self, change: writeback.Change, manifest: dict) -> None:
        """The writeback thread stored ``change``: show the stored manifest, with the changes still queued."""
        with self._view_lock:
            self._unwritten = [(c, g) for c, g in self._unwritten if c is not change and not c.done.is_set()]
            self._show(manifest)

    def _show(self, manifest: dict) -> None:
        """Show ``manifest`` (read from the store) with this process's changes that are not stored yet applied;
        the caller holds ``_view_lock``."""
        shown = manifest
        for _change, edit in self._unwritten:
            candidate = copy.deepcopy(shown)
            try:
                edit(candidate)
            except Exception:  # noqa: BLE001 - this one fails when stored, and is reported then
                continue
            shown = candidate
        self._manifest = shown
        self._record = None

    def _remote_overrides(self) -> bool:
        return self._remote and not self._ignore_remote_overrides

    @property
    def data(self) -> AttrView:
        """The whole task record with attribute access (like ClearML's ``task.data``)."""
        return AttrView(self._data)

    def reload(self) -> None:
        """Re-read the newest manifest from the store (this process's changes not stored yet stay shown)."""
        manifest = self._db.load(self.id)
        with self._view_lock:
            self._show(manifest)

    # -- identity ----------------------------------------------------------------------
    @property
    def task_id(self) -> str:
        return self.id

    @classmethod
    def normalize_id(cls, id: str | None) -> str | None:  # noqa: A002 - ClearML's parameter name
        """``id`` without surrounding whitespace (None for an empty id)."""
        return id.strip() if id else None

    @classmethod
    def resolve_id(cls, obj: Any) -> Any:
        """The id of a Task, anything else unchanged (so callers accept a Task or an id)."""
        return obj.id if isinstance(obj, cls) else obj

    @property
    def name(self) -> str:
        return self._field("name")

    @name.setter
    def name(self, value: str) -> None:
        self.set_name(value)

    @property
    def comment(self) -> str:
        return self._field("comment") or ""

    @comment.setter
    def comment(self, value: str) -> None:
        self.set_comment(value)

    @property
    def project(self) -> str:
        """The project id (use :meth:`get_project_name` for its name)."""
        return project_id(self._field("project"))

    @property
    def task_type(self) -> str:
        return self._field("type")

    @property
    def status(self) -> str:
        return self._field("status")

    @property
    def parent(self) -> str | None:
        return self._field("parent")

    @property
    def output_uri(self) -> str | None:
        return self._data.get("output_uri")

    @output_uri.setter
    def output_uri(self, value: str | None) -> None:
        self._edit(lambda m: m.__setitem__("output_uri", value), fields={"output_uri"})

    @property
    def storage_uri(self) -> str | None:
        return self.output_uri

    @property
    def store_url(self) -> str:
        """The URL of the store holding this task (fstrack's answer to ClearML's server address)."""
        return self._db.store.url

    # -- creation ----------------------------------------------------------------------
    @classmethod
    def _new(
        cls,
        db: TaskDB,
        *,
        name: str,
        project: str,
        task_type: str,
        tags: Sequence[str] = (),
        status: str = "created",
        **fields: Any,
    ) -> Task:
        from fstrack.store.objects import new_token

        check_project_name(project)
        if not isinstance(name, str) or not name.strip():
            raise InvalidNameError(f"task name must be a non-empty string, got {name!r}")
        db.ensure_project(project)
        now = time.time()
        manifest = {
            "kind": "task",
            "id": new_token(),
            "name": name,
            "project": project,
            "type": task_type,
            "status": status,
            "status_message": "",
            "status_reason": "",
            "status_changed": now,
            "tags": _tags(tags),
            "system_tags": [],
            "comment": "",
            "parent": None,
            "user": execution.user_name(),
            "created": now,
            "started": now if status == "in_progress" else None,
            "completed": None,
            "last_iteration": 0,
            "archived": False,
            "progress": None,
            "user_properties": {},
            "hyperparams": {},
            "configuration": {},
            "labels": {},
            "script": {},
            "runtime": {},
            "container": {},
            "output_uri": None,
            "execution": {"queue": None, "worker": None},
            "run": 1,
            "artifacts": {},
            "models": {"input": [], "output": []},
            "last_metrics": {},
            "settings": {},
        }
        manifest.update(fields)
        stored = db.create(manifest)
        return cls(_PRIVATE, db=db, task_id=stored["id"], manifest=stored)

    @classmethod
    def _attach(cls, db: TaskDB, task_id: str, **options: Any) -> Task:
        """A Task object for an existing task of ``db`` (``options``: ``manifest``, ``remote``), read fresh
        unless a manifest is given. For the agent and the offline import, which hold their own TaskDB."""
        task = cls(_PRIVATE, db=db, task_id=task_id, **options)
        if "manifest" not in options:
            task.reload()
        return task

    @classmethod
    def init(
        cls,
        project_name: str | None = None,
        task_name: str | None = None,
        task_type: TaskTypes | str = TaskTypes.training,
        tags: Sequence[str] | None = None,
        reuse_last_task_id: bool | str = True,
        continue_last_task: bool | str | int = False,
        output_uri: str | bool | None = None,
        auto_connect_arg_parser: bool | Mapping[str, bool] = True,
        auto_connect_frameworks: bool | Mapping[str, Any] = True,
        auto_resource_monitoring: bool | Mapping[str, Any] = True,
        auto_connect_streams: bool | Mapping[str, bool] = True,
        deferred_init: bool = False,
    ) -> Task:
        """Create (or reuse, or continue) the task of this process and start tracking it.

        Reuse follows ClearML: the last task this machine created for the same project and name in the same
        store is reused (its outputs reset) unless it stored artifacts or models, is published or archived, is
        running in another live process, or ``reuse_last_task_id=False``. Under ``fstrack agent`` (the
        ``FSTRACK_TASK_ID`` variable names a task) that task is returned and connected values come from the
        store. ``deferred_init`` is accepted and initialisation is synchronous: it takes about a millisecond.
        ``output_uri`` may name another fsspec URL for artifacts and models; ``True`` means the task's store (the
        default). There is no separate file server, so ``False`` warns and uses the task's store too.
        """
        if current.main is not None:
            if not current.main._closed:
                return current.main
            current.main = None
        parent = processes.parent_task()
        if parent is not None:  # started by a process running a task: report into that task (as ClearML does)
            return cls._attach_to_parent(*parent)
        task_type = check_task_type(task_type)
        settings = {
            "auto_connect_arg_parser": auto_connect_arg_parser,
            "auto_connect_frameworks": auto_connect_frameworks,
            "auto_resource_monitoring": auto_resource_monitoring if not callable(auto_resource_monitoring) else True,
            "auto_connect_streams": auto_connect_streams,
            "deferred_init": bool(deferred_init),
        }
        db = config.get_taskdb()
        remote_id = os.environ.get(AGENT_TASK_ENV)
        if remote_id:
            task = cls._attach_remote(db, remote_id)
        else:
            project_name = project_name or _default_project()
            task_name = task_name or _default_task_name()
            check_project_name(project_name)
            task = cls._reuse_or_create(
                db, project_name, task_name, task_type, _tags(tags), reuse_last_task_id, continue_last_task, settings
            )
        if output_uri is not None:
            if not isinstance(output_uri, (str, bool)):
                raise ValueError(f"output_uri must be a URL string, True or False, got {output_uri!r}")
            if output_uri is False:
                terminal.warn(
                    "fstrack has no file server apart from the store: with output_uri=False artifacts and "
                    "models still go to the task's store",
                    stacklevel=2,
                )
            task.output_uri = output_uri if isinstance(output_uri, str) else None
        current.main = task
        processes.announce(task.id, db.store.url, db.store.storage_options)
        task._resource_monitor_option = auto_resource_monitoring  # may be a class (settings store True)
        task._start_process_tracking(auto_connect_arg_parser)
        where = "offline folder" if config.is_offline() else "store"
        page = None if config.is_offline() else config.task_page_url(task.id)
        shown = public_url(task.store_url)
        see = f"see it at: {page}" if page else f"see it with: fstrack show {task.id} --url {shown}"
        print(terminal.escape(f"fstrack Task: {task.name!r} id={task.id} in {where} {shown} ({see})"), file=sys.stderr)
        return task

    @classmethod
    def _attach_to_parent(cls, task_id: str, url: str, storage_options: dict[str, Any]) -> Task:
        """This process was started by one running ``task_id``: make that task this process's main task, as a
        child that reports into it and never ends it (see :mod:`fstrack.sdk.processes`)."""
        with _ATTACH_LOCK:
            if current.main is not None and not current.main._closed:
                return current.main
            db = config.get_taskdb(url, **storage_options)
            remote = os.environ.get(AGENT_TASK_ENV) == task_id
            task = cls(_PRIVATE, db=db, task_id=check_task_id(task_id), remote=remote)
            task._owner_pid = None
            try:
                task.reload()
            except TaskNotFoundError as exc:
                raise TaskNotFoundError(
                    f"this process was started by a process running task {task_id} ({processes.MASTER_ENV}), "
                    f"but that task is not in store {url!r}: {exc}"
                ) from exc
            current.main = task  # no exit hooks: the child's reports are flushed at exit by the writers themselves
            return task

    @classmethod
    def _attach_remote(cls, db: TaskDB, task_id: str) -> Task:
        task = cls(_PRIVATE, db=db, task_id=check_task_id(task_id), remote=True)
        task._end_if_stale(task._data)
        if task.status != "in_progress":
            task.mark_started(force=True)
        return task

    @classmethod
    def _reuse_or_create(
        cls,
        db: TaskDB,
        project: str,
        name: str,
        task_type: str,
        tags: list[str],
        reuse: bool | str,
        continue_last: bool | str | int,
        settings: dict,
    ) -> Task:
        if not isinstance(reuse, (bool, str)):
            raise ValueError(f"reuse_last_task_id must be True, False or a task id string, got {reuse!r}")
        if not isinstance(continue_last, (bool, str, int)):
            raise ValueError(
                f"continue_last_task must be a bool, a task id string or an iteration offset, got {continue_last!r}"
            )
        offset: int | None = None
        if isinstance(continue_last, str):
            reuse, continue_last = continue_last, True
        elif isinstance(continue_last, int) and not isinstance(continue_last, bool):
            if continue_last < 0:
                raise ValueError(f"continue_last_task iteration offset must be >= 0, got {continue_last}")
            offset, continue_last = continue_last, True
        candidate: Task | None = None
        if isinstance(reuse, str):
            candidate = cls(_PRIVATE, db=db, task_id=check_task_id(reuse))
            candidate.reload()  # raises TaskNotFoundError naming the id
        elif reuse or continue_last:
            last_id = _last_session_task(db, project, name)
            if last_id:
                try:
                    candidate = cls(_PRIVATE, db=db, task_id=last_id)
                    candidate.reload()
                except TaskNotFoundError:
                    candidate = None
        task = None
        if candidate is not None and continue_last:
            task = candidate
            last = task.get_last_iteration()
            task._initial_iteration = offset if offset is not None else (last + 1 if last else 0)
            task_id = task.id

            def resume(m: dict) -> None:
                if m["status"] == "published":
                    raise UsageError(f"task {task_id} is published and cannot be continued; clone it instead")
                m["settings"] = settings

            task._set_status("in_progress", force=True, message="continued", also=resume)
        elif candidate is not None:
            try:
                candidate._reuse(
                    judged=candidate._data,
                    name=name,
                    project=project,
                    task_type=task_type,
                    tags=tags,
                    settings=settings,
                )
                task = candidate
            except _NotReusable as why:
                if isinstance(reuse, str):
                    terminal.warn(f"fstrack: task {reuse} cannot be reused ({why}); created a new task", stacklevel=3)
        if task is None:
            task = cls._new(
                db, name=name, project=project, task_type=task_type, tags=tags, status="in_progress", settings=settings
            )
        _remember_session(db, project, name, task.id)
        return task

    def _reuse(self, *, judged: dict, **changes: Any) -> None:
        """Reset this task for a new run of the same script (ClearML's reuse), if the rule allows it and
        nobody changed the task since it was judged (``judged``: the manifest the decision was made on)."""
        if not _reusable(judged):
            raise _NotReusable("it has artifacts or output models, is published or archived")
        if judged["status"] == "in_progress" and self.is_alive():
            raise _NotReusable("it is running in another process")

        def reuse(m: dict) -> None:
            if m["status_changed"] != judged["status_changed"] or m["run"] != judged["run"] or not _reusable(m):
                raise _NotReusable("another process changed it meanwhile")
            _clear_outputs(m)
            now = time.time()
            m.update(
                name=changes["name"],
                project=changes["project"],
                type=changes["task_type"],
                status="in_progress",
                status_changed=now,
                status_message="",
                status_reason="",
                created=now,
                started=now,
                settings=changes["settings"],
                tags=list(dict.fromkeys([*m["tags"], *changes["tags"]])),
            )

        self._edit(reuse)
        self._own_status_changes.add(self._data["status_changed"])

    @classmethod
    def create(
        cls,
        project_name: str | None = None,
        task_name: str | None = None,
        task_type: TaskTypes | str | None = None,
        repo: str | None = None,
        branch: str | None = None,
        commit: str | None = None,
        script: str | None = None,
        working_directory: str | None = None,
        packages: bool | Sequence[str] | None = None,
        requirements_file: str | None = None,
        docker: str | None = None,
        docker_args: str | None = None,
        docker_bash_setup_script: str | None = None,
        argparse_args: Sequence[tuple[str, str]] | None = None,
        base_task_id: str | None = None,
        add_task_init_call: bool = True,
        force_single_script_file: bool = False,
    ) -> Task:
        """Create a Draft task for code to be run by an agent (nothing runs here).

        A local ``script`` outside a git repository (or with ``force_single_script_file``) is stored whole; a
        ``repo`` is recorded with ``branch``/``commit``. ``packages=True`` records the requirements of this
        environment; ``add_task_init_call`` is recorded for the agent, which runs the script under
        ``FSTRACK_TASK_ID`` so that a ``Task.init`` inside it attaches to this task.
        """
        script_record: dict[str, Any] = {"add_task_init_call": bool(add_task_init_call)}
        if repo:
            script_record.update(repository=repo, branch=branch or "", version_num=commit or "")
        elif branch or commit:
            raise ValueError("branch and commit need a repo: pass repo='https://...' or a local repository path")
        if script:
            script_record["entry_point"] = script
            local = os.path.join(working_directory or "", script)
            if not repo or force_single_script_file:
                if not os.path.isfile(local):
                    raise FileNotFoundError(f"script {script!r} not found (working_directory={working_directory!r})")
                with open(local, encoding="utf-8") as f:
                    script_record["code"] = f.read()
                script_record["entry_point"] = os.path.basename(script)
        if working_directory:
            script_record["working_dir"] = working_directory
        if requirements_file:
            with open(requirements_file, encoding="utf-8") as f:
                script_record["requirements"] = {"pip": f.read()}
        elif packages is True:
            script_record["requirements"] = {"pip": execution.capture_requirements(freeze=True)}
        elif packages:
            script_record["requirements"] = {"pip": "\n".join(packages)}
        fields: dict[str, Any] = {"script": script_record}
        if docker or docker_args or docker_bash_setup_script:
            fields["container"] = _container(docker, None, docker_args, docker_bash_setup_script)
        if argparse_args:
            fields["hyperparams"] = {
                "Args": {k.lstrip("-"): {"value": str(v), "type": "str", "description": ""} for k, v in argparse_args}
            }
        if base_task_id:
            task = cls.clone(base_task_id, name=task_name, project=project_name)
            task.update_task(fields)
            return task
        return cls._new(
            config.get_taskdb(),
            name=task_name or (os.path.basename(script) if script else "untitled"),
            project=project_name or _default_project(),
            task_type=check_task_type(task_type or TaskTypes.training),
            **fields,
        )

    # -- process tracking --------------------------------------------------------------
    def _start_process_tracking(self, auto_connect_arg_parser: bool | Mapping[str, bool]) -> None:
        _install_process_hooks()
        from fstrack.capture import console, monitor

        console.connect(self)  # auto_connect_streams (and matplotlib per auto_connect_frameworks)
        monitor.start(self, self.__dict__.get("_resource_monitor_option"))
        parameters.bind_arg_parsers(self, auto_connect_arg_parser)
        frameworks.connect(
            self,
            (self._data.get("settings") or {}).get("auto_connect_frameworks", True),
            output_model=OutputModel,
            input_model=_record_input_model,
        )
        if not self._remote:
            self._capture = _background_pool().submit(self._capture_execution)
        _Heartbeat.watch(self)
        if self._random_seed is not None:
            execution.seed_everything(self._random_seed)

    def _capture_execution(self) -> None:
        try:
            script = execution.capture_script(standalone=type(self)._standalone_script)
            main_script = _script_path()
            script["requirements"] = {
                "pip": execution.capture_requirements(
                    freeze=type(self)._freeze_requirements,
                    added=dict(type(self)._added_requirements),
                    ignored=set(type(self)._ignored_requirements),
                    scan_files=[main_script] if main_script else None,
                )
            }  # imports made after Task.init too
            runtime = execution.capture_runtime()
            self._edit(
                lambda m: (m["script"].update(script), m["runtime"].update(runtime)), fields={"script", "runtime"}
            )
        except Exception as exc:  # a failed capture must never break the user's script
            terminal.warn(f"fstrack could not record the execution environment: {exc}", stacklevel=1)

    def _beat(self) -> None:
        """Say this task's process is alive, and end the process if its run is stale or another one stopped the
        task."""
        try:
            manifest = self._db.load(self.id)
            self._end_if_stale(manifest)
            with self._beat_lock:
                if self._heartbeat_stop.is_set():
                    return
                info = {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}
                self._db.beat(self.id, {**info, "interval": HEARTBEAT_SECONDS})
                self._beaten = True
            self._check_external_stop(manifest)
        except Exception as exc:  # the store may be briefly unreachable; keep beating
            terminal.warn(f"fstrack heartbeat failed: {exc}", stacklevel=1)

    def _end_if_stale(self, manifest: dict | None = None) -> None:
        """Fencing by run (spec/queues.md §5): if an agent started this process for a run of this task (entry
        ``FSTRACK_AGENT_ENTRY``) and the task's newest manifest (``manifest``, else loaded) names another entry,
        the task was re-queued (and may run elsewhere) since: the new run owns it. End this run at once, writing
        nothing more to the task (no final status, no abort callback, no flush): SIGKILL the process group this
        process leads, else itself."""
        entry = os.environ.get(AGENT_ENTRY_ENV)
        if not entry or os.environ.get(AGENT_TASK_ENV) != self.id:
            return
        if manifest is None:
            manifest = self._db.load(self.id)
        if (manifest.get("execution") or {}).get("entry") == entry:
            return
        pid = os.getpid()
        if hasattr(os, "killpg") and os.getpgrp() == pid:
            os.killpg(pid, signal.SIGKILL)
        os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))  # Windows: SIGTERM terminates at once

    def _check_external_stop(self, manifest: dict) -> None:
        """Another process set this running task's status (abort, mark_completed): end this process."""
        if self._heartbeat_stop.is_set() or manifest["status"] == "in_progress":
            return
        if manifest["status_changed"] in self._own_status_changes:
            return  # this process changed it (e.g. the script marked its own task failed and goes on)
        self._exit_status = ("external", manifest["status"])
        if self._abort_callback is not None:
            callback, timeout = self._abort_callback
            worker = threading.Thread(target=callback, daemon=True)
            threads.start(worker)
            worker.join(timeout)
        self._heartbeat_stop.set()
        os.kill(os.getpid(), signal.SIGTERM)

    def is_alive(self) -> bool:
        """True while the process running this task reports a heartbeat (fstrack addition).

        A task whose process was killed stays ``in_progress`` in the store; this tells it apart.
        """
        if self.get_status() != "in_progress":
            return False
        return self._db.beating(self.id, HEARTBEAT_SECONDS)  # store clock, writer's interval (spec/tasks.md §9)

    def register_abort_callback(
        self, callback_function: Callable[[], None] | None, callback_execution_timeout: float = 30.0
    ) -> None:
        """Run ``callback_function`` (at most ``callback_execution_timeout`` seconds) before this process is
        terminated because another process aborted the task."""
        if callback_function is not None and not callable(callback_function):
            raise TypeError(f"callback_function must be callable or None, got {callback_function!r}")
        self._abort_callback = (callback_function, float(callback_execution_timeout)) if callback_function else None

    def _at_exit(self) -> None:
        if self._closed:
            return
        how, why = self._exit_status or ("completed", "")
        try:
            if how == "external" or not self._owns_status():
                self._finish(None)
            else:
                self._finish(how, why)
        except Exception as exc:
            print(
                terminal.escape(f"fstrack: could not record the final status of task {self.id}: {exc}"), file=sys.stderr
            )
        except (KeyboardInterrupt, SystemExit):  # a signal before the exit wait began: end now, saving what is left
            self._save_unsent()
            raise

    def _owns_status(self) -> bool:
        """Whether this process may end the task: it made this Task object (``Task.init``, ``get_task``...); a
        forked copy or a child attached to its parent's task only reports."""
        return self._owner_pid == os.getpid()

    def _finish(self, status: str | None, message: str = "") -> None:
        """Flush, stop background work, set the final status (unless another process already did, or this process
        is a child reporting into the task of its parent: then it only flushes). The store gets as long as it
        answers; a failing store gets ``FSTRACK_EXIT_TIMEOUT`` seconds, then what is left is saved for ``fstrack
        push`` and named in one line (:mod:`fstrack.sdk.unsent`)."""
        owner = self._owns_status()
        self._ending = (status, message) if owner else (None, "")
        self._heartbeat_stop.set()
        try:
            self._end_if_stale()  # a stale run must not flush its reports or set a status over a later run's
        except Exception as exc:
            if not writeback.is_store_failure(exc):
                raise
        if owner and _end_now is None:
            self._wait_for_capture()  # the execution record lands before the final status, not after close()
        from fstrack.capture import console, monitor

        monitor.stop(self)
        console.disconnect(self)  # restores stdout/stderr; what was printed is reported before the flush below
        parameters.unbind_arg_parsers(self)
        if not self._within_exit_deadline(lambda: self._store_final(status, message, owner)):
            self._save_unsent()
        self._closed = True
        if current.main is self:
            current.main = None
            if owner:
                processes.withdraw(self.id)

    def _store_final(self, status: str | None, message: str, owner: bool) -> None:
        """The store part of :meth:`_finish` (run in a thread the caller waits on under the exit deadline)."""
        try:
            self._close_reporting(compact=owner)
        except metrics.MetricsFlushError as exc:  # the deadline decides what happens to what is left
            terminal.warn(f"fstrack: reports of task {self.id} are not all stored yet: {exc}", stacklevel=2)
        try:
            self._close_artifacts()
        except Exception as exc:  # uploads that failed are reported; the status is still recorded
            terminal.warn(f"fstrack: artifacts of task {self.id} were not all stored: {exc}", stacklevel=2)
        main = current.main is self  # only the running task's changes go through the writeback queue
        if main:
            models.wait_for_uploads()  # weights of this process's models: within this deadline, not after it
            writeback.drain(math.inf)  # a status the script set itself is stored before the final one is decided
        if status is not None and owner and self._db.load(self.id)["status"] == "in_progress":
            if status == "failed":
                self.mark_failed(status_reason=_failure_reason(message), status_message=message[-4000:], force=True)
            else:
                self._set_status(status, message=message, force=True)
            if status == "completed" and self._publish_on_completion:
                self.publish()
        if main:
            writeback.drain(math.inf)
        self._final_stored = True
        with self._beat_lock:
            if self._beaten:  # the run is over: its heartbeat goes (spec/tasks.md §9)
                self._db.end_beats(self.id)
                self._beaten = False

    def _store_failure(self) -> BaseException | None:
        """The error of a store write of this task that is being retried (None: the store takes them)."""
        writer = self.__dict__.get("_fstrack_writer")
        uploader = self.__dict__.get("_fstrack_uploader")
        return (
            writeback.failure()
            or (writer.last_error if writer is not None else None)
            or (uploader.last_error if uploader is not None else None)
        )

    def _store_stalled(self, since: float, budget: float) -> bool:
        """Whether the store took none of this task's writes (changes, report flushes, upload parts) for
        ``budget`` seconds after ``since``: a large upload that is still moving is progress."""
        writer = self.__dict__.get("_fstrack_writer")
        uploader = self.__dict__.get("_fstrack_uploader")
        last = max(
            since,
            writeback.last_stored(),
            transfer.last_progress(),
            writer._last_flush if writer is not None else since,
            uploader.last_stored if uploader is not None else since,
        )
        return time.monotonic() - last >= budget

    def _within_exit_deadline(self, work: Callable[[], None]) -> bool:
        """Run ``work`` in a thread and wait for it: as long as the store takes writes, but no more than
        ``FSTRACK_EXIT_TIMEOUT`` seconds without one. False when that ran out. At process exit, a Ctrl-C or
        SIGTERM while waiting ends the process at once (after saving what is left, a local write)."""
        done = threading.Event()
        raised: list[BaseException] = []

        def run() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - raised again in the caller
                raised.append(exc)
            finally:
                done.set()

        budget = writeback.exit_timeout()  # a bad FSTRACK_EXIT_TIMEOUT fails before anything is under way
        threads.start(threading.Thread(target=run, name="fstrack-close", daemon=True))
        started = time.monotonic()
        try:
            while not done.wait(0.25):
                if _end_now is not None:
                    raise SystemExit(_end_now)
                if self._store_stalled(started, budget):
                    return False
        except (KeyboardInterrupt, SystemExit) as exc:
            if not _exiting:
                raise
            self._save_unsent()
            code = 130 if isinstance(exc, KeyboardInterrupt) else exc.code
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code if isinstance(code, int) else 1)
        if raised:
            if writeback.is_store_failure(raised[0]):  # the store refused at once: what is left is saved
                return False
            raise raised[0]
        return True

    def _save_unsent(self, *, ending: bool = True) -> None:
        """Say in one line what this process could not write to the store, and save it for ``fstrack push``.
        ``ending=False`` (a forked worker between results): the rows saved are dropped from the buffer and the
        writer goes on, trying the store again with the next rows. No flush starts while the rows are saved and
        dropped; one already stuck on the store may still store them (spec/open-issues.md item 27)."""
        status, message = self._ending
        writer = self.__dict__.get("_fstrack_writer")
        uploader = self.__dict__.get("_fstrack_uploader")
        held = writer.flushes_held(0.5) if writer is not None else contextlib.nullcontext(False)
        with held:
            try:
                # only the running task's changes are queued (a second task's are written at once)
                pending = writeback.take_pending() if current.main is self else []
                changes = [kind for change in pending for kind in change.kind.split(", ")]
                uploads = sorted(uploader.abandon()) if uploader is not None and ending else []
                if ending and current.main is self:
                    uploads += [f"model weights {path}" for path in models.abandon_uploads()]
                with self._view_lock:
                    manifest = copy.deepcopy(self._manifest)
                ended = self._unsent_ending(status, message, manifest, changes) if ending else None
                status = ended[0] if ended is not None else None
                reports = unsent.report_counts(writer)
                if not (any(reports.values()) or changes or uploads or status is not None):
                    return  # the store took everything: the stall came after the last write
                failure = self._store_failure()
                why = f"{type(failure).__name__}: {failure}" if failure is not None else "no answer"
                url = public_url(self._db.store.url)
                try:
                    saved: str | None = unsent.save(manifest, writer, url, ended, changes)
                except Exception as exc:  # noqa: BLE001 - a full disk: say it is lost
                    saved = None
                    why += f"; saving it locally failed too ({type(exc).__name__}: {exc})"
            finally:
                if writer is not None and ending:
                    writer.abandon()
                elif writer is not None:
                    writer.drop_buffered()
        line = unsent.line(self.id, url, why, reports, changes, uploads, status, saved)
        print(line, file=sys.stderr, flush=True)

    def _unsent_ending(
        self, status: str | None, message: str, manifest: dict | None, changes: list[str]
    ) -> tuple[str, str, str] | None:
        """``(status, message, reason)`` a saved folder ends the task with, or None: the status the script set
        itself if that change was not stored (the run's end, not the exit's), else the exit's own unless it
        was stored already."""
        if "status" in changes and manifest is not None and manifest.get("status") != "in_progress":
            return manifest["status"], manifest.get("status_message") or "", manifest.get("status_reason") or ""
        if status is None or self._final_stored:  # stored: the stall came after it
            return None
        return status, message, _failure_reason(message) if status == "failed" else ""

    def close(self) -> None:
        """Flush and mark the task completed (if it is still running); the process goes on. In a child process
        (forked, or attached to its parent's task) it only stores what the child reported: the parent ends the task."""
        if not self._closed:
            self._finish("completed")

    # -- status ------------------------------------------------------------------------
    def _set_status(
        self,
        status: str,
        *,
        force: bool = False,
        message: str | None = None,
        reason: str | None = None,
        repeat: bool = True,
        also: Callable[[dict], None] | None = None,
        **fields: Any,
    ) -> None:
        """Change the status atomically per :data:`TRANSITIONS` (``repeat``: staying in it is allowed),
        together with ``fields`` and whatever ``also(manifest)`` changes in the same manifest."""

        def change(m: dict) -> None:
            self._own_status_changes.add(transition(self.id, m, status, force=force, repeat=repeat))
            m.update(copy.deepcopy(fields))
            if message is not None:
                m["status_message"] = message
            if reason is not None:
                m["status_reason"] = reason
            if also is not None:
                also(m)

        self._edit(change, fields={"status"} if also is None and not fields else None)

    def _status_call(self, status: str, ignore_errors: bool | None, **kwargs: Any) -> None:
        if status in FINAL_STATUSES:
            self._flush_before_reading()  # a reader who sees the final status sees what this process reported
        try:
            self._set_status(status, **kwargs)
        except InvalidTransitionError as exc:
            if not ignore_errors:
                raise
            terminal.warn(str(exc), stacklevel=3)

    def get_status(self) -> str:
        """The current status, read from the store."""
        self.reload()
        return self._data["status"]

    def get_status_message(self) -> tuple[str | None, str | None]:
        """``(status_message, status_reason)`` of the newest status change."""
        self.reload()
        return self._data.get("status_message") or None, self._data.get("status_reason") or None

    def mark_started(self, force: bool = False) -> None:
        self._set_status("in_progress", force=force)

    def started(self, ignore_errors: bool | None = None, force: bool = False) -> None:
        """Mark started. ``ignore_errors=True`` turns a disallowed transition into a warning; by default
        (None) fstrack raises, so a status change never fails silently."""
        self._status_call("in_progress", ignore_errors, force=force)

    def mark_stopped(self, force: bool = False, status_message: str | None = None) -> None:
        """Mark the task stopped (Aborted). If its process runs elsewhere, that process sees it and ends."""
        self._set_status("stopped", force=force, message=status_message)

    def stopped(
        self,
        ignore_errors: bool | None = None,
        force: bool = False,
        status_reason: str | None = None,
        status_message: str | None = None,
    ) -> None:
        self._status_call("stopped", ignore_errors, force=force, message=status_message, reason=status_reason)

    def mark_stop_request(self, force: bool = False, status_message: str | None = None) -> None:
        """Ask the running process to stop: there is no server to relay it, so this marks the task stopped
        and the process (which watches its status) ends itself."""
        self.mark_stopped(force=force, status_message=status_message)

    stop_request = mark_stop_request

    def mark_completed(
        self, ignore_errors: bool | None = None, status_message: str | None = None, force: bool = False
    ) -> None:
        """Mark completed. Called from the process that runs the task, this ends the process (as in ClearML);
        from another process, the running process sees the change and ends itself."""
        self._status_call("completed", ignore_errors, force=force, message=status_message)
        if current.main is self:
            self._leave_process(None)

    def completed(self, ignore_errors: bool | None = None) -> None:
        self._status_call("completed", ignore_errors)

    def mark_failed(
        self,
        ignore_errors: bool | None = None,
        status_reason: str | None = None,
        status_message: str | None = None,
        force: bool = False,
    ) -> None:
        self._status_call("failed", ignore_errors, force=force, message=status_message, reason=status_reason)

    def publish(self, ignore_errors: bool | None = None) -> None:
        """Make the task read-only (allowed from completed, stopped or closed)."""
        self._status_call("published", ignore_errors)

    def publish_on_completion(self, enable: bool = True) -> None:
        self._publish_on_completion = bool(enable)

    def reset(self, set_started_on_success: bool = False, force: bool = False) -> None:
        """Back to Draft, dropping the outputs of the previous run. Under an agent, only with ``force``.
        A published task cannot be reset (clone it)."""
        if self._remote and not force:
            raise UsageError(f"task {self.id} runs under an agent; reset(force=True) to clear its outputs")
        if self.get_status() == "published":
            raise InvalidTransitionError(f"task {self.id} is published and cannot be reset; clone it instead")
        self._flush_reports()  # what was reported so far belongs to the run being closed

        def clear(m: dict) -> None:
            if m["status"] == "published":
                raise InvalidTransitionError(f"task {self.id} is published and cannot be reset; clone it instead")
            _clear_outputs(m)

        self._set_status("created", force=True, message="reset", also=clear)
        if set_started_on_success:
            self.mark_started()

    def wait_for_status(
        self,
        status: Iterable[str] = ("completed", "stopped", "closed"),
        raise_on_status: Iterable[str] | None = ("failed",),
        check_interval_sec: float = 60.0,
    ) -> None:
        """Block until the task reaches one of ``status``; raise RuntimeError on one of ``raise_on_status``."""
        wanted = {str(s) for s in status}
        fatal = {str(s) for s in raise_on_status or ()}
        while True:
            current = self.get_status()
            if current in fatal:
                raise RuntimeError(f"task {self.id} reached status {current!r}")
            if current in wanted:
                return
            time.sleep(min(check_interval_sec, 1.0) if check_interval_sec > 0 else 0.1)

    def set_archived(self, archive: bool) -> None:
        self._edit(lambda m: m.__setitem__("archived", bool(archive)), fields={"archived"})

    def get_archived(self) -> bool:
        return bool(self._field("archived"))

    def delete(
        self,
        delete_artifacts_and_models: bool = True,
        skip_models_used_by_other_tasks: bool = True,
        raise_on_error: bool = False,
        callback: Callable[[str, str], bool] | None = None,
    ) -> bool:
        """Delete the task from the store's heads and index. Its objects are reclaimed by ``fstrack gc``
        (never while another task or model references them). ``callback(kind, url)`` decides per output whether its
        bytes go with the task (True) or are kept (False); without it, ``delete_artifacts_and_models`` decides."""
        try:
            outputs = self._artifacts_before_delete(delete_artifacts_and_models, callback)
            if delete_artifacts_and_models or callback is not None:
                self._delete_output_models(skip_models_used_by_other_tasks, callback)
            self._db.delete(self.id)
        except TaskNotFoundError:
            if raise_on_error:
                raise
            return False
        self._artifacts_after_delete(outputs)
        return True

    # -- editing -----------------------------------------------------------------------
    def _set(self, field: str, value: Any) -> None:
        self._edit(lambda m: m.__setitem__(field, value), fields={field})

    def set_name(self, name: str) -> None:
        if not isinstance(name, str) or not name.strip():
            raise InvalidNameError(f"task name must be a non-empty string, got {name!r}")
        self._set("name", name)

    def rename(self, new_name: str) -> bool:
        self.set_name(new_name)
        return True

    def set_comment(self, comment: str) -> None:
        if not isinstance(comment, str):
            raise TypeError(f"comment must be a string, got {type(comment).__name__}")
        self._set("comment", comment)

    def set_task_type(self, task_type: TaskTypes | str) -> None:
        self._set("type", check_task_type(task_type))

    def set_parent(self, parent: str | Task | None) -> None:
        parent_id = parent.id if isinstance(parent, Task) else parent
        if parent_id is not None:
            self._db.load(check_task_id(parent_id))
        self._set("parent", parent_id)

    def set_project(self, project_id: str | None = None, project_name: str | None = None) -> bool:
        if (project_id is None) == (project_name is None):
            raise ValueError("pass exactly one of project_id or project_name")
        if project_id is not None:
            project_name = Task.get_project_object_by_id(project_id)["name"]
        assert project_name is not None  # exactly one of the two was given
        self._db.ensure_project(project_name)
        self._set("project", project_name)
        return True

    def move_to_project(
        self,
        new_project_id: str | None = None,
        new_project_name: str | None = None,
        system_tags: Sequence[str] | None = None,
    ) -> bool:
        self.set_project(new_project_id, new_project_name)
        if system_tags is not None:
            self.set_system_tags(system_tags)
        return True

    def get_project_name(self) -> str:
        return self._field("project")

    def get_project_object(self) -> AttrView:
        return Task.get_project_object_by_id(self.project)

    def add_tags(self, tags: Sequence[str] | str) -> None:
        new = _tags(tags)
        self._edit(lambda m: m.__setitem__("tags", list(dict.fromkeys([*m["tags"], *new]))), fields={"tags"})

    def remove_tags(self, tags: Sequence[str] | str) -> None:
        gone = set(_tags(tags))
        self._edit(lambda m: m.__setitem__("tags", [t for t in m["tags"] if t not in gone]), fields={"tags"})

    def set_tags(self, tags: Sequence[str]) -> None:
        self._set("tags", _tags(tags))

    def get_tags(self) -> list[str]:
        return list(self._field("tags") or [])

    def set_system_tags(self, tags: Sequence[str]) -> None:
        self._set("system_tags", _tags(tags, "system tags"))

    def get_system_tags(self) -> list[str]:
        return list(self._field("system_tags") or [])

    def set_user_properties(self, *iterables: Mapping[str, Any] | Iterable[dict], **properties: Any) -> bool:
        """Set user properties: ``name=value`` keywords, ``{name: value}`` maps, or
        ``{"name": ..., "value": ..., "description": ...}`` dicts (also in lists)."""
        new: dict[str, dict] = {}

        def add(name: Any, value: Any, description: str = "") -> None:
            if not isinstance(name, str) or not name:
                raise ValueError(f"user property names must be non-empty strings, got {name!r}")
            new[name] = {"name": name, "value": "" if value is None else str(value), "description": description}

        for item in iterables:
            entries = [item] if isinstance(item, Mapping) else list(item)
            for entry in entries:
                if not isinstance(entry, Mapping):
                    raise TypeError(f"user properties must be dicts, got {entry!r}")
                if "name" in entry and "value" in entry:
                    add(entry["name"], entry["value"], entry.get("description", ""))
                else:
                    for name, value in entry.items():
                        if isinstance(value, Mapping):
                            add(name, value.get("value"), value.get("description", ""))
                        else:
                            add(name, value)
        for name, value in properties.items():
            if isinstance(value, Mapping):
                add(name, value.get("value"), value.get("description", ""))
            else:
                add(name, value)
        self._edit(lambda m: m["user_properties"].update(copy.deepcopy(new)), fields={"user_properties"})
        return True

    def get_user_properties(self, value_only: bool = False) -> dict[str, Any]:
        props = self._data.get("user_properties", {})
        return {k: (v["value"] if value_only else dict(v)) for k, v in props.items()}

    def delete_user_properties(self, *iterables: Iterable[dict | str]) -> bool:
        names: set[str] = set()
        for item in iterables:
            for entry in [item] if isinstance(item, (str, Mapping)) else item:
                names.add(entry["name"] if isinstance(entry, Mapping) else entry)
        missing = names - set(self._data.get("user_properties", {}))
        if missing:
            raise KeyError(f"no user properties named {sorted(missing)!r} on task {self.id}")
        self._edit(lambda m: [m["user_properties"].pop(n) for n in names], fields={"user_properties"})
        return True

    def set_progress(self, progress: int) -> None:
        if not isinstance(progress, (int, float)) or isinstance(progress, bool) or not 0 <= progress <= 100:
            raise ValueError(f"progress must be a number from 0 to 100, got {progress!r}")
        self._set("progress", int(progress))

    def get_progress(self) -> int | None:
        return self._data.get("progress")

    # -- execution record --------------------------------------------------------------
    def set_script(
        self,
        repository: str | None = None,
        branch: str | None = None,
        commit: str | None = None,
        diff: str | None = None,
        working_dir: str | None = None,
        entry_point: str | None = None,
        binary: str | None = None,
        **more: Any,
    ) -> None:
        given = {
            "repository": repository,
            "branch": branch,
            "version_num": commit,
            "diff": diff,
            "working_dir": working_dir,
            "entry_point": entry_point,
            "binary": binary,
            **more,
        }
        changes = {k: v for k, v in given.items() if v is not None}
        self._edit(lambda m: m["script"].update(changes), fields={"script"})

    def set_repo(self, repo: str | None = None, branch: str | None = None, commit: str | None = None) -> None:
        self.set_script(repository=repo, branch=branch, commit=commit)

    def get_script(self) -> dict[str, Any]:
        script = self._data.get("script", {})
        return {
            k: script.get(k)
            for k in ("repository", "branch", "version_num", "diff", "working_dir", "entry_point", "binary")
        }

    def set_packages(self, packages: str | os.PathLike | Sequence[str]) -> None:
        """Record the pip requirements: a list of lines, or a path to a requirements file."""
        if isinstance(packages, (str, os.PathLike)) and os.path.isfile(packages):
            with open(packages, encoding="utf-8") as f:
                text = f.read()
        elif isinstance(packages, (str, os.PathLike)):
            raise FileNotFoundError(f"requirements file {packages!r} does not exist (pass a list of lines instead)")
        else:
            text = "\n".join(packages)
        self._edit(lambda m: m["script"].__setitem__("requirements", {"pip": text}), fields={"script"})

    def get_requirements(self) -> dict[str, str]:
        return dict(self._data.get("script", {}).get("requirements") or {})

    def set_base_docker(
        self,
        docker_cmd: str | None = None,
        docker_image: str | None = None,
        docker_arguments: str | Sequence[str] | None = None,
        docker_setup_bash_script: str | Sequence[str] | None = None,
    ) -> None:
        """Record the container an agent should run this task in."""
        container = _container(docker_image, docker_cmd, docker_arguments, docker_setup_bash_script)
        self._edit(lambda m: m.__setitem__("container", container), fields={"container"})

    def get_base_docker(self) -> str | None:
        c = self._data.get("container") or {}
        return " ".join(p for p in (c.get("image"), c.get("arguments")) if p) or None

    @classmethod
    def add_requirements(cls, package_name: str, package_version: str | None = None) -> None:
        """Add (or pin) a requirement recorded by the next ``Task.init``; a path to a requirements file adds
        each of its lines."""
        if os.path.isfile(package_name):
            with open(package_name, encoding="utf-8") as f:
                for line in f:
                    name, _, version = line.strip().partition("==")
                    if name and not name.startswith("#"):
                        cls._added_requirements[name] = version or None
            return
        cls._added_requirements[package_name] = package_version

    @classmethod
    def ignore_requirements(cls, package_name: str) -> None:
        cls._ignored_requirements.add(package_name)

    @classmethod
    def force_requirements_env_freeze(cls, force: bool = True, requirements_file: str | None = None) -> None:
        cls._freeze_requirements = bool(force)
        if requirements_file:
            cls.add_requirements(requirements_file)

    @classmethod
    def force_store_standalone_script(cls, force: bool = True) -> None:
        cls._standalone_script = bool(force)

    @classmethod
    def set_random_seed(cls, random_seed: int | None) -> None:
        """Seed used by the next ``Task.init`` (random, numpy, torch); None disables seeding."""
        if random_seed is not None and not isinstance(random_seed, int):
            raise TypeError(f"random_seed must be an int or None, got {random_seed!r}")
        cls._random_seed = random_seed

    def get_random_seed(self) -> int | None:
        return type(self)._random_seed

    # -- iterations --------------------------------------------------------------------
    def get_last_iteration(self) -> int:
        return int(self._field("last_iteration") or 0)

    def set_initial_iteration(self, offset: int = 0) -> int:
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ValueError(f"initial iteration must be a non-negative int, got {offset!r}")
        self._initial_iteration = offset
        return offset

    def get_initial_iteration(self) -> int:
        return self._initial_iteration

    # -- console and resource monitoring (fstrack.capture.console, fstrack.capture.monitor) -------------
    @classmethod
    def set_resource_monitor_iteration_timeout(
        cls,
        seconds_from_start: float = 30.0,
        wait_for_first_iteration_to_start_sec: float = 180.0,
        max_wait_for_first_iteration_to_start_sec: float = 1800.0,
    ) -> bool:
        """Seconds before the first resource report, seconds to wait for the script's first iteration before
        reporting per seconds-from-start, and until when a late first iteration switches back (ClearML's
        defaults: 30, 180, 1800). Applies to running monitors too. See :mod:`fstrack.capture.monitor`."""
        from fstrack.capture import monitor

        return monitor.set_iteration_timeout(
            seconds_from_start, wait_for_first_iteration_to_start_sec, max_wait_for_first_iteration_to_start_sec
        )

    @property
    def resource_monitor(self) -> Any:
        """The running :class:`fstrack.capture.monitor.ResourceMonitor` of this task, or None."""
        from fstrack.capture import monitor

        return monitor.get(self)

    def _flush_reports(self) -> bool:
        from fstrack.capture import console

        console.sync(self)  # read-your-writes: lines printed so far are in the buffers first
        return super()._flush_reports()

    # -- queues ------------------------------------------------------------------------
    @classmethod
    def enqueue(
        cls, task: Task | str, queue_name: str | None = None, queue_id: str | None = None, force: bool = False
    ) -> dict[str, Any]:
        """Put a Draft (or stopped) task in a queue (created on first use); ``force`` resets it first if it
        ran. Returns ClearML's enqueue response."""
        task = task if isinstance(task, Task) else cls.get_task(task_id=task)
        queues = Queues(task._db.store)
        queue = queues.resolve(queue_name, queue_id, create=queue_name is not None)
        if force and task.get_status() not in ("created", "stopped"):
            task.reset(force=True)
        entry = queues.new_entry_name()
        attempts = 0  # runs started since this enqueue; re-queues after a lost lease keep counting (leases.py)
        task._set_status(
            "queued",
            message="",
            reason="",
            repeat=False,
            execution={
                "queue": queue["id"],
                "queue_name": queue["name"],
                "entry": entry,
                "worker": None,
                "attempts": attempts,
            },
        )
        queues.push(queue["id"], task.id, entry)
        return {"queued": 1, "updated": 1, "fields": task._status_fields()}

    @classmethod
    def dequeue(cls, task: Task | str) -> dict[str, Any]:
        """Withdraw a queued task (back to Draft). Fails if a worker took it first: a task is never both
        dequeued and run."""
        task = task if isinstance(task, Task) else cls.get_task(task_id=task)
        task.reload()
        execution = task._data.get("execution") or {}
        if task._data["status"] != "queued" or not execution.get("entry"):
            raise InvalidTransitionError(f"task {task.id} is {task._data['status']!r}, not queued")
        if Queues(task._db.store).claim(execution["queue"], execution["entry"]) is None:
            raise UsageError(f"task {task.id} was already taken from queue {execution.get('queue_name')!r} by a worker")
        task._set_status("created", execution=dict(execution, queue=None, entry=None))
        return {"dequeued": 1, "updated": 1, "fields": task._status_fields()}

    def _status_fields(self) -> dict[str, Any]:
        from datetime import datetime

        m = self._data

        def iso(t: float) -> str:
            return datetime.fromtimestamp(t, UTC).isoformat()

        return {
            "status": m["status"],
            "status_reason": m["status_reason"],
            "status_message": m["status_message"],
            "status_changed": iso(m["status_changed"]),
            "last_update": iso(m["last_update"]),
            "execution.queue": m["execution"].get("queue"),
        }

    @classmethod
    def get_num_enqueued_tasks(cls, queue_name: str | None = None, queue_id: str | None = None) -> int:
        queues = Queues(config.get_store())
        return len(queues.pending(queues.resolve(queue_name, queue_id)["id"]))

    def get_executed_queue(self, return_name: bool = False) -> str | None:
        """The queue this task was last enqueued in (its id, or its name)."""
        execution = self._data.get("execution") or {}
        return execution.get("queue_name" if return_name else "queue")

    @property
    def last_worker(self) -> str | None:
        """The worker that last ran this task (``host:pid`` of the agent)."""
        return (self._data.get("execution") or {}).get("worker")

    # -- remote execution (fstrack agent; spec/queues.md) ------------------------------
    _FUNCTION_SECTION = "Function"
    _MULTI_NODE_SECTION = "multi_node_instance"

    def _wait_for_capture(self) -> None:
        """Let the background capture of the execution record finish (a clone must carry it); its store write
        is queued like any change of the running task, so this waits no longer than the capture itself."""
        if self._capture is not None:
            futures.wait([self._capture], timeout=30)

    def _leave_process(self, status: str | None, message: str = "") -> None:
        self._finish(status, message)  # waits for the capture too (os._exit skips waiting for background work)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    def execute_remotely(
        self, queue_name: str | None = None, clone: bool = False, exit_process: bool = True
    ) -> Task | None:
        """Continue this run on an agent: enqueue a clone of this task (``clone=True``), or this very task
        (reset back to Draft first; needs ``exit_process=True``), in ``queue_name`` (None: enqueue nothing, the
        task is left as Draft for a later ``enqueue``); with ``exit_process`` this process then exits (0), the
        local task of a clone ending ``completed`` with a status message naming the clone. A no-op (returns
        None) when the task already runs under an agent."""
        if not self.running_locally():
            return None
        if not clone and not exit_process:
            raise ValueError("execute_remotely(clone=False) enqueues this very task, so exit_process must be True")
        self._wait_for_capture()
        if clone:
            task = Task.clone(self)
        else:
            task = self
            self._heartbeat_stop.set()
            self.reset(force=True)
        if queue_name:
            Task.enqueue(task, queue_name=queue_name)
        if exit_process:
            print(
                f"fstrack: continuing remotely as task {task.id}"
                + (f" in queue {queue_name!r}" if queue_name else " (Draft: enqueue it to run it)"),
                file=sys.stderr,
            )
            self._leave_process(
                "completed" if clone else None, f"continued remotely as task {task.id}" if clone else ""
            )
        return task

    def create_function_task(
        self, func: Callable[..., Any], func_name: str | None = None, task_name: str | None = None, **kwargs: Any
    ) -> Task | None:
        """A Draft clone of this (main) task that, run by an agent, calls ``func(**kwargs)`` when its code
        reaches this same call, then exits. ``kwargs`` are the clone's parameters in section ``Function``
        (``Function/_func_name`` names the function). Enqueue the returned task to run it. Under an agent, the
        function task itself calls ``func`` with its stored (possibly edited) arguments here and leaves; any
        other ``create_function_task`` call there returns None."""
        if not callable(func):
            raise ValueError(f"func must be callable, got {func!r}")
        if not self.is_main_task():
            raise UsageError("create_function_task must be called on the main task (the one Task.init returned)")
        func_name = func_name or getattr(func, "__name__", None)
        if not isinstance(func_name, str) or not func_name:
            raise ValueError(f"func_name must be a non-empty string, got {func_name!r}")
        section = self._FUNCTION_SECTION
        if not self.running_locally():
            remote_name = self.get_parameter(f"{section}/_func_name")
            if remote_name is not None:
                if remote_name != func_name:
                    return None
                stored = {
                    key.split("/", 1)[1]: value
                    for key, value in self.get_parameters(cast=True).items()
                    if key.startswith(f"{section}/") and key != f"{section}/_func_name"
                }
                func(**stored)
                self._leave_process("completed")
        self._wait_for_capture()
        task = Task.clone(self, name=task_name or f"{self.name}.{func_name}", parent=self.id)
        task.update_parameters(
            {f"{section}/_func_name": func_name, **{f"{section}/{key}": value for key, value in kwargs.items()}}
        )
        return task

    def launch_multi_node(
        self,
        total_num_nodes: int,
        port: int | None = 29500,
        queue: str | None = None,
        wait: bool = False,
        addr: str | None = None,
        devices: Any = None,
        hide_children: bool = False,
    ) -> dict[str, Any]:
        """Run this task on ``total_num_nodes`` nodes: under an agent, the master (rank 0) enqueues
        ``total_num_nodes - 1`` clones (ranks 1..) in ``queue`` (default: its own queue) and, with ``wait``,
        waits until they left the queue. Sets ``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE`` and ``RANK`` in
        this process's environment and returns ``{"master_addr", "master_port", "total_num_nodes", "queue",
        "node_rank", "wait", "devices"}``. ``total_num_nodes`` and ``queue`` are connected as section
        ``multi_node_instance`` (editable on a clone). Address and port may be set by
        ``FSTRACK_MULTI_NODE_MASTER_DEF_ADDR``/``_PORT`` (or ClearML's ``CLEARML_...`` names), else
        ``MASTER_ADDR``/``MASTER_PORT``, else ``addr`` (default: this machine's private IP) and ``port``.
        Running locally nothing is enqueued and the environment is left alone."""
        if not isinstance(total_num_nodes, int) or isinstance(total_num_nodes, bool) or total_num_nodes < 1:
            raise ValueError(f"total_num_nodes must be an integer >= 1, got {total_num_nodes!r}")

        def env(name: str) -> str | None:
            return (
                os.environ.get(f"FSTRACK_MULTI_NODE_MASTER_DEF_{name}")
                or os.environ.get(f"CLEARML_MULTI_NODE_MASTER_DEF_{name}")
                or os.environ.get(f"MASTER_{name}")
            )

        conf: dict[str, Any] = {
            "master_addr": env("ADDR") or addr or _private_ip(),
            "master_port": int(env("PORT") or port or 29500),
            "node_rank": 0,
            "wait": bool(wait),
            "devices": devices,
        }
        editable = self.connect({"total_num_nodes": total_num_nodes, "queue": queue}, name=self._MULTI_NODE_SECTION)
        conf.update(total_num_nodes=int(editable["total_num_nodes"]), queue=editable["queue"] or None)
        if self.running_locally():
            return conf
        own_queue = (self._data.get("execution") or {}).get("queue")
        if not conf["queue"] and not own_queue:
            raise UsageError("the master task is in no queue: pass launch_multi_node(queue=...)")
        node = (self._data.get("runtime") or {}).get(self._MULTI_NODE_SECTION) or {}
        if node.get("node_rank"):
            conf = dict(node)
        else:
            self._edit(lambda m: m["runtime"].__setitem__(self._MULTI_NODE_SECTION, dict(conf)), fields={"runtime"})
            nodes = []
            for rank in range(1, conf["total_num_nodes"]):
                clone = Task.clone(self, name=f"{self.name} (node {rank})", parent=self.id)
                tags = [self._MULTI_NODE_SECTION] + (["hidden"] if hide_children else [])

                def mark(m: dict, rank: int = rank) -> None:
                    m["runtime"][self._MULTI_NODE_SECTION] = dict(conf, node_rank=rank)
                    m["system_tags"] = list(dict.fromkeys([*m["system_tags"], *tags]))

                clone._edit(mark, fields={"runtime", "system_tags"})
                if conf["queue"]:
                    Task.enqueue(clone, queue_name=conf["queue"])
                else:
                    Task.enqueue(clone, queue_id=own_queue)
                nodes.append(clone)
            if conf["wait"]:
                for clone in nodes:
                    while clone.get_status() in ("created", "queued"):
                        time.sleep(1.0)
        os.environ["MASTER_ADDR"] = str(conf["master_addr"])
        os.environ["MASTER_PORT"] = str(conf["master_port"])
        os.environ["WORLD_SIZE"] = str(conf["total_num_nodes"])
        os.environ["RANK"] = str(conf["node_rank"])
        return conf

    # -- current task ------------------------------------------------------------------
    @classmethod
    def current_task(cls) -> Task | None:
        """The task ``Task.init`` returned in this process; in a process started by one running a task (spawned
        multiprocessing workers, ``subprocess.Popen``), that task, attached on first use (see
        :mod:`fstrack.sdk.processes`)."""
        return current.main_task()

    def is_main_task(self) -> bool:
        return current.main is self

    def is_current_task(self) -> bool:
        return self.is_main_task()

    @staticmethod
    def running_locally() -> bool:
        return not os.environ.get(AGENT_TASK_ENV)

    @classmethod
    def debug_simulate_remote_task(cls, task_id: str, reset_task: bool = False) -> None:
        """Make the next ``Task.init`` behave as if an agent were running ``task_id``."""
        task = cls.get_task(task_id=task_id)
        if reset_task:
            task.reset(force=True)
        os.environ[AGENT_TASK_ENV] = task.id

    # -- offline -----------------------------------------------------------------------
    @classmethod
    def set_offline(cls, offline_mode: bool = False) -> None:
        """Write tasks to a local offline store folder (``get_offline_mode_folder``); ``fstrack push`` syncs it."""
        if current.main is not None and not current.main._closed and bool(offline_mode) != config.is_offline():
            raise UsageError("Task.set_offline() must be called before Task.init() (or after closing the task)")
        config.set_offline(offline_mode)

    @classmethod
    def is_offline(cls) -> bool:
        return config.is_offline()

    def get_offline_mode_folder(self) -> str | None:
        return self.store_url if self.store_url == config.offline_folder() else None

    @classmethod
    def import_offline_session(
        cls,
        session_folder_zip: str | os.PathLike,
        previous_task_id: str | None = None,
        iteration_offset: int | None = 0,
    ) -> str:
        """Import an offline session (a folder or its zip) into the configured store; returns the task id.

        An fstrack offline folder is pushed as it is; with ``previous_task_id`` its task is continued into that
        task (reports shifted by ``iteration_offset``). A ClearML offline session (``task.json``,
        ``metrics.jsonl``, ``log.jsonl``, ``data/``) becomes a task. See :mod:`fstrack.sdk.offline_import`."""
        from fstrack.sdk.offline_import import import_offline_session

        return import_offline_session(cls, session_folder_zip, previous_task_id, iteration_offset)

    # -- server-only features, done serverlessly --------------------------------------
    def get_output_log_web_page(self) -> str:
        """The task's page in the team's ``fstrack ui`` (``FSTRACK_UI_URL`` or the config file's ``ui_url``);
        without one, the command that shows this task."""
        return config.task_page_url(self.id) or f"fstrack show {self.id} --url {self.store_url}"

    @classmethod
    def get_task_output_log_web_page(
        cls, task_id: str, project_id: str | None = None, app_server_host: str | None = None
    ) -> str:
        if app_server_host is not None:
            raise ValueError("fstrack has no app server; app_server_host must be None")
        return cls.get_task(task_id=task_id).get_output_log_web_page()

    @classmethod
    def set_credentials(
        cls,
        api_host: str | None = None,
        web_host: str | None = None,
        files_host: str | None = None,
        key: str | None = None,
        secret: str | None = None,
        store_conf_file: bool = False,
    ) -> None:
        """fstrack has no server: ``api_host``/``files_host`` name the store URL, ``key``/``secret`` become the
        store's storage options (``key``/``secret`` as fsspec's s3fs takes them). ``store_conf_file`` writes
        them to the user's config file (never to the store). ``web_host`` has no meaning and must be None."""
        if web_host is not None:
            raise ValueError("fstrack has no web UI; web_host must be None")
        url = api_host or files_host
        if url is None:
            url, options = config.store_location()
        else:
            options = {}
        options.update({k: v for k, v in (("key", key), ("secret", secret)) if v is not None})
        config.set_store(url, **options)
        if store_conf_file:
            config.write_config({"url": url, "storage_options": options})

    # -- queries -----------------------------------------------------------------------
    @overload
    @classmethod
    def get_task(
        cls,
        task_id: str,
        project_name: str | None = None,
        task_name: str | None = None,
        tags: Sequence[str] | None = None,
        allow_archived: bool = True,
        task_filter: dict | None = None,
    ) -> Task: ...

    @overload
    @classmethod
    def get_task(
        cls,
        task_id: None = None,
        project_name: str | None = None,
        task_name: str | None = None,
        tags: Sequence[str] | None = None,
        allow_archived: bool = True,
        task_filter: dict | None = None,
    ) -> Task | None: ...

    @classmethod
    def get_task(
        cls,
        task_id: str | None = None,
        project_name: str | None = None,
        task_name: str | None = None,
        tags: Sequence[str] | None = None,
        allow_archived: bool = True,
        task_filter: dict | None = None,
    ) -> Task | None:
        """A task by id (an unknown id raises :class:`TaskNotFoundError`), or the newest task matching
        project/name (exact name)/tags/filter, or None if none does (as ClearML: scripts test ``if task:``)."""
        db = config.get_taskdb()
        if task_id is not None:
            task = cls(_PRIVATE, db=db, task_id=check_task_id(task_id))
            task.reload()
            return task
        if project_name is None and task_name is None:
            raise ValueError("get_task needs task_id, or project_name and/or task_name")
        matches = cls._query(
            db,
            project_name=project_name,
            task_name=f"^{re.escape(task_name)}$" if task_name else None,
            tags=tags,
            allow_archived=allow_archived,
            task_filter=task_filter,
            default_order="-last_update",
        )
        if not matches:
            return None
        return cls(_PRIVATE, db=db, task_id=matches[0]["id"], record=matches[0])

    @classmethod
    def get_tasks(
        cls,
        task_ids: Sequence[str] | None = None,
        project_name: str | Sequence[str] | None = None,
        task_name: str | None = None,
        tags: Sequence[str] | None = None,
        allow_archived: bool = True,
        task_filter: dict | None = None,
    ) -> list[Task]:
        """Tasks matching the filters, newest first (all of them: there is no 500-task page limit)."""
        db = config.get_taskdb()
        if task_ids is not None:
            if isinstance(task_ids, (str, bytes)) or not isinstance(task_ids, Iterable):
                raise TypeError(
                    f"task_ids must be a list of task ids, got {type(task_ids).__name__} {task_ids!r:.80}"
                    + (f" (write task_ids=[{task_ids!r:.40}])" if isinstance(task_ids, str) else "")
                )
            return [cls.get_task(task_id=t) for t in task_ids]
        return [
            cls(_PRIVATE, db=db, task_id=r["id"], record=r)
            for r in cls._query(
                db,
                project_name=project_name,
                task_name=task_name,
                tags=tags,
                allow_archived=allow_archived,
                task_filter=task_filter,
            )
        ]

    @classmethod
    def query_tasks(
        cls,
        project_name: str | Sequence[str] | None = None,
        task_name: str | None = None,
        tags: Sequence[str] | None = None,
        additional_return_fields: Sequence[str] | None = None,
        task_filter: dict | None = None,
    ) -> list[str] | list[dict[str, Any]]:
        """Ids of matching tasks, or dicts of ``id`` plus ``additional_return_fields`` (dotted names)."""
        db = config.get_taskdb()
        records = cls._query(
            db,
            project_name=project_name,
            task_name=task_name,
            tags=tags,
            allow_archived=True,
            task_filter=task_filter,
            need_fields=set(additional_return_fields or ()),
        )
        if not additional_return_fields:
            return [r["id"] for r in records]
        return [{"id": r["id"], **{f: query.get_field(r, f) for f in additional_return_fields}} for r in records]

    @classmethod
    def get_all(cls, **kwargs: Any) -> list[AttrView]:
        """Raw task records filtered like ClearML's ``tasks.get_all``: ``id``, ``name`` (regex), ``project``
        (names), ``tags``, ``system_tags``, ``status``, ``type``, ``user``, ``parent``, ``order_by``,
        ``search_text``, ``_all_``, ``_any_``, ``only_fields``, ``page``/``page_size``."""
        page, page_size = kwargs.pop("page", None), kwargs.pop("page_size", None)
        only_fields = kwargs.pop("only_fields", None)
        name, project = kwargs.pop("name", None), kwargs.pop("project", None)
        tags = kwargs.pop("tags", None)
        db = config.get_taskdb()
        records = cls._query(
            db,
            project_name=project,
            task_name=name,
            tags=tags,
            allow_archived=True,
            task_filter=kwargs or None,
            need_fields=set(only_fields or ()),
        )
        if page_size is not None:
            start = (page or 0) * page_size
            records = records[start : start + page_size]
        if only_fields:
            records = [{"id": r["id"], **{f: query.get_field(r, f) for f in only_fields}} for r in records]
        return [AttrView(r) for r in records]

    @classmethod
    def get_by_name(cls, task_name: str) -> Task:
        """The newest task with exactly this name, in any project; raises :class:`TaskNotFoundError` if there is
        none (as ClearML, which raises)."""
        task = cls.get_task(task_name=task_name)
        if task is None:
            raise TaskNotFoundError(f"no task named {task_name!r} in store {config.get_store().url!r}")
        return task

    @classmethod
    def _query(
        cls,
        db: TaskDB,
        *,
        project_name: Any = None,
        task_name: str | None = None,
        tags: Any = None,
        allow_archived: bool = True,
        task_filter: dict | None = None,
        default_order: str = "-created",
        need_fields: frozenset[str] | set[str] = frozenset(),
    ) -> list[dict]:
        records = db.records()
        needed = {f.split(".", 1)[0] for f in query.fields_referenced(task_filter) | set(need_fields)}
        if needed - set(SUMMARY_FIELDS) - {"script"}:
            records = [db.load(r["id"]) for r in records]  # the filter reads fields only manifests hold
        return query.filter_records(
            records,
            project_name=project_name,
            task_name=task_name,
            tags=tags,
            allow_archived=allow_archived,
            task_filter=task_filter,
            default_order=default_order,
        )

    # -- projects ----------------------------------------------------------------------
    @classmethod
    def get_project_id(cls, project_name: str, search_hidden: bool = True) -> str | None:
        """The id of a project, or None if no such project exists in the store."""
        check_project_name(project_name)
        names = {p["name"] for p in config.get_taskdb().projects()}
        return project_id(project_name) if project_name in names else None

    @classmethod
    def get_projects(cls, **kwargs: Any) -> list[AttrView]:
        """Projects of the store as records with ``id``, ``name``, ``created``; ``name`` filters by regex."""
        pattern = kwargs.pop("name", None)
        if kwargs:
            raise ValueError(f"get_projects supports only name=<regex>, got {sorted(kwargs)}")
        match = query.name_matcher(pattern)
        return [AttrView(p) for p in config.get_taskdb().projects() if match(p["name"])]

    @classmethod
    def get_project_object_by_id(cls, pid: str) -> AttrView:
        for p in config.get_taskdb().projects():
            if p["id"] == pid:
                return AttrView(p)
        raise LookupError(f"no project with id {pid!r}")

    # -- copies ------------------------------------------------------------------------
    @classmethod
    def clone(
        cls,
        source_task: Task | str | None = None,
        name: str | None = None,
        comment: str | None = None,
        parent: str | None = None,
        project: str | None = None,
    ) -> Task:
        """A Draft copy of ``source_task`` with its configuration and none of its outputs."""
        if source_task is None:
            raise ValueError("clone needs source_task (a Task or a task id)")
        source = source_task if isinstance(source_task, Task) else cls.get_task(task_id=source_task)
        m = source._data
        db = source._db
        fields: dict[str, Any] = {
            k: copy.deepcopy(m.get(k))
            for k in (
                "hyperparams",
                "configuration",
                "labels",
                "script",
                "container",
                "output_uri",
                "user_properties",
                "system_tags",
                "comment",
            )
        }
        fields["models"] = {"input": copy.deepcopy(m["models"]["input"]), "output": []}
        fields["parent"] = parent or source.id
        if comment is not None:
            fields["comment"] = comment
        project_name = (
            project
            if project is None or "/" in project or not re.fullmatch(r"[0-9a-f]{32}", project)
            else cls.get_project_object_by_id(project)["name"]
        )
        return cls._new(
            db,
            name=name or f"Clone of {m['name']}",
            project=project_name or m["project"],
            task_type=m["type"],
            tags=m["tags"],
            **fields,
        )

    def export_task(self) -> dict:
        """The task's manifest as plain JSON-able data (object links as hex strings)."""
        return json.loads(json.dumps(self._data, default=str))

    @classmethod
    def import_task(cls, task_data: dict, target_task: str | Task | None = None, update: bool = False) -> Task:
        """Create a task from ``export_task`` data, or overwrite (``update=False``) / merge (``update=True``)
        the fields of ``target_task``."""
        if not isinstance(task_data, dict):
            raise TypeError(f"task_data must be a dict from export_task(), got {type(task_data).__name__}")
        if target_task is None:
            data = {k: v for k, v in task_data.items() if k not in _MANAGED_FIELDS}
            _check_task_data(config.get_taskdb(), data)
            name = data.pop("name", "imported task")
            project = data.pop("project", _default_project())
            task_type = data.pop("type", "training")
            tags = data.pop("tags", [])
            data.setdefault("status", "created")
            return cls._new(config.get_taskdb(), name=name, project=project, task_type=task_type, tags=tags, **data)
        target = target_task if isinstance(target_task, Task) else cls.get_task(task_id=target_task)
        target.update_task(task_data) if update else target._replace_fields(task_data)
        return target

    def update_task(self, task_data: dict) -> bool:
        """Merge ``task_data`` (nested dicts merge key by key) into the task."""
        if not isinstance(task_data, dict):
            raise TypeError(f"task_data must be a dict, got {type(task_data).__name__}")
        _check_task_data(self._db, task_data)

        def merge(target: dict, changes: dict) -> None:
            for key, value in changes.items():
                if isinstance(value, dict) and isinstance(target.get(key), dict):
                    merge(target[key], value)
                else:
                    target[key] = copy.deepcopy(value)

        self._edit(lambda m: merge(m, task_data), fields=set(task_data))
        return True

    def _replace_fields(self, task_data: dict) -> None:
        data = {k: v for k, v in task_data.items() if k not in _MANAGED_FIELDS}
        _check_task_data(self._db, data)
        self._edit(lambda m: m.update(copy.deepcopy(data)), fields=set(data))

    def history(self) -> list[dict]:
        """Every manifest this task had, oldest first (fstrack addition: the store keeps them all)."""
        return self._db.history(self.id)

    def flush(self, wait_for_uploads: bool = False) -> bool:
        """Write buffered reports (scalars, plots, console, debug samples) and registered artifacts to the
        store; with ``wait_for_uploads``, also wait for artifact uploads still running. False if something is
        not stored yet: for the running task, flush waits while the store works and returns False once it fails
        (at once while it is failing); the reports stay buffered and are retried in the background."""
        stored = self._flush_reports()
        return self._flush_artifacts(wait_for_uploads) and stored


#: True once the interpreter runs its exit hooks: a Ctrl-C or SIGTERM then ends the process at once.
_exiting = False
#: The exit code a Ctrl-C or SIGTERM received while exiting asks for (None: none was).
_end_now: int | None = None

_pool: futures.ThreadPoolExecutor | None = None


def _background_pool() -> futures.ThreadPoolExecutor:
    """Threads for one-off background work (execution capture), started once per process: starting a thread
    per task would cost milliseconds of ``Task.init``. The interpreter waits for queued work at exit."""
    global _pool
    if _pool is None:
        _pool = futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="fstrack-background", initializer=threads.block_process_signals
        )
    return _pool


class _Heartbeat:
    """One daemon thread per process beats for the running task; a new task wakes it at once."""

    task: Task | None = None
    wake = threading.Event()
    thread: threading.Thread | None = None

    @classmethod
    def watch(cls, task: Task) -> None:
        cls.task = task
        if cls.thread is None:
            cls.thread = threading.Thread(target=cls._run, name="fstrack-heartbeat", daemon=True)
            threads.start(cls.thread)
        cls.wake.set()

    @classmethod
    def _run(cls) -> None:
        while True:
            cls.wake.clear()  # before beating: a task started meanwhile makes the wait return at once
            task = cls.task
            if task is not None and not task._heartbeat_stop.is_set():
                task._beat()
            cls.wake.wait(HEARTBEAT_SECONDS)


def _after_fork_in_child() -> None:
    """A forked child has only the thread that forked: locks other threads held stay held forever, and the
    parent's heartbeat is the parent's (the child must neither wait on its lock nor remove it at close)."""
    global _ATTACH_LOCK
    _ATTACH_LOCK = threading.RLock()
    _Heartbeat.thread, _Heartbeat.task, _Heartbeat.wake = None, None, threading.Event()
    task = current.main
    if task is not None:
        task._beat_lock = threading.Lock()
        task._beaten = False
        task._view_lock = threading.Lock()
        task._unwritten = []


os.register_at_fork(after_in_child=_after_fork_in_child)


def _agent_task() -> Task | None:
    """The task an agent runs this process for (for argument parses before ``Task.init``)."""
    task_id = os.environ.get(AGENT_TASK_ENV)
    return Task(_PRIVATE, db=config.get_taskdb(), task_id=check_task_id(task_id), remote=True) if task_id else None


def _record_input_model(task: Task, path: str, framework: str | None) -> None:
    """Called by framework capture when the script loads a model file: an input model of ``task``."""
    stem = os.path.splitext(os.path.basename(path.rstrip(os.sep)))[0] or "model"
    model = InputModel.import_model(weights_url=path, framework=framework, name=f"{task.name} - {stem}")
    model.connect(task, name=stem)


parameters.set_remote_task_loader(_agent_task)
_ATTACH_LOCK = threading.RLock()


def _attach_current() -> Task | None:
    """The parent process's task attached as this process's main task, if a parent runs one (else None)."""
    parent = processes.parent_task()
    return Task._attach_to_parent(*parent) if parent is not None else None


current.attach_to_parent = _attach_current

frameworks.set_remote_task_loader(_agent_task)
frameworks.install_parser_hooks()
_hooks_installed = False


def _install_process_hooks() -> None:
    """Once per process: record how the process ends so the main task gets its final status."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True

    previous_hook = sys.excepthook
    original_exit = sys.exit

    def end_now(signum: int, frame: Any) -> None:  # no I/O: the exit wait sees the flag and ends the process
        global _end_now
        _end_now = 128 + signum
        original_exit(_end_now)

    def exiting() -> None:
        """First of the interpreter's exit hooks (before threads are joined): from now on a Ctrl-C or SIGTERM
        ends the process at once, whatever wait it interrupts."""
        global _exiting
        _exiting = True
        if threading.current_thread() is threading.main_thread():
            for signum, ours in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, on_sigterm)):
                if signal.getsignal(signum) is ours:
                    signal.signal(signum, end_now)

    def at_exit() -> None:
        exiting()  # when threading's hook did not run (an interpreter without it)
        if current.main is not None:
            current.main._at_exit()

    if hasattr(threading, "_register_atexit"):
        threading._register_atexit(exiting)
    atexit.register(at_exit)

    def record(status: str, why: str) -> None:
        task = current.main
        if task is not None and task._exit_status is None:
            task._exit_status = (status, why)

    def excepthook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            record("stopped", "KeyboardInterrupt")
        else:
            record("failed", "".join(traceback.format_exception(exc_type, exc, tb)))
        previous_hook(exc_type, exc, tb)

    def exit_recording_code(code: str | int | None = None) -> NoReturn:
        if code not in (None, 0):
            record("failed", f"exit code {code}")
        original_exit(code)

    def on_sigterm(signum: int, frame: Any) -> None:  # no store I/O here: the exit hooks write, under a deadline
        record("stopped", "terminated by SIGTERM")
        original_exit(128 + signum)

    sys.excepthook = excepthook
    sys.exit = exit_recording_code
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) in (
        signal.SIG_DFL,
        None,
    ):
        signal.signal(signal.SIGTERM, on_sigterm)


def _session_file(db: TaskDB, project: str, name: str) -> str:
    """Where this machine remembers the last task it created for a store, project and name (ClearML's
    reuse rule looks only at this machine's last task)."""
    from fstrack.store.objects import hash_bytes

    root = os.environ.get("FSTRACK_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "fstrack")
    key = hash_bytes(f"{db.store.url}\0{project}\0{name}".encode("utf-8", "surrogatepass"))[:32]
    return os.path.join(root, "sessions", key)


def _last_session_task(db: TaskDB, project: str, name: str) -> str | None:
    try:
        with open(_session_file(db, project, name), encoding="ascii") as f:
            return f.read().strip() or None
    except (OSError, ValueError):
        return None


def _remember_session(db: TaskDB, project: str, name: str, task_id: str) -> None:
    path = _session_file(db, project, name)
    if _last_session_task(db, project, name) == task_id:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    staged = f"{path}.{os.getpid()}.tmp"
    with open(staged, "w", encoding="ascii") as f:
        f.write(task_id)
    os.replace(staged, path)


def _private_ip() -> str:
    """This machine's address on its default route (no packet is sent), else its host name's address."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.254.254.254", 1))
        return probe.getsockname()[0]
    except OSError:
        try:
            return socket.gethostbyname(socket.gethostname())
        except OSError:
            return "127.0.0.1"
    finally:
        probe.close()


def _script_path() -> str | None:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return os.path.abspath(path) if path else None


def _default_task_name() -> str:
    path = _script_path()
    return os.path.basename(path) if path else "interactive session"


def _default_project() -> str:
    """ClearML's default: the repository's name (found without running git), else the script's folder."""
    path = _script_path()
    folder = os.path.dirname(path) if path else os.getcwd()
    probe = folder
    while True:
        if os.path.exists(os.path.join(probe, ".git")):
            return os.path.basename(probe) or "default"
        parent = os.path.dirname(probe)
        if parent == probe:
            return os.path.basename(folder) or "default"
        probe = parent
