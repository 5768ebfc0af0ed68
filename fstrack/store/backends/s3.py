"""Amazon S3 and S3-compatible servers (MinIO, SeaweedFS, R2): ``If-None-Match: *`` writes."""

from __future__ import annotations

from fstrack.store.backends.objectstore import ObjectStoreBackend


class S3Backend(ObjectStoreBackend):
    name = "s3"
