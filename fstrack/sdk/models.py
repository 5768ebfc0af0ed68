"""Models as first-class records: ClearML's ``OutputModel``, ``InputModel`` and ``Model`` on an fstrack store.

Normative text: ``spec/models.md``. In short:

* A model is an id (32 hex digits) whose head sequence ``refs/models/<id>/`` names its newest **manifest**,
  an immutable document (``kind: "model"``: name, project, creating task, framework, tags, design text,
  labels, weights, published/archived flags, metadata, ...). Changes go through the same compare-and-swap
  machinery as tasks (:class:`fstrack.records.taskdb.TaskDB` with :data:`MODEL_KIND`), and immutable summaries at
  ``index/models/<id>.<position>`` let :meth:`Model.query_models` and ``InputModel(name=...)`` find models
  without knowing any task.
* Weights uploaded to the task's store are one blob object (``weights.object`` is a blob link), so the
  same bytes saved by any number of tasks are stored once. Weights uploaded to another location
  (``output_uri``/``upload_uri`` naming another fsspec URL) are stored there content-addressed too, as an
  fstrack store; registered URLs (``register_uri``, ``import_model``) are recorded, not uploaded.
* A task lists the models it uses and produces in its manifest: ``models: {"input": [{"model": id,
  "name": str}], "output": [...]}``; ``name`` is the model's name *on that task* (ClearML's section name).
* ``report_*`` on a model write to the segment log ``segments/<model id>`` of :mod:`fstrack.records.metrics`
  (run 1), and the last/min/max values fold into the model manifest's ``last_metrics``.

Uploads: a weights file is copied once into a staging file while it is hashed (so a file the caller
overwrites right after cannot corrupt the object), then linked (local stores) or uploaded (object stores;
in a background thread unless ``async_enable=False``); the manifest names the object only once it exists.
:func:`wait_for_uploads` (and the process's exit) waits for background uploads.
"""

from __future__ import annotations

import atexit
import copy
import os
import queue
import re
import shutil
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast, overload

from fstrack import terminal, threads
from fstrack.errors import FstrackError, InvalidNameError
from fstrack.records import config, query
from fstrack.records.modeldb import MODEL_KIND, ModelNotFoundError, check_model_id
from fstrack.records.taskdb import Kind, TaskDB, check_project_name, project_id
from fstrack.sdk import current, local_cache, writeback
from fstrack.store import transfer
from fstrack.store.objects import BlobId, hash_bytes, hash_stream
from fstrack.store.store import Store, object_key

if TYPE_CHECKING:  # pragma: no cover
    from fstrack.sdk.logger import Logger
    from fstrack.sdk.task import Task

__all__ = [
    "OutputModel",
    "InputModel",
    "Model",
    "BaseModel",
    "Framework",
    "ModelsMixin",
    "TaskModels",
    "ModelsList",
    "ModelNotFoundError",
    "ModelLockedError",
    "MODEL_KIND",
    "wait_for_uploads",
    "model_db",
]

ARCHIVED_TAG = "archived"
PACKAGE_TAG = "package"
DEFAULT_INPUT_NAME = "Input Model"
DEFAULT_OUTPUT_NAME = "Output Model"
#: The task configuration object that holds the task's model design (ClearML keeps it in "General" too).
DESIGN_SECTION = "General"
_METADATA_TYPES = ("float", "int", "bool", "str", "basestring", "list", "tuple", "dict")
#: Fields a published model still lets you change (everything else raises ModelLockedError).
_EDITABLE_WHEN_PUBLISHED = frozenset(
    {"name", "comment", "tags", "system_tags", "archived", "metadata", "published", "last_metrics", "last_iteration"}
)


class ModelLockedError(FstrackError, ValueError):
    """The model is published (read-only): its weights, design, labels and framework cannot change."""


def model_db(task_db: TaskDB | None = None) -> TaskDB:
    """The model database of a task database's store (default: the configured store)."""
    return (task_db if task_db is not None else config.get_taskdb()).sibling(MODEL_KIND)


# -- frameworks ------------------------------------------------------------------------------------
class Framework:
    """Framework names a model may record (ClearML's spelling); any other non-empty string is accepted too."""

    tensorflow = "TensorFlow"
    tensorflowjs = "TensorFlow_js"
    tensorflowlite = "TensorFlow_Lite"
    pytorch = "PyTorch"
    torchscript = "TorchScript"
    caffe = "Caffe"
    caffe2 = "Caffe2"
    onnx = "ONNX"
    keras = "Keras"
    mknet = "MXNet"
    cntk = "CNTK"
    torch = "Torch"
    darknet = "Darknet"
    paddlepaddle = "PaddlePaddle"
    scikitlearn = "ScikitLearn"
    xgboost = "XGBoost"
    lightgbm = "LightGBM"
    parquet = "Parquet"
    megengine = "MegEngine"
    catboost = "CatBoost"
    tensorrt = "TensorRT"
    openvino = "OpenVINO"


#: File name endings -> the framework assumed when a model records none (first match wins; longest first).
_FRAMEWORK_BY_ENDING = (
    ("model.json", Framework.tensorflowjs),
    (".tar.gz", Framework.tensorflow),
    (".tflite", Framework.tensorflowlite),
    (".pth", Framework.pytorch),
    (".pt", Framework.pytorch),
    (".caffemodel", Framework.caffe),
    (".prototxt", Framework.caffe),
    (".onnx", Framework.onnx),
    (".h5", Framework.keras),
    (".hdf5", Framework.keras),
    (".keras", Framework.keras),
    (".t7", Framework.torch),
    (".cfg", Framework.darknet),
    (".joblib", Framework.scikitlearn),
    (".pkl", Framework.scikitlearn),
    (".parquet", Framework.parquet),
    (".cbm", Framework.catboost),
    (".plan", Framework.tensorrt),
    (".pb", Framework.tensorflow),
    (".meta", Framework.tensorflow),
    (".pbtxt", Framework.tensorflow),
)


def framework_for_file(filename: str | None) -> str | None:
    """The framework a weights file name suggests (``model.pt`` -> ``"PyTorch"``), or None."""
    if not filename:
        return None
    lower = filename.lower()
    for ending, framework in _FRAMEWORK_BY_ENDING:
        if lower.endswith(ending):
            return framework
    return None


# -- validation helpers ----------------------------------------------------------------------------
def _opt_str(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{what} must be a string or None, got {type(value).__name__} {value!r:.80}")
    return value


def _name(value: Any, what: str = "model name") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidNameError(f"{what} must be a non-empty string, got {value!r:.80}")
    return value


def _tags(tags: Any, what: str = "tags") -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, (list, tuple, set, frozenset)):
        raise TypeError(f"{what} must be a list of strings, got {type(tags).__name__} {tags!r:.80}")
    tags = list(tags)
    bad = [t for t in tags if not isinstance(t, str) or not t]
    if bad:
        raise ValueError(f"{what} must be non-empty strings, got {bad!r}")
    return list(dict.fromkeys(tags))


def _labels(labels: Any) -> dict[str, int]:
    if not isinstance(labels, Mapping):
        raise TypeError(
            f"label enumeration must be a dict of str label -> int, got {type(labels).__name__} {labels!r:.80}"
        )
    bad = [(k, v) for k, v in labels.items() if not isinstance(k, str) or not isinstance(v, int) or isinstance(v, bool)]
    if bad:
        raise TypeError(
            f"label enumeration entry {bad[0][0]!r}: {bad[0][1]!r} is not supported: expected a dict "
            "of str label -> int"
        )
    return {k: int(v) for k, v in labels.items()}


