"""Hyperparameters, configuration objects and label enumerations of a task (ClearML's ``Task`` API).

:class:`ParametersMixin` is inherited by :class:`fstrack.Task`. It implements ``connect``,
``get_parameter(s)``, ``set_parameter(s)``, ``update_parameters``, ``delete_parameter``,
``get/set_parameters_as_dict``, ``connect_configuration``, ``get_configuration_object(s)``,
``get_configuration_object_as_dict``, ``set_configuration_object``, ``connect_label_enumeration``,
``get_labels_enumeration``, ``set_model_label_enumeration``, ``get_num_of_classes`` and
``get_label_num_description``, plus the argparse and click bindings.

Manifest sections owned by this module
--------------------------------------
``manifest["hyperparams"]``: ``{section: {name: {"value": str, "type": str, "description": str}}}``
    ClearML's layout. A parameter's full name is ``"Section/name"``; a name given without a section
    goes to ``"General"``. Nested dicts connected with ``connect`` are flattened with ``/``, so
    ``{"model": {"depth": 3}}`` connected as ``name="Train"`` is section ``Train``, name
    ``model/depth``. argparse and click arguments go to section ``Args``.

    ``value`` is the text ClearML would store: ``""`` for ``None``, ``json.dumps`` for
    lists/tuples/dicts, the member name for an ``Enum``, ``str(value)`` otherwise (``"True"``,
    ``"0.1"``).

    ``type`` is the Python type name used by ``cast=True``: ``"int"``, ``"float"``, ``"bool"``,
    ``"str"``, ``"NoneType"``, ``"list"``/``"tuple"``/``"dict"`` (with ``"/<element type>"`` appended
    when every element, or every dict value, has one type: ``"list/int"``, ``"dict/float"``), an
    ``Enum`` class's name, or the name of another type whose value is kept as text. ``""`` (written by
    old ClearML tasks) casts ``""`` to ``None`` and anything else to the text; ``"legacy"`` marks
    pre-sections ClearML parameters (only in imported tasks). Writing a *string* over a parameter that
    already has a type keeps the type (the way a value edited as text in a UI keeps its type);
    writing a non-string value records that value's type.

    ``description`` is free text (``""`` when none).

``manifest["configuration"]``: ``{name: {"value": str, "type": str, "description": str}}``
    One configuration object per name (default name ``"General"``). A dict or list given to
    ``connect_configuration``/``set_configuration_object`` is stored as JSON text (indent 2) with type
    ``"dictionary"``; a connected file keeps its text and its type is the file's last suffix without
    the dot (``"yaml"``, ``"json"``, ``"conf"``) or ``"file"``; ``set_configuration_object(config_type=)``
    stores any type string given. ``get_configuration_object_as_dict`` parses JSON and HOCON.

``manifest["labels"]``: ``{label: int}``
    The label enumeration (``connect_label_enumeration`` / ``set_model_label_enumeration``).

argparse and click
------------------
``argparse.ArgumentParser.parse_known_args`` (which ``parse_args`` calls) and
``click.core.Command.parse_args`` are wrapped when this module is imported (or, if argparse/click
are imported later, right after they are). Every outermost parse in the process is remembered;
``Task.init`` connects the ones made before it, and later ones are connected as they happen, per
``auto_connect_arg_parser`` (``True``, ``False``/``{}``, or ``{dest: bool}`` with an optional
``"*"`` default). An argparse argument is ``Args/<dest>`` holding the *parsed* value (every
namespace entry, sub-commands' included); its description is the argument's help. A click option of
a lone command is ``Args/<param>``; under a group it is ``Args/<command>/<param>``, and each
command of the group is ``Args/<command>`` = ``True`` (invoked) / ``False`` with type
``"click.Command"``. Under an agent, stored ``Args`` values become the parser's defaults (a stored
argument is no longer required) and then replace the parsed values, cast as the argument's action
would cast them; arguments the store lacks are recorded.

Remote overrides
----------------
When the host ``Task`` reports ``_remote_overrides()`` (it runs under an agent and the user did not
pass ``ignore_remote_overrides`` to ``Task.init``), ``connect``, ``connect_configuration``,
``connect_label_enumeration`` and the argparse/click bindings return the values stored in the task
instead of the code's, with their types. As in ClearML, a per-call ``ignore_remote_overrides=True``
given while running locally is remembered in the task as parameter
``"<section>/_ignore_remote_overrides_"`` (``..._config_`` for configurations,
``General/_ignore_remote_overrides_label_enumeration_`` for labels), so the agent's run ignores the
stored values for that call too.

Host contract
-------------
The class that inherits the mixin provides what :class:`fstrack.sdk.host.ParametersHost` declares (and mypy
checks): ``_data`` (the current manifest, read-only), ``_edit(fn, fields=...)`` (applies the pure ``fn(manifest)``
to a fresh copy of the newest manifest, atomically; an exception inside ``fn`` stores nothing and propagates),
``_remote_overrides() -> bool``, ``_connect_model(model, name)`` for objects with a ``_fstrack_model`` attribute,
and optionally ``running_locally()``. ``Task.init`` calls :func:`bind_arg_parsers` with the task and its
``auto_connect_arg_parser`` value, and the task's ``close`` calls :func:`unbind_arg_parsers`.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Self

from fstrack import terminal
from fstrack.capture.import_hooks import AfterImport
from fstrack.errors import FstrackError, InvalidNameError

__all__ = [
    "ParametersMixin",
    "ConnectedDict",
    "UnsupportedTypeError",
    "encode_value",
    "decode_value",
    "type_name",
    "flatten_dict",
    "unflatten_dict",
    "bind_arg_parsers",
    "unbind_arg_parsers",
    "install_parser_hooks",
    "set_remote_task_loader",
    "DEFAULT_SECTION",
    "ARGS_SECTION",
    "CONFIG_DICT_TYPE",
    "CLICK_COMMAND_TYPE",
]

log = logging.getLogger("fstrack")

DEFAULT_SECTION = "General"
ARGS_SECTION = "Args"
SEP = "/"
CONFIG_DICT_TYPE = "dictionary"
CLICK_COMMAND_TYPE = "click.Command"
LEGACY_TYPE = "legacy"
IGNORE_MARKER = "_ignore_remote_overrides_"
_IGNORE_DESCRIPTION = (
    "If True, ignore UI/backend overrides when running remotely. "
    "Set it to False if you would like the overrides to be applied"
)


class UnsupportedTypeError(FstrackError, TypeError, ValueError):
    """An object of a type the call cannot take (a ``TypeError`` and, as ClearML raises, a ``ValueError``)."""


class _NoChange(Exception):
    """Raised inside an edit function when the manifest would not change: nothing is written."""


# ----------------------------------------------------------------------------------------------
# value encoding
# ----------------------------------------------------------------------------------------------

_BASIC = (str, int, float, bool, type(None))


def _normalize(value: Any) -> tuple[bool, Any]:
    """``(True, value)`` with numpy scalars/arrays and str/int/float subclasses made plain, or
    ``(False, value)`` when the value cannot be a parameter (ClearML's allowed types: str, int,
    float, bool, None, Enum, and lists/tuples/dicts of those)."""
    if value is None or type(value) in (str, int, float, bool):
        return True, value
    if isinstance(value, Enum):
        return True, value
    module = type(value).__module__
    if module == "numpy" or module.startswith("numpy."):
        try:
            value = value.tolist() if hasattr(value, "shape") and getattr(value, "shape", ()) != () else value.item()
        except Exception:  # noqa: BLE001
            return False, value
        return _normalize(value)
    if isinstance(value, bool):
        return True, bool(value)
    if isinstance(value, str):
        return True, str(value)
    if isinstance(value, int):
        return True, int(value)
    if isinstance(value, float):
        return True, float(value)
    if isinstance(value, (list, tuple)):
        items = []
        for item in value:
            ok, item = _normalize(item)
            if not ok:
                return False, value
            items.append(item)
        return True, (tuple(items) if isinstance(value, tuple) else items)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            ok_k, k = _normalize(k)
            ok_v, v = _normalize(v)
            if not (ok_k and ok_v) or isinstance(k, (list, dict)):
                return False, value
            out[k] = v
        return True, out
    return False, value


def type_name(value: Any) -> str:
    """The ``type`` recorded for ``value`` (see the module docstring)."""
    if value is None:
        return "NoneType"
    if isinstance(value, Enum):
        return type(value).__name__
    if isinstance(value, (list, tuple)):
        base = "tuple" if isinstance(value, tuple) else "list"
        if value:
            first = type(value[0])
            if all(type(v) is first for v in value):
                return f"{base}/{first.__name__}"
        return base
    if isinstance(value, dict):
        if value:
            values = list(value.values())
            first = type(values[0])
            if all(type(v) is first for v in values):
                return f"dict/{first.__name__}"
        return "dict"
    return type(value).__name__


def encode_value(value: Any) -> str:
    """The stored text of ``value``: ``""`` for None, JSON for lists/tuples/dicts, an Enum's member name,
    else ``str(value)``."""
    if value is None:
        return ""
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, (list, tuple, dict)):
        try:
            return json.dumps(value)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def _parse_container(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    stripped = text.strip()
    if stripped in ("", "()", "[]"):
        return []
    raise ValueError(text)


def _to_bool(text: str) -> bool:
    s = text.strip().lower()
    if s == "true":
        return True
    if s in ("false", ""):
        return False
    raise ValueError(f"not a boolean literal: {text!r}")


def decode_value(text: Any, type_str: str | None) -> Any:
    """``text`` cast back to the type named ``type_str``; when it cannot be, the text itself."""
    if text is None:
        return None
    if not isinstance(text, str):
        return text
    t = (type_str or "").strip()
    if not t or t == "NoneType":
        return None if text == "" else text
    base = t.split(SEP, 1)[0]
    lower = base.lower()
    if lower in ("list", "tuple", "dict"):
        try:
            parsed = _parse_container(text)
        except ValueError:
            return text
        if lower == "dict":
            return dict(parsed) if isinstance(parsed, dict) else text
        if not isinstance(parsed, (list, tuple)):
            return text
        return tuple(parsed) if lower == "tuple" else list(parsed)
    try:
        if lower == "str":
            return text
        if lower == "int":
            try:
                return int(text)
            except ValueError:
                f = float(text)
                if f.is_integer():
                    return int(f)
                raise
        if lower == "float":
            return float(text)
        if lower == "bool":
            return _to_bool(text)
    except (ValueError, OverflowError):
        return text
    return text


def _coerce_like(value: Any, like: Any) -> Any:
    """A stored (decoded) value adjusted to the kind of the code's value ``like`` where that is lossless."""
    if like is None or value is None:
        return value
    if isinstance(like, Enum):
        if isinstance(value, str):
            member = type(like).__members__.get(value)
            if member is not None:
                return member
        return value
    if isinstance(like, bool):
        if isinstance(value, str):
            try:
                return _to_bool(value)
            except ValueError:
                return value
        return value
    if isinstance(like, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(like, (int, float)) and isinstance(value, str):
        for caster in (int, float) if isinstance(like, int) else (float,):
            try:
                return caster(value)
            except ValueError:
                continue
        return value
    if isinstance(like, tuple) and isinstance(value, list):
        return tuple(value)
    if isinstance(like, list) and isinstance(value, tuple):
        return list(value)
    if isinstance(like, (list, tuple, dict)) and isinstance(value, str):
        try:
            parsed = _parse_container(value)
        except ValueError:
            return value
        if isinstance(like, dict):
            return parsed if isinstance(parsed, dict) else value
        if isinstance(parsed, (list, tuple)):
            return type(like)(parsed)
        return value
    if isinstance(like, PurePath) and isinstance(value, str):
        return type(like)(value)
    return value


# ----------------------------------------------------------------------------------------------
# flatten / unflatten
# ----------------------------------------------------------------------------------------------


#: How deeply dicts and lists may nest in what is connected or stored as configuration.
MAX_NESTING = 100


def check_keys(mapping: Mapping, where: str = "dictionary") -> None:
    """Raise :class:`UnsupportedTypeError` naming the first non-string key (nested dicts included), a dict or
    list that contains itself, or nesting deeper than :data:`MAX_NESTING`."""
    pending: list[tuple[Any, str, tuple[int, ...]]] = [(mapping, "", ())]
    while pending:
        value, path, ancestors = pending.pop()
        if id(value) in ancestors:
            raise UnsupportedTypeError(
                f"{where} contains itself at {path[:200]!r}: a recursive structure cannot be stored"
            )
        if len(ancestors) >= MAX_NESTING:
            raise UnsupportedTypeError(
                f"{where} nests deeper than {MAX_NESTING} levels (at {path[:120]!r}...): flatten it, or store it "
                "as an artifact"
            )
        inner = (*ancestors, id(value))
        if isinstance(value, Mapping):
            for k, v in value.items():
                if not isinstance(k, str):
                    raise UnsupportedTypeError(
                        f"{where} key {k!r} (of type {type(k).__name__}) at {path or 'top level'} is not supported: "
                        "parameter names must be str; convert the keys first, e.g. {str(k): v for k, v in d.items()}"
                    )
                if isinstance(v, (Mapping, list, tuple)):
                    pending.append((v, f"{path}{SEP}{k}" if path else k, inner))
        else:
            for i, v in enumerate(value):
                if isinstance(v, (Mapping, list, tuple)):
                    pending.append((v, f"{path}[{i}]", inner))


def _json_keys(value: Any) -> Any:
    """``value`` with the dict keys JSON would turn into text (int, float, bool, None) turned so already."""
    if isinstance(value, Mapping):
        return {
            (json.dumps(k) if isinstance(k, (int, float, bool)) or k is None else k): _json_keys(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_json_keys(v) for v in value]
    return value


def flatten_dict(a_dict: Mapping, prefix: str = "", sep: str = SEP) -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": 2}`` -> ``{"a/b": 1, "c": 2}``; an empty nested dict stays a ``{}`` value."""
    flat: dict[str, Any] = {}
    for k, v in a_dict.items():
        key = prefix + str(k)
        if isinstance(v, Mapping):
            if v:
                flat.update(flatten_dict(v, prefix=key + sep, sep=sep))
            else:
                flat[key] = {}
        else:
            flat[key] = v
    return flat


def unflatten_dict(flat: Mapping[str, Any], sep: str = SEP) -> dict[str, Any]:
    """``{"a/b": 1, "c": 2}`` -> ``{"a": {"b": 1}, "c": 2}``. Where a name is both a value and a prefix
    (``"a"`` and ``"a/b"``) the nested names win, as in ClearML."""
    out: dict[str, Any] = {}
    made: set[int] = set()  # ids of the dicts made here (alive inside ``out``)
    for key, value in flat.items():
        parts = key.split(sep)
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict) or id(child) not in made:
                child = {}
                made.add(id(child))
                node[part] = child
            node = child
        existing = node.get(parts[-1])
        if isinstance(existing, dict) and id(existing) in made:
            continue
        node[parts[-1]] = value
    return out


def _split_name(full_name: str) -> tuple[str, str]:
    if not isinstance(full_name, str):
        raise UnsupportedTypeError(
            f"parameter name {full_name!r} (of type {type(full_name).__name__}) is not "
            "supported: expected a str 'Section/name' (or 'name' for section General)"
        )
    if SEP in full_name:
        section, name = full_name.split(SEP, 1)
    else:
        section, name = DEFAULT_SECTION, full_name
    if not section or not name:
        raise InvalidNameError(
            f"parameter name {full_name!r} has an empty section or name: expected 'Section/name' or 'name'"
        )
    return section, name


def _section_of(name: str | None) -> str:
    if not name:
        return DEFAULT_SECTION
    if not isinstance(name, str):
        raise UnsupportedTypeError(
            f"section name {name!r} (of type {type(name).__name__}) is not supported: expected a str"
        )
    stripped = name.strip(SEP)
    if not stripped:
        raise InvalidNameError(f"section name {name!r} is empty once '/' is stripped")
    return stripped


def _prefixed(section: str, key: str) -> str:
    return f"{section}{SEP}{key}"


# ----------------------------------------------------------------------------------------------
# the dict returned by connect(dict) / connect_configuration(dict)
# ----------------------------------------------------------------------------------------------


class ConnectedDict(dict):
    """A ``dict`` that tells its task about every change (ClearML's ``ProxyDictPostWrite``).

    Returned by ``Task.connect(dict)`` and ``Task.connect_configuration(dict)``. Setting an item
    (also in a nested dict), ``update``, ``setdefault``, ``pop``, ``popitem``, ``clear`` and ``del``
    write the new content to the task. For connected parameters the write merges into the section
    (a deleted key stays stored, as in ClearML); for a configuration the whole object is replaced.
    Values inside lists are not watched. Pickling or ``copy.copy`` gives a plain dict;
    :meth:`to_dict` gives a plain nested copy.
    """

    __slots__ = ("_fs_notify",)

    def __init__(self, data: Any = (), _notify: Callable[[], None] | None = None, **kwargs: Any) -> None:
        super().__init__()
        self._fs_notify = None
        for k, v in dict(data, **kwargs).items():
            dict.__setitem__(self, k, self._wrap(v))
        self._fs_notify = _notify

    def _wrap(self, value: Any) -> Any:
        if isinstance(value, dict):
            return ConnectedDict(value, self._fs_fire)
        return value

    def _fs_fire(self) -> None:
        if self._fs_notify is not None:
            self._fs_notify()

    def __setitem__(self, key: Any, value: Any) -> None:
        dict.__setitem__(self, key, self._wrap(value))
        self._fs_fire()

    def __delitem__(self, key: Any) -> None:
        dict.__delitem__(self, key)
        self._fs_fire()

    def update(self, *args: Any, **kwargs: Any) -> None:
        for k, v in dict(*args, **kwargs).items():
            dict.__setitem__(self, k, self._wrap(v))
        self._fs_fire()

    def __ior__(self, other: Any) -> Self:  # type: ignore[misc]  # as typeshed's own dict.__ior__ (wider than __or__)
        self.update(other)
        return self

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key in self:
            return dict.__getitem__(self, key)
        dict.__setitem__(self, key, self._wrap(default))
        self._fs_fire()
        return dict.__getitem__(self, key)

    def pop(self, key: Any, *default: Any) -> Any:
        had = key in self
        value = dict.pop(self, key, *default)
        if had:
            self._fs_fire()
        return value

    def popitem(self) -> tuple:
        item = dict.popitem(self)
        self._fs_fire()
        return item

    def clear(self) -> None:
        dict.clear(self)
        self._fs_fire()

    def to_dict(self) -> dict:
        """A plain nested copy."""
        return {k: (v.to_dict() if isinstance(v, ConnectedDict) else v) for k, v in self.items()}

    _to_dict = to_dict  # ClearML's spelling

    def __reduce__(self) -> Any:
        return dict, (), None, None, iter(self.to_dict().items())

    def __copy__(self) -> dict:
        return dict(self)

    def __deepcopy__(self, memo: dict) -> dict:
        return copy.deepcopy(self.to_dict(), memo)

    def _fs_set_silently(self, flat: Mapping[str, Any], sep: str = SEP) -> None:
        """Write ``{"a/b": v}`` values into existing nested keys without notifying."""
        for key, value in flat.items():
            node: dict = self
            parts = key.split(sep)
            for part in parts[:-1]:
                child = node.get(part)
                if not isinstance(child, dict):
                    break
                node = child
            else:
                if parts[-1] in node:
                    dict.__setitem__(node, parts[-1], value)


def _assign_nested_in_place(target: dict, flat: Mapping[str, Any], sep: str = SEP) -> None:
    """Overwrite values of ``target`` (a nested dict) from ``flat`` (``{"a/b": v}``) in place."""
    for key, value in flat.items():
        node = target
        parts = key.split(sep)
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                break
            node = child
        else:
            if parts[-1] in node:
                node[parts[-1]] = value


# ----------------------------------------------------------------------------------------------
# argparse / click bindings (process-wide)
# ----------------------------------------------------------------------------------------------


class _Binding:
    """Process-wide state of the argparse/click hooks."""

    def __init__(self) -> None:
        self.task: Any = None  # the task parse results go to (Task.init / connect(parser))
        self.exclude: dict[str, bool] = {}  # auto_connect_arg_parser's dict form
        # every outermost argparse parse of this process: parser -> (recorded copy, live namespace)
        self.parsed: dict[int, tuple[Any, Any, Any]] = {}
        self.click_params: dict[str, tuple[Any, str, str]] = {}  # "Args/..." -> (value, type, description)
        self.local = threading.local()
        self.lock = threading.RLock()
        self.remote_task_loader: Callable[[], Any] | None = None
        self.remote_task: Any = None
        self.remote_task_loaded = False

    def bound_task(self) -> Any:
        task = self.task
        if task is not None and getattr(task, "_closed", False):
            self.task = None
            self.exclude = {}
            return None
        return task

    def included(self, key: str) -> bool:
        return bool(self.exclude.get(key, self.exclude.get("*", True)))

    def remote_task_before_init(self) -> Any:
        """Under an agent before ``Task.init``: the agent's task, from the registered loader (or None)."""
        if self.remote_task is not None or self.remote_task_loaded:
            return self.remote_task
        loader = self.remote_task_loader
        if loader is None:
            return None
        try:
            self.remote_task = loader()
        except Exception as exc:  # noqa: BLE001 - never break the user's parsing
            log.warning(
                "fstrack: could not load the agent's task to apply its arguments: %s", terminal.escape(str(exc))
            )
            self.remote_task_loaded = True  # do not try again
            self.remote_task = None
        return self.remote_task


_binding = _Binding()


def set_remote_task_loader(loader: Callable[[], Any] | None) -> None:
    """Register ``loader() -> task or None``: the task an agent runs, for argument parses that happen
    before ``Task.init`` (so that stored arguments override them there too)."""
    _binding.remote_task_loader = loader
    _binding.remote_task_loaded = False
    _binding.remote_task = None


def bind_arg_parsers(task: Any, auto_connect_arg_parser: Any = True) -> None:
    """Called by ``Task.init``: connect argparse/click parses to ``task`` per ``auto_connect_arg_parser``.

    ``True``: every argument; ``False`` or ``{}``: none; a dict ``{dest: bool}``: ``False`` excludes an
    argument, keys missing default to ``True`` unless ``"*": False`` is given. Parses that happened
    before this call (in this process) are connected now; later ones when they happen.
    """
    install_parser_hooks()
    with _binding.lock:
        if not auto_connect_arg_parser:
            if _binding.task is task:
                _binding.task = None
            return
        if auto_connect_arg_parser is not True and not isinstance(auto_connect_arg_parser, Mapping):
            raise UnsupportedTypeError(
                f"auto_connect_arg_parser={auto_connect_arg_parser!r} is not supported: expected True, False or a "
                "dict of argument name -> bool (with an optional '*' key)"
            )
        _binding.task = task
        _binding.exclude = dict(auto_connect_arg_parser) if isinstance(auto_connect_arg_parser, Mapping) else {}
        parsed = list(_binding.parsed.values())
        click_params = dict(_binding.click_params)
    for parser, recorded, live in parsed:
        try:
            task._connect_argparse(parser, parsed_args=recorded, live_namespace=live)
        except Exception as exc:  # noqa: BLE001
            log.warning(
                "fstrack: could not connect the arguments parsed before Task.init: %s", terminal.escape(str(exc))
            )
    if click_params:
        try:
            task._record_click_params(click_params)
        except Exception as exc:  # noqa: BLE001
            log.warning(
                "fstrack: could not connect the click parameters parsed before Task.init: %s", terminal.escape(str(exc))
            )


def unbind_arg_parsers(task: Any) -> None:
    """Called when ``task`` closes: later parses are no longer connected to it."""
    with _binding.lock:
        if _binding.task is task:
            _binding.task = None
            _binding.exclude = {}


def _parser_actions(parser: Any) -> dict[str, list]:
    """``dest -> [(parser, action)]`` over the parser and its sub-parsers."""
    import argparse

    found: dict[str, list] = {}
    seen: set[int] = set()

    def walk(p: Any) -> None:
        if id(p) in seen:
            return
        seen.add(id(p))
        for action in getattr(p, "_actions", ()):
            found.setdefault(action.dest, []).append((p, action))
            if isinstance(action, argparse._SubParsersAction):
                for choice in action.choices.values():
                    walk(choice)

    walk(parser)
    return found


def _subparser_selectors(parser: Any) -> dict[int, tuple[str, str, Any]]:
    """``id(sub-parser) -> (dest of its sub-parsers action, its command name, parent parser)``."""
    import argparse

    selectors: dict[int, tuple[str, str, Any]] = {}

    def walk(p: Any) -> None:
        for action in getattr(p, "_actions", ()):
            if isinstance(action, argparse._SubParsersAction):
                for command, choice in action.choices.items():
                    if id(choice) not in selectors and choice is not parser:
                        selectors[id(choice)] = (action.dest, command, p)
                        walk(choice)

    walk(parser)
    return selectors


def _selected(namespace: Any, owner: Any, root: Any, selectors: dict[int, tuple[str, str, Any]]) -> bool:
    """Whether ``owner`` (the root parser or one of its sub-parsers) is the command ``namespace`` chose."""
    import argparse

    seen = 0
    while owner is not root and seen < 32:
        selector = selectors.get(id(owner))
        if selector is None:
            return False
        dest, command, parent = selector
        if dest == argparse.SUPPRESS or getattr(namespace, dest, None) != command:
            return False
        owner, seen = parent, seen + 1
    return owner is root


def _arg_value_for_record(value: Any) -> Any:
    ok, value = _normalize(value)
    if ok:
        return value
    return str(value)


def _cast_for_action(action: Any, text: str, type_str: str) -> Any:
    """A stored argparse value cast the way the action would produce it."""
    import argparse

    value = decode_value(text, type_str)
    if isinstance(action, argparse._StoreConstAction) and (
        isinstance(action.const, bool) or isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction))
    ):
        if isinstance(value, str):
            try:
                return _to_bool(value)
            except ValueError:
                try:
                    return bool(int(value))
                except ValueError:
                    return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return bool(value)
        return value
    if isinstance(action, argparse._CountAction):
        if isinstance(value, str) and value.strip():
            try:
                return int(value)
            except ValueError:
                return value
        return value
    many = (
        action.nargs in ("+", "*", argparse.REMAINDER)
        or (isinstance(action.nargs, int))
        or isinstance(action, (argparse._AppendAction, argparse._ExtendAction))
    )
    if many:
        if isinstance(value, str):
            try:
                parsed = _parse_container(value)
                value = list(parsed) if isinstance(parsed, (list, tuple)) else [parsed]
            except ValueError:
                value = value.split() if value.strip() else []
        if isinstance(value, tuple):
            value = list(value)
        if isinstance(value, list) and callable(action.type) and action.type is not str:
            cast = []
            for item in value:
                if isinstance(item, str):
                    try:
                        item = _to_bool(item) if action.type is bool else action.type(item)
                    except Exception:  # noqa: BLE001
                        pass
                cast.append(item)
            value = cast
        return value
    if isinstance(value, str) and value != "" and action.type is not None and action.type is not str:
        try:
            return _to_bool(value) if action.type is bool else action.type(value)
        except Exception:  # noqa: BLE001
            return value
    if isinstance(value, str) and action.type is None and action.default is not None and value != "":
        return _coerce_like(value, action.default)
    return value


