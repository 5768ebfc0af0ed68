"""fastai v2 (key ``fastai``): ``Learner.fit`` (so ``fit_one_cycle``, ``fine_tune``...) gets a callback that
reports, as ClearML does, the smoothed training loss per batch (title ``metrics_<n>``, series ``train_loss``),
the optimiser's hyper-parameters per batch (title ``<name>_<n>``, series ``<name>``) and the validation loss
and metrics per epoch (series ``valid_loss``, ``valid_<metric>``), ``<n>`` counting the learners of the process.
``Learner.save`` writes through ``torch.save``, so its files become models through the ``pytorch`` capture."""

from __future__ import annotations

import functools
import itertools
from typing import Any

from fstrack.capture.frameworks import _core

KEY = "fastai"
_learners = itertools.count()


def reset() -> None:
    global _learners
    _learners = itertools.count()


def _callback_class(callback_base: type) -> type:
    class ReportToTask(callback_base):
        order = 60  # after the Recorder (50), whose values it reads

        def __init__(self, task: Any) -> None:
            self.logger = task.get_logger()
            self.suffix = str(next(_learners))
            self.batches = 0

        def after_batch(self) -> None:
            if not self.training:
                return
            try:
                self.batches += 1
                title = f"metrics_{self.suffix}"
                self.logger.report_scalar(title, "train_loss", float(self.learn.smooth_loss), self.batches)
                for name, value in self.learn.opt.hypers[-1].items():
                    if isinstance(value, (int, float)):
                        self.logger.report_scalar(f"{name}_{self.suffix}", name, float(value), self.batches)
            except Exception as exc:  # noqa: BLE001 - reporting never stops training
                _core.warn("could not report fastai metrics", exc)

        def after_epoch(self) -> None:
            try:
                recorder = self.learn.recorder
                for name, value in zip(recorder.metric_names, recorder.log, strict=False):
                    if name in ("epoch", "time", "train_loss") or not isinstance(value, (int, float)):
                        continue
                    series = name if name.startswith("valid_") else f"valid_{name}"
                    self.logger.report_scalar(f"metrics_{self.suffix}", series, float(value), self.batches)
            except Exception as exc:  # noqa: BLE001
                _core.warn("could not report fastai metrics", exc)

    return ReportToTask


def patch(name: str, learner_module: Any) -> None:
    """``name`` is ``fastai.learner``."""
    from fastai.callback.core import Callback

    callback_class = _callback_class(Callback)
    original = learner_module.Learner.fit
    if getattr(original, "__fstrack_original__", None) is not None:
        return

    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        task = _core.active(KEY)
        if task is None:
            return original(self, *args, **kwargs)
        callback = callback_class(task)
        self.add_cb(callback)
        try:
            return original(self, *args, **kwargs)
        finally:
            self.remove_cb(callback)

    fit.__fstrack_original__ = original  # type: ignore[attr-defined]
    learner_module.Learner.fit = fit
