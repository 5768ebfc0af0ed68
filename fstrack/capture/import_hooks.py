"""Patch a library right after the script imports it, when it comes after fstrack (argparse, click, matplotlib,
torch, joblib): one ``sys.meta_path`` finder per kind of hook."""

from __future__ import annotations

import importlib.machinery
import sys
import threading
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

_LOCK = threading.Lock()


class AfterImport:
    """Runs ``patch(name, module)`` for each module of ``names``: at once if it is imported already (see
    :meth:`apply`), else right after its code runs on its first import. ``done(name)`` says a module needs no
    patching any more (the finder then stays out of the import). ``patch`` must not raise."""

    def __init__(
        self,
        names: Iterable[str],
        patch: Callable[[str, ModuleType], None],
        done: Callable[[str], bool] = lambda name: False,
    ):
        self.names = frozenset(names)
        self.patch = patch
        self.done = done
        self._local = threading.local()

    def apply(self, names: Iterable[str] | None = None) -> None:
        """Patch the modules of ``names`` (default: all) that are imported; hook the import of the others."""
        waiting = False
        for name in self.names if names is None else names:
            module = sys.modules.get(name)
            if module is not None:
                self.patch(name, module)
            elif not self.done(name):
                waiting = True
        if waiting:
            with _LOCK:
                if self not in sys.meta_path:
                    sys.meta_path.insert(0, self)

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in self.names or self.done(fullname) or getattr(self._local, "finding", False):
            return None
        self._local.finding = True  # the path finder below must not come back here
        try:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        finally:
            self._local.finding = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        original_exec = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original_exec(module)
            self.patch(fullname, module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec
