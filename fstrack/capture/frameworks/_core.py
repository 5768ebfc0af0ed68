"""What every framework module shares: the bound task, the option, registering saved files as models."""

from __future__ import annotations

import fnmatch
import functools
import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from fstrack import terminal

if TYPE_CHECKING:  # pragma: no cover
    from fstrack.sdk.task import Task


class State:
    """Process-wide: the task reports go to, the ``auto_connect_frameworks`` value, what the SDK handed in."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.task: Task | None = None
        self.option: bool | Mapping[str, Any] = False
        self.models: dict[tuple[str, str], Any] = {}  # (task id, absolute path) -> OutputModel
        self.output_model: Callable[..., Any] | None = None  # the SDK's OutputModel, given to connect()
        self.input_model: Callable[..., Any] | None = None  # the SDK's InputModel.import_model, given to connect()
        self.local = threading.local()
        self.remote_task_loader: Callable[[], Any] | None = None  # the agent's task before Task.init
        #: extra keys that also turn a framework off (ClearML: "scikit" turns joblib off)
        self.also_off_by: dict[str, tuple[str, ...]] = {}
        #: the framework name recorded on models saved through a key
        self.model_framework: dict[str, str] = {}


state = State()


def should_connect(option: bool | Mapping[str, Any], *keys: str) -> bool:
    """ClearML's evaluation of ``auto_connect_frameworks[keys[0]]...[keys[-1]]``: a bool decides, an empty dict
    is False, a missing key is True, anything else (a wildcard string or list) counts as True."""
    value: Any = option
    for key in keys:
        if not isinstance(value, Mapping):
            return bool(value)
        if not value:
            return False
        value = value.get(key, True)
    return bool(value)


def enabled(key: str, option: bool | Mapping[str, Any] | None = None) -> bool:
    option = state.option if option is None else option
    return should_connect(option, key) and all(
        should_connect(option, extra) for extra in state.also_off_by.get(key, ())
    )


def bound_task() -> Task | None:
    """The task capture reports to, or None (no task, or it is closed)."""
    task = state.task
    if task is None or getattr(task, "_closed", False):
        return None
    return task


def active(key: str) -> Task | None:
    """The bound task if ``key`` is switched on for it, else None: the test every hook makes first."""
    task = state.task
    if task is None or getattr(task, "_closed", False) or not enabled(key):
        return None
    return task


def wildcards(option: bool | Mapping[str, Any], key: str) -> list[str]:
    if not isinstance(option, Mapping):
        return []
    patterns: list[str] = []
    for name in (key, *state.also_off_by.get(key, ())):
        value = option.get(name)
        if isinstance(value, str):
            patterns.append(value)
        elif isinstance(value, (list, tuple)):
            patterns.extend(str(v) for v in value)
    return patterns


def matches_any_wildcard(path: str, patterns: list[str]) -> bool:
    """True if ``path`` matches one of ``patterns`` (a pattern without ``/`` is matched against the file name,
    one with ``/`` against the end of the path); an empty list matches all."""
    if not patterns:
        return True
    posix = os.path.abspath(path).replace(os.sep, "/")
    name = posix.rsplit("/", 1)[-1]
    for pattern in patterns:
        pattern = pattern.replace("\\", "/")
        if "/" in pattern:
            if fnmatch.fnmatchcase(posix, pattern) or fnmatch.fnmatchcase(posix, "*/" + pattern.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def warn(what: str, exc: BaseException) -> None:
    terminal.warn(f"fstrack: {what}: {type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=3)


# -- models ------------------------------------------------------------------------------------------------
def saved_path(target: Any) -> str | None:
    """The local file a save call wrote to, if it names one (a path, or an open file with a real name)."""
    if isinstance(target, (str, os.PathLike)):
        path = os.fspath(target)
        return path if isinstance(path, str) else None
    name = getattr(target, "name", None)
    if isinstance(name, str) and os.path.isfile(name):
        flush = getattr(target, "flush", None)
        if callable(flush):
            try:
                flush()
            except (OSError, ValueError):
                return None
        return name
    return None


def register_saved_file(path: str, key: str, framework: str | None = None) -> Any:
    """Store ``path`` (a file, or a folder such as a SavedModel) as the weights of the output model the bound
    task keeps for that path (creating it on the first save); returns the model, or None when nothing was
    registered."""
    task = bound_task()
    if task is None or not enabled(key):
        return None
    path = os.path.abspath(path)
    if not os.path.exists(path) or not matches_any_wildcard(path, wildcards(state.option, key)):
        return None
    stem = os.path.splitext(os.path.basename(path.rstrip(os.sep)))[0] or "model"
    with state.lock:
        model = state.models.get((task.id, path))
        if model is None or model._task is not task:
            assert state.output_model is not None  # connect() sets it with the task
            model = state.output_model(
                task=task, name=f"{task.name} - {stem}", framework=framework or state.model_framework.get(key)
            )
            model._connect_name = stem
            state.models[(task.id, path)] = model
    if os.path.isdir(path):
        model.update_weights_package(weights_path=path, auto_delete_file=False)
    else:
        model.update_weights(
            weights_filename=path, target_filename=os.path.basename(path), auto_delete_file=False, update_comment=False
        )
    return model


def after_save(key: str, target: Any, framework: str | None = None) -> None:
    """Register the file a framework just saved to (never raising: a failure is a warning)."""
    if getattr(state.local, "busy", False):
        return
    state.local.busy = True
    try:
        path = saved_path(target)
        if path is not None:
            register_saved_file(path, key, framework)
    except Exception as exc:  # noqa: BLE001 - registering must never break the user's save
        warn(f"could not register the model saved to {target!r:.200}", exc)
    finally:
        state.local.busy = False


def after_load(key: str, target: Any, framework: str | None = None) -> None:
    """Record the file a framework just loaded as an input model of the bound task (never raising)."""
    task = active(key)
    if task is None or state.input_model is None or getattr(state.local, "busy", False):
        return
    state.local.busy = True
    try:
        path = saved_path(target)
        if path is not None and os.path.exists(path):
            if matches_any_wildcard(path, wildcards(state.option, key)):
                state.input_model(task, os.path.abspath(path), framework or state.model_framework.get(key))
    except Exception as exc:  # noqa: BLE001
        warn(f"could not record the model loaded from {target!r:.200}", exc)
    finally:
        state.local.busy = False


def wrap(original: Callable, after: Callable[..., None]) -> Callable:
    """``original`` followed by ``after(result, *args, **kwargs)`` while a task is bound (idempotent)."""
    if getattr(original, "__fstrack_original__", None) is not None:
        return original

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if state.task is not None:
            after(result, *args, **kwargs)
        return result

    wrapper.__fstrack_original__ = original  # type: ignore[attr-defined]
    return wrapper


def patch_method(owner: Any, name: str, after: Callable[..., None]) -> None:
    """Replace ``owner.name`` by ``wrap(owner.name, after)`` if it exists."""
    original = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
    if original is not None and callable(original):
        setattr(owner, name, wrap(original, after))


# -- parameters from parser-like libraries -----------------------------------------------------------------
#: (key, section) -> values parsed before Task.init, connected when a task binds
pending_parameters: dict[tuple[str, str], dict[str, Any]] = {}
#: (key, name) -> (text, type, description) of configuration objects made before Task.init
pending_configurations: dict[tuple[str, str], tuple[str, str, str]] = {}
_remote: dict[str, Any] = {}


def task_for_parameters(key: str) -> Any:
    """The task parsed values go to: the bound one, else (under an agent, before ``Task.init``) the agent's."""
    task = bound_task()
    if task is not None:
        return task if enabled(key) else None
    if "task" not in _remote:
        loader = state.remote_task_loader
        try:
            _remote["task"] = loader() if loader is not None else None
        except Exception as exc:  # noqa: BLE001 - never break the user's parsing
            warn("could not load the agent's task to apply its parameters", exc)
            _remote["task"] = None
    return _remote["task"] if should_connect(state.option or True, key) else None


