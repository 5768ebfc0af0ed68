"""ClearML's ``flatten_dictionary`` (HF Transformers' ``ClearMLCallback`` calls it)."""

from collections.abc import Mapping
from typing import Any


def flatten_dictionary(a_dict: Mapping, prefix: str = "", sep: str = "/") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in a_dict.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            flat.update(flatten_dictionary(value, name, sep))
        else:
            flat[name] = value
    return flat