def _patched_parse_known_args(self: Any, args: Any = None, namespace: Any = None) -> Any:
    original = _ORIGINALS["argparse"]
    local = _binding.local
    if getattr(local, "depth", 0):  # a sub-parser, or a parse from inside our own code
        return original(self, args, namespace)
    local.depth = 1
    try:
        task = _binding.bound_task()
        if task is None and _agent_env_hint():
            task = _binding.remote_task_before_init()
        remote = False
        if task is not None:
            try:
                remote = bool(task._remote_overrides())
                if remote:
                    task._apply_args_to_parser(self)
            except Exception as exc:  # noqa: BLE001
                log.warning(
                    "fstrack: could not apply the stored arguments to the parser: %s", terminal.escape(str(exc))
                )
                remote = False
        result = original(self, args, namespace)
        live = result[0] if isinstance(result, tuple) else result
        try:
            if remote:
                task._apply_args_to_namespace(self, live)
            recorded = copy.copy(live)
            with _binding.lock:
                _binding.parsed.pop(id(self), None)
                _binding.parsed[id(self)] = (self, recorded, live)
                bound = _binding.bound_task()
            if bound is not None:
                bound._connect_argparse(self, parsed_args=recorded, live_namespace=live, _applied=remote)
        except Exception as exc:  # noqa: BLE001
            log.warning("fstrack: could not record the parsed arguments: %s", terminal.escape(str(exc)))
        return result
    finally:
        local.depth = 0


