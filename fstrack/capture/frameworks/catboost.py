"""CatBoost (key ``catboost``): every metric ``fit`` computes is reported per iteration as title = data set
(``"learn"``, ``"validation"``; ``" - 1"``... from the second training of a process on), series = metric, as
ClearML does; ``save_model`` files become output models and ``load_model`` files input models."""

from __future__ import annotations

import functools
import itertools
from typing import Any

from fstrack.capture.frameworks import _core

KEY = "catboost"
_runs = itertools.count()


def reset() -> None:
    global _runs
    _runs = itertools.count()


class _ReportMetrics:
    def __init__(self, task: Any) -> None:
        self.logger = task.get_logger()
        run = next(_runs)
        self.suffix = f" - {run}" if run else ""

    def after_iteration(self, info: Any) -> bool:
        try:
            for data, metrics in (getattr(info, "metrics", None) or {}).items():
                for metric, log in metrics.items():
                    self.logger.report_scalar(f"{data}{self.suffix}", metric, float(log[-1]), int(info.iteration))
        except Exception as exc:  # noqa: BLE001 - reporting never stops training
            _core.warn("could not report CatBoost metrics", exc)
        return True


def _fit_with_reports(original: Any) -> Any:
    if getattr(original, "__fstrack_original__", None) is not None:
        return original

    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        task = _core.active(KEY)
        if task is not None:
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), _ReportMetrics(task)]
        return original(self, *args, **kwargs)

    fit.__fstrack_original__ = original  # type: ignore[attr-defined]
    return fit


def patch(name: str, catboost: Any) -> None:
    for class_name in ("CatBoost", "CatBoostClassifier", "CatBoostRegressor", "CatBoostRanker"):
        cls = getattr(catboost, class_name, None)
        if cls is not None and "fit" in cls.__dict__:
            cls.fit = _fit_with_reports(cls.__dict__["fit"])
    base = catboost.CatBoost
    _core.patch_method(base, "save_model", lambda _r, _self, fname=None, *a, **k: _core.after_save(KEY, fname))
    _core.patch_method(base, "load_model", lambda _r, _self, fname=None, *a, **k: _core.after_load(KEY, fname))
