"""XGBoost (key ``xgboost``): every evaluation metric of ``xgboost.train`` (and so of the scikit-learn API)
is reported per boosting round as title = data set name (``"train"``, ``"validation_0"``), series = metric
(``" - 1"``, ``" - 2"``... after the title from the second training of a process on, as ClearML does);
``Booster.save_model`` files become output models and ``Booster.load_model`` files input models."""

from __future__ import annotations

import functools
import itertools
from typing import Any

from fstrack.capture.frameworks import _core

KEY = "xgboost"
_runs = itertools.count()


def reset() -> None:
    global _runs
    _runs = itertools.count()


def _callback_class(xgboost: Any) -> type:
    class ReportEvaluations(xgboost.callback.TrainingCallback):
        """Reports the newest value of each evaluation metric after every round."""

        def __init__(self, task: Any) -> None:
            super().__init__()
            self.logger = task.get_logger()
            run = next(_runs)
            self.suffix = f" - {run}" if run else ""

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            try:
                for data, metrics in evals_log.items():
                    for metric, log in metrics.items():
                        value = log[-1][0] if isinstance(log[-1], tuple) else log[-1]  # (mean, std) under cv
                        self.logger.report_scalar(f"{data}{self.suffix}", metric, float(value), int(epoch))
            except Exception as exc:  # noqa: BLE001 - reporting never stops training
                _core.warn("could not report XGBoost metrics", exc)
            return False

    return ReportEvaluations


def _train_with_reports(original: Any, callback_class: type) -> Any:
    if getattr(original, "__fstrack_original__", None) is not None:
        return original

    @functools.wraps(original)
    def train(*args: Any, **kwargs: Any) -> Any:
        task = _core.active(KEY)
        if task is not None:
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), callback_class(task)]
        return original(*args, **kwargs)

    train.__fstrack_original__ = original  # type: ignore[attr-defined]
    return train


def patch(name: str, xgboost: Any) -> None:
    callback_class = _callback_class(xgboost)
    train = _train_with_reports(xgboost.training.train, callback_class)
    for module in (xgboost, xgboost.training, getattr(xgboost, "sklearn", None)):
        if module is not None and getattr(module, "train", None) is not None:
            module.train = train
    booster = xgboost.Booster
    _core.patch_method(booster, "save_model", lambda _r, _self, fname=None, *a, **k: _core.after_save(KEY, fname))
    _core.patch_method(booster, "load_model", lambda _r, _self, fname=None, *a, **k: _core.after_load(KEY, fname))