def connect_parameters(key: str, section: str, values: dict[str, Any]) -> dict[str, Any] | None:
    """Record ``values`` (parsed by the library of ``key``) as parameters ``<section>/<name>``. Returns the values
    the script must use instead (the task's stored ones, under an agent), or None to keep the parsed ones."""
    task = task_for_parameters(key)
    if task is None:
        if state.task is None:
            pending_parameters[(key, section)] = dict(values)
        return None
    connected = task.connect(dict(values), name=section)
    return dict(connected) if task._remote_overrides() else None


def set_configuration(key: str, name: str, text: str, config_type: str, description: str) -> None:
    """Store configuration object ``name`` in the task parameters go to (or when one binds)."""
    task = task_for_parameters(key)
    if task is None:
        if state.task is None:
            pending_configurations[(key, name)] = (text, config_type, description)
        return
    task.set_configuration_object(name, config_text=text, config_type=config_type, description=description)


def connect_pending_parameters(task: Any) -> None:
    """Called when ``task`` binds: connect what was parsed before."""
    while pending_configurations:
        (key, name), (text, config_type, description) = pending_configurations.popitem()
        if enabled(key):
            try:
                task.set_configuration_object(name, config_text=text, config_type=config_type, description=description)
            except Exception as exc:  # noqa: BLE001
                warn(f"could not record the {key} configuration made before Task.init", exc)
    while pending_parameters:
        (key, section), values = pending_parameters.popitem()
        if enabled(key):
            try:
                task.connect(values, name=section)
            except Exception as exc:  # noqa: BLE001
                warn(f"could not record the {key} parameters parsed before Task.init", exc)


def plain(value: Any) -> Any:
    """``value`` if a parameter can hold it as it is, else its text."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)) and all(v is None or isinstance(v, (str, int, float, bool)) for v in value):
        return list(value)
    item = getattr(value, "item", None)  # numpy / torch scalars
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError, RuntimeError):
            pass
    return str(value)
