"""Keras (key ``tensorflow``, as in ClearML): files and folders written by ``Model.save`` and
``Model.save_weights`` (so by the ``ModelCheckpoint`` callback) become output models (framework ``Keras``);
``keras.models.load_model`` and ``Model.load_weights`` record input models. What Keras' ``TensorBoard``
callback writes arrives through the TensorBoard capture (``tf.summary``)."""

from __future__ import annotations

from typing import Any

from fstrack.capture.frameworks import _core

KEY = "tensorflow"


def _saved(_result: Any, _model: Any, filepath: Any = None, *args: Any, **kwargs: Any) -> None:
    _core.after_save(KEY, kwargs.get("filepath") if filepath is None else filepath, "Keras")


def _weights_loaded(_result: Any, _model: Any, filepath: Any = None, *args: Any, **kwargs: Any) -> None:
    _core.after_load(KEY, kwargs.get("filepath") if filepath is None else filepath, "Keras")


def _model_loaded(_result: Any, filepath: Any = None, *args: Any, **kwargs: Any) -> None:
    _core.after_load(KEY, kwargs.get("filepath") if filepath is None else filepath, "Keras")


def patch(name: str, keras: Any) -> None:
    """``name`` is ``keras`` (Keras 3, also what ``tf.keras`` is from TensorFlow 2.16 on)."""
    model = keras.Model
    _core.patch_method(model, "save", _saved)
    _core.patch_method(model, "save_weights", _saved)
    _core.patch_method(model, "load_weights", _weights_loaded)
    load_model = _core.wrap(keras.models.load_model, _model_loaded)
    for module in (keras.models, getattr(keras, "saving", None)):
        if module is not None and getattr(module, "load_model", None) is not None:
            module.load_model = load_model
