"""Hydra: the composed configuration becomes configuration object ``OmegaConf`` (YAML) and the command-line
overrides parameters ``Hydra/<key>`` (key ``hydra``), as in ClearML. Under an agent the stored ``Hydra/...``
parameters are applied as overrides (``++key=value``, or ``group=option`` for a config group) before Hydra
composes the configuration, so editing one in a clone changes the run."""

from __future__ import annotations

import functools
from typing import Any

from fstrack.capture.frameworks import _core

KEY = "hydra"
SECTION = "Hydra"
CONFIGURATION = "OmegaConf"


def _key_of(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _is_group(hydra: Any, key: str) -> bool:
    try:
        return bool(hydra.config_loader.repository.group_exists(key))
    except Exception:  # noqa: BLE001 - treat as a value
        return False


def _remote_overrides(hydra: Any, overrides: list[str], stored: dict[str, str]) -> list[str]:
    kept = [o for o in overrides if _key_of(o) not in stored]
    for key, value in stored.items():
        if value in (None, ""):
            kept.append(f"~{key}")
        elif _is_group(hydra, key):
            kept.append(f"{key}={value}")
        else:
            kept.append(f"++{key}={value}")
    return kept


def _recorded(task_function: Any) -> Any:
    @functools.wraps(task_function)
    def run(config: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            from omegaconf import OmegaConf

            _core.set_configuration(
                KEY,
                CONFIGURATION,
                OmegaConf.to_yaml(config, resolve=False),
                "OmegaConf YAML",
                "Full OmegaConf YAML configuration composed by Hydra (edit the Hydra/ parameters to change it)",
            )
        except Exception as exc:  # noqa: BLE001
            _core.warn("could not record the Hydra configuration", exc)
        return task_function(config, *args, **kwargs)

    return run


def patch(name: str, internal_hydra: Any) -> None:
    """``name`` is ``hydra._internal.hydra``."""
    hydra_class = internal_hydra.Hydra
    original = hydra_class.run
    if getattr(original, "__fstrack_original__", None) is not None:
        return

    @functools.wraps(original)
    def run(self: Any, config_name: Any, task_function: Any, overrides: list[str], *args: Any, **kwargs: Any) -> Any:
        try:
            task = _core.task_for_parameters(KEY)
            if task is not None and task._remote_overrides():
                prefix = SECTION + "/"
                stored = {k[len(prefix) :]: v for k, v in task.get_parameters().items() if k.startswith(prefix)}
                overrides = _remote_overrides(self, list(overrides), stored)
            else:
                values = {}
                for override in overrides:
                    key, has_value, value = override.partition("=")
                    key = key.lstrip("+~")
                    if key != "hydra" and not key.startswith("hydra."):  # Hydra's own (hydra.mode=RUN)
                        values[key] = value if has_value else None
                if values:
                    _core.connect_parameters(KEY, SECTION, values)
            task_function = _recorded(task_function)
        except Exception as exc:  # noqa: BLE001 - never break the user's app
            _core.warn("could not connect the Hydra overrides", exc)
        return original(self, config_name, task_function, overrides, *args, **kwargs)

    run.__fstrack_original__ = original  # type: ignore[attr-defined]
    hydra_class.run = run