def _agent_env_hint() -> bool:
    """Whether a remote-task loader is worth asking (it is registered)."""
    return _binding.remote_task_loader is not None


def _click_param_entries(command: Any, ctx: Any) -> tuple[dict, dict, dict, bool]:
    """(values, types, descriptions, grouped) for the click command just parsed."""
    import click

    root = ctx.find_root()
    grouped = isinstance(root.command, click.Group)
    values: dict[str, Any] = {}
    types: dict[str, str] = {}
    descriptions: dict[str, str] = {}
    prefix = f"{command.name}{SEP}" if grouped else ""
    for p in command.params:
        if not getattr(p, "expose_value", True) or not p.name:
            continue
        key = f"{ARGS_SECTION}{SEP}{prefix}{p.name}"
        value = _arg_value_for_record(ctx.params.get(p.name))
        values[key] = value
        types[key] = type_name(value)
        if getattr(p, "help", None):
            descriptions[key] = str(p.help)
    if grouped:
        if isinstance(command, click.Group):
            for sub_name in getattr(command, "commands", {}):
                key = f"{ARGS_SECTION}{SEP}{sub_name}"
                if key not in _binding.click_params:
                    values[key] = False
                    types[key] = CLICK_COMMAND_TYPE
        else:
            key = f"{ARGS_SECTION}{SEP}{command.name}"
            values[key] = True
            types[key] = CLICK_COMMAND_TYPE
    return values, types, descriptions, grouped


