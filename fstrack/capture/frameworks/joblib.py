"""joblib (and so scikit-learn): files written by ``joblib.dump`` become output models (keys ``joblib``,
``scikit``)."""

from __future__ import annotations

import sys
from typing import Any

from fstrack.capture.frameworks import _core


def _framework_of(value: Any) -> str:
    module = type(value).__module__ or ""
    for prefix, framework in (("xgboost", "XGBoost"), ("lightgbm", "LightGBM"), ("catboost", "CatBoost")):
        if module.startswith(prefix):
            return framework
    return "ScikitLearn"


def _dumped(result: Any, value: Any = None, filename: Any = None, *args: Any, **kwargs: Any) -> None:
    if filename is None:
        filename = kwargs.get("filename")
    names = result if isinstance(result, (list, tuple)) and result else [filename]
    for name in names[:1]:  # joblib >= 0.12 writes one file (older versions listed companions after it)
        _core.after_save("joblib", name, _framework_of(value))


def patch(name: str, joblib: Any) -> None:
    original = getattr(joblib, "dump", None)
    if original is None:
        return
    wrapped = _core.wrap(original, _dumped)
    joblib.dump = wrapped
    numpy_pickle: Any = sys.modules.get("joblib.numpy_pickle")  # a third-party module we patch
    if numpy_pickle is not None and getattr(numpy_pickle, "dump", None) is original:
        numpy_pickle.dump = wrapped
