"""Amazon S3 and S3-compatible servers (MinIO, SeaweedFS, R2): ``If-None-Match: *`` writes."""

from __future__ import annotations

from fsspec import AbstractFileSystem

from fstrack.store.backends.objectstore import ObjectStoreBackend


class S3Backend(ObjectStoreBackend):
    """s3fs retries a timed-out request 5 times around botocore's own attempts (a class attribute, not an option):
    with an endpoint that never answers, one call would wait 5 x 2 x the read timeout. It is capped here at
    :data:`fstrack.store.backends.REQUEST_ATTEMPTS` unless the filesystem was given another value."""

    name = "s3"

    def __init__(self, fs: AbstractFileSystem, root: str, *, fsync: bool = False):
        super().__init__(fs, root, fsync=fsync)
        from fstrack.store.backends import REQUEST_ATTEMPTS

        if "retries" not in vars(fs):
            fs.retries = min(getattr(fs, "retries", REQUEST_ATTEMPTS), REQUEST_ATTEMPTS)
