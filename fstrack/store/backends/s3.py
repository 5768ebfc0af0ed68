"""Amazon S3 and S3-compatible servers (MinIO, SeaweedFS, R2): ``If-None-Match: *`` writes."""

from __future__ import annotations

from botocore.exceptions import HTTPClientError
from fsspec import AbstractFileSystem

from fstrack.store.backends.objectstore import ObjectStoreBackend, origin


class S3Backend(ObjectStoreBackend):
    """botocore retries a failed request (``config_kwargs["retries"]``, set by
    :func:`fstrack.store.backends.with_default_timeouts`); s3fs's own loop (a class attribute, not an option)
    would try each call 5 times more, and a download 5 x 5 times: with an endpoint that never answers, one
    read would wait 50 read timeouts. That loop is made a single attempt here (unless the filesystem was given
    its own ``retries``), so botocore's attempts are all there are."""

    name = "s3"
    transport_errors = (*ObjectStoreBackend.transport_errors, HTTPClientError)

    def __init__(self, fs: AbstractFileSystem, root: str, *, fsync: bool = False):
        super().__init__(fs, root, fsync=fsync)
        if "retries" not in vars(fs):
            fs.retries = 1

    def endpoint(self) -> str:
        client = getattr(self.fs, "_s3", None)  # made by the first request, with the endpoint botocore resolved
        url = getattr(getattr(client, "meta", None), "endpoint_url", None) or self.fs.endpoint_url
        return origin(url) if url else "https://s3.amazonaws.com"
