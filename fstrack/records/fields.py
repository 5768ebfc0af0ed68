"""The shape of each manifest field a task may hold (spec/tasks.md §4), checked on both sides of the store.

A store is shared: a manifest may have been written by anyone with access to it. Writers refuse data whose
known fields have the wrong shape (:func:`field_problems`, raised by ``update_task``/``import_task``); readers
replace a malformed field by its initial value, with a warning naming the task and the field
(:func:`repair_fields`), so that one bad record never breaks listing or showing the others.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from fstrack import terminal

Check = Callable[[Any], bool]


def _str(value: Any) -> bool:
    return isinstance(value, str)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional(check: Check) -> Check:
    return lambda value: value is None or check(value)


def _map(check: Check = lambda _value: True) -> Check:
    return lambda value: isinstance(value, dict) and all(_str(k) and check(v) for k, v in value.items())


def _list(check: Check) -> Check:
    return lambda value: isinstance(value, list) and all(check(v) for v in value)


def _text_entry(value: Any) -> bool:
    """``{"value": str, "type": str, "description": str}`` (members optional)."""
    return isinstance(value, dict) and all(_str(value[k]) for k in ("value", "type", "description") if k in value)


def _models(value: Any) -> bool:
    return isinstance(value, dict) and all(_list(lambda m: isinstance(m, dict))(value.get(side, [])) for side in value)


#: field -> (check, the value a reader uses instead of a malformed one)
FIELDS: dict[str, tuple[Check, Any]] = {
    "name": (lambda v: _str(v) and bool(v.strip()), "(unnamed)"),
    "project": (lambda v: _str(v) and bool(v.strip()), "(no project)"),
    "type": (_str, "training"),
    "status": (_str, "unknown"),
    "status_message": (_str, ""),
    "status_reason": (_str, ""),
    "status_changed": (_optional(_number), None),
    "tags": (_list(_str), []),
    "system_tags": (_list(_str), []),
    "comment": (_str, ""),
    "parent": (_optional(_str), None),
    "user": (_str, ""),
    "created": (_optional(_number), None),
    "started": (_optional(_number), None),
    "completed": (_optional(_number), None),
    "last_update": (_optional(_number), None),
    "last_iteration": (_int, 0),
    "archived": (lambda v: isinstance(v, bool), False),
    "progress": (_optional(_int), None),
    "user_properties": (_map(_text_entry), {}),
    "hyperparams": (_map(_map(_text_entry)), {}),
    "configuration": (_map(_text_entry), {}),
    "labels": (_map(_int), {}),
    "script": (_map(), {}),
    "runtime": (_map(), {}),
    "container": (_map(), {}),
    "output_uri": (_optional(_str), None),
    "execution": (_map(), {"queue": None, "worker": None}),
    "run": (_int, 1),
    "artifacts": (_map(lambda a: isinstance(a, dict)), {}),
    "models": (_models, {"input": [], "output": []}),
    "last_metrics": (_map(_map(lambda v: isinstance(v, dict))), {}),
    "settings": (_map(), {}),
}


def field_problems(data: dict[str, Any]) -> list[str]:
    """One line per known field of ``data`` whose value has the wrong shape (naming the field and the value)."""
    return [
        f"field {name!r} has a malformed value {data[name]!r:.80}"
        for name, (check, _initial) in FIELDS.items()
        if name in data and not check(data[name])
    ]


def repair_fields(record: dict[str, Any], what: str) -> dict[str, Any]:
    """``record`` with each malformed known field replaced by its initial value; warns once per field, naming
    ``what`` (e.g. "task <id> in store <url>")."""
    for name, (check, initial) in FIELDS.items():
        if name in record and not check(record[name]):
            terminal.warn(
                f"fstrack: {what}: field {name!r} is malformed ({type(record[name]).__name__} "
                f"{record[name]!r:.60}); read as {initial!r}",
                stacklevel=3,
            )
            record[name] = copy.deepcopy(initial)
    return record
