"""PyTorch: files written by ``torch.save`` become output models (key ``pytorch``)."""

from __future__ import annotations

from typing import Any

from fstrack.capture.frameworks import _core


def _saved(_result: Any, obj: Any = None, f: Any = None, *args: Any, **kwargs: Any) -> None:
    _core.after_save("pytorch", kwargs.get("f") if f is None else f)


def patch(name: str, torch: Any) -> None:
    original = getattr(torch, "save", None)
    if original is None:
        return
    wrapped = _core.wrap(original, _saved)
    torch.save = wrapped
    serialization = getattr(torch, "serialization", None)
    if serialization is not None and getattr(serialization, "save", None) is original:
        serialization.save = wrapped
