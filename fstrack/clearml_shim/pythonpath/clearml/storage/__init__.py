"""ClearML's ``StorageManager`` over fsspec: copies between local paths and any fsspec URL."""

import os
import shutil
import tempfile
from typing import Any

import fsspec


def _is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


class StorageManager:
    @staticmethod
    def get_local_copy(
        remote_url: str,
        cache_context: str | None = None,
        extract_archive: bool = True,
        name: str | None = None,
        force_download: bool = False,
    ) -> str | None:
        """A local path holding ``remote_url``'s bytes (the path itself for a local file)."""
        if _is_local(remote_url):
            path = remote_url[len("file://") :] if remote_url.startswith("file://") else remote_url
            return path if os.path.exists(path) else None
        folder = tempfile.mkdtemp(prefix="fstrack-storage-")
        local = os.path.join(folder, name or os.path.basename(remote_url.rstrip("/")) or "download")
        fsspec.open(remote_url).fs.get(remote_url, local)
        return local

    @staticmethod
    def upload_file(local_file: str, remote_url: str, wait_for_upload: bool = True, retries: int | None = None) -> str:
        with open(local_file, "rb") as source, fsspec.open(remote_url, "wb") as target:
            shutil.copyfileobj(source, target)
        return remote_url

    @staticmethod
    def download_file(
        remote_url: str,
        local_folder: str | None = None,
        overwrite: bool = False,
        skip_zero_size_check: bool = False,
        silence_errors: bool = False,
    ) -> str | None:
        local_folder = local_folder or tempfile.mkdtemp(prefix="fstrack-storage-")
        target = os.path.join(local_folder, os.path.basename(remote_url.rstrip("/")))
        if os.path.exists(target) and not overwrite:
            return target
        with fsspec.open(remote_url, "rb") as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out)
        return target

    @staticmethod
    def list(remote_url: str, return_full_path: bool = False, with_metadata: bool = False) -> list[Any]:
        fs, path = fsspec.core.url_to_fs(remote_url)
        names = fs.ls(path, detail=False)
        return list(names) if return_full_path else [n[len(path) :].lstrip("/") for n in names]


__all__ = ["StorageManager"]
