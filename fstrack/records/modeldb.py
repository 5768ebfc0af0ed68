"""Model records: the ``model`` kind of manifest chain and its summaries (spec/models.md).

Models are stored like tasks (:class:`fstrack.records.taskdb.TaskDB` over ``refs/models`` and
``index/models``); this module names that kind and what its summaries hold. The ClearML model objects built
on it live in :mod:`fstrack.sdk.models`.
"""

from __future__ import annotations

from typing import Any

from fstrack.errors import FstrackError
from fstrack.records.taskdb import Kind

MODELS_REF = "models"
MODELS_INDEX_DIR = "index/models"
#: Fields of a model manifest copied into its summary (``index/models/<id>.<position>``); see spec/models.md.
MODEL_SUMMARY_FIELDS = (
    "id",
    "name",
    "project",
    "task",
    "framework",
    "tags",
    "system_tags",
    "comment",
    "user",
    "created",
    "last_update",
    "iteration",
    "published",
    "archived",
    "parent",
    "metadata",
)


class ModelNotFoundError(FstrackError, LookupError, ValueError):
    """No model with the given id (or matching the given name/project/tags) exists in the store."""


def summarize_model(manifest: dict[str, Any]) -> dict[str, Any]:
    """The query record of a model manifest (spec/models.md §5)."""
    record = {field: manifest.get(field) for field in MODEL_SUMMARY_FIELDS}
    weights = manifest.get("weights") or {}
    record["uri"] = weights.get("url")
    obj = weights.get("object")
    record["hash"] = str(obj) if obj is not None else weights.get("hash")
    record["package"] = bool(weights.get("package"))
    return record


MODEL_KIND = Kind("model", MODELS_REF, MODELS_INDEX_DIR, summarize_model, ModelNotFoundError, ".models")


def check_model_id(model_id: Any) -> str:
    if not isinstance(model_id, str) or len(model_id) != 32 or any(c not in "0123456789abcdef" for c in model_id):
        raise ModelNotFoundError(f"model id must be 32 lowercase hex digits, got {model_id!r}")
    return model_id
