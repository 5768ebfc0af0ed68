"""Text for a terminal: values written by others (task names, console lines, a server's error text) are shown,
never acted on. Every line fstrack prints or warns with passes through :func:`escape`."""

from __future__ import annotations

import re
import warnings

#: What a terminal would act on rather than show: C0/C1 controls (escape sequences, carriage returns,
#: newlines), DEL, and the bidirectional overrides and line separators that reorder or split what is shown.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape(text: str, keep_lines: bool = False) -> str:
    """``text`` with every control character shown as a Python-style escape (``\\x1b``, ``\\n``): text from a
    store is written by others and must not move the cursor, rewrite the screen or forge lines. With
    ``keep_lines``, newlines and tabs are kept (multi-line console text)."""
    pattern = _CONTROL_BUT_LINES if keep_lines else _CONTROL
    return pattern.sub(lambda m: _NAMED_ESCAPES.get(m.group(0)) or repr(m.group(0))[1:-1], text)


def warn(message: str, category: type[Warning] = UserWarning, stacklevel: int = 1) -> None:
    """:func:`warnings.warn` of ``message`` escaped; ``stacklevel`` counts from the caller, as there."""
    warnings.warn(escape(message), category, stacklevel=stacklevel + 1)
