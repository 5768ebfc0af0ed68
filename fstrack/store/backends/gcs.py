"""Google Cloud Storage: ``ifGenerationMatch=0`` writes."""

from __future__ import annotations

import asyncio
from types import MethodType
from typing import Any

from aiohttp import ClientConnectionError
from fsspec import AbstractFileSystem
from gcsfs.retry import retry_request

from fstrack.store.backends.objectstore import ObjectStoreBackend, origin


class GCSBackend(ObjectStoreBackend):
    """gcsfs tries every request 6 times, sleeping 1, 2, 4, 8 and 16 s in between (fixed when gcsfs is
    imported: neither an option nor an attribute): with an endpoint that does not answer, one call would take
    a minute or more. Its request methods are rebound here, on this filesystem only, to
    :data:`fstrack.store.backends.REQUEST_ATTEMPTS` attempts (one retry after 1-2 s).

    gcsfs's experimental filesystem (on unless ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false``) first asks a gRPC
    API for the bucket's type, and a gRPC connection to an endpoint that does not answer gives up after 20 s
    whatever the retry budget; it is given :data:`~fstrack.store.backends.READ_TIMEOUT` s here, after which
    the bucket is served as an ordinary one, as gcsfs itself does when the lookup fails."""

    name = "gcs"
    transport_errors = (*ObjectStoreBackend.transport_errors, ClientConnectionError)

    def __init__(self, fs: AbstractFileSystem, root: str, *, fsync: bool = False):
        super().__init__(fs, root, fsync=fsync)
        from fstrack.store.backends import REQUEST_ATTEMPTS

        for name in ("_request", "_get_file_request"):
            unwrapped = getattr(getattr(type(fs), name, None), "__wrapped__", None)
            if name not in vars(fs) and unwrapped is not None:
                setattr(fs, name, MethodType(retry_request(retries=REQUEST_ATTEMPTS)(unwrapped), fs))
        if hasattr(fs, "_get_bucket_type") and "_get_bucket_type" not in vars(fs):
            fs._get_bucket_type = MethodType(_bounded_bucket_type_lookup, fs)

    def endpoint(self) -> str:
        return origin(self.fs._location)

    def _create_once(self, path: str, data: bytes) -> None:
        # gcsfs switches to a resumable upload at its chunk size; only the single-request upload is
        # guaranteed to honour ifGenerationMatch=0 (the GCS emulator ignores it on resumable ones).
        self.fs.pipe_file(path, data, mode="create", chunksize=len(data) + 1, timeout=self.write_deadline)


async def _bounded_bucket_type_lookup(fs: Any, bucket: str) -> Any:
    """gcsfs's bucket-type lookup, or "unknown" (an ordinary bucket, not remembered) after READ_TIMEOUT s."""
    from gcsfs.extended_gcsfs import BucketType

    from fstrack.store.backends import READ_TIMEOUT

    try:
        return await asyncio.wait_for(type(fs)._get_bucket_type(fs, bucket), READ_TIMEOUT)
    except TimeoutError:
        return BucketType.UNKNOWN
