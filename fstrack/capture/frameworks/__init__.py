"""``auto_connect_frameworks``: what training code reports through its frameworks lands in the task.

:func:`connect` is called by ``Task.init`` with the task and its ``auto_connect_frameworks`` value:

* ``True`` (default): every supported framework is hooked; ``False`` or ``{}``: none.
* a dict: ``{framework: bool}``, or a wildcard string / list of wildcards instead of a bool. Keys missing from
  the dict default to True (ClearML's rule). With wildcards, only model files whose path matches one of them
  are registered: a wildcard without ``/`` is matched against the file name (``"*.pt"``), one with ``/``
  against the end of the path (``"checkpoints/*.pt"``). ``{"tensorboard": {"report_hparams": False}}`` keeps
  TensorBoard capture but not its hparams.

One module of this package per framework (see :data:`SUPPORTED`); each exposes ``patch(module_name, module)``
and is imported only when its framework is, through one :class:`~fstrack.capture.import_hooks.AfterImport`
hook, so a framework the script never imports costs nothing. A framework imported before ``Task.init`` is
patched by it; one imported later, right after its import. Patched code checks the bound task on every call
and does nothing more than the original once the task is closed or the key is switched off.

Saved model files become (the first time that path is saved by the task) an output model named
``"<task name> - <file name without extension>"``, listed on the task under the file name without extension;
saving the same path again stores new weights in the same model. The file is copied into the store right
away, so the script may overwrite or delete it afterwards. A failure to capture never fails the user's call:
it is reported as a warning.

The parser-like libraries (``hydra``, ``jsonargparse``, ``fire``, ``absl``) parse before ``Task.init`` in most
scripts: their hooks are installed when ``fstrack`` is imported (:func:`install_parser_hooks`), remember the
parse, and hand it to the task when there is one (under an agent, the agent's task, whose stored values then
replace the parsed ones).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from fstrack import terminal
from fstrack.capture.frameworks import _core, environment
from fstrack.capture.frameworks._core import matches_any_wildcard, should_connect
from fstrack.capture.import_hooks import AfterImport

if TYPE_CHECKING:  # pragma: no cover
    from fstrack.sdk.task import Task

__all__ = [
    "connect",
    "disconnect",
    "should_connect",
    "matches_any_wildcard",
    "register_saved_file",
    "install_parser_hooks",
    "set_remote_task_loader",
    "SUPPORTED",
    "UNSUPPORTED",
]


class Framework(NamedTuple):
    modules: tuple[str, ...]  # importing any of these patches it
    handler: str  # module of this package with patch(module_name, module)
    model_framework: str  # recorded on the models it registers
    also_off_by: tuple[str, ...] = ()  # other keys that switch it off too


#: ``auto_connect_frameworks`` key -> what is hooked
SUPPORTED: dict[str, Framework] = {
    "pytorch": Framework(("torch",), "pytorch", "PyTorch"),
    "joblib": Framework(("joblib",), "joblib", "ScikitLearn", ("scikit",)),
    "tensorboard": Framework(
        ("torch.utils.tensorboard.writer", "tensorboardX.writer", "tensorflow"), "tensorboard", "PyTorch"
    ),
    "tensorflow": Framework(("keras",), "keras", "Keras"),
    "lightning": Framework(
        ("lightning.pytorch.trainer.trainer", "pytorch_lightning.trainer.trainer"), "lightning", "PyTorch", ("pytorch",)
    ),
    "fastai": Framework(("fastai.learner",), "fastai", "PyTorch"),
    "gradio": Framework(("gradio.blocks",), "gradio", ""),
    "xgboost": Framework(("xgboost",), "xgboost", "XGBoost"),
    "lightgbm": Framework(("lightgbm",), "lightgbm", "LightGBM"),
    "catboost": Framework(("catboost",), "catboost", "CatBoost"),
}
#: the parser-like libraries, hooked from ``import fstrack`` on (they parse before Task.init in most scripts)
PARSERS: dict[str, Framework] = {
    "hydra": Framework(("hydra._internal.hydra",), "hydra", ""),
    "jsonargparse": Framework(("jsonargparse",), "jsonargparse", ""),
    "fire": Framework(("fire.core",), "fire", ""),
    "tfdefines": Framework(("absl.flags",), "absl", ""),
}
#: keys ClearML knows that fstrack does not support, with the reason
UNSUPPORTED: dict[str, str] = {
    "megengine": "MegEngine is not supported by fstrack (no maintained CPU wheels to test it against); "
    "models it saves are not captured",
}


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
    task: Task,
    auto_connect_frameworks: bool | Mapping[str, Any] = True,
    *,
    output_model: Callable[..., Any],
    input_model: Callable[..., Any] | None = None,
) -> None:
    """Capture what ``task``'s frameworks report (see the module docstring). ``output_model(task=, name=,
    framework=)`` makes an output model (the SDK's ``OutputModel``) and ``input_model(task, path, framework)``
    records a loaded file as an input model: passed in so that capture never imports the SDK."""
    option = _check_option(auto_connect_frameworks)
    if isinstance(option, Mapping):
        for key, reason in UNSUPPORTED.items():
            if key in option:
                terminal.warn(f"fstrack: auto_connect_frameworks[{key!r}] is ignored: {reason}", stacklevel=3)
    with _core.state.lock:
        _core.state.task = task
        _core.state.option = option
        _core.state.output_model = output_model
        _core.state.input_model = input_model
    for handler in list(_loaded_handlers.values()):
        if hasattr(handler, "reset"):
            handler.reset()
    for key, framework in SUPPORTED.items():
        if _core.enabled(key, option):
            _hook.apply(framework.modules)
    _core.connect_pending_parameters(task)
    try:
        environment.connect(task)
    except Exception as exc:  # noqa: BLE001
        _core.warn("could not record the environment variables named in FSTRACK_LOG_ENVIRONMENT", exc)


def disconnect(task: Task | None = None) -> None:
    """Stop capturing (for ``task``, or whatever task is connected)."""
    with _core.state.lock:
        if task is None or _core.state.task is task:
            _core.state.task = None
            _core.state.option = False


def register_saved_file(path: str, key: str, framework: str | None = None) -> Any:
    """Store ``path`` as the weights of the output model the bound task keeps for it (see the module
    docstring); returns the model, or None when nothing was registered."""
    return _core.register_saved_file(path, key, framework)


# -- the one after-import hook ----------------------------------------------------------------------------
for _key, _framework in SUPPORTED.items():
    _core.state.model_framework[_key] = _framework.model_framework
    _core.state.also_off_by[_key] = _framework.also_off_by

_handlers_of: dict[str, list[str]] = {}
for _framework in (*SUPPORTED.values(), *PARSERS.values()):
    for _module in _framework.modules:
        _handlers_of.setdefault(_module, []).append(_framework.handler)
_loaded_handlers: dict[str, Any] = {}
_patched: set[str] = set()


def _patch(name: str, module: Any) -> None:
    with _core.state.lock:
        if name in _patched:
            return
        _patched.add(name)
        for handler_name in _handlers_of[name]:
            try:
                handler = _loaded_handlers.get(handler_name)
                if handler is None:
                    handler = importlib.import_module(f"{__name__}.{handler_name}")
                    _loaded_handlers[handler_name] = handler
                handler.patch(name, module)
            except Exception as exc:  # noqa: BLE001 - a framework we cannot hook is skipped
                terminal.warn(f"fstrack: could not hook {name} for automatic capture: {exc}", stacklevel=3)


_hook = AfterImport(_handlers_of, _patch, done=lambda name: name in _patched)
_parser_hooks_installed = False


def install_parser_hooks() -> None:
    """Hook the parser-like libraries (now if imported, else when they are): idempotent and cheap."""
    global _parser_hooks_installed
    if _parser_hooks_installed:
        return
    _parser_hooks_installed = True
    _hook.apply([module for framework in PARSERS.values() for module in framework.modules])


def set_remote_task_loader(loader: Callable[[], Any] | None) -> None:
    """Register ``loader() -> task or None``: the task an agent runs, for parses made before ``Task.init``."""
    _core.state.remote_task_loader = loader
