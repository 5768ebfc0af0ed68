"""The machine-local cache of artifact and model files: handed out read-only, trusted only while unchanged.

Files in the cache are named by content hash and shared by every task (and model) with the same bytes, so an
edit of one handed-out path would change what every later reader gets. Each cached file is therefore made
read-only once verified, with a record of its size, modification time and inode next to it (``.<name>.verified``);
a file whose record no longer matches (someone wrote to it anyway: root, or ``chmod``) is hashed again, and
downloaded again if its bytes changed. Extracted archives get one record for the whole folder.
"""

from __future__ import annotations

import json
import os
import stat

from fstrack.store.transfer import hash_file

_READ_ONLY = ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def _record_path(path: str) -> str:
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.verified")


def _fingerprint(path: str) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def seal(path: str) -> None:
    """Mark a freshly verified cache file read-only and record what it looked like."""
    os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) & _READ_ONLY)
    _write_record(_record_path(path), _fingerprint(path))


def _write_record(record: str, value: object) -> None:
    partial = f"{record}.{os.getpid()}.partial"
    with open(partial, "w", encoding="utf-8") as f:
        json.dump(value, f)
    os.replace(partial, record)


def _read_record(record: str) -> object:
    try:
        with open(record, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def holds(path: str, oid: str) -> bool:
    """Whether the cache file ``path`` still holds object ``oid`` (re-hashed when it changed since sealed; a
    file that no longer matches is removed)."""
    try:
        fingerprint = _fingerprint(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if _read_record(_record_path(path)) == fingerprint:
        return True
    digest, _size = hash_file(path)
    if digest == oid:
        seal(path)
        return True
    os.unlink(path)
    return False


def _tree_fingerprint(folder: str) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for directory, _dirs, files in os.walk(folder):
        for name in files:
            full = os.path.join(directory, name)
            st = os.lstat(full)
            found[os.path.relpath(full, folder)] = [st.st_size, st.st_mtime_ns, st.st_ino]
    return found


def seal_tree(folder: str) -> None:
    """Mark every file of a freshly extracted folder read-only and record the folder's state."""
    for directory, _dirs, files in os.walk(folder):
        for name in files:
            full = os.path.join(directory, name)
            os.chmod(full, stat.S_IMODE(os.lstat(full).st_mode) & _READ_ONLY)
    _write_record(_record_path(folder), _tree_fingerprint(folder))


def tree_unchanged(folder: str) -> bool:
    """Whether an extracted folder is as it was sealed (no file added, removed or written since)."""
    return os.path.isdir(folder) and _read_record(_record_path(folder)) == _tree_fingerprint(folder)
