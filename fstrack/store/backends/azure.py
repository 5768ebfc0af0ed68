"""Azure Blob Storage: ``If-None-Match: *`` writes."""

from __future__ import annotations

from fstrack.store.backends.objectstore import ObjectStoreBackend


class AzureBackend(ObjectStoreBackend):
    name = "azure"
