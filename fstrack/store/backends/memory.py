"""fsspec's in-process ``memory://`` filesystem as a store backend (tests, notebooks)."""

from __future__ import annotations

import threading

from fstrack.store.backends.base import Backend

_MEMORY_LOCK = threading.Lock()


class MemoryBackend(Backend):
    """fsspec's in-process ``memory://`` filesystem; atomicity comes from a process-wide lock."""

    name = "memory"
    concurrent_io = False  # in-process: a lock, no round trips

    def create(self, key: str, data: bytes) -> bool:
        path = self.path(key)
        with _MEMORY_LOCK:
            if self.fs.exists(path):
                return False
            self.fs.pipe_file(path, data)
            return True

    def claim(self, key: str, claimed_key: str) -> bytes | None:
        with _MEMORY_LOCK:
            if not self.fs.exists(self.path(key)) or self.fs.exists(self.path(claimed_key)):
                return None
            self.fs.mv(self.path(key), self.path(claimed_key))
            return bytes(self.fs.cat_file(self.path(claimed_key)))

    def download_hashing(self, key: str, local_path: str, size_hint: int | None = None) -> tuple[str, int]:
        return self._download_then_hash(key, local_path)

    def _upload_large(self, local_path: str, key: str) -> None:
        self.upload(local_path, key)