def _patched_click_parse_args(original: Callable, self: Any, ctx: Any, args: Any) -> Any:
    result = original(self, ctx, args)
    try:
        task = _binding.bound_task()
        if task is None and _agent_env_hint():
            task = _binding.remote_task_before_init()
        values, types, descriptions, grouped = _click_param_entries(self, ctx)
        remote = task is not None and bool(task._remote_overrides())
        if remote:
            stored = task._section_entries(ARGS_SECTION)
            prefix = f"{self.name}{SEP}" if grouped else ""
            for p in self.params:
                if not getattr(p, "expose_value", True) or not p.name:
                    continue
                entry = stored.get(prefix + p.name)
                if entry is None or not _binding.included(p.name):
                    continue
                value = decode_value(entry.get("value"), entry.get("type"))
                try:
                    ctx.params[p.name] = p.process_value(ctx, value)
                except Exception as exc:  # noqa: BLE001
                    log.warning(
                        "fstrack: stored click parameter %s=%r could not be applied: %s",
                        p.name,
                        entry.get("value"),
                        terminal.escape(str(exc)),
                    )
            missing = {k: v for k, v in values.items() if k[len(ARGS_SECTION) + 1 :] not in stored}
            values = missing
        with _binding.lock:
            for key, value in values.items():
                _binding.click_params[key] = (value, types.get(key, type_name(value)), descriptions.get(key, ""))
            recorded = {k: _binding.click_params[k] for k in values}
        bound = _binding.bound_task()
        if bound is not None and recorded:
            bound._record_click_params(recorded)
    except Exception as exc:  # noqa: BLE001 - never break the user's command line
        log.warning("fstrack: could not record the click parameters: %s", terminal.escape(str(exc)))
    return result


_ORIGINALS: dict[str, Any] = {}


def _patch_argparse(module: Any) -> None:
    cls = module.ArgumentParser
    if getattr(cls, "_fstrack_patched", False):
        return
    _ORIGINALS["argparse"] = cls.parse_known_args
    cls.parse_known_args = _patched_parse_known_args
    cls._fstrack_patched = True


def _patch_click(core: Any) -> None:
    command = getattr(core, "Command", None)
    if command is None or getattr(command, "_fstrack_patched", False):
        return
    original = command.parse_args

    def parse_args(self: Any, ctx: Any, args: Any) -> Any:
        return _patched_click_parse_args(original, self, ctx, args)

    parse_args.__doc__ = original.__doc__
    parse_args.__wrapped__ = original  # type: ignore[attr-defined]
    command.parse_args = parse_args
    command._fstrack_patched = True


_PATCHERS = {"argparse": _patch_argparse, "click.core": _patch_click}


def _patch_parser_module(name: str, module: Any) -> None:
    try:
        _PATCHERS[name](module)
    except Exception as exc:  # noqa: BLE001 - a library we cannot hook is left as it is
        terminal.warn(f"fstrack: could not hook {name}: {exc}", stacklevel=2)


_parser_hook = AfterImport(_PATCHERS, _patch_parser_module)
_hooks_installed = False


