"""python-fire: the arguments ``fire.Fire`` passes to each function or class it calls become parameters
``Args/<name>`` (key ``fire``); under an agent the stored values replace the parsed ones."""

from __future__ import annotations

import functools
import inspect
from typing import Any

from fstrack.capture.frameworks import _core

KEY = "fire"
SECTION = "Args"
_BASIC = (str, int, float, bool, type(None))


def _parsed(fn: Any, result: Any) -> Any:
    (varargs, kwargs), consumed, remaining, capacity = result
    try:
        names = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return result
    names = [n for n in names if n != "self"]
    positional = dict(zip(names, varargs, strict=False))
    values = {**positional, **kwargs}
    values = {k: v for k, v in values.items() if isinstance(v, _BASIC) or isinstance(v, (list, tuple, dict))}
    if not values:
        return result
    stored = _core.connect_parameters(KEY, SECTION, {k: _core.plain(v) for k, v in values.items()})
    if stored:
        varargs = list(varargs)
        for index, name in enumerate(names[: len(varargs)]):
            if name in stored and name in values:
                varargs[index] = stored[name]
        kwargs = {k: stored.get(k, v) if k in values else v for k, v in kwargs.items()}
    return (varargs, kwargs), consumed, remaining, capacity


def patch(name: str, core: Any) -> None:
    """``name`` is ``fire.core``."""
    original = core._MakeParseFn
    if getattr(original, "__fstrack_original__", None) is not None:
        return

    @functools.wraps(original)
    def make_parse_fn(fn: Any, metadata: Any) -> Any:
        parse = original(fn, metadata)

        @functools.wraps(parse)
        def parse_fn(args: Any) -> Any:
            result = parse(args)
            try:
                return _parsed(fn, result)
            except Exception as exc:  # noqa: BLE001 - never break the user's command line
                _core.warn("could not record the fire arguments", exc)
                return result

        return parse_fn

    make_parse_fn.__fstrack_original__ = original  # type: ignore[attr-defined]
    core._MakeParseFn = make_parse_fn
