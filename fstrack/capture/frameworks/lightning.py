"""PyTorch Lightning (key ``lightning``, also switched off by ``pytorch``): checkpoints written by
``Trainer.save_checkpoint`` (so by ``ModelCheckpoint``) become output models. What Lightning logs through its
default ``TensorBoardLogger`` arrives through the TensorBoard capture (key ``tensorboard``)."""

from __future__ import annotations

from typing import Any

from fstrack.capture.frameworks import _core

KEY = "lightning"


def _saved(_result: Any, trainer: Any, filepath: Any = None, *args: Any, **kwargs: Any) -> None:
    if getattr(trainer, "is_global_zero", True):  # one process of a distributed run writes the file
        _core.after_save(KEY, filepath)


def patch(name: str, trainer_module: Any) -> None:
    """``name`` is ``lightning.pytorch.trainer.trainer`` or ``pytorch_lightning.trainer.trainer``."""
    _core.patch_method(trainer_module.Trainer, "save_checkpoint", _saved)
