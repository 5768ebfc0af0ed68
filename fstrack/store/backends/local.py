"""A POSIX directory (local disk or NFS) as a store backend."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from typing import BinaryIO

from fsspec import AbstractFileSystem

from fstrack.errors import StoreLinkError
from fstrack.store.backends.base import STAGING_DIR, Backend, Entry
from fstrack.store.objects import new_token
from fstrack.store.transfer import parallel_copy_and_hash


class LocalBackend(Backend):
    """A POSIX directory (local disk or NFS): create-only by ``link(2)``, claims by ``rename(2)``.

    No symbolic link inside the root is ever followed (spec/store.md §2): every key's folders are checked with
    ``lstat`` (once per folder and process for reads and writes, afresh before anything is deleted or moved),
    files are opened with ``O_NOFOLLOW``, and listings leave links out, reporting them to whoever asks.
    """

    name = "local"
    concurrent_io = False
    has_file_events = True

    def __init__(self, fs: AbstractFileSystem, root: str, fsync: bool = False):
        super().__init__(fs, root, fsync)
        self._staging = os.path.join(self.root, STAGING_DIR)
        self._real_dirs: set[str] = set()  # folders below the root found to be real folders, not links

    def _check_dirs(self, relative_dir: str, fresh: bool = False) -> None:
        """Refuse a folder path (relative to the root) that passes through a symbolic link. Folders that do not
        exist yet are fine (writers create real ones); ``fresh`` ignores what earlier checks found."""
        if not relative_dir or (not fresh and relative_dir in self._real_dirs):
            return
        parent, _, _name = relative_dir.rpartition("/")
        self._check_dirs(parent, fresh)
        try:
            mode = os.lstat(f"{self.root}/{relative_dir}").st_mode
        except (FileNotFoundError, NotADirectoryError):
            return
        if stat.S_ISLNK(mode):
            raise StoreLinkError(
                f"{relative_dir} in store {self.root!r} is a symbolic link; fstrack follows no link inside a store "
                "(move the folder back into the store, or remove the link)"
            )
        if stat.S_ISDIR(mode):
            self._real_dirs.add(relative_dir)

    def path(self, key: str) -> str:
        """The local path of ``key``, once its folders are known not to pass through a link."""
        self._check_dirs(key.rpartition("/")[0])
        return super().path(key)

    def _fresh_path(self, key: str) -> str:
        """:meth:`path`, checking every folder again: for deletes and moves, which must never act outside."""
        self._check_dirs(key.rpartition("/")[0], fresh=True)
        return super().path(key)

    def _open_file(self, key: str) -> tuple[int, int]:
        """A read-only descriptor of the regular file at ``key`` and its size; a link or anything else is
        refused."""
        try:
            fd = os.open(self.path(key), os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StoreLinkError(
                    f"{key} in store {self.root!r} is a symbolic link; fstrack follows no link inside a store"
                ) from None
            raise
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise StoreLinkError(f"{key} in store {self.root!r} is not a regular file")
        return fd, st.st_size

    def _new_staged(self, prefix: str) -> tuple[int, str]:
        """A new file in the staging folder, mode 0666 less the process umask (shared stores stay
        readable by the team)."""
        self._check_dirs(STAGING_DIR)
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

    def _make_parents(self, target: str) -> None:
        """Create ``target``'s missing parent directories; with fsync on, make each new one durable in its parent."""
        directory = os.path.dirname(target)
        missing = []
        while not os.path.isdir(directory):
            missing.append(directory)
            directory = os.path.dirname(directory)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if self.fsync:
            for created in reversed(missing):
                _fsync_directory(os.path.dirname(created))
            if missing:
                _fsync_directory(missing[0])

    def _settled(self, target: str) -> None:
        """With fsync on, make a new name in ``target``'s directory durable (store.md §11)."""
        if self.fsync:
            _fsync_directory(os.path.dirname(target))

    def _link_into_place(self, staged: str, key: str) -> bool:
        """Hard-link a staged file to ``key``: atomic, fails if ``key`` exists. Consumes ``staged``."""
        target = self.path(key)
        try:
            try:
                os.link(staged, target)
            except FileNotFoundError:
                self._make_parents(target)
                os.link(staged, target)
            self._settled(target)
            return True
        except FileExistsError:
            # On NFS a retransmitted link(2) whose first attempt succeeded reports EEXIST.
            won = os.stat(staged).st_nlink > 1
            if won:
                self._settled(target)
            return won
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
            self._make_parents(target)
            os.replace(staged, target)
        self._settled(target)

    def claim(self, key: str, claimed_key: str) -> bytes | None:
        """Read the entry, then create the claimed key holding a fresh token (create decides the one winner, and
        its link count tells a retransmitted ``link(2)`` that succeeded), then delete the entry (claims.md §1.1).
        Unlike ``rename(2)``, which answers ENOENT to the retransmission of a rename that took effect, this
        never leaves an entry taken by nobody."""
        try:
            data = self.read(key)
        except FileNotFoundError:
            return None
        won = self.create(claimed_key, new_token().encode())
        try:
            self.delete(key)  # taken either way: the winner, or a loser tidying up after a winner that died
        except OSError:
            pass  # a leftover entry is skipped by readers (its claimed key exists)
        else:
            self._settled(self.path(key))
        return data if won else None

    def read(self, key: str) -> bytes:
        fd, size = self._open_file(key)
        try:
            data = os.read(fd, size + 1)  # one system call for a file that did not change since fstat
            if len(data) == size:
                return data
            parts = [data]
            while chunk := os.read(fd, 1 << 20):
                parts.append(chunk)
            return b"".join(parts)
        finally:
            os.close(fd)

    def read_many(self, keys: list[str]) -> dict[str, bytes]:
        found = {}
        for key in keys:
            try:
                found[key] = self.read(key)
            except FileNotFoundError:
                pass
        return found

    def exists(self, key: str) -> bool:
        try:
            mode = os.lstat(self.path(key)).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return False
        if stat.S_ISLNK(mode):
            raise StoreLinkError(
                f"{key} in store {self.root!r} is a symbolic link; fstrack follows no link inside a store"
            )
        return True

    def info(self, key: str) -> Entry:
        st = os.lstat(self.path(key))
        if not stat.S_ISREG(st.st_mode):
            raise StoreLinkError(f"{key} in store {self.root!r} is not a regular file")
        return Entry(key, st.st_size, st.st_mtime)

    def delete(self, key: str) -> None:
        try:
            os.unlink(self._fresh_path(key))  # removes a link itself, never what it points at
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
        fd, _size = self._open_file(key)
        with os.fdopen(fd, "rb") as source, open(local_path, "wb") as target:
            shutil.copyfileobj(source, target)

    def download_hashing(self, key: str, local_path: str, size_hint: int | None = None) -> tuple[str, int]:
        """The kernel copies the object while a second thread hashes it."""
        os.close(self._open_file(key)[0])  # refuses a link or anything but a regular file
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
        target = self._fresh_path(new_key)
        self._make_parents(target)
        try:
            os.rename(self._fresh_path(key), target)
        except FileNotFoundError:
            return False
        self._settled(target)
        return True

    def copy(self, key: str, new_key: str) -> None:
        """A hard link: never replaces an existing ``new_key`` (such as a concurrent upload)."""
        target = self._fresh_path(new_key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.link(self._fresh_path(key), target, follow_symlinks=False)
        except FileExistsError:
            pass

    def remove_empty_dirs(self, prefix: str) -> None:
        top = self._fresh_path(prefix)
        if os.path.islink(top):
            return
        for directory, _dirs, _files in sorted(os.walk(top, topdown=False), key=lambda d: -len(d[0])):
            try:
                os.rmdir(directory)  # never removes a link: rmdir(2) refuses one
            except OSError:
                pass

    def _names(self, prefix: str) -> list[str]:
        self._check_dirs(prefix)
        try:
            return sorted(os.listdir(super().path(prefix)))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def walk(self, prefix: str, skipped: list[str] | None = None) -> Iterator[Entry]:
        """Every regular file below ``prefix``; links (and whatever else is not a file or folder) are left out
        and named in ``skipped``."""
        start = len(self.root) + 1
        try:
            top = self._fresh_path(prefix)
            if os.path.islink(top):
                raise StoreLinkError(f"{prefix} in store {self.root!r} is a symbolic link")
        except StoreLinkError as exc:
            if skipped is not None:
                skipped.append(str(exc))
            return
        for directory, dirs, files in os.walk(top):
            for name in [d for d in dirs if os.path.islink(os.path.join(directory, d))]:
                dirs.remove(name)
                files.append(name)
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(directory, name)
                key = full[start:].replace(os.sep, "/")
                try:
                    st = os.lstat(full)
                except FileNotFoundError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    if skipped is not None:
                        what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
                        skipped.append(f"{key} in store {self.root!r} is {what}; fstrack serves regular files only")
                    continue
                yield Entry(key, st.st_size, st.st_mtime)


def _fsync_directory(directory: str) -> None:
    """fsync(2) a directory, so that names linked into it survive a power loss."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