def _framework(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise TypeError(f"framework must be a non-empty string (e.g. Framework.pytorch), got {value!r:.80}")
    return value


def _iteration(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"iteration must be a non-negative int, got {type(value).__name__} {value!r:.80}")
    value = value.__index__()
    if value < 0:
        raise ValueError(f"iteration must be a non-negative int, got {value}")
    return value


def _resolve_design(config_text: Any, config_dict: Any) -> str | None:
    """The design text from ``config_text`` or ``config_dict`` (JSON text), or None when neither is given."""
    from fstrack.sdk.parameters import ParametersMixin

    if config_text is not None and config_dict is not None:
        raise ValueError("pass config_text or config_dict, not both")
    if config_dict is not None:
        if not isinstance(config_dict, (Mapping, list)):
            raise TypeError(f"config_dict must be a dict, got {type(config_dict).__name__} {config_dict!r:.80}")
        return ParametersMixin._config_to_text(config_dict)
    if config_text is not None and not isinstance(config_text, str):
        raise TypeError(f"config_text must be a string, got {type(config_text).__name__} {config_text!r:.80}")
    return config_text


def _text_to_dict(text: str | None) -> dict:
    from fstrack.sdk.parameters import ParametersMixin

    if not text or not text.strip():
        return {}
    return ParametersMixin._text_to_config(text)


def _stem(location: str | None) -> str | None:
    """``model`` for ``/a/b/model.pt`` or ``s3://b/model.pt``; None when there is nothing to name."""
    if not location:
        return None
    base = location.rstrip("/").rsplit("/", 1)[-1]
    base = base.split("?", 1)[0]
    stem = Path(base).stem if base else ""
    return stem or None


def _weights_stem(data: Mapping[str, Any]) -> str | None:
    """The weights' file name without extension (a model's default name on a task), or None."""
    weights = data.get("weights") or {}
    return _stem(weights.get("file")) or _stem(weights.get("url"))


def _is_url(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


def _local_path(location: str) -> str | None:
    """The local path a location names (plain path or ``file://``), else None."""
    if location.startswith("file://"):
        return location[len("file://") :]
    if "://" in location:
        return None
    return location


def _same_location(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        local = _local_path(url)
        if local is not None:
            return os.path.abspath(os.path.expanduser(local)).rstrip("/")
        return url.rstrip("/")

    return norm(a) == norm(b)


# -- local cache ---------------------------------------------------------------------------------------
def cache_root() -> str:
    """The machine-local cache folder shared with artifacts (``artifacts.set_cache_dir``, else
    ``FSTRACK_CACHE_DIR``, else ``~/.cache/fstrack``); weights land in ``<root>/models/``."""
    from fstrack.sdk.artifacts import cache_root as shared_root

    return shared_root()


def _safe_file_name(name: str | None, default: str = "weights") -> str:
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    if base in ("", ".", ".."):
        return default
    return base


def _object_cache_dir(digest: str) -> str:
    return os.path.join(cache_root(), "models", digest[:2], digest[2:])


def _cached_object(store: Store, digest: str, file_name: str | None, size: int | None, force: bool) -> str:
    """A local copy of object ``digest`` (``size`` bytes, if known) named ``file_name``: downloaded once, handed out
    read-only and verified again if it changed (see local_cache)."""
    folder = os.path.join(_object_cache_dir(digest), "files")
    path = os.path.join(folder, _safe_file_name(file_name))
    if not force and local_cache.holds(path, digest):
        return path
    if not force and os.path.isdir(folder):  # the same bytes cached under another name: no download
        for other in os.listdir(folder):
            source = os.path.join(folder, other)
            if other != os.path.basename(path) and not other.startswith(".") and local_cache.holds(source, digest):
                try:
                    os.link(source, path)
                except FileExistsError:
                    pass
                except OSError:
                    shutil.copyfile(source, path)
                local_cache.seal(path)
                return path
    from fstrack.store.gc import fetch_object

    os.makedirs(folder, exist_ok=True)
    fetch_object(store, digest, path, size)  # verified, atomic; finds objects a collection moved to the trash
    local_cache.seal(path)
    return path


def _safe_extract(archive: str, target: str) -> None:
    """Extract a zip or tar archive into ``target``, refusing entries that would land outside it."""
    root = os.path.realpath(target)

    def inside(name: str) -> str:
        if not name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
            raise ValueError(f"archive {archive!r} has an entry with an absolute path: {name!r}")
        full = os.path.realpath(os.path.join(root, name))
        if full != root and not full.startswith(root + os.sep):
            raise ValueError(f"archive {archive!r} has an entry that escapes the extraction folder: {name!r}")
        return full

    if zipfile.is_zipfile(archive):
        from fstrack.sdk.artifacts import safe_extract

        safe_extract(archive, target)  # checks every entry before extracting any
        return
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for member in members:
                inside(member.name)
                if not (member.isdir() or member.isfile()):
                    raise ValueError(f"archive {archive!r} has an entry that is not a file or folder: {member.name!r}")
            for member in members:
                full = inside(member.name)
                if member.isdir():
                    os.makedirs(full, exist_ok=True)
                elif member.isfile():
                    os.makedirs(os.path.dirname(full), exist_ok=True)
                    src = tf.extractfile(member)
                    assert src is not None
                    with src, open(full, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
        return
    raise ValueError(f"{archive!r} is not a zip or tar archive")


def _extracted(archive: str, key: str, force: bool) -> str:
    """The folder ``archive`` is extracted to (once, atomically), under the cache folder ``key``."""
    target = os.path.join(key, "extracted")
    if os.path.isdir(target) and not force:
        return target
    os.makedirs(key, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".extract-", dir=key)
    try:
        _safe_extract(archive, staging)
        if force and os.path.isdir(target):
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.rename(staging, target)
        except OSError:  # another process extracted it first
            if not os.path.isdir(target):
                raise
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging, ignore_errors=True)
    return target


# -- uploads ---------------------------------------------------------------------------------------------
def _stage(store: Store, path: str) -> tuple[str, int, str]:
    """Copy ``path`` into a staging file of ``store`` while hashing it: (digest, size, staged path)."""
    with open(path, "rb") as src, store.backend.staging_file() as staged:
        try:
            digest, size = hash_stream(src, staged)
        except BaseException:
            staged.close()
            os.unlink(staged.name)
            raise
    return digest, size, staged.name


def _store_staged(store: Store, staged: str, oid: BlobId) -> None:
    """Make a staged file object ``oid`` (linked into place on a local store, uploaded elsewhere), consuming it."""
    store.backend.adopt(staged, object_key(oid))


def _discard(staged: str) -> None:
    try:
        os.unlink(staged)
    except OSError:
        pass


class _Uploader:
    """One background thread running upload jobs in submission order (so a model's updates apply in order)."""

    def __init__(self) -> None:
        self._jobs: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self.errors: list[BaseException] = []
        self.names: list[str] = []  # what the pending jobs upload, for the exit report
        self.last_error: BaseException | None = None  # the failure an upload is retrying (None: fine)
        self.last_stored = time.monotonic()

    def submit(self, job: Callable[[], None], on_failure: Callable[[], None] | None = None, name: str = "") -> None:
        with self._lock:
            self._pending += 1
            self.names.append(name)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="fstrack-model-uploads", daemon=True)
                threads.start(self._thread)
        self._jobs.put((job, on_failure, name))

    def _run(self) -> None:
        while True:
            job, on_failure, name = self._jobs.get()
            try:
                for attempt in range(4):
                    try:
                        job()
                        self.last_error, self.last_stored = None, time.monotonic()
                        break
                    except Exception as exc:  # noqa: BLE001 - retried, then reported
                        self.last_error = exc
                        if attempt == 3:
                            self.errors.append(exc)
                            terminal.warn(
                                f"fstrack: uploading model weights failed: {type(exc).__name__}: {exc}",
                                RuntimeWarning,
                                stacklevel=1,
                            )
                            if on_failure is not None:
                                on_failure()
                        else:
                            time.sleep(0.5 * 2**attempt)
            finally:
                with self._lock:
                    self._pending = max(0, self._pending - 1)  # abandon_uploads may have zeroed it
                    if name in self.names:
                        self.names.remove(name)
                    if not self._pending:
                        self._idle.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._pending:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def _forget_parent(self) -> None:
        """In a forked child: the parent finishes the uploads it queued (this copy has no thread to run them)."""
        type(self).__init__(self)


_UPLOADS = _Uploader()
os.register_at_fork(after_in_child=_UPLOADS._forget_parent)


def wait_for_uploads(timeout: float | None = None) -> bool:
    """Wait until every background weights upload of this process is stored; False on timeout."""
    if timeout is not None and (not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout < 0):
        raise ValueError(f"timeout must be a number of seconds >= 0 or None, got {timeout!r}")
    return _UPLOADS.wait(timeout)


def abandon_uploads() -> list[str]:
    """Stop waiting for the weights uploads still queued (the store failed past the exit deadline); their files."""
    with _UPLOADS._lock:
        left, _UPLOADS._pending, _UPLOADS.names = list(_UPLOADS.names), 0, []
        _UPLOADS._idle.notify_all()
    return left


def _wait_at_exit() -> None:
    """Wait for the weights uploads as long as the store takes them (a large one moving counts), but no more than
    ``FSTRACK_EXIT_TIMEOUT`` s without progress; then name what is left, once (the files stay where they are).
    With a running task, its own exit waits for them under its deadline and names them in its line."""
    if not _UPLOADS._pending or (current.main is not None and not current.main._closed):
        return
    print("fstrack: waiting for model uploads to finish...", file=sys.stderr)
    budget = writeback.exit_timeout()
    started = time.monotonic()
    while not _UPLOADS.wait(0.25):
        if time.monotonic() - max(started, _UPLOADS.last_stored, transfer.last_progress()) >= budget:
            error = _UPLOADS.last_error or TimeoutError("no answer")
            left = abandon_uploads()
            message = (
                f"fstrack: the store failed ({type(error).__name__}: {error}); {len(left)} model weights upload(s) "
                f"not stored: {', '.join(left)} (upload them again with OutputModel.update_weights)"
            )
            print(terminal.escape(message), file=sys.stderr)
            return


if hasattr(threading, "_register_atexit"):
    threading._register_atexit(_wait_at_exit)  # before threads are joined (fsspec sessions still open)
atexit.register(_wait_at_exit)


def _destination(home: Store, uri: str | None) -> Store:
    """The store weights go to: ``home`` (the task's store) unless ``uri`` names another location, which is
    then used as an fstrack store (created on first use), opened with the storage options
    :func:`fstrack.sdk.artifacts.storage_options_for` gives it (``setup_aws_upload`` and friends)."""
    if not uri or _same_location(uri, home.url):
        return home
    if not isinstance(uri, str):
        raise TypeError(f"upload destination must be a URL string, got {uri!r:.80}")
    from fstrack.sdk.artifacts import location_store

    local = _local_path(uri)
    return location_store(local if local is not None else uri, home, create=True)


def _pin(store: Store, model_id: str, value: dict) -> None:
    """Record, in a store other than the model's own, the weights objects a model keeps alive there
    (``refs/outputs/<model id>``; a ``{"deleted": true}`` entry releases them)."""
    from fstrack.sdk.artifacts import OUTPUTS_REF
    from fstrack.store.refs import Refs

    Refs(store).append(f"{OUTPUTS_REF}/{model_id}", value)


# -- the model classes ---------------------------------------------------------------------------------
_REPORT_HOST: list[type] = []


def _report_host(model: BaseModel) -> Any:
    """The host :class:`fstrack.sdk.reporting.ReportingMixin` needs, for a model: its reports go to the segment log
    ``segments/<model id>`` (run 1) and fold into the model's ``last_metrics``. Built on first use so that
    importing this module does not import pyarrow."""
    if not _REPORT_HOST:
        from fstrack.sdk.reporting import ReportingMixin

        class ModelReportHost(ReportingMixin):
            def __init__(self, owner: BaseModel) -> None:
                self._owner = owner

            @property
            def id(self) -> str:
                return self._owner._ensure_id()

            @property
            def _db(self) -> TaskDB:
                return self._owner._db

            @property
            def _data(self) -> dict:
                return self._owner._data

            def _edit(self, fn: Callable[[dict], object], fields: Any = None) -> None:
                self._owner._edit(fn, fields={"last_metrics", "last_iteration"})

            def flush(self, wait_for_uploads: bool = False) -> bool:  # Logger.flush calls its host's flush
                self._flush_reports()
                return True

        _REPORT_HOST.append(ModelReportHost)
    return _REPORT_HOST[0](model)


class BaseModel:
    """What every model object shares: identity, fields, weights download, metadata, reports."""

    #: ``Task.connect`` recognises model objects by this attribute.
    _fstrack_model = True
    _archived_tag = ARCHIVED_TAG
    _package_tag = PACKAGE_TAG

    def __init__(
        self, *, db: TaskDB, model_id: str | None = None, manifest: dict | None = None, task: Task | None = None
    ) -> None:
        self._db = db
        self._id = model_id
        self._manifest = manifest
        self._pending: dict | None = None
        self._task = task
        self._lock = threading.RLock()
        self._reports: Any = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self._id} name={self._data.get('name')!r}>"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BaseModel)
            and self._id is not None
            and other._id == self._id
            and other._db.store.url == self._db.store.url
        )

    def __hash__(self) -> int:
        return hash(self._id) if self._id is not None else id(self)

    # -- the manifest ----------------------------------------------------------------------------
    @property
    def _data(self) -> dict:
        if self._pending is not None:
            return self._pending
        if self._manifest is None:
            self._manifest = self._db.load(self._ensure_id())
        return self._manifest

    def _ensure_id(self) -> str:
        if self._id is None:
            raise ModelNotFoundError("this model has no id")
        return self._id

    def reload(self) -> None:
        """Re-read the newest manifest from the store."""
        if self._id is not None:
            self._manifest = self._db.load(self._id)

    def _edit(self, fn: Callable[[dict], object], *, fields: Iterable[str]) -> None:
        """Apply ``fn`` atomically to the newest manifest (or to the not yet stored fields of a new model)."""
        touched = set(fields)
        with self._lock:
            if self._pending is not None:
                pending = copy.deepcopy(self._pending)
                fn(pending)
                self._pending = pending
                return

            def guarded(manifest: dict) -> None:
                if manifest.get("published") and not touched <= _EDITABLE_WHEN_PUBLISHED:
                    raise ModelLockedError(
                        f"model {self._id} is published and cannot be changed "
                        f"({', '.join(sorted(touched - _EDITABLE_WHEN_PUBLISHED))})"
                    )
                fn(manifest)

            self._manifest = self._db.update(self._ensure_id(), guarded)

    def _set(self, field: str, value: Any) -> None:
        self._edit(lambda m: m.__setitem__(field, copy.deepcopy(value)), fields={field})

    # -- fields ----------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        """The model id (32 hex digits)."""
        return self._ensure_id()

    @property
    def name(self) -> str | None:
        return self._data.get("name")

    @name.setter
    def name(self, value: str) -> None:
        self._set("name", _name(value))

    @property
    def project(self) -> str | None:
        """The id of the model's project (ClearML returns ids; :attr:`project_name` is its name)."""
        name = self._data.get("project")
        return project_id(name) if name else None

    @project.setter
    def project(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise TypeError(f"project must be a project id or name, got {value!r:.80}")
        name = value
        if re.fullmatch(r"[0-9a-f]{32}", value):
            for record in self._db.projects():
                if record["id"] == value:
                    name = record["name"]
                    break
        self._db.ensure_project(check_project_name(name))
        self._set("project", name)

    @property
    def project_name(self) -> str | None:
        """The name of the model's project (fstrack addition)."""
        return self._data.get("project")

    @property
    def comment(self) -> str:
        return self._data.get("comment") or ""

    @comment.setter
    def comment(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"comment must be a string, got {type(value).__name__}")
        self._set("comment", value)

    @property
    def tags(self) -> list[str]:
        return list(self._data.get("tags") or [])

    @tags.setter
    def tags(self, value: Sequence[str]) -> None:
        self._set("tags", _tags(value))

    @property
    def system_tags(self) -> list[str]:
        return list(self._data.get("system_tags") or [])

    @system_tags.setter
    def system_tags(self, value: Sequence[str]) -> None:
        tags = _tags(value, "system tags")

        def fn(m: dict) -> None:
            m["system_tags"] = tags
            m["archived"] = ARCHIVED_TAG in tags

        self._edit(fn, fields={"system_tags", "archived"})

    @property
    def config_text(self) -> str:
        """The model's design (configuration) text."""
        return self._data.get("design") or ""

    @property
    def config_dict(self) -> dict:
        """The design text parsed as JSON or HOCON (``{}`` when there is none)."""
        return _text_to_dict(self.config_text)

    @property
    def labels(self) -> dict[str, int]:
        return dict(self._data.get("labels") or {})

    @property
    def task(self) -> str | None:
        """The id of the task this object is connected to, else of the task that created the model."""
        return self._task.id if self._task is not None else self.original_task

    @property
    def original_task(self) -> str | None:
        return self._data.get("task")

    @property
    def url(self) -> str | None:
        """Where the weights are: the object's URL in its store, or the registered URL (None: no weights)."""
        weights = self._data.get("weights")
        if not weights:
            return None
        if weights.get("object") is not None:
            from fstrack.records.metrics import object_url

            return object_url(self._db.store, weights["object"])
        return weights.get("url")

    @property
    def published(self) -> bool:
        return bool(self._data.get("published"))

    @property
    def archived(self) -> bool:
        return bool(self._data.get("archived"))

    @property
    def framework(self) -> str | None:
        return self._data.get("framework")

    @property
    def parent(self) -> str | None:
        """The id of the model this one was trained from (the task's input model of the same name), or None."""
        return self._data.get("parent")

    @property
    def iteration(self) -> int | None:
        """The iteration the current weights were stored at (fstrack addition)."""
        return self._data.get("iteration")

    @property
    def archived_tag(self) -> str:
        return ARCHIVED_TAG

    def _is_package(self) -> bool:
        weights = self._data.get("weights") or {}
        return bool(weights.get("package")) or PACKAGE_TAG in (self._data.get("system_tags") or [])

    # -- state -----------------------------------------------------------------------------------
    def publish(self) -> None:
        """Make the model read-only (its weights, design, labels and framework can no longer change)."""
        self._ensure_id()
        self._set("published", True)

    def archive(self) -> None:
        self._ensure_id()

        def fn(m: dict) -> None:
            m["system_tags"] = list(dict.fromkeys([*(m.get("system_tags") or []), ARCHIVED_TAG]))
            m["archived"] = True

        self._edit(fn, fields={"system_tags", "archived"})

    def unarchive(self) -> None:
        self._ensure_id()

        def fn(m: dict) -> None:
            m["system_tags"] = [t for t in (m.get("system_tags") or []) if t != ARCHIVED_TAG]
            m["archived"] = False

        self._edit(fn, fields={"system_tags", "archived"})

    def get_offline_mode_folder(self) -> str | None:
        return None

    # -- metadata --------------------------------------------------------------------------------
    def set_metadata(self, key: str, value: Any, v_type: str | None = None) -> bool:
        """Set one metadata entry ``{"key", "value", "type"}`` (value stored as text; type one of float, int,
        bool, str, basestring, list, tuple, dict, else ``"None"``)."""
        entry = _metadata_entry(key, value, v_type)
        self._ensure_id()
        self._edit(lambda m: m.setdefault("metadata", {}).__setitem__(entry["key"], entry), fields={"metadata"})
        return True

    def set_all_metadata(self, metadata: Mapping[str, Mapping[str, Any]], replace: bool = True) -> bool:
        """Set several entries ``{key: {"value": v, "type": t}}``; ``replace`` drops the other entries."""
        if not isinstance(metadata, Mapping):
            raise TypeError(
                f"metadata must be a dict of key -> {{'value': ..., 'type': ...}}, got {type(metadata).__name__}"
            )
        entries = {}
        for key, item in metadata.items():
            if not isinstance(item, Mapping):
                raise TypeError(f"metadata[{key!r}] must be a dict with 'value' and 'type', got {item!r:.80}")
            entry = _metadata_entry(key, item.get("value"), item.get("type"))
            entries[entry["key"]] = entry
        self._ensure_id()

        def fn(m: dict) -> None:
            m["metadata"] = entries if replace else {**(m.get("metadata") or {}), **entries}

        self._edit(fn, fields={"metadata"})
        return True

    def get_all_metadata(self) -> dict[str, dict[str, str]]:
        return copy.deepcopy(self._data.get("metadata") or {})

    def get_metadata(self, key: str) -> str | None:
        return (self._data.get("metadata") or {}).get(str(key), {}).get("value")

    def get_metadata_casted(self, key: str) -> Any:
        entry = (self._data.get("metadata") or {}).get(str(key))
        return None if entry is None else _cast_metadata(entry)

    def get_all_metadata_casted(self) -> dict[str, Any]:
        return {k: _cast_metadata(v) for k, v in (self._data.get("metadata") or {}).items()}

    # -- weights ---------------------------------------------------------------------------------
    def _weights_store(self, weights: dict) -> Store:
        other = weights.get("store")
        if other and not _same_location(other, self._db.store.url):
            return _destination(self._db.store, other)
        return self._db.store

    def get_weights(
        self, raise_on_error: bool = False, force_download: bool = False, extract_archive: bool = False
    ) -> str | None:
        """A local path to the weights file (downloaded once into the cache, keyed by its hash; a local
        registered file is returned as is). ``extract_archive`` extracts a zip/tar and returns the folder.
        On failure: ValueError if ``raise_on_error``, else a warning and None."""
        try:
            weights = self._data.get("weights")
            if not weights:
                raise ValueError(f"model {self._id} has no weights")
            digest = weights.get("object") or weights.get("hash")
            if digest:
                path = _cached_object(
                    self._weights_store(weights), str(digest), weights.get("file"), weights.get("size"), force_download
                )
                key = _object_cache_dir(str(digest))
            else:
                path, key = _fetch_url(weights["url"], force_download)
            if extract_archive and (zipfile.is_zipfile(path) or tarfile.is_tarfile(path)):
                return _extracted(path, key, force_download)
            return path
        except Exception as exc:
            if raise_on_error:
                raise ValueError(f"could not get the weights of model {self._id}: {exc}") from exc
            terminal.warn(f"fstrack: could not get the weights of model {self._id}: {exc}", stacklevel=2)
            return None

    @overload
    def get_weights_package(
        self,
        return_path: Literal[True],
        raise_on_error: bool = False,
        force_download: bool = False,
        extract_archive: bool = True,
    ) -> str | None: ...

    @overload
    def get_weights_package(
        self,
        return_path: bool = False,
        raise_on_error: bool = False,
        force_download: bool = False,
        extract_archive: bool = True,
    ) -> str | list[Path] | None: ...

    def get_weights_package(
        self,
        return_path: bool = False,
        raise_on_error: bool = False,
        force_download: bool = False,
        extract_archive: bool = True,
    ) -> str | list[Path] | None:
        """A packaged model (``update_weights_package``): its extracted folder (``return_path``) or the list
        of its files."""
        if not self._is_package():
            raise ValueError(f"model {self._id} is not packaged")
        path = self.get_weights(
            raise_on_error=raise_on_error, force_download=force_download, extract_archive=extract_archive
        )
        if path is None or not extract_archive:
            return path
        if return_path:
            return path
        return sorted(p for p in Path(path).rglob("*") if p.is_file())

    # -- reports ---------------------------------------------------------------------------------
    def _reporter(self) -> Any:
        if self._reports is None:
            self._ensure_id()
            self._reports = _report_host(self)
        return self._reports

    def _logger(self) -> Logger:
        return self._reporter().get_logger()

    def report_scalar(self, title: str, series: str, value: float, iteration: int) -> None:
        self._logger().report_scalar(title, series, value, iteration)

    def report_single_value(self, name: str, value: float) -> None:
        self._logger().report_single_value(name, value)

    def report_histogram(
        self, title: str, series: str, values: Any, iteration: int | None = None, **kwargs: Any
    ) -> None:
        self._logger().report_histogram(title, series, values, iteration=iteration, **kwargs)

    def report_vector(self, title: str, series: str, values: Any, iteration: int | None = None, **kwargs: Any) -> None:
        self._logger().report_vector(title, series, values, iteration=iteration, **kwargs)

    def report_table(
        self, title: str, series: str, iteration: int | None = None, table_plot: Any = None, **kwargs: Any
    ) -> None:
        self._logger().report_table(title, series, iteration=iteration, table_plot=table_plot, **kwargs)

    def report_line_plot(
        self,
        title: str,
        series: Any,
        xaxis: str,
        yaxis: str,
        mode: str = "lines",
        iteration: int | None = None,
        **kwargs: Any,
    ) -> None:
        self._logger().report_line_plot(title, series, xaxis, yaxis, mode=mode, iteration=iteration, **kwargs)

    def report_scatter2d(
        self, title: str, series: str, scatter: Any, iteration: int | None = None, **kwargs: Any
    ) -> None:
        self._logger().report_scatter2d(title, series, scatter, iteration=iteration, **kwargs)

    def report_scatter3d(
        self, title: str, series: str, scatter: Any, iteration: int | None = None, **kwargs: Any
    ) -> None:
        self._logger().report_scatter3d(title, series, scatter, iteration=iteration, **kwargs)

    def report_confusion_matrix(
        self, title: str, series: str, matrix: Any, iteration: int | None = None, **kwargs: Any
    ) -> None:
        self._logger().report_confusion_matrix(title, series, matrix, iteration=iteration, **kwargs)

    def report_matrix(self, title: str, series: str, matrix: Any, iteration: int | None = None, **kwargs: Any) -> None:
        self._logger().report_matrix(title, series, matrix, iteration=iteration, **kwargs)

    def report_surface(self, title: str, series: str, matrix: Any, iteration: int | None = None, **kwargs: Any) -> None:
        self._logger().report_surface(title, series, matrix, iteration=iteration, **kwargs)

    def flush_reports(self) -> None:
        """Write the model's buffered reports to the store now (fstrack addition; they are also written in the
        background and at exit)."""
        if self._reports is not None:
            self._reports._flush_reports()

    def get_reported_scalars(self, max_samples: int = 0, x_axis: str = "iter") -> dict:
        """Scalars reported on this model, like ``Task.get_reported_scalars`` (fstrack addition)."""
        return self._reporter().get_reported_scalars(max_samples=max_samples, x_axis=x_axis)

    def get_reported_plots(self, max_iterations: int | None = None) -> list[dict]:
        """Plots reported on this model, like ``Task.get_reported_plots`` (fstrack addition)."""
        return self._reporter().get_reported_plots(max_iterations=max_iterations)

    def get_reported_single_values(self) -> dict[str, float]:
        return self._reporter().get_reported_single_values()

    # -- helpers for ClearML config resolution --------------------------------------------------
    @staticmethod
    def _resolve_config(config_text: str | None = None, config_dict: dict | None = None) -> str | None:
        return _resolve_design(config_text, config_dict)

    @staticmethod
    def _text_to_config_dict(text: str) -> dict:
        if not isinstance(text, str):
            raise ValueError("model configuration parsing only supports a string")
        return _text_to_dict(text)

    @staticmethod
    def _config_dict_to_text(config: str | dict) -> str:
        if isinstance(config, str):
            return config
        return _resolve_design(None, config) or ""


def _metadata_entry(key: Any, value: Any, v_type: Any) -> dict[str, str]:
    if not isinstance(key, str) or not key:
        raise TypeError(f"metadata key must be a non-empty string, got {key!r:.80}")
    type_name = str(v_type) if v_type is not None and str(v_type) in _METADATA_TYPES else "None"
    return {"key": key, "value": "" if value is None else str(value), "type": type_name}


def _cast_metadata(entry: Mapping[str, Any]) -> Any:
    from fstrack.sdk.parameters import decode_value

    value, kind = entry.get("value"), entry.get("type")
    if kind in (None, "None", "basestring"):
        return value
    return decode_value(value, kind)


def _fetch_url(url: str, force: bool) -> tuple[str, str]:
    """A local copy of a registered URL: a local path is returned as is, anything else is downloaded once."""
    local = _local_path(url)
    key = os.path.join(cache_root(), "models", "url", hash_bytes(url.encode("utf-8", "surrogatepass"))[:32])
    if local is not None:
        if not os.path.exists(local):
            raise FileNotFoundError(f"registered weights file {local!r} does not exist")
        return local, key
    import fsspec

    path = os.path.join(key, "files", _safe_file_name(url.split("?", 1)[0]))
    if os.path.isfile(path) and not force:
        return path, key
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=".fstrack-download-", dir=os.path.dirname(path))
    os.close(fd)
    try:
        with fsspec.open(url, "rb") as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return path, key


