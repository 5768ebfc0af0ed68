"""Azure Blob Storage: ``If-None-Match: *`` writes."""

from __future__ import annotations

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from fsspec import AbstractFileSystem

from fstrack.store.backends.objectstore import ObjectStoreBackend, origin


class AzureBackend(ObjectStoreBackend):
    """adlfs passes its ``connection_timeout``/``read_timeout`` options on uploads and downloads only, and no
    retry setting at all: every other request (a lookup, a listing) waits 20 s to connect and 60 s for a
    reply, and is tried 4 times, 15, 18 and 24 s apart (azure-storage-blob's defaults): minutes against an
    endpoint that never answers. The filesystem's client is set here to the same timeouts for every request,
    and to :data:`fstrack.store.backends.REQUEST_ATTEMPTS` attempts about a second apart."""

    name = "azure"
    transport_errors = (*ObjectStoreBackend.transport_errors, ServiceRequestError, ServiceResponseError)

    def __init__(self, fs: AbstractFileSystem, root: str, *, fsync: bool = False):
        super().__init__(fs, root, fsync=fsync)
        from fstrack.store.backends import CONNECT_TIMEOUT, READ_TIMEOUT, REQUEST_ATTEMPTS

        client = fs.service_client
        retry = client._config.retry_policy  # shared by the container and blob clients made from it
        retry.total_retries = retry.connect_retries = retry.read_retries = retry.status_retries = REQUEST_ATTEMPTS - 1
        retry.initial_backoff, retry.increment_base, retry.random_jitter_range = 0, 1, 0.5  # 1 +- 0.5 s apart
        connection = client._pipeline._transport.connection_config
        connection.timeout = fs._timeout_kwargs.get("connection_timeout", CONNECT_TIMEOUT)
        connection.read_timeout = fs._timeout_kwargs.get("read_timeout", READ_TIMEOUT)

    def endpoint(self) -> str:
        return origin(self.fs.service_client.url)
