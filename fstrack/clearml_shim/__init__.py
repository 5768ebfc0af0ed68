"""Run code written for ClearML on fstrack, unchanged: ``import clearml`` resolves to fstrack (fstrack addition).

``fstrack run [--url URL] [--] python train.py ...`` (or ``python -m pkg``, or any command that starts Python)
runs the command with :data:`SHIM_PATH` first on ``PYTHONPATH``. That folder holds a package named
``clearml`` whose modules re-export fstrack (``clearml.Task``, ``Logger``, ``OutputModel``, ``InputModel``,
``Model``, ``StorageManager``, ``TaskTypes``, ``clearml.task_parameters``, ``clearml.utilities.plotly_reporter``
and ``proxy_object``, ``clearml.model``, ``clearml.backend_api.session.defs``' environment constants), so
libraries that call ClearML themselves (HF Transformers' ``ClearMLCallback``, Accelerate's
``ClearMLTracker``) report to fstrack. Only that process and its children see it: a real ``clearml``
installed in the environment is untouched for every other process.

In a notebook, run ``%load_ext fstrack.clearml_shim`` (or call :func:`install`) before anything imports
``clearml``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from fstrack import terminal

SHIM_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pythonpath")
#: set in the environment of a process started by ``fstrack run``
MARKER_ENV = "FSTRACK_CLEARML_SHIM"

__all__ = ["SHIM_PATH", "environment", "install", "load_ipython_extension"]


def environment(base: Mapping[str, str] | None = None, url: str | None = None) -> dict[str, str]:
    """``base`` (default ``os.environ``) with :data:`SHIM_PATH` first on ``PYTHONPATH`` (and ``FSTRACK_URL`` set to
    ``url`` if given): the environment ``fstrack run`` starts its command in."""
    env = dict(os.environ if base is None else base)
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != SHIM_PATH]
    env["PYTHONPATH"] = os.pathsep.join([SHIM_PATH, *rest])
    env[MARKER_ENV] = "1"
    if url is not None:
        env["FSTRACK_URL"] = url
    return env


def install() -> None:
    """Make ``import clearml`` resolve to fstrack in this process (and, through ``PYTHONPATH``, its children)."""
    loaded = sys.modules.get("clearml")
    if loaded is not None and not os.path.abspath(getattr(loaded, "__file__", "") or "").startswith(SHIM_PATH):
        terminal.warn(
            "fstrack: the real clearml is imported already in this process; restart it and call "
            "fstrack.clearml_shim.install() first",
            stacklevel=2,
        )
        return
    if SHIM_PATH not in sys.path:
        sys.path.insert(0, SHIM_PATH)
    os.environ.update({k: v for k, v in environment().items() if k in ("PYTHONPATH", MARKER_ENV)})


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext fstrack.clearml_shim``: :func:`install` in a notebook kernel."""
    install()
