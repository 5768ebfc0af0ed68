"""absl flags (``tfdefines`` in ClearML): the script's flags, once parsed, become parameters
``TF_DEFINE/<flag>`` (key ``tfdefines``; absl's own flags are left out); under an agent the stored values
replace the parsed ones."""

from __future__ import annotations

import functools
from typing import Any

from fstrack.capture.frameworks import _core

KEY = "tfdefines"
SECTION = "TF_DEFINE"


def _own_flags(flag_values: Any) -> dict[str, Any]:
    flags: dict[str, Any] = {}
    for module, module_flags in flag_values.flags_by_module_dict().items():
        if module.startswith(("absl.", "tensorflow", "tf_", "keras")):
            continue
        for flag in module_flags:
            flags[flag.name] = flag
    return flags


def _parsed(flag_values: Any) -> None:
    flags = _own_flags(flag_values)
    if not flags:
        return
    values = {name: _core.plain(flag.value) for name, flag in flags.items()}
    stored = _core.connect_parameters(KEY, SECTION, values)
    for name, value in (stored or {}).items():
        if name in values and value != values[name]:
            flag = flags[name]
            flag.value = flag.parser.parse(value) if isinstance(value, str) and flag.parser is not None else value


def patch(name: str, flags_module: Any) -> None:
    """``name`` is ``absl.flags``."""
    flag_values_class = flags_module.FlagValues
    original = flag_values_class.__call__
    if getattr(original, "__fstrack_original__", None) is not None:
        return

    @functools.wraps(original)
    def call(self: Any, argv: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, argv, *args, **kwargs)
        if self is flags_module.FLAGS:
            try:
                _parsed(self)
            except Exception as exc:  # noqa: BLE001
                _core.warn("could not record the absl flags", exc)
        return result

    call.__fstrack_original__ = original  # type: ignore[attr-defined]
    flag_values_class.__call__ = call
