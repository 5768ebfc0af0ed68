"""Environment variables named in a setting become parameters ``Environment/<NAME>`` (ClearML's
``log_os_environments``); under an agent the stored values are put back into ``os.environ``.

The setting is the variable ``FSTRACK_LOG_ENVIRONMENT`` (ClearML's ``CLEARML_LOG_ENVIRONMENT`` is read too):
comma-separated names, ``PREFIX*`` or ``*SUFFIX`` wildcards, or ``*`` for all. Variables that look like
credentials (a name containing KEY, SECRET, TOKEN, PASSWORD or CREDENTIAL) are recorded only when named
exactly, never through a wildcard, and fstrack's own ``FSTRACK_*`` variables never."""

from __future__ import annotations

import fnmatch
import os
import re
from typing import Any

SETTING = "FSTRACK_LOG_ENVIRONMENT"
CLEARML_SETTING = "CLEARML_LOG_ENVIRONMENT"
SECTION = "Environment"
_SECRET = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)


def selected(environ: dict[str, str], setting: str) -> dict[str, str]:
    """The variables of ``environ`` that ``setting`` names (see the module docstring)."""
    chosen: dict[str, str] = {}
    for pattern in (p.strip() for p in setting.split(",")):
        if not pattern:
            continue
        if any(c in pattern for c in "*?["):
            chosen.update(
                {
                    name: value
                    for name, value in environ.items()
                    if fnmatch.fnmatchcase(name, pattern)
                    and not _SECRET.search(name)
                    and not name.startswith(("FSTRACK_", "CLEARML_", "TRAINS_"))
                }
            )
        elif pattern in environ and not pattern.startswith("FSTRACK_"):
            chosen[pattern] = environ[pattern]
    return chosen


def connect(task: Any) -> None:
    """Record the variables the setting names in ``task`` (or, under an agent, apply the stored ones)."""
    setting = os.environ.get(SETTING) or os.environ.get(CLEARML_SETTING) or ""
    if task._remote_overrides():
        prefix = SECTION + "/"
        stored = {k[len(prefix) :]: v for k, v in task.get_parameters().items() if k.startswith(prefix)}
        os.environ.update({k: "" if v is None else str(v) for k, v in stored.items()})
        return
    values: dict[str, Any] = selected(dict(os.environ), setting) if setting.strip() else {}
    if values:
        task.connect(values, name=SECTION)
