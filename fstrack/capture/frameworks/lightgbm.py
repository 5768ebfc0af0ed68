"""LightGBM (key ``lightgbm``): every evaluation result of ``lightgbm.train`` (and so of the scikit-learn API)
is reported per iteration as title = data set name (``"training"``, ``"valid_0"``), series = metric, as
ClearML does; ``Booster.save_model`` files become output models, ``Booster(model_file=...)`` input models."""

from __future__ import annotations

import functools
from typing import Any

from fstrack.capture.frameworks import _core

KEY = "lightgbm"


def _reporter(task: Any) -> Any:
    logger = task.get_logger()

    def report(env: Any) -> None:
        try:
            for result in env.evaluation_result_list:
                data, metric, value = result[0], result[1], result[2]
                logger.report_scalar(str(data), str(metric), float(value), int(env.iteration))
        except Exception as exc:  # noqa: BLE001 - reporting never stops training
            _core.warn("could not report LightGBM metrics", exc)

    setattr(report, "order", 100)  # noqa: B010 - after LightGBM's own callbacks (it sorts them by .order)
    return report


def _train_with_reports(original: Any) -> Any:
    if getattr(original, "__fstrack_original__", None) is not None:
        return original

    @functools.wraps(original)
    def train(*args: Any, **kwargs: Any) -> Any:
        task = _core.active(KEY)
        if task is not None:
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), _reporter(task)]
        return original(*args, **kwargs)

    train.__fstrack_original__ = original  # type: ignore[attr-defined]
    return train


def _loaded(
    _result: Any,
    _booster: Any,
    params: Any = None,
    train_set: Any = None,
    model_file: Any = None,
    *args: Any,
    **kwargs: Any,
) -> None:
    if model_file is not None:
        _core.after_load(KEY, model_file)


def patch(name: str, lightgbm: Any) -> None:
    train = _train_with_reports(lightgbm.engine.train)
    for module in (lightgbm, lightgbm.engine, getattr(lightgbm, "sklearn", None)):
        if module is not None and getattr(module, "train", None) is not None:
            module.train = train
    booster = lightgbm.Booster
    _core.patch_method(booster, "save_model", lambda _r, _self, filename=None, *a, **k: _core.after_save(KEY, filename))
    _core.patch_method(booster, "__init__", _loaded)
