"""Google Cloud Storage: ``ifGenerationMatch=0`` writes."""

from __future__ import annotations

from fstrack.store.backends.objectstore import ObjectStoreBackend


class GCSBackend(ObjectStoreBackend):
    name = "gcs"

    def _create_once(self, path: str, data: bytes) -> None:
        # gcsfs switches to a resumable upload at its chunk size; only the single-request upload is
        # guaranteed to honour ifGenerationMatch=0 (the GCS emulator ignores it on resumable ones).
        self.fs.pipe_file(path, data, mode="create", chunksize=len(data) + 1)