class Model(BaseModel):
    """A read-only view of a stored model, by id. ``Model(model_id)`` raises ModelNotFoundError if there is none."""

    def __init__(self, model_id: str) -> None:
        db = model_db()
        super().__init__(db=db, model_id=check_model_id(model_id))
        self.reload()

    @classmethod
    def _lazy(cls, db: TaskDB, model_id: str) -> Model:
        """A model object that loads its manifest on first use."""
        model = cls.__new__(cls)
        BaseModel.__init__(model, db=db, model_id=model_id)
        return model

    def get_local_copy(
        self, extract_archive: bool | None = None, raise_on_error: bool = False, force_download: bool = False
    ) -> str | None:
        """A local path to the model: the extracted folder of a packaged model (unless ``extract_archive`` is
        False), else the weights file. Cached by content hash: a second call does no store I/O."""
        if self._is_package():
            return self.get_weights_package(
                return_path=True,
                raise_on_error=raise_on_error,
                force_download=force_download,
                extract_archive=True if extract_archive is None else extract_archive,
            )
        return self.get_weights(
            raise_on_error=raise_on_error,
            force_download=force_download,
            extract_archive=False if extract_archive is None else extract_archive,
        )

    @classmethod
    def query_models(
        cls,
        project_name: str | None = None,
        model_name: str | None = None,
        tags: Sequence[str] | None = None,
        only_published: bool = False,
        include_archived: bool = False,
        max_results: int | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[Model]:
        """Models matching every filter, newest first (by creation time).

        ``project_name``: exact project (no subprojects). ``model_name``: exact name. ``tags``: ClearML's tag
        language (``["a", "-b"]``, ``["__$all", ...]``, see :func:`fstrack.records.query.tags_matcher`).
        ``metadata``: ``{key: value}`` pairs every match must have (values compared as text).
        """
        db = model_db()
        return [
            cls._lazy(db, r["id"])
            for r in _query(
                db,
                project_name=project_name,
                model_name=model_name,
                tags=tags,
                only_published=only_published,
                include_archived=include_archived,
                max_results=max_results,
                metadata=metadata,
            )
        ]

    @classmethod
    def remove(
        cls,
        model: str | BaseModel,
        delete_weights_file: bool = True,
        force: bool = False,
        raise_on_errors: bool = False,
    ) -> bool:
        """Delete a model from the store (a tombstone; its weights object is reclaimed by ``fstrack gc`` once
        nothing links it). Without ``force``, a model that a task other than its creator lists is kept.
        Registered external URLs are never deleted."""
        if not isinstance(model, (str, BaseModel)):
            raise TypeError(f"model must be a model id or a Model, got {type(model).__name__}")
        try:
            if isinstance(model, BaseModel):
                db, model_id = model._db, model._ensure_id()
            else:
                db, model_id = model_db(), check_model_id(model)
            manifest = db.load(model_id)
            if not force:
                users = _tasks_using(db, model_id, exclude=manifest.get("task"))
                if users:
                    raise ValueError(
                        f"model {model_id} is used by task(s) {', '.join(users[:5])}; "
                        "pass force=True to remove it anyway"
                    )
            db.delete(model_id)
            _release_pins(db, model_id)
        except (ValueError, LookupError) as exc:
            if raise_on_errors:
                raise ValueError(f"could not remove model: {exc}") from exc
            return False
        return True


def _release_pins(db: TaskDB, model_id: str) -> None:
    """After a model's tombstone: release the weights it pinned in other stores (every store its history used)."""
    stores = {}
    for manifest in db.history(model_id):
        weights = manifest.get("weights") or {}
        if weights.get("store") and not _same_location(weights["store"], db.store.url):
            stores[weights["store"].rstrip("/")] = weights["store"]
    for url in stores.values():
        try:
            _pin(_destination(db.store, url), model_id, {"deleted": True, "time": time.time()})
        except Exception as exc:  # noqa: BLE001 - the model is deleted; the pin only delays reclaiming space
            terminal.warn(f"fstrack: could not release the weights of model {model_id} in {url} ({exc})", stacklevel=3)


def _query(
    db: TaskDB,
    *,
    project_name: Any = None,
    model_name: Any = None,
    tags: Any = None,
    only_published: bool = False,
    include_archived: bool = False,
    max_results: Any = None,
    metadata: Any = None,
    uri: str | None = None,
) -> list[dict]:
    if project_name is not None and not isinstance(project_name, str):
        raise TypeError(f"project_name must be a string or None, got {project_name!r:.80}")
    if model_name is not None and not isinstance(model_name, str):
        raise TypeError(f"model_name must be a string or None, got {model_name!r:.80}")
    if tags is not None and not isinstance(tags, (list, tuple)):
        raise TypeError(f"tags must be a list of strings, got {tags!r:.80}")
    if max_results is not None and (
        isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 0
    ):
        raise ValueError(f"max_results must be a non-negative int or None, got {max_results!r}")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a dict of key -> value, got {metadata!r:.80}")
    records = db.records()
    if only_published:
        records = [r for r in records if r.get("published")]
    if metadata:
        wanted = {str(k): str(v) for k, v in metadata.items()}
        records = [
            r
            for r in records
            if all(((r.get("metadata") or {}).get(k) or {}).get("value") == v for k, v in wanted.items())
        ]
    if uri is not None:
        records = [r for r in records if r.get("uri") == uri]
    return query.filter_records(
        records,
        project_name=project_name or None,
        task_name=f"^{re.escape(model_name)}$" if model_name is not None else None,
        tags=list(tags) if tags else None,
        allow_archived=include_archived,
        default_order="-created",
        limit=max_results,
    )


def _tasks_using(db: TaskDB, model_id: str, *, exclude: str | None = None) -> list[str]:
    """Ids of tasks (other than ``exclude``) whose manifest lists the model as an input or output."""
    tasks = db.sibling(_task_kind())
    users = []
    for record in tasks.records():
        if record["id"] == exclude:
            continue
        try:
            manifest = tasks.load(record["id"])
        except LookupError:
            continue
        models = manifest.get("models") or {}
        if any(e.get("model") == model_id for kind in ("input", "output") for e in models.get(kind) or ()):
            users.append(record["id"])
    return users


def _task_kind() -> Kind:
    from fstrack.records.taskdb import TASK_KIND

    return TASK_KIND


def _resolve_task(task: Task | None) -> Task:
    if task is None:
        task = current.main_task()
        if task is None:
            raise ValueError("task object was not provided, and no current task was found (call Task.init first)")
    if not isinstance(task, ModelsMixin):
        raise TypeError(f"task must be a Task, got {type(task).__name__} {task!r:.80}")
    return task


class InputModel(Model):
    """A stored model loaded by id, or by name/project/tags, to be used by (connected to) a task."""

    _EMPTY_MODEL_ID = "empty"

    def __init__(
        self,
        model_id: str | None = None,
        name: str | None = None,
        project: str | None = None,
        tags: Sequence[str] | None = None,
        only_published: bool = False,
    ) -> None:
        db = model_db()
        if model_id is None:
            if name is None and project is None and not tags:
                raise ValueError("InputModel needs model_id, or name and/or project and/or tags to search by")
            found = _query(
                db, project_name=project, model_name=name, tags=tags, only_published=only_published, max_results=1
            )
            if not found:
                raise ModelNotFoundError(
                    f"could not locate a model with project={project!r} name={name!r} "
                    f"tags={tags!r} published={only_published} in store {db.store.url!r}"
                )
            model_id = found[0]["id"]
        BaseModel.__init__(self, db=db, model_id=check_model_id(model_id))
        self.reload()

    @classmethod
    def import_model(
        cls,
        weights_url: str,
        config_text: str | None = None,
        config_dict: dict | None = None,
        label_enumeration: Mapping[str, int] | None = None,
        name: str | None = None,
        project: str | None = None,
        tags: list[str] | None = None,
        comment: str | None = None,
        is_package: bool = False,
        create_as_published: bool = False,
        framework: str | None = None,
    ) -> InputModel:
        """Register pre-trained weights at a URL (not uploaded). If a model with that URL exists already
        (and is not archived), that model is returned and the other arguments are ignored."""
        if not isinstance(weights_url, str) or not weights_url.strip():
            raise ValueError(f"weights_url must be a non-empty URL or path, got {weights_url!r:.80}")
        url = _normalize_url(weights_url)
        design = _resolve_design(config_text, config_dict)
        labels = _labels(label_enumeration) if label_enumeration is not None else {}
        tags = _tags(tags)
        _opt_str(comment, "comment")
        _opt_str(name, "name")
        if project is not None:
            check_project_name(project)
        framework = _framework(framework) or framework_for_file(url)
        db = model_db()
        existing = _query(db, uri=url, include_archived=False)
        if existing:
            return cls(model_id=existing[0]["id"])
        task = current.main_task()
        if task is not None:
            comment = f"Imported by task id: {task.id}" + (f"\n{comment}" if comment else "")
            name = name or f"Imported by {task.name or ''}"
            project = project or task.get_project_name()
        manifest = _new_manifest(
            name=name or _stem(url) or "Imported model",
            project=project,
            task_id=None,
            framework=framework,
            tags=tags,
            comment=comment or "",
            design=design or "",
            labels=labels,
        )
        manifest["weights"] = {"url": url, "file": _safe_file_name(url.split("?", 1)[0]), "package": bool(is_package)}
        if is_package:
            manifest["system_tags"] = [PACKAGE_TAG]
        manifest["published"] = bool(create_as_published)
        if project:
            db.ensure_project(project)
        stored = db.create(manifest)
        model = cls.__new__(cls)
        BaseModel.__init__(model, db=db, model_id=stored["id"], manifest=stored)
        return model

    @classmethod
    def load_model(cls, weights_url: str, load_archived: bool = False) -> InputModel | None:
        """The model registered with this weights URL, or None."""
        if not isinstance(weights_url, str) or not weights_url.strip():
            raise ValueError(f"weights_url must be a non-empty URL or path, got {weights_url!r:.80}")
        found = _query(model_db(), uri=_normalize_url(weights_url), include_archived=load_archived)
        return cls(model_id=found[0]["id"]) if found else None

    @classmethod
    def empty(
        cls,
        config_text: str | None = None,
        config_dict: dict | None = None,
        label_enumeration: Mapping[str, int] | None = None,
    ) -> InputModel:
        """A model that is not stored: connecting it only gives the task its design and labels."""
        model = cls.__new__(cls)
        BaseModel.__init__(model, db=model_db(), model_id=None)
        model._pending = {
            "kind": "model",
            "id": None,
            "name": "empty",
            "design": _resolve_design(config_text, config_dict) or "",
            "labels": _labels(label_enumeration) if label_enumeration is not None else {},
            "tags": [],
            "system_tags": [],
            "weights": None,
            "metadata": {},
        }
        return model

    @property
    def id(self) -> str:
        return self._id if self._id is not None else self._EMPTY_MODEL_ID

    def connect(self, task: Task, name: str | None = None, ignore_remote_overrides: bool = False) -> None:
        """Use this model as an input model of ``task`` under ``name`` (default: the weights file name without
        extension, or "Input Model"). Under an agent, the input model stored on the task under that name
        replaces this one (unless ``ignore_remote_overrides``). The task takes the model's design and labels if
        it has none."""
        task = _resolve_task(task)
        self._task = task
        if name is not None:
            _name(name, "input model name")
        if self._id is None:  # InputModel.empty()
            _copy_design_and_labels(task, self._data, design=True, labels=True)
            return
        name = name or _weights_stem(self._data) or DEFAULT_INPUT_NAME
        if task._remote_overrides():
            from fstrack.sdk.parameters import IGNORE_MARKER

            if task._use_remote(f"{name}/{IGNORE_MARKER}input_model_", ignore_remote_overrides):
                stored = task.input_models_id
                chosen = stored.get(name) or next(iter(stored.values()), None)
                if chosen:
                    self._id, self._manifest = chosen, None
                    self.reload()
                    return
        elif ignore_remote_overrides:
            from fstrack.sdk.parameters import IGNORE_MARKER

            task._use_remote(f"{name}/{IGNORE_MARKER}input_model_", True)
        task.set_input_model(model_id=self._id, name=name)


def _normalize_url(url: str) -> str:
    url = url.strip()
    local = _local_path(url)
    if local is not None:
        return os.path.abspath(os.path.expanduser(local))
    return url


def _new_manifest(
    *,
    name: str,
    project: str | None,
    task_id: str | None,
    framework: str | None,
    tags: list[str],
    comment: str,
    design: str,
    labels: dict[str, int],
    parent: str | None = None,
) -> dict:
    from fstrack.capture.execution import user_name
    from fstrack.store.objects import new_token

    return {
        "kind": "model",
        "id": new_token(),
        "name": name,
        "project": project,
        "task": task_id,
        "framework": framework,
        "tags": tags,
        "system_tags": [],
        "comment": comment,
        "design": design,
        "labels": labels,
        "weights": None,
        "iteration": None,
        "published": False,
        "archived": False,
        "parent": parent,
        "user": user_name(),
        "created": time.time(),
        "metadata": {},
        "last_metrics": {},
        "last_iteration": 0,
    }


def _copy_design_and_labels(task: Task, data: Mapping[str, Any], *, design: bool, labels: bool) -> None:
    """Give ``task`` the model's design and labels where the task has none (ClearML's rule)."""
    if design and data.get("design") and not task.get_model_design():
        task._set_model_design(data["design"])
    if labels and data.get("labels") and not task.get_labels_enumeration():
        task.set_model_label_enumeration(dict(data["labels"]))


class OutputModel(BaseModel):
    """A model a task produces. It is stored (and listed on the task) on first need: ``update_weights``,
    ``publish``, metadata, reports, or reading ``id``."""

    _default_output_uri: ClassVar[str | None] = None

    def __init__(
        self,
        task: Task | None = None,
        config_text: str | None = None,
        config_dict: dict | None = None,
        label_enumeration: Mapping[str, int] | None = None,
        name: str | None = None,
        tags: Sequence[str] | None = None,
        comment: str | None = None,
        framework: str | None = None,
        base_model_id: str | None = None,
    ) -> None:
        task = _resolve_task(task)
        design = _resolve_design(config_text, config_dict)
        if design is None:
            design = task.get_model_design() or ""
        labels = _labels(label_enumeration) if label_enumeration is not None else task.get_labels_enumeration()
        if name is not None:
            _name(name)
        tags = _tags(tags)
        _opt_str(comment, "comment")
        framework = _framework(framework)
        super().__init__(db=model_db(task._db), task=task)
        self._connect_name: str | None = None
        self._upload_uri: str | None = None
        action = f"{'Overwritten' if base_model_id else 'Created'} by task id: {task.id}"
        full_comment = f"{action}\n{comment}" if comment else action
        project = task.get_project_name()
        if base_model_id is None:
            self._pending = _new_manifest(
                name=name or task.name,
                project=project,
                task_id=task.id,
                framework=framework,
                tags=tags,
                comment=full_comment,
                design=design,
                labels=labels,
            )
            return
        self._id = check_model_id(base_model_id)
        self._manifest = self._db.load(self._id)

        def overwrite(m: dict) -> None:
            old = m.get("comment") or ""
            m.update(
                labels=dict(labels),
                design=design,
                task=task.id,
                project=project,
                name=name or m.get("name") or task.name,
                tags=tags or m.get("tags") or [],
                framework=framework or m.get("framework"),
                comment=f"{old}\n{full_comment}" if old and full_comment not in old else (old or full_comment),
            )

        self._edit(overwrite, fields={"labels", "design", "task", "project", "name", "comment", "tags", "framework"})
        self._register(self._connect_name or _weights_stem(self._data) or DEFAULT_OUTPUT_NAME)

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self._materialize()

    def _ensure_id(self) -> str:
        return self._materialize()

    def _materialize(self, entry_name: str | None = None) -> str:
        """Store the model (if it is not yet) and list it on its task."""
        with self._lock:
            if self._id is None:
                pending = self._pending
                assert pending is not None
                if pending.get("project"):
                    self._db.ensure_project(pending["project"])
                name = entry_name or self._connect_name or DEFAULT_OUTPUT_NAME
                parent = pending.get("parent") or self._input_named(name)
                stored = self._db.create(dict(pending, created=time.time(), parent=parent))
                self._id, self._manifest, self._pending = stored["id"], stored, None
                self._register(entry_name or self._connect_name or DEFAULT_OUTPUT_NAME)
            return self._id

    def _input_named(self, entry_name: str) -> str | None:
        """The task's input model listed under the same name (ClearML's ``parent`` of an output model)."""
        if self._task is None:
            return None
        return self._task.input_models_id.get(entry_name)

    def _register(self, entry_name: str) -> None:
        if self._task is not None:
            self._task._add_model_entry("output", self.id, entry_name)

    @property
    def published(self) -> bool:
        return self._pending is None and bool(self._data.get("published"))

    def _check_editable(self) -> None:
        if self.published:
            raise ModelLockedError(f"model {self._id} is published and cannot be changed")

    def connect(self, task: Task, name: str | None = None, **kwargs: Any) -> None:
        """Name this model on its task (``name``: the model's name *on the task*). The task takes the model's
        design and labels if it has none."""
        task = _resolve_task(task)
        if task is not self._task and task != self._task:
            raise ValueError("an OutputModel can only be connected to the task it was created for")
        if name is not None:
            self._connect_name = _name(name, "output model name")
        _copy_design_and_labels(task, self._data, design=True, labels=True)
        if self._id is not None and name is not None:
            self._register(name)

    # -- design and labels -----------------------------------------------------------------------
    @property
    def config_text(self) -> str:
        return self._data.get("design") or ""

    @config_text.setter
    def config_text(self, value: str) -> None:
        self.update_design(config_text=value)

    @property
    def config_dict(self) -> dict:
        return _text_to_dict(self.config_text)

    @config_dict.setter
    def config_dict(self, value: dict) -> None:
        self.update_design(config_dict=value)

    @property
    def labels(self) -> dict[str, int]:
        return dict(self._data.get("labels") or {})

    @labels.setter
    def labels(self, value: Mapping[str, int]) -> None:
        self.update_labels(value)

    @property
    def upload_storage_uri(self) -> str | None:
        """Where weights are uploaded: this model's destination, the class default, the task's output
        destination (its ``output_uri``, else ``FSTRACK_DEFAULT_OUTPUT_URI``), or (None) the task's own store."""
        if self._upload_uri or type(self)._default_output_uri:
            return self._upload_uri or type(self)._default_output_uri
        if self._task is None:
            return None
        target = getattr(self._task, "_artifact_target", None)  # ArtifactsMixin: the same rule as artifacts
        return target() if callable(target) else self._task.output_uri

    def update_design(self, config_text: str | None = None, config_dict: dict | None = None) -> bool:
        """Replace the model's design (text, or a dict stored as JSON text); the task takes it if it has none."""
        self._check_editable()
        design = _resolve_design(config_text, config_dict) or ""
        if self._task is not None and not self._task.get_model_design():
            self._task._set_model_design(design)
        self._set("design", design)
        return True

    def update_labels(self, labels: Mapping[str, int]) -> bool:
        """Replace the label enumeration (also the task's, as ClearML does)."""
        labels = _labels(labels)
        self._check_editable()
        if self._task is not None:
            self._task.set_model_label_enumeration(labels)
        self._set("labels", labels)
        return True

    def set_upload_destination(self, uri: str) -> None:
        """Upload this model's weights to ``uri`` (an fsspec URL used as an fstrack store) from now on."""
        if not uri:
            return
        if not isinstance(uri, str):
            raise TypeError(f"upload destination must be a URL string, got {uri!r:.80}")
        self._check_editable()
        self._upload_uri = uri

    @classmethod
    def set_default_upload_uri(cls, output_uri: str | None) -> None:
        """The upload destination of every OutputModel without its own (before the task's output_uri)."""
        if output_uri is not None and not isinstance(output_uri, str):
            raise TypeError(f"output_uri must be a URL string or None, got {output_uri!r:.80}")
        cls._default_output_uri = output_uri or None

    @classmethod
    def wait_for_uploads(cls, timeout: float | None = None, max_num_uploads: int | None = None) -> None:
        """Wait for this process's background weights uploads (``max_num_uploads`` is accepted and ignored)."""
        wait_for_uploads(timeout)

    # -- weights ---------------------------------------------------------------------------------
    def update_weights(
        self,
        weights_filename: str | os.PathLike | None = None,
        upload_uri: str | None = None,
        target_filename: str | None = None,
        auto_delete_file: bool = True,
        register_uri: str | None = None,
        iteration: int | None = None,
        update_comment: bool = True,
        is_package: bool = False,
        async_enable: bool = True,
    ) -> str:
        """Store a weights file (or register a URL) as the model's weights; returns the weights URL.

        The file is copied once into the store while hashed (identical bytes are one object, whoever stores
        them); on object stores the upload runs in the background unless ``async_enable=False`` (the model
        shows the new weights once they are stored). ``auto_delete_file`` deletes the local file once stored,
        as ClearML does. A folder is packaged (see :meth:`update_weights_package`). ``iteration`` defaults to
        the task's last iteration.
        """
        if (weights_filename is None) == (register_uri is None):
            raise ValueError(
                "update_weights needs either a local weights file (weights_filename) or a URL "
                "(register_uri), not both and not neither"
            )
        for value, what in (
            (upload_uri, "upload_uri"),
            (target_filename, "target_filename"),
            (register_uri, "register_uri"),
        ):
            _opt_str(value, what)
        iteration = _iteration(iteration)
        self._check_editable()
        if weights_filename is not None:
            if not isinstance(weights_filename, (str, os.PathLike)):
                raise TypeError(
                    f"weights_filename must be a path, got {type(weights_filename).__name__} {weights_filename!r:.80}"
                )
            weights_filename = os.fspath(weights_filename)
            if os.path.isdir(weights_filename):
                return self.update_weights_package(
                    weights_path=weights_filename,
                    upload_uri=upload_uri,
                    target_filename=target_filename or os.path.basename(weights_filename.rstrip("/")),
                    auto_delete_file=auto_delete_file,
                    iteration=iteration,
                    async_enable=async_enable,
                )
            if not os.path.isfile(weights_filename):
                raise FileNotFoundError(f"weights file {weights_filename!r} does not exist")
        source = target_filename or weights_filename or register_uri
        entry_name = self._connect_name or _stem(source) or DEFAULT_OUTPUT_NAME
        if iteration is None and self._task is not None:
            iteration = self._task.get_last_iteration()
        note = f"snapshot {weights_filename or register_uri} stored" if update_comment else None
        framework = framework_for_file(source)
        if upload_uri:
            self.set_upload_destination(upload_uri)
        if register_uri is not None:
            self._materialize(entry_name)
            url = _normalize_url(register_uri)
            self._apply_weights(
                {"url": url, "file": _safe_file_name(url.split("?", 1)[0]), "package": bool(is_package)},
                iteration,
                note,
                framework,
                entry_name,
                is_package,
            )
            return url
        assert weights_filename is not None
        home = self._db.store
        dest = _destination(home, self.upload_storage_uri)
        digest, size, staged = _stage(dest, weights_filename)
        file_name = _safe_file_name(target_filename or weights_filename)
        from fstrack.records.metrics import object_url

        url = object_url(dest, digest)
        if dest is home:
            weights = {"object": BlobId(digest), "size": size, "file": file_name, "package": bool(is_package)}
        else:
            weights = {
                "url": url,
                "store": dest.url,
                "hash": digest,
                "size": size,
                "file": file_name,
                "package": bool(is_package),
            }
        local_file = weights_filename
        background = async_enable and dest.backend.concurrent_io
        if not (background and writeback.failure() is not None):
            try:
                self._materialize(entry_name)  # listed on the task now; while the store fails, by the uploads thread
            except Exception as exc:
                if not (background and writeback.is_store_failure(exc)):
                    raise

        def finish() -> None:  # on the uploads thread when async: a failing store never blocks the caller
            model_id = self._materialize(entry_name)
            oid = BlobId(digest)
            existed = dest.has(oid)
            if not existed:
                _store_staged(dest, staged, oid)
            if dest is not home:  # a root in that store before the manifest names it
                _pin(dest, model_id, {"model": model_id, "weights": oid, "time": time.time()})
            self._apply_weights(weights, iteration, note, framework, entry_name, is_package)
            if existed:  # the GC protocol: what we deduplicated against may have been collected meanwhile
                if dest.has(oid):
                    _discard(staged)
                else:
                    _store_staged(dest, staged, oid)
            if auto_delete_file:
                try:
                    os.unlink(local_file)
                except OSError:
                    pass

        if background:
            _UPLOADS.submit(finish, on_failure=lambda: _discard(staged), name=str(local_file))
        else:
            try:
                finish()
            except BaseException:
                _discard(staged)
                raise
        return url

    def _apply_weights(
        self,
        weights: dict,
        iteration: int | None,
        note: str | None,
        framework: str | None,
        entry_name: str,
        is_package: bool,
    ) -> None:
        parent = self._input_named(entry_name)

        def fn(m: dict) -> None:
            if not m.get("parent") and parent and parent != m.get("id"):
                m["parent"] = parent
            m["weights"] = copy.deepcopy(weights)
            m["iteration"] = iteration
            if note:
                old = m.get("comment") or ""
                m["comment"] = f"{note}\n{old}" if old else note
            if not m.get("framework") and framework:
                m["framework"] = framework
            if is_package:
                m["system_tags"] = list(dict.fromkeys([*(m.get("system_tags") or []), PACKAGE_TAG]))

        self._edit(fn, fields={"weights", "iteration", "comment", "framework", "system_tags", "parent"})
        self._register(entry_name)

    def update_weights_package(
        self,
        weights_filenames: Sequence[str] | None = None,
        weights_path: str | os.PathLike | None = None,
        upload_uri: str | None = None,
        target_filename: str | None = None,
        auto_delete_file: bool = True,
        iteration: int | None = None,
        async_enable: bool = True,
    ) -> str:
        """Store several files (``weights_filenames``) or a folder (``weights_path``) as one zip package.

        The zip is deterministic (sorted entries, fixed times and modes), so the same files give the same
        object. ``auto_delete_file`` deletes the packaged files (and the folder, if it ends up empty)."""
        if (not weights_filenames) == (weights_path is None):
            raise ValueError(
                "update_weights_package needs either weights_filenames (a list of files) or "
                "weights_path (a folder), not both and not neither"
            )
        if weights_path is not None:
            if not isinstance(weights_path, (str, os.PathLike)):
                raise TypeError(f"weights_path must be a folder path, got {weights_path!r:.80}")
            root = os.fspath(weights_path)
            if not os.path.isdir(root):
                raise FileNotFoundError(f"weights_path {root!r} is not a folder")
            files = sorted(str(p) for p in Path(root).rglob("*") if p.is_file())
        else:
            if isinstance(weights_filenames, (str, os.PathLike)) or not isinstance(weights_filenames, Sequence):
                raise TypeError(f"weights_filenames must be a list of file paths, got {weights_filenames!r:.80}")
            files = [os.fspath(f) for f in weights_filenames]
            missing = [f for f in files if not os.path.isfile(f)]
            if missing:
                raise FileNotFoundError(f"weights files not found: {missing[:5]}")
            root = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files]) if len(files) > 1 else None
        if target_filename and not target_filename.lower().endswith(".zip"):
            target_filename += ".zip"
        fd, package = tempfile.mkstemp(prefix="fstrack-model-package-", suffix=".zip")
        os.close(fd)
        try:
            with zipfile.ZipFile(package, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                entries = sorted(
                    (os.path.relpath(os.path.abspath(f), os.path.abspath(root)) if root else os.path.basename(f), f)
                    for f in files
                )
                for arcname, path in entries:
                    info = zipfile.ZipInfo(Path(arcname).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                    info.external_attr = 0o644 << 16
                    with open(path, "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
            self._check_editable()
            self.comment = (
                f"snapshot {[os.fspath(f) for f in files]} stored\n{self.comment}"
                if self.comment
                else f"snapshot {[os.fspath(f) for f in files]} stored"
            )
            url = self.update_weights(
                weights_filename=package,
                upload_uri=upload_uri,
                target_filename=target_filename or "model_package.zip",
                auto_delete_file=True,
                iteration=iteration,
                update_comment=False,
                is_package=True,
                async_enable=async_enable,
            )
        except BaseException:
            if os.path.exists(package):
                os.unlink(package)
            raise
        if auto_delete_file:
            for path in files:
                try:
                    os.unlink(path)
                except OSError:
                    pass
            if weights_path is not None:
                for folder in sorted((str(p) for p in Path(root).rglob("*") if p.is_dir()), reverse=True):
                    try:
                        os.rmdir(folder)
                    except OSError:
                        pass
                try:
                    os.rmdir(root)
                except OSError:
                    pass
        return url


# -- the task's models ------------------------------------------------------------------------------------
class ModelsList(list):
    """The input or output models of a task: a list (in order) that is also indexable by name on the task."""

    def __init__(self, models: Mapping[str, BaseModel]):
        self._by_name = OrderedDict(models)
        super().__init__(self._by_name.values())

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, str):
            return self._by_name[item]
        return super().__getitem__(item)

    def get(self, key: str, default: Any = None) -> Any:
        return self._by_name.get(key, default)

    def keys(self) -> Any:
        return self._by_name.keys()

    def items(self) -> Any:
        return self._by_name.items()


class TaskModels(dict):
    """``{"input": ModelsList, "output": ModelsList}`` with ``.input`` and ``.output`` properties."""

    def __init__(self, task: Any) -> None:
        db = model_db(task._db)
        models = task._data.get("models") or {}
        lists = {}
        for kind in ("input", "output"):
            lists[kind] = ModelsList(
                OrderedDict((e["name"], Model._lazy(db, e["model"])) for e in models.get(kind) or () if e.get("model"))
            )
        super().__init__(lists)

    @property
    def input(self) -> ModelsList:
        return self["input"]

    @property
    def output(self) -> ModelsList:
        return self["output"]


if TYPE_CHECKING:  # the host contract, for the type checker only (see fstrack.sdk.host)
    from fstrack.sdk.host import ModelsHost
else:
    ModelsHost = object


class ModelsMixin(ModelsHost):
    """The model half of ``Task``. Host contract: ``id``, ``name``, ``_db``, ``_data``, ``_edit(fn, fields=)``,
    ``get_project_name()``, ``get_last_iteration()``, ``output_uri``, ``_remote_overrides()``, and the
    configuration/label methods of :class:`fstrack.sdk.parameters.ParametersMixin`."""

    def _as_task(self) -> Task:
        """This object as the :class:`~fstrack.sdk.task.Task` it is (``Task`` is the only class that inherits this
        mixin), for the calls that hand the task to a model or use its configuration methods."""
        return cast("Task", self)

    # -- the manifest's models lists -------------------------------------------------------------------
    def _add_model_entry(self, kind: str, model_id: str, name: str) -> None:
        """List ``model_id`` under ``name`` in ``models[kind]``: an entry with the same name is replaced (as
        is, for outputs, an entry of the same model)."""
        entry = {"model": model_id, "name": name}

        def fn(m: dict) -> None:
            models = m.setdefault("models", {"input": [], "output": []})
            current = list(models.get(kind) or [])
            if entry in current:
                return
            kept = [e for e in current if e.get("name") != name and (kind == "input" or e.get("model") != model_id)]
            models[kind] = [*kept, entry]

        self._edit(fn, fields={"models"})

    @property
    def models(self) -> TaskModels:
        """``{"input": [...], "output": [...]}`` of :class:`Model` objects; each list is also indexable by name
        (``task.models.output["best"]``, ``task.models["output"][-1]``)."""
        return self.get_models()

    def get_models(self) -> TaskModels:
        return TaskModels(self)

    @property
    def input_models_id(self) -> dict[str, str]:
        """``{name on the task: model id}`` of the input models."""
        return {e["name"]: e["model"] for e in (self._data.get("models") or {}).get("input") or ()}

    @property
    def output_models_id(self) -> dict[str, str]:
        """``{name on the task: model id}`` of the output models."""
        return {e["name"]: e["model"] for e in (self._data.get("models") or {}).get("output") or ()}

    def _connect_model(self, model: Any, name: str | None = None) -> Any:
        """``Task.connect(model)``: an InputModel becomes an input model (and the task's comment says
        "Using model id: ..."), an OutputModel is named on this task."""
        if isinstance(model, OutputModel):
            model.connect(self._as_task(), name=name)
            return model
        if isinstance(model, BaseModel):
            if not isinstance(model, InputModel):
                model = _as_input_model(model)
            if model._id is not None:
                line = f"Using model id: {model._id}"

                def note(m: dict) -> None:
                    comment = m.get("comment") or ""
                    if line not in comment.splitlines():
                        m["comment"] = (
                            f"{comment}\n{line}" if comment and not comment.endswith("\n") else f"{comment}{line}"
                        )

                self._edit(note, fields={"comment"})
            model.connect(self._as_task(), name=name)
            return model
        raise TypeError(f"connect() takes an InputModel or OutputModel here, got {type(model).__name__}")

    def set_input_model(
        self,
        model_id: str | None = None,
        model_name: str | None = None,
        update_task_design: bool = True,
        update_task_labels: bool = True,
        name: str | None = None,
    ) -> None:
        """Use a stored model as an input model, by id or by (exact) name among published models. ``name`` is
        its name on the task (default: the weights file name without extension, or "Input Model"). The task
        takes the model's design / labels when it has none and ``update_task_design`` / ``update_task_labels``."""
        db = model_db(self._db)
        if model_id is None and not model_name:
            raise ValueError("set_input_model needs model_id or model_name")
        if name is not None:
            _name(name, "input model name")
        if model_id is None:
            found = _query(db, model_name=_opt_str(model_name, "model_name"), only_published=True, max_results=1)
            if not found:
                raise ModelNotFoundError(f"no published model named {model_name!r} in store {db.store.url!r}")
            model_id = found[0]["id"]
        model = Model._lazy(db, check_model_id(model_id))
        data = model._data  # raises ModelNotFoundError for an unknown id
        name = name or _weights_stem(data) or DEFAULT_INPUT_NAME
        self._add_model_entry("input", model_id, name)
        _copy_design_and_labels(self._as_task(), data, design=update_task_design, labels=update_task_labels)

    def remove_input_models(self, models_to_remove: Sequence[str | BaseModel]) -> None:
        """Stop listing these models (ids or model objects) as input models; the models stay in the store."""
        if isinstance(models_to_remove, (str, BaseModel)) or not isinstance(models_to_remove, Iterable):
            raise TypeError(f"models_to_remove must be a list of model ids or models, got {models_to_remove!r:.80}")
        ids = set()
        for item in models_to_remove:
            if isinstance(item, BaseModel):
                ids.add(item._id)
            elif isinstance(item, str):
                ids.add(item)
            else:
                raise TypeError(f"models_to_remove must hold model ids or models, got {type(item).__name__}")

        def fn(m: dict) -> None:
            models = m.setdefault("models", {"input": [], "output": []})
            models["input"] = [e for e in models.get("input") or () if e.get("model") not in ids]

        self._edit(fn, fields={"models"})

    def update_output_model(
        self,
        model_path: str,
        name: str | None = None,
        comment: str | None = None,
        tags: Sequence[str] | None = None,
        model_name: str | None = None,
        iteration: int | None = None,
        auto_delete_file: bool = True,
    ) -> str:
        """Store a weights file or folder (or register a URL) as a new output model; returns the weights URL.

        The model is named ``model_name``, else "<task name> - <name>", else the task's name; on the task it
        is listed as ``name`` (default: the file name without extension)."""
        if not isinstance(model_path, (str, os.PathLike)):
            raise TypeError(f"model_path must be a path or URL, got {type(model_path).__name__} {model_path!r:.80}")
        model_path = os.fspath(model_path)
        model = OutputModel(
            task=self._as_task(),
            name=model_name or (f"{self._as_task().name} - {name}" if name else self._as_task().name),
            tags=tags,
            comment=comment,
        )
        model.connect(self._as_task(), name=name)
        if _is_url(model_path):
            return model.update_weights(register_uri=model_path, iteration=iteration)
        return model.update_weights(weights_filename=model_path, iteration=iteration, auto_delete_file=auto_delete_file)

    # -- design ----------------------------------------------------------------------------------------
    def get_model_design(self) -> str:
        """The task's model design text (its "General" configuration object, as in ClearML)."""
        entry = (self._data.get("configuration") or {}).get(DESIGN_SECTION) or {}
        return entry.get("value") or ""

    def _set_model_design(self, design: str) -> None:
        self._as_task().set_configuration_object(DESIGN_SECTION, config_text=design)

    def update_model_desc(self, new_model_desc_file: str | os.PathLike | None = None) -> bool:
        """Replace the task's model design by the text of a file."""
        if new_model_desc_file is None or not os.path.isfile(new_model_desc_file):
            raise FileNotFoundError(f"model description file {new_model_desc_file!r} cannot be found")
        with open(new_model_desc_file, encoding="utf-8") as f:
            self._set_model_design(f.read())
        return True

    def save_exec_model_design_file(self, filename: str = "model_design.txt", use_cache: bool = False) -> str:
        """Write the task's model design to ``<cache>/tasks/<task id>/<filename>`` and return the path."""
        if (
            not isinstance(filename, str)
            or not filename
            or os.path.basename(filename) != filename
            or filename in (".", "..")
        ):
            raise ValueError(f"filename must be a plain file name, got {filename!r:.80}")
        path = os.path.join(cache_root(), "tasks", self.id, filename)
        if use_cache and os.path.isfile(path):
            return path
        design = self.get_model_design()
        if not design:
            raise ValueError(f"task {self.id} has no model design")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        staged = f"{path}.{os.getpid()}.tmp"
        with open(staged, "w", encoding="utf-8") as f:
            f.write(design)
        os.replace(staged, path)
        return path

    def set_model_config(self, config_text: str | None = None, config_dict: Mapping | None = None) -> None:
        """Deprecated (use ``connect_configuration``): set the model design from text or a dict."""
        terminal.warn(
            "set_model_config is deprecated: use Task.connect_configuration", DeprecationWarning, stacklevel=2
        )
        design = _resolve_design(config_text, config_dict)
        self._set_model_design(design or "")

    def get_model_config_text(self) -> str:
        """Deprecated (use ``connect_configuration``): the model design text."""
        terminal.warn(
            "get_model_config_text is deprecated: use Task.connect_configuration", DeprecationWarning, stacklevel=2
        )
        return self.get_model_design()

    def get_model_config_dict(self) -> dict:
        """Deprecated (use ``connect_configuration``): the model design parsed as JSON/HOCON."""
        terminal.warn(
            "get_model_config_dict is deprecated: use Task.connect_configuration", DeprecationWarning, stacklevel=2
        )
        return _text_to_dict(self.get_model_design())

    # -- deletion (for Task.delete) ------------------------------------------------------------------
    def _delete_output_models(
        self, skip_models_used_by_other_tasks: bool = True, callback: Callable[[str, str], bool] | None = None
    ) -> list[str]:
        """Delete (tombstone) the models this task lists as outputs; returns their ids. A model another task
        lists is kept when ``skip_models_used_by_other_tasks``; ``callback("model", url)`` may veto one."""
        db = model_db(self._db)
        removed = []
        for entry in (self._data.get("models") or {}).get("output") or ():
            model = Model._lazy(db, entry["model"])
            try:
                url = model.url or ""
            except LookupError:
                continue
            if callback is not None and not callback("model", url):
                continue
            if skip_models_used_by_other_tasks and _tasks_using(db, model.id, exclude=self.id):
                continue
            try:
                db.delete(model.id)
                removed.append(model.id)
            except LookupError:
                pass
        return removed


def _as_input_model(model: BaseModel) -> InputModel:
    copy_ = InputModel.__new__(InputModel)
    BaseModel.__init__(copy_, db=model._db, model_id=model._id, manifest=model._manifest)
    return copy_
