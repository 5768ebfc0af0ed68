"""``auto_connect_frameworks``: models saved with ``torch.save`` or ``joblib.dump`` become output models.

:func:`connect` is called by ``Task.init`` with the task and its ``auto_connect_frameworks`` value:

* ``True`` (default): every supported framework is hooked; ``False`` or ``{}``: none.
* a dict: ``{framework: bool}``, or a wildcard string / list of wildcards instead of a bool. Keys missing from
  the dict default to True (ClearML's rule). With wildcards, only files whose path matches one of them are
  registered: a wildcard without ``/`` is matched against the file name (``"*.pt"``), one with ``/`` against
  the end of the path (``"checkpoints/*.pt"``).

Supported: ``pytorch`` (``torch.save``, ``torch.serialization.save``) and ``joblib`` (``joblib.dump``, also
used by scikit-learn; turned off by ``"scikit": False`` too, as in ClearML; wildcards may be given under
either key). A framework that is not installed is skipped silently; one imported after ``Task.init`` is hooked
right after its import.

Each saved file becomes (the first time that path is saved by the task) an :class:`~fstrack.sdk.models.OutputModel`
named ``"<task name> - <file name without extension>"`` and listed on the task under the file name without
extension; saving the same path again stores new weights in the same model. The file is copied into the store
right away (the upload to an object store then runs in the background), so the script may overwrite or
delete it afterwards. A failure to register never fails the save: it is reported as a warning.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import sys
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from fstrack.capture.import_hooks import AfterImport

if TYPE_CHECKING:  # pragma: no cover
    from fstrack.sdk.task import Task

__all__ = ["connect", "disconnect", "should_connect", "matches_any_wildcard", "SUPPORTED"]

#: option key -> (module to hook, framework recorded on the model, extra keys that can turn it off)
SUPPORTED: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "pytorch": ("torch", "PyTorch", ()),
    "joblib": ("joblib", "ScikitLearn", ("scikit",)),
}


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.task: Task | None = None
        self.option: bool | Mapping[str, Any] = False
        self.models: dict[tuple[str, str], Any] = {}  # (task id, absolute path) -> OutputModel
        self.output_model: Callable[..., Any] | None = None  # the SDK's OutputModel, given to connect()
        self.local = threading.local()


_state = _State()


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


def _wildcards(option: bool | Mapping[str, Any], key: str) -> list[str]:
    if not isinstance(option, Mapping):
        return []
    patterns: list[str] = []
    for name in (key, *SUPPORTED[key][2]):
        value = option.get(name)
        if isinstance(value, str):
            patterns.append(value)
        elif isinstance(value, (list, tuple)):
            patterns.extend(str(v) for v in value)
    return patterns


def matches_any_wildcard(path: str, wildcards: list[str]) -> bool:
    """True if ``path`` matches one of ``wildcards`` (see the module docstring); an empty list matches all."""
    if not wildcards:
        return True
    posix = os.path.abspath(path).replace(os.sep, "/")
    name = posix.rsplit("/", 1)[-1]
    for pattern in wildcards:
        pattern = pattern.replace("\\", "/")
        if "/" in pattern:
            if fnmatch.fnmatchcase(posix, pattern) or fnmatch.fnmatchcase(posix, "*/" + pattern.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def _check_option(option: Any) -> bool | Mapping[str, Any]:
    if isinstance(option, bool):
        return option
    if not isinstance(option, Mapping):
        raise TypeError(
            f"auto_connect_frameworks must be True, False or a dict, got {type(option).__name__} {option!r:.80}"
        )
    for key, value in option.items():
        if not isinstance(key, str):
            raise TypeError(f"auto_connect_frameworks keys must be framework names, got {key!r}")
        if not isinstance(value, (bool, str, list, tuple, Mapping)) or (
            isinstance(value, (list, tuple)) and not all(isinstance(v, str) for v in value)
        ):
            raise TypeError(
                f"auto_connect_frameworks[{key!r}] must be a bool, a wildcard string, a list of "
                f"wildcards or a dict, got {value!r:.80}"
            )
    return option


def connect(
    task: Task, auto_connect_frameworks: bool | Mapping[str, Any] = True, *, output_model: Callable[..., Any]
) -> None:
    """Register the models ``task`` saves through the supported frameworks (see the module docstring).
    ``output_model(task=, name=, framework=)`` makes an output model (the SDK's ``OutputModel``, passed in so
    that capture never imports the SDK)."""
    option = _check_option(auto_connect_frameworks)
    with _state.lock:
        _state.task = task
        _state.option = option
        _state.output_model = output_model
    for key, (module, _framework, _extra) in SUPPORTED.items():
        if _enabled(key, option):
            _hook.apply([module])


def disconnect(task: Task | None = None) -> None:
    """Stop registering models (for ``task``, or whatever task is connected)."""
    with _state.lock:
        if task is None or _state.task is task:
            _state.task = None
            _state.option = False


def _enabled(key: str, option: bool | Mapping[str, Any] | None = None) -> bool:
    option = _state.option if option is None else option
    return should_connect(option, key) and all(should_connect(option, extra) for extra in SUPPORTED[key][2])


# -- registering a saved file -------------------------------------------------------------------------------
def _bound_task() -> Task | None:
    task = _state.task
    if task is None or getattr(task, "_closed", False):
        return None
    return task


def _saved_path(target: Any) -> str | None:
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
    """Store ``path`` as the weights of the output model the bound task keeps for that path (creating it on
    the first save); returns the model, or None when nothing was registered."""
    task = _bound_task()
    if task is None or not _enabled(key):
        return None
    path = os.path.abspath(path)
    if not os.path.isfile(path) or not matches_any_wildcard(path, _wildcards(_state.option, key)):
        return None
    stem = os.path.splitext(os.path.basename(path))[0] or "model"
    with _state.lock:
        model = _state.models.get((task.id, path))
        if model is None or model._task is not task:
            assert _state.output_model is not None  # connect() sets it with the task
            model = _state.output_model(
                task=task, name=f"{task.name} - {stem}", framework=framework or SUPPORTED[key][1]
            )
            model._connect_name = stem
            _state.models[(task.id, path)] = model
    model.update_weights(
        weights_filename=path, target_filename=os.path.basename(path), auto_delete_file=False, update_comment=False
    )
    return model


def _after_save(key: str, target: Any, framework: str | None = None) -> None:
    if getattr(_state.local, "busy", False):
        return
    _state.local.busy = True
    try:
        path = _saved_path(target)
        if path is not None:
            register_saved_file(path, key, framework)
    except Exception as exc:  # noqa: BLE001 - registering must never break the user's save
        warnings.warn(
            f"fstrack: could not register the model saved to {target!r:.200}: {type(exc).__name__}: {exc}",
            RuntimeWarning,
            stacklevel=3,
        )
    finally:
        _state.local.busy = False


# -- the hooks ---------------------------------------------------------------------------------------------------
def _wrap(original: Callable, after: Callable[..., None]) -> Callable:
    if getattr(original, "__fstrack_original__", None) is not None:
        return original

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if _state.task is not None:
            after(result, *args, **kwargs)
        return result

    wrapper.__fstrack_original__ = original  # type: ignore[attr-defined]
    return wrapper


def _torch_saved(_result: Any, obj: Any = None, f: Any = None, *args: Any, **kwargs: Any) -> None:
    if f is None:
        f = kwargs.get("f")
    _after_save("pytorch", f)


def _joblib_framework(value: Any) -> str:
    module = type(value).__module__ or ""
    for prefix, framework in (("xgboost", "XGBoost"), ("lightgbm", "LightGBM"), ("catboost", "CatBoost")):
        if module.startswith(prefix):
            return framework
    return "ScikitLearn"


def _joblib_dumped(result: Any, value: Any = None, filename: Any = None, *args: Any, **kwargs: Any) -> None:
    if filename is None:
        filename = kwargs.get("filename")
    names = result if isinstance(result, (list, tuple)) and result else [filename]
    for name in names[:1]:  # joblib >= 0.12 writes one file (older versions listed companions after it)
        _after_save("joblib", name, _joblib_framework(value))


def _patch_torch(torch: Any) -> None:
    serialization = getattr(torch, "serialization", None)
    original = getattr(torch, "save", None)
    if original is None:
        return
    wrapped = _wrap(original, _torch_saved)
    torch.save = wrapped
    if serialization is not None and getattr(serialization, "save", None) is original:
        serialization.save = wrapped


def _patch_joblib(joblib: Any) -> None:
    original = getattr(joblib, "dump", None)
    if original is None:
        return
    wrapped = _wrap(original, _joblib_dumped)
    joblib.dump = wrapped
    numpy_pickle: Any = sys.modules.get("joblib.numpy_pickle")  # a third-party module we patch
    if numpy_pickle is not None and getattr(numpy_pickle, "dump", None) is original:
        numpy_pickle.dump = wrapped


_PATCHERS: dict[str, Callable[[Any], None]] = {"torch": _patch_torch, "joblib": _patch_joblib}
_patched: set[str] = set()


def _patch(name: str, module: Any) -> None:
    with _state.lock:
        if name in _patched:
            return
        try:
            _PATCHERS[name](module)
            _patched.add(name)
        except Exception as exc:  # noqa: BLE001 - a framework we cannot hook is skipped
            warnings.warn(f"fstrack: could not hook {name} for automatic model logging: {exc}", stacklevel=3)


_hook = AfterImport(_PATCHERS, _patch, done=lambda name: name in _patched)
