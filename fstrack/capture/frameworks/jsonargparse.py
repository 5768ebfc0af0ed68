"""jsonargparse: what ``ArgumentParser.parse_args`` (and so ``CLI``/``auto_cli``) parsed becomes parameters
``Args/<dotted.name>`` (key ``jsonargparse``); under an agent the stored values replace the parsed ones."""

from __future__ import annotations

import functools
import threading
from typing import Any

from fstrack.capture.frameworks import _core

KEY = "jsonargparse"
SECTION = "Args"
_local = threading.local()
_BASIC = (str, int, float, bool, type(None))


def _parsed(namespace: Any) -> Any:
    if not hasattr(namespace, "items"):
        return namespace
    leaves = dict(namespace.items())
    values = {k: _core.plain(v) for k, v in leaves.items() if not k.startswith("__") and k != "config"}
    stored = _core.connect_parameters(KEY, SECTION, values)
    for name, value in (stored or {}).items():
        if name in values and isinstance(leaves[name], _BASIC) and value != values[name]:
            namespace[name] = value
    return namespace


def patch(name: str, jsonargparse: Any) -> None:
    parser_class = jsonargparse.ArgumentParser
    original = parser_class.parse_args
    if getattr(original, "__fstrack_original__", None) is not None:
        return

    @functools.wraps(original)
    def parse_args(self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(_local, "depth", 0):
            return original(self, *args, **kwargs)
        _local.depth = 1
        try:
            result = original(self, *args, **kwargs)
        finally:
            _local.depth = 0
        try:
            return _parsed(result)
        except Exception as exc:  # noqa: BLE001 - never break the user's command line
            _core.warn("could not record the jsonargparse arguments", exc)
            return result

    parse_args.__fstrack_original__ = original  # type: ignore[attr-defined]
    parser_class.parse_args = parse_args
