"""A POSIX directory (local disk or NFS) as a store backend."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import BinaryIO

from fsspec import AbstractFileSystem

from fstrack.store.backends.base import STAGING_DIR, Backend, Entry
from fstrack.store.objects import new_token
from fstrack.store.transfer import parallel_copy_and_hash


class LocalBackend(Backend):
    """A POSIX directory (local disk or NFS): create-only by ``link(2)``, claims by ``rename(2)``."""

    name = "local"
    concurrent_io = False
    has_file_events = True

    def __init__(self, fs: AbstractFileSystem, root: str, fsync: bool = False):
        super().__init__(fs, root, fsync)
        self._staging = os.path.join(self.root, STAGING_DIR)

    def _new_staged(self, prefix: str) -> tuple[int, str]:
        """A new file in the staging folder, mode 0666 less the process umask (shared stores stay
        readable by the team)."""
        staged = os.path.join(self._staging, f"{prefix}-{new_token()}")
        try:
            return os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), staged
        except FileNotFoundError:
            os.makedirs(self._staging, exist_ok=True)
            return os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), staged

    def _write_staged(self, data: bytes) -> str:
        fd, staged = self._new_staged("create")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                if self.fsync:
                    f.flush()
                    os.fsync(f.fileno())
        except BaseException:
            os.unlink(staged)
            raise
        return staged

    def _link_into_place(self, staged: str, key: str) -> bool:
        """Hard-link a staged file to ``key``: atomic, fails if ``key`` exists. Consumes ``staged``."""
        target = self.path(key)
        try:
            try:
                os.link(staged, target)
            except FileNotFoundError:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.link(staged, target)
            return True
        except FileExistsError:
            # On NFS a retransmitted link(2) whose first attempt succeeded reports EEXIST.
            return os.stat(staged).st_nlink > 1
        finally:
            os.unlink(staged)

    def create(self, key: str, data: bytes) -> bool:
        return self._link_into_place(self._write_staged(data), key)

    def replace(self, key: str, data: bytes) -> None:
        staged = self._write_staged(data)
        target = self.path(key)
        try:
            os.replace(staged, target)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(staged, target)

    def claim(self, key: str, claimed_key: str) -> bytes | None:
        target = self.path(claimed_key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.rename(self.path(key), target)  # atomic: exactly one renamer finds the entry
        except FileNotFoundError:
            return None
        with open(target, "rb") as f:
            return f.read()

    def read(self, key: str) -> bytes:
        with open(self.path(key), "rb") as f:
            return f.read()

    def read_many(self, keys: list[str]) -> dict[str, bytes]:
        found = {}
        for key in keys:
            try:
                found[key] = self.read(key)
            except FileNotFoundError:
                pass
        return found

    def exists(self, key: str) -> bool:
        return os.path.exists(self.path(key))

    def info(self, key: str) -> Entry:
        st = os.stat(self.path(key))
        return Entry(key, st.st_size, st.st_mtime)

    def delete(self, key: str) -> None:
        try:
            os.unlink(self.path(key))
        except FileNotFoundError:
            pass

    def staging_file(self) -> BinaryIO:
        fd, staged = self._new_staged("stream")
        os.close(fd)
        return open(staged, "wb")  # noqa: SIM115 - the caller closes it, then adopts the file by name

    def upload(self, local_path: str, key: str) -> None:
        fd, staged = self._new_staged("upload")
        os.close(fd)
        shutil.copyfile(local_path, staged)  # copied in the kernel where the platform can
        self.adopt(staged, key)

    def adopt(self, staged_path: str, key: str) -> None:
        if self.fsync:
            with open(staged_path, "rb") as f:
                os.fsync(f.fileno())
        self._link_into_place(staged_path, key)

    def download(self, key: str, local_path: str) -> None:
        shutil.copyfile(self.path(key), local_path)

    def download_hashing(self, key: str, local_path: str, size_hint: int | None = None) -> tuple[str, int]:
        """The kernel copies the object while a second thread hashes it."""
        return parallel_copy_and_hash(self.path(key), local_path)

    def upload_hashed(self, local_path: str, key_of: Callable[[str], str]) -> tuple[str, int, bool]:
        """One pass: the kernel copies the file into the staging area while another thread hashes it, then the
        copy is linked into place under its hash. A deduplicated upload drops its copy at once (its pages are
        normally never written back to disk)."""
        staged = self.staging_file()
        staged.close()
        try:
            digest, size = parallel_copy_and_hash(local_path, staged.name)
        except BaseException:
            os.unlink(staged.name)
            raise
        key = key_of(digest)
        if self.exists(key):
            os.unlink(staged.name)
            return digest, size, True
        self.adopt(staged.name, key)
        return digest, size, False

    def move(self, key: str, new_key: str) -> bool:
        """``rename(2)``: atomic, the object is never under both keys."""
        target = self.path(new_key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.rename(self.path(key), target)
        except FileNotFoundError:
            return False
        return True

    def copy(self, key: str, new_key: str) -> None:
        """A hard link: never replaces an existing ``new_key`` (such as a concurrent upload)."""
        target = self.path(new_key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.link(self.path(key), target)
        except FileExistsError:
            pass

    def remove_empty_dirs(self, prefix: str) -> None:
        for directory, _dirs, _files in sorted(os.walk(self.path(prefix), topdown=False), key=lambda d: -len(d[0])):
            try:
                os.rmdir(directory)
            except OSError:
                pass

    def _names(self, prefix: str) -> list[str]:
        try:
            return sorted(os.listdir(self.path(prefix)))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def walk(self, prefix: str) -> Iterator[Entry]:
        start = len(self.root) + 1
        for directory, dirs, files in os.walk(self.path(prefix)):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(directory, name)
                try:
                    st = os.stat(full)
                except FileNotFoundError:
                    continue
                yield Entry(full[start:].replace(os.sep, "/"), st.st_size, st.st_mtime)