def install_parser_hooks() -> None:
    """Hook argparse and click (now if imported, else when they are): idempotent and cheap."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    _parser_hook.apply()


# ----------------------------------------------------------------------------------------------
# the mixin
# ----------------------------------------------------------------------------------------------


def _warn_dropped(dropped: dict[str, str]) -> None:
    if dropped:
        log.warning(
            "fstrack: parameters must be of a basic type (str, int, float, bool, None, Enum, or "
            "lists/tuples/dicts of those); not stored: %s",
            ", ".join(f"{k}[{t}]" for k, t in dropped.items()),
        )


class _Arguments:
    """ClearML's internal ``task._arguments`` helper, as far as code outside ClearML calls it (HF Transformers'
    ``ClearMLCallback`` calls ``copy_from_dict``)."""

    def __init__(self, task: Any) -> None:
        self._task = task

    def copy_from_dict(self, dictionary: Mapping, prefix: str | None = None, **_ignored: Any) -> None:
        """Merge ``dictionary`` into the parameters under ``prefix`` (a section); values of other types than a
        parameter may have are stored as their text, as ClearML does."""
        head = f"{prefix.rstrip(SEP)}{SEP}" if prefix else ""
        values = {}
        for name, value in flatten_dict(dictionary).items():
            ok, plain = _normalize(value)
            values[f"{head}{name}"] = plain if ok else str(value)
        self._task.update_parameters(values)


if TYPE_CHECKING:  # the host contract, for the type checker only (see fstrack.sdk.host)
    from fstrack.sdk.host import ParametersHost
else:
    ParametersHost = object


class ParametersMixin(ParametersHost):
    """Parameters, configuration objects and labels of a task. See the module docstring."""

    @property
    def _arguments(self) -> _Arguments:
        """ClearML's internal arguments helper (see :class:`_Arguments`)."""
        return _Arguments(self)

    # -- internal helpers ---------------------------------------------------------------------

    def _edit_if_changed(self, fn: Callable[[dict], None], field: str) -> bool:
        """``self._edit(fn)``, telling the host which manifest ``field`` changes; False when ``fn`` found nothing
        to change and nothing was written."""
        try:
            self._edit(fn, fields=(field,))
        except _NoChange:
            return False
        return True

    def _is_running_locally(self) -> bool:
        running_locally = getattr(self, "running_locally", None)
        if callable(running_locally):
            try:
                return bool(running_locally())
            except Exception:  # noqa: BLE001
                pass
        return not self._remote_overrides()

    def _use_remote(self, marker: str, ignore_remote_overrides: bool) -> bool:
        """ClearML's per-call ``ignore_remote_overrides`` handling; True when stored values win."""
        if self._is_running_locally():
            if ignore_remote_overrides:
                self.set_parameter(marker, True, description=_IGNORE_DESCRIPTION, value_type=bool)
            return False
        if not self._remote_overrides():
            return False
        ignore = self.get_parameter(marker, default=ignore_remote_overrides, cast=True)
        return not (ignore is True or (isinstance(ignore, str) and ignore.strip().lower() == "true"))

    def _hyperparams(self) -> dict:
        return (self._data or {}).get("hyperparams") or {}

    def _section_entries(self, section: str) -> dict[str, dict]:
        return dict(self._hyperparams().get(section) or {})

    def _write_parameters(
        self,
        items: Iterable[tuple[str, Any]],
        *,
        mode: str = "update",
        descriptions: Mapping[str, str] | None = None,
        types: Mapping[str, Any] | None = None,
    ) -> None:
        """Store ``(full name, value)`` pairs. ``mode``: ``"update"`` (merge) or ``"replace"`` (all
        hyperparameters become exactly these). Types and descriptions already stored are kept as the
        module docstring says; values of unsupported types are skipped with a warning."""
        descriptions = descriptions or {}
        types = types or {}
        prepared: dict[tuple[str, str], tuple[str, str | None, str, bool, str | None]] = {}
        dropped: dict[str, str] = {}
        for full_name, value in items:
            section, name = _split_name(full_name)
            ok, value = _normalize(value)
            if not ok:
                dropped[full_name] = type(value).__name__
                continue
            explicit = types.get(full_name)
            if explicit is not None and not isinstance(explicit, str):
                explicit = getattr(explicit, "__name__", None) or str(explicit)
            description = descriptions.get(full_name)
            prepared[(section, name)] = (
                encode_value(value),
                explicit or None,
                type_name(value),
                isinstance(value, str),
                None if description is None else str(description),
            )
        _warn_dropped(dropped)
        if not prepared and mode == "update":
            return

        def fn(manifest: dict) -> None:
            old = manifest.get("hyperparams") or {}
            if mode == "replace":
                new: dict = {}
            else:
                new = {s: dict(p) for s, p in old.items()}
            for (section, name), (text, explicit, vtype, is_str, description) in prepared.items():
                previous = (old.get(section) or {}).get(name)
                if explicit:
                    ptype = explicit
                elif is_str and previous and previous.get("type"):
                    ptype = previous["type"]
                else:
                    ptype = vtype
                if description:
                    desc = description
                else:
                    desc = (previous or {}).get("description") or ""
                new.setdefault(section, {})[name] = {"value": text, "type": ptype, "description": desc}
            if new == old and "hyperparams" in manifest:
                raise _NoChange()
            manifest["hyperparams"] = new

        self._edit_if_changed(fn, "hyperparams")

    # -- parameters: reading ------------------------------------------------------------------

    def get_parameters(self, backwards_compatibility: bool = True, cast: bool = False) -> dict:
        """All parameters as a flat dict ``{"Section/name": value}``.

        :param backwards_compatibility: if True (default), parameters of type ``"legacy"`` in section
            ``Args`` (pre-sections ClearML tasks, e.g. imported ones) are returned at the root
            (``"name"``); if False they are under ``"Args/"`` like every other parameter.
        :param cast: if True, values are cast back to their original types; else the stored strings.
        """
        out: dict[str, Any] = {}
        for section, params in self._hyperparams().items():
            for name, entry in (params or {}).items():
                value = entry.get("value", "")
                if cast:
                    value = decode_value(value, entry.get("type"))
                if backwards_compatibility and section == ARGS_SECTION and entry.get("type") == LEGACY_TYPE:
                    out[name] = value
                else:
                    out[_prefixed(section, name)] = value
        return out

    def get_parameter(self, name: str, default: Any = None, cast: bool = False) -> Any:
        """The value of parameter ``"Section/name"`` (a string unless ``cast``), or ``default``."""
        hyperparams = self._hyperparams()
        entry = None
        if isinstance(name, str) and SEP in name:
            section, key = name.split(SEP, 1)
            entry = (hyperparams.get(section) or {}).get(key)
            if entry is not None and section == ARGS_SECTION and entry.get("type") == LEGACY_TYPE:
                entry = None  # listed at the root with backwards_compatibility (get_parameters' default)
        elif isinstance(name, str):
            candidate = (hyperparams.get(ARGS_SECTION) or {}).get(name)
            if candidate is not None and candidate.get("type") == LEGACY_TYPE:
                entry = candidate
        if entry is None:
            return default
        value = entry.get("value", "")
        return decode_value(value, entry.get("type")) if cast else value

    def get_parameters_as_dict(self, cast: bool = False) -> dict:
        """The parameters as a nested dict: ``{"Section": {"name": value}}`` (names split at every ``/``)."""
        return unflatten_dict(self.get_parameters(cast=cast))

    # -- parameters: writing ------------------------------------------------------------------

    @staticmethod
    def _merge_args(args: tuple, kwargs: dict) -> dict:
        merged: dict[str, Any] = {}
        for arg in args:
            if isinstance(arg, Mapping):
                merged.update(arg)
            elif isinstance(arg, Iterable) and not isinstance(arg, (str, bytes)):
                try:
                    merged.update(dict(arg))
                except (TypeError, ValueError) as exc:
                    raise UnsupportedTypeError(
                        f"positional argument {arg!r} is not a dict or an iterable of (name, value) pairs"
                    ) from exc
            else:
                raise UnsupportedTypeError(
                    f"positional argument {arg!r} (of type {type(arg).__name__}) is not supported: "
                    "expected dicts or iterables of (name, value) pairs"
                )
        merged.update(kwargs)
        for key in merged:
            if not isinstance(key, str):
                raise UnsupportedTypeError(
                    f"parameter name {key!r} (of type {type(key).__name__}) is not "
                    "supported: expected str 'Section/name'"
                )
        return merged

    def set_parameters(self, *args: Any, **kwargs: Any) -> None:
        """Replace *all* parameters by the given flat ``{"Section/name": value}`` pairs (dicts or
        iterables of pairs, then keyword arguments). A name without a section goes to ``General``.
        A value of an unsupported type is skipped with a warning (as in ClearML)."""
        merged = self._merge_args(args, kwargs)
        self._write_parameters(merged.items(), mode="replace")

    def update_parameters(self, *args: Any, **kwargs: Any) -> None:
        """Like :meth:`set_parameters` but merge: parameters not named keep their values."""
        merged = self._merge_args(args, kwargs)
        self._write_parameters(merged.items(), mode="update")

    def set_parameter(self, name: str, value: Any, description: str | None = None, value_type: Any = None) -> None:
        """Set one parameter ``"Section/name"`` (``"name"``: section General).

        :param value_type: the type to record (a type or its name); default: the value's type (a
            string written over a typed parameter keeps that type).
        """
        self._write_parameters(
            [(name, value)],
            mode="update",
            descriptions={name: description} if description is not None else None,
            types={name: value_type} if value_type is not None else None,
        )

    def delete_parameter(self, name: str, force: bool = False) -> bool:
        """Delete parameter ``"Section/name"``. As ClearML's server does, only a Draft (``created``)
        task's parameters can be deleted, or a running (``in_progress``) one's with ``force=True``.

        :return: True if the parameter existed and was deleted, False otherwise.
        """
        if not isinstance(name, str) or SEP not in name:
            raise InvalidNameError(
                f"delete_parameter needs the full name 'Section/name' (e.g. 'Args/batch_size'), got {name!r}"
            )
        section, key = name.split(SEP, 1)
        status = (self._data or {}).get("status")
        if status is not None:
            allowed = ("created", "in_progress") if force else ("created",)
            if status not in allowed:
                log.warning(
                    "fstrack: delete_parameter(%r) refused: task status is %r, parameters can be deleted "
                    "only in status %s%s",
                    name,
                    status,
                    " or ".join(allowed),
                    "" if force else " (or 'in_progress' with force=True)",
                )
                return False
        state = {"deleted": False}

        def fn(manifest: dict) -> None:
            hyperparams = manifest.get("hyperparams") or {}
            params = hyperparams.get(section)
            if not params or key not in params:
                state["deleted"] = False
                raise _NoChange()
            params = dict(params)
            del params[key]
            hyperparams = dict(hyperparams)
            if params:
                hyperparams[section] = params
            else:
                del hyperparams[section]
            manifest["hyperparams"] = hyperparams
            state["deleted"] = True

        self._edit_if_changed(fn, "hyperparams")
        return state["deleted"]

    def set_parameters_as_dict(self, dictionary: Mapping) -> None:
        """One-time update from a nested dict ``{"Section": {"name": value}}`` (flattened with ``/``;
        top-level plain values go to section General). Not linked to the dict afterwards."""
        if not isinstance(dictionary, Mapping):
            raise UnsupportedTypeError(f"set_parameters_as_dict takes a dict, got {type(dictionary).__name__}")
        check_keys(dictionary)
        self._write_parameters(flatten_dict(dictionary).items(), mode="update")

    # -- connect ------------------------------------------------------------------------------

    def connect(self, mutable: Any, name: str | None = None, ignore_remote_overrides: bool = False) -> Any:
        """Connect an object's values to the task's parameters.

        Supported: ``dict`` (any Mapping; returns a :class:`ConnectedDict` whose changes are written to
        the task), ``argparse.ArgumentParser`` (section ``Args``), ``TaskParameters``, a model object,
        a class (its public non-callable class attributes, bases included) and a class instance (its
        public instance attributes; an ``argparse.Namespace`` is one). ``name`` is the section
        (default ``General``). Under an agent the stored values replace the code's (in the given
        object too), unless ``ignore_remote_overrides``.
        """
        from fstrack.task_parameters import TaskParameters

        if hasattr(mutable, "_fstrack_model"):
            return self._connect_model(mutable, name)
        if isinstance(mutable, TaskParameters):
            return self._connect_task_parameters(mutable, name=name, ignore_remote_overrides=ignore_remote_overrides)
        section = _section_of(name)
        argparse = sys.modules.get("argparse")
        if isinstance(
            mutable, (str, bytes, bytearray, int, float, complex, list, tuple, set, frozenset, type(None))
        ) or (not isinstance(mutable, (type, Mapping)) and not hasattr(mutable, "__dict__")):
            raise UnsupportedTypeError(
                f"connect() does not support {type(mutable).__name__} objects ({mutable!r:.80}): expected a dict, "
                "an argparse.ArgumentParser, a TaskParameters, a model, a class or a class instance"
                + (" (use connect_configuration() for a list)" if isinstance(mutable, (list, tuple)) else "")
            )
        if isinstance(mutable, Mapping):
            check_keys(mutable, "connect() dictionary")  # before anything is stored
        remote = self._use_remote(_prefixed(section, IGNORE_MARKER), ignore_remote_overrides)
        if argparse is not None and isinstance(mutable, argparse.ArgumentParser):
            with _binding.lock:
                if _binding.bound_task() is None:
                    _binding.task = self
            install_parser_hooks()
            return self._connect_argparse(mutable, _remote=remote)
        if isinstance(mutable, Mapping):
            return self._connect_dictionary(mutable, section, remote)
        return self._connect_object(mutable, section, remote)

    def _connect_dictionary(self, dictionary: Mapping, section: str, remote: bool) -> ConnectedDict:
        check_keys(dictionary, "connect() dictionary")
        flat = flatten_dict(dictionary)
        if not remote:
            self._write_parameters(((_prefixed(section, k), v) for k, v in flat.items()), mode="update")
            result = ConnectedDict(dictionary)

            def write_back() -> None:
                self._write_parameters(
                    ((_prefixed(section, k), v) for k, v in flatten_dict(result).items()), mode="update"
                )

            result._fs_notify = write_back
            return result

        stored_flat = self._stored_values_like(section, flat)
        if isinstance(dictionary, dict):
            _assign_nested_in_place(dictionary, stored_flat)  # the caller's dict sees the stored values too
        result = ConnectedDict(dictionary)
        result._fs_set_silently(stored_flat)

        def refresh() -> None:
            # as ClearML does under an agent: stored values win, new names are stored
            current = flatten_dict(result)
            result._fs_set_silently(self._stored_values_like(section, current))

        result._fs_notify = refresh
        return result

    def _stored_values_like(self, section: str, flat: Mapping[str, Any]) -> dict[str, Any]:
        """For each name of ``flat``: the stored value cast like the code's value; names not stored
        yet are stored with the code's value."""
        stored = self._section_entries(section)
        out: dict[str, Any] = {}
        missing: list[tuple[str, Any]] = []
        for key, code_value in flat.items():
            entry = stored.get(key)
            if entry is None:
                missing.append((_prefixed(section, key), code_value))
                continue
            value = decode_value(entry.get("value", ""), entry.get("type"))
            out[key] = _coerce_like(value, code_value)
        if missing:
            self._write_parameters(missing, mode="update")
        return out

    def _connect_object(self, an_object: Any, section: str, remote: bool) -> Any:
        def usable(key: Any, value: Any) -> bool:
            if not isinstance(key, str) or key.startswith("_") or callable(value):
                return False
            if isinstance(value, (staticmethod, classmethod, property)):
                return False
            ok, value = _normalize(value)
            if not ok:
                return False
            if isinstance(value, Mapping):
                try:
                    check_keys(value)
                except UnsupportedTypeError:
                    log.warning("fstrack: attribute %r not connected: its dict has non-str keys", key)
                    return False
            try:
                json.dumps(value if not isinstance(value, Enum) else value.name)
            except (TypeError, ValueError):
                return False
            return True

        if isinstance(an_object, type):
            values: dict[str, Any] = {}
            for cls in reversed(an_object.__mro__):
                for k, v in vars(cls).items():
                    if usable(k, v):
                        values[k] = v
                    else:
                        values.pop(k, None)
        else:
            values = {k: v for k, v in vars(an_object).items() if usable(k, v)}
        connected = self._connect_dictionary(values, section, remote)
        if remote:
            for k, v in connected.items():
                value = v.to_dict() if isinstance(v, ConnectedDict) else v
                if getattr(an_object, k, None) != value or type(getattr(an_object, k, None)) is not type(value):
                    setattr(an_object, k, value)
        return an_object

    def _connect_task_parameters(
        self, params: Any, name: str | None = None, ignore_remote_overrides: bool = False
    ) -> Any:
        section = _section_of(name)
        marker = _prefixed(section, IGNORE_MARKER)
        if not self._is_running_locally():
            ignore_remote_overrides = self.get_parameter(marker, default=ignore_remote_overrides, cast=True) is True
        if not self._is_running_locally() and self._remote_overrides() and not ignore_remote_overrides:
            stored = {
                k: decode_value(e.get("value", ""), e.get("type"))
                for k, e in self._section_entries(section).items()
                if k != IGNORE_MARKER
            }
            known = {a.name for a in type(params).__fstrack_params__}
            current = params.to_dict()
            update = {k: _coerce_like(v, current.get(k)) for k, v in stored.items() if k in known}
            params.update_from_dict(update)
            missing = [(_prefixed(section, k), v) for k, v in current.items() if k not in stored]
            if missing:
                self._write_parameters(missing, mode="update")
        else:
            values = params.to_dict()
            if ignore_remote_overrides:
                values[IGNORE_MARKER] = True
            descriptions = {
                _prefixed(section, a.name): a.metadata.get("desc")
                for a in type(params).__fstrack_params__
                if a.metadata.get("desc")
            }
            self._write_parameters(
                ((_prefixed(section, k), v) for k, v in values.items()), mode="update", descriptions=descriptions
            )
        return params

    # -- argparse -------------------------------------------------------------------------------

    def _hook_argparse(self, auto_connect_arg_parser: Any = True) -> None:
        """Called by ``Task.init``: :func:`bind_arg_parsers` for this task."""
        bind_arg_parsers(self, auto_connect_arg_parser)

    def _connect_argparse(
        self,
        parser: Any,
        parsed_args: Any = None,
        live_namespace: Any = None,
        _remote: bool | None = None,
        _applied: bool = False,
    ) -> Any:
        remote = bool(self._remote_overrides()) if _remote is None else _remote
        if parsed_args is None:
            with _binding.lock:
                record = _binding.parsed.get(id(parser))
            if record is not None and record[0] is parser:
                parsed_args, live_namespace = record[1], record[2]
        if remote:
            if not _applied:
                self._apply_args_to_parser(parser)
                if live_namespace is not None:
                    self._apply_args_to_namespace(parser, live_namespace)
            stored = self._section_entries(ARGS_SECTION)
            values = self._args_from_parser(parser, parsed_args)
            missing = {k: v for k, v in values.items() if k[len(ARGS_SECTION) + 1 :] not in stored}
            self._store_args(parser, missing)
            return parser
        self._store_args(parser, self._args_from_parser(parser, parsed_args))
        return parser

    def _args_from_parser(self, parser: Any, parsed_args: Any) -> dict[str, Any]:
        import argparse

        if parsed_args is None:
            parsed_args = self._parse_quietly(parser)
        if parsed_args is not None:
            items = dict(vars(parsed_args))
        else:
            items = {}
            for dest, pairs in _parser_actions(parser).items():
                action = pairs[0][1]
                if dest == argparse.SUPPRESS or action.default == argparse.SUPPRESS:
                    continue
                if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                    continue
                items[dest] = action.default
        return {
            _prefixed(ARGS_SECTION, k): _arg_value_for_record(v)
            for k, v in items.items()
            if isinstance(k, str) and k and _binding.included(k)
        }

    @staticmethod
    def _parse_quietly(parser: Any) -> Any:
        """What the parser makes of ``sys.argv`` now, or None if it cannot parse it (no exit, no output)."""
        import contextlib
        import io

        original = _ORIGINALS.get("argparse") or type(parser).parse_known_args
        local = _binding.local
        depth = getattr(local, "depth", 0)
        local.depth = depth + 1
        try:
            with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
                result = original(parser, sys.argv[1:], None)
            return result[0] if isinstance(result, tuple) else result
        except BaseException:  # noqa: BLE001 - argparse exits on bad input; --help too
            return None
        finally:
            local.depth = depth

    def _store_args(self, parser: Any, values: dict[str, Any]) -> None:
        if not values:
            return
        actions = _parser_actions(parser)
        descriptions: dict[str, str] = {}
        for key in values:
            pairs = actions.get(key[len(ARGS_SECTION) + 1 :])
            if pairs:
                help_text = pairs[0][1].help
                if help_text and help_text != "==SUPPRESS==":
                    descriptions[key] = str(help_text)
        self._write_parameters(values.items(), mode="update", descriptions=descriptions)

    def _stored_args(self) -> dict[str, dict]:
        return {
            k: e
            for k, e in self._section_entries(ARGS_SECTION).items()
            if _binding.included(k) and e.get("type") != CLICK_COMMAND_TYPE
        }

    def _apply_args_to_parser(self, parser: Any) -> None:
        """Make the stored ``Args`` values the parser's defaults (and no stored argument required)."""
        import argparse

        stored = self._stored_args()
        if not stored:
            return
        actions = _parser_actions(parser)
        for dest, entry in stored.items():
            for owner, action in actions.get(dest, ()):
                if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                    continue
                if action.default == argparse.SUPPRESS and entry.get("value", "") == "":
                    continue
                value = _cast_for_action(action, entry.get("value", ""), entry.get("type", ""))
                if isinstance(action, argparse._SubParsersAction):
                    continue
                action.default = value
                action.required = False
                if dest in getattr(owner, "_defaults", {}):
                    owner._defaults[dest] = value
        for group in getattr(parser, "_mutually_exclusive_groups", ()):
            group.required = False

    def _apply_args_to_namespace(self, parser: Any, namespace: Any) -> None:
        """Overwrite parsed values with the stored ``Args`` values (cast as the parser would)."""
        stored = self._stored_args()
        if not stored or namespace is None:
            return
        actions = _parser_actions(parser)
        selectors: dict | None = None
        for dest, entry in stored.items():
            pairs = actions.get(dest)
            if not hasattr(namespace, dest):
                # an argument of the chosen sub-command that argv did not reach (e.g. the agent gave no argv)
                if not pairs:
                    continue
                if selectors is None:
                    selectors = _subparser_selectors(parser)
                if not any(
                    owner is not parser and _selected(namespace, owner, parser, selectors) for owner, _ in pairs
                ):
                    continue
            if pairs:
                value = _cast_for_action(pairs[0][1], entry.get("value", ""), entry.get("type", ""))
            else:
                value = _coerce_like(decode_value(entry.get("value", ""), entry.get("type")), getattr(namespace, dest))
            setattr(namespace, dest, value)

    # -- click ----------------------------------------------------------------------------------

    def _record_click_params(self, params: Mapping[str, tuple[Any, str, str]]) -> None:
        included = {k: v for k, v in params.items() if _binding.included(k[len(ARGS_SECTION) + 1 :].split(SEP)[-1])}
        if self._remote_overrides():
            stored = self._section_entries(ARGS_SECTION)
            included = {k: v for k, v in included.items() if k[len(ARGS_SECTION) + 1 :] not in stored}
        if not included:
            return
        self._write_parameters(
            ((k, v[0]) for k, v in included.items()),
            mode="update",
            types={k: v[1] for k, v in included.items() if v[1] == CLICK_COMMAND_TYPE},
            descriptions={k: v[2] for k, v in included.items() if v[2]},
        )

    # -- configuration --------------------------------------------------------------------------

    def _configuration(self) -> dict:
        return (self._data or {}).get("configuration") or {}

    def _write_configuration(self, name: str, text: str, config_type: str, description: str | None) -> None:
        entry_value = {"value": text, "type": config_type or "", "description": description or ""}

        def fn(manifest: dict) -> None:
            configuration = dict(manifest.get("configuration") or {})
            previous = configuration.get(name)
            new_entry = dict(entry_value)
            if description is None and previous and previous.get("description"):
                new_entry["description"] = previous["description"]
            if previous == new_entry and "configuration" in manifest:
                raise _NoChange()
            configuration[name] = new_entry
            manifest["configuration"] = configuration

        self._edit_if_changed(fn, "configuration")

    @staticmethod
    def _config_to_text(config: Any) -> str:
        def default(obj: Any) -> Any:
            ok, plain = _normalize(obj)
            if ok and plain is not obj:
                return plain
            if isinstance(obj, Enum):
                return obj.value
            if isinstance(obj, PurePath):
                return str(obj)
            if isinstance(obj, (set, frozenset)):
                return sorted(obj, key=repr)
            if isinstance(obj, Mapping):
                return dict(obj)
            raise TypeError(
                f"configuration value {obj!r:.80} of type {type(obj).__name__} cannot be stored: "
                "expected JSON-like values (str, int, float, bool, None, lists, dicts)"
            )

        if isinstance(config, ConnectedDict):
            config = config.to_dict()
        if isinstance(config, Mapping):
            check_keys(config, "configuration")
        try:
            return json.dumps(config, indent=2, ensure_ascii=False, default=default, allow_nan=True)
        except TypeError as exc:
            raise UnsupportedTypeError(str(exc)) from exc

    @staticmethod
    def _text_to_config(text: str) -> Any:
        try:
            return json.loads(text)
        except ValueError:
            pass
        return _plain_hocon(_parse_stored_hocon(text))

    def connect_configuration(
        self,
        configuration: Any,
        name: str | None = None,
        description: str | None = None,
        ignore_remote_overrides: bool = False,
    ) -> Any:
        """Connect a configuration dict/list, or a configuration file (``str``/``Path``).

        A dict returns a :class:`ConnectedDict` (changes are written to the task); a list is returned
        as is; a file path returns the path (under an agent: a path to a temporary file holding the
        stored text, of the same type as given). Stored under ``name`` (default ``General``).
        """
        if not isinstance(configuration, (Mapping, list, str, os.PathLike)):
            raise UnsupportedTypeError(
                f"connect_configuration does not support {type(configuration).__name__}: expected a dict, a list, "
                "or a path (str or pathlib.Path) to a configuration file"
            )
        if name is not None and not isinstance(name, str):
            raise UnsupportedTypeError(
                f"configuration name {name!r} (of type {type(name).__name__}) is not supported: expected a str"
            )
        config_name = name or DEFAULT_SECTION
        marker = _prefixed(config_name, IGNORE_MARKER + "config_")
        remote = self._use_remote(marker, ignore_remote_overrides)

        if isinstance(configuration, (Mapping, list)):

            def store(config: Any) -> None:
                self._write_configuration(config_name, self._config_to_text(config), CONFIG_DICT_TYPE, description)

            def connected(config: Any) -> Any:
                if isinstance(config, Mapping):
                    result = ConnectedDict(config)
                    result._fs_notify = lambda: store(result)
                    return result
                return config

            if not remote:
                store(configuration)
                return connected(configuration)
            stored = self._configuration().get(config_name)
            remote_config = None
            if stored is not None and stored.get("value"):
                try:
                    remote_config = self._text_to_config(stored["value"])
                except ValueError as exc:
                    log.warning(
                        "fstrack: stored configuration %r could not be parsed (%s); using the code's", config_name, exc
                    )
            if not remote_config:
                store(configuration)
                return connected(configuration)
            if isinstance(configuration, dict) and isinstance(remote_config, dict):
                configuration.clear()
                configuration.update(remote_config)
                return connected(configuration)
            if isinstance(configuration, list) and isinstance(remote_config, list):
                configuration[:] = remote_config
                return configuration
            if isinstance(remote_config, dict):
                return connected(remote_config)
            return remote_config

        path = Path(os.fspath(configuration))
        config_type = path.suffixes[-1].lstrip(".") if path.suffixes and path.suffixes[-1] != "." else "file"
        if remote:
            stored = self._configuration().get(config_name)
            if stored is not None:
                import tempfile

                fd, local = tempfile.mkstemp(
                    prefix="fstrack_task_config_", suffix=path.suffixes[-1] if path.suffixes else ".txt"
                )
                with open(fd, "w", encoding="utf-8") as f:
                    f.write(stored.get("value", ""))
                if isinstance(configuration, str):
                    return local
                return type(configuration)(local) if isinstance(configuration, PurePath) else local
            log.warning("fstrack: no stored configuration named %r; using the local file %s", config_name, path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(
                f"Could not connect configuration file {str(path)!r}: file could not be read ({exc})"
            ) from exc
        self._write_configuration(config_name, text, config_type, description)
        return configuration

    def get_configuration_object(self, name: str) -> str | None:
        """The text of configuration ``name``, or None if there is none."""
        entry = self._configuration().get(name)
        if not entry:
            return None
        return entry.get("value")

    def get_configuration_objects(self) -> dict[str, str]:
        """``{name: text}`` of every configuration object."""
        return {k: (v or {}).get("value", "") for k, v in self._configuration().items()}

    def get_configuration_object_as_dict(self, name: str) -> dict | list | None:
        """Configuration ``name`` parsed as JSON or HOCON; None if there is none (or its text is empty).

        :raises ValueError: the text is neither JSON nor HOCON.
        """
        text = self.get_configuration_object(name)
        if not text:
            return None
        return self._text_to_config(text)

    def set_configuration_object(
        self,
        name: str,
        config_text: str | None = None,
        description: str | None = None,
        config_type: str | None = None,
        config_dict: dict | list | None = None,
    ) -> None:
        """Store configuration ``name`` from text (``config_text``) or a dict/list (``config_dict``,
        stored as JSON, type ``"dictionary"`` unless ``config_type``): exactly one of the two. Keys of
        ``config_dict`` that JSON turns into text (int, float, bool, None: a model's ``id2label``) are stored as
        their JSON text, as ClearML does; nothing is read back, so nothing expects the original keys."""
        if not isinstance(name, str) or not name:
            raise InvalidNameError(f"configuration name must be a non-empty str, got {name!r}")
        if config_text is not None and config_dict is not None:
            raise ValueError("set_configuration_object takes either config_text or config_dict, not both")
        if config_text is None and config_dict is None:
            raise ValueError("set_configuration_object needs config_text (a str) or config_dict (a dict or list)")
        if config_dict is not None:
            if not isinstance(config_dict, (Mapping, list)):
                raise UnsupportedTypeError(f"config_dict must be a dict or a list, got {type(config_dict).__name__}")
            text = self._config_to_text(_json_keys(config_dict))
            ctype = config_type or CONFIG_DICT_TYPE
        else:
            if not isinstance(config_text, str):
                raise UnsupportedTypeError(f"config_text must be a str, got {type(config_text).__name__}")
            text = config_text
            ctype = config_type or ""
        self._write_configuration(name, text, str(ctype), None if description is None else str(description))

    # -- labels ---------------------------------------------------------------------------------

    def get_labels_enumeration(self) -> dict[str, int]:
        """The label enumeration ``{label: int}`` (a copy; empty if none)."""
        return dict((self._data or {}).get("labels") or {})

    def set_model_label_enumeration(self, enumeration: Mapping[str, int] | None = None) -> None:
        """Replace the label enumeration (``None``: empty) with a dict of str label -> int."""
        enumeration = {} if enumeration is None else enumeration
        if not isinstance(enumeration, Mapping):
            raise UnsupportedTypeError(
                f"label enumeration must be a dict of str -> int, got {type(enumeration).__name__}"
            )
        bad = [
            (k, v)
            for k, v in enumeration.items()
            if not isinstance(k, str) or not isinstance(v, int) or isinstance(v, bool)
        ]
        if bad:
            k, v = bad[0]
            raise UnsupportedTypeError(
                f"label enumeration entry {k!r}: {v!r} is not supported: expected a dict of str label -> int"
            )
        labels = {k: int(v) for k, v in enumeration.items()}

        def fn(manifest: dict) -> None:
            if manifest.get("labels") == labels and "labels" in manifest:
                raise _NoChange()
            manifest["labels"] = dict(labels)

        self._edit_if_changed(fn, "labels")

    def connect_label_enumeration(
        self, enumeration: dict[str, int], ignore_remote_overrides: bool = False
    ) -> dict[str, int]:
        """Connect a label enumeration ``{label: int}``; under an agent the stored one replaces its
        content (in place). Returns the (same) dict."""
        if not isinstance(enumeration, dict):
            raise UnsupportedTypeError(
                f"connect_label_enumeration supports only dict (str label -> int), "
                f"{type(enumeration).__name__} is not supported"
            )
        remote = self._use_remote(
            _prefixed(DEFAULT_SECTION, IGNORE_MARKER + "label_enumeration_"), ignore_remote_overrides
        )
        if not remote:
            self.set_model_label_enumeration(enumeration)
        else:
            stored = self.get_labels_enumeration()
            if stored:
                enumeration.clear()
                enumeration.update(stored)
            else:
                self.set_model_label_enumeration(enumeration)
        return enumeration

    def get_num_of_classes(self) -> int:
        """Number of classes: the highest label index + 1 (index 0 being the background)."""
        labels = self.get_labels_enumeration()
        if not labels:
            raise ValueError(
                "the task has no label enumeration (connect_label_enumeration / set_model_label_enumeration first)"
            )
        expected = sum(1 for index in labels.values() if int(index) > 0)
        highest = int(max(labels.values()))
        if highest != expected:
            log.warning("The highest label index is %d, while there are %d non-bg labels", highest, expected)
        return highest + 1

    def get_label_num_description(self) -> dict[int, str]:
        """``{index: label}``; raises ValueError if two labels share an index."""
        labels = self.get_labels_enumeration()
        out: dict[int, str] = {}
        for index, group in itertools.groupby(sorted(labels.items(), key=lambda kv: kv[1]), key=lambda kv: kv[1]):
            names = [label for label, _ in group]
            if len(names) > 1:
                raise ValueError(f"Multiple labels mapped to same model index not supported: index {index} has {names}")
            out[index] = names[0]
        return out


#: Quoted strings and comments of a HOCON text (masked before looking for ``include``).
_HOCON_STRINGS_AND_COMMENTS = re.compile(r'"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|(?:#|//)[^\n]*')
_HOCON_INCLUDE = re.compile(r'(?<![\w.$-])include\s*(?:"|(?:required|url|file|package|classpath)\s*\()', re.I)


def _parse_stored_hocon(text: str) -> Any:
    """A HOCON text parsed as data only: stored configuration is written by anyone with access to the store, so
    ``include`` (which reads local files and fetches URLs) is refused and ``${...}`` substitutes only values
    defined in the text itself, never the reader's environment variables."""
    from pyhocon import ConfigParser, ConfigTree
    from pyhocon.exceptions import ConfigMissingException, ConfigSubstitutionException

    class StoredConfigParser(ConfigParser):
        @classmethod
        def _resolve_variable(cls, config: Any, substitution: Any) -> tuple[bool, Any]:
            try:
                return True, config.get(substitution.variable)
            except ConfigMissingException:
                if substitution.optional:
                    return False, None
                raise ConfigSubstitutionException(
                    f"${{{substitution.variable}}} is not defined in the text (stored configuration never reads "
                    "environment variables)"
                ) from None

        @classmethod
        def _fixup_self_references(cls, config: Any, accept_unresolved: bool = False) -> None:
            if isinstance(config, ConfigTree) and config.root:
                for key in config:
                    if len(config.history[key]) > 1:
                        continue
                    for substitution in cls._find_substitutions(config.history[key][0]):
                        if ConfigTree.parse_key(substitution.variable)[0] == key:  # would read the environment
                            raise ConfigSubstitutionException(
                                f"${{{substitution.variable}}} refers to itself (stored configuration never reads "
                                "environment variables)"
                            )
            super()._fixup_self_references(config, accept_unresolved)

    found = _HOCON_INCLUDE.search(_HOCON_STRINGS_AND_COMMENTS.sub('""', text))
    if found:
        raise ValueError(
            f"configuration text uses {found.group(0).strip()!r}...: includes are not allowed in stored "
            "configuration (they read local files and URLs on every reader)"
        )
    try:
        return StoredConfigParser.parse(text)
    except Exception as exc:  # noqa: BLE001 - pyparsing errors and friends
        raise ValueError(f"Could not parse configuration text as JSON or HOCON ({exc})") from None


def _plain_hocon(value: Any) -> Any:
    """pyhocon ConfigTree/OrderedDict -> plain dicts (keys unquoted like ClearML's hocon_unquote_key)."""
    if hasattr(value, "as_plain_ordered_dict"):
        value = value.as_plain_ordered_dict()
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(k, str) and len(k) > 1 and k[0] == '"' and k[-1] == '"':
                k = k[1:-1]
            out[k] = _plain_hocon(v)
        return out
    if isinstance(value, list):
        return [_plain_hocon(v) for v in value]
    return value


install_parser_hooks()
