"""POSIX specifics of the local backend: NFS retransmissions, the umask, directory fsync (store.md §9.1, §11)."""

from __future__ import annotations

import os
import stat

import pytest

from fstrack.store.store import open_store


def _retransmitted(real, error):
    """``real`` that takes effect and then reports ``error``, as an NFS retransmission of a call whose first
    attempt succeeded does (the server's reply was lost; the client sent it again)."""

    def call(src, dst, *args, **kwargs):
        real(src, dst, *args, **kwargs)
        raise error(f"retransmitted: {dst}")

    return call


def test_claim_answered_as_by_a_retransmission_is_won(tmp_path, monkeypatch):
    """claims.md §1.1: a claim whose operation took effect but was answered with an error is still won by its
    claimant, never taken by nobody (open-issues item 4: rename answered ENOENT)."""
    store = open_store(str(tmp_path / "s"))
    assert store.backend.create("queues/q/entries/e1", b"payload")
    monkeypatch.setattr(os, "rename", _retransmitted(os.rename, FileNotFoundError))
    monkeypatch.setattr(os, "link", _retransmitted(os.link, FileExistsError))
    assert store.backend.claim("queues/q/entries/e1", "queues/q/claimed/e1") == b"payload"
    monkeypatch.undo()
    assert store.backend.exists("queues/q/claimed/e1")
    assert not store.backend.exists("queues/q/entries/e1")
    assert store.backend.claim("queues/q/entries/e1", "queues/q/claimed/e1") is None


def test_files_follow_the_umask_of_the_moment(tmp_path):
    """store.md §9.1: mode 0666 & ~umask, with the umask in force when the file is written, not at import."""
    store = open_store(str(tmp_path / "s"))
    previous = os.umask(0o002)
    try:
        store.backend.create("a/shared", b"x")
        store.backend.replace("a/beat", b"x")
        os.umask(0o077)
        store.backend.create("a/private", b"x")
    finally:
        os.umask(previous)
    modes = {name: stat.S_IMODE(os.stat(tmp_path / "s" / "a" / name).st_mode) for name in ("shared", "beat", "private")}
    assert modes == {"shared": 0o664, "beat": 0o664, "private": 0o600}


@pytest.fixture
def fsynced(monkeypatch):
    """The paths of the files and directories fsync(2) is called on (the calls still happen)."""
    paths: list[str] = []
    real = os.fsync

    def spy(fd):
        paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return paths


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to name fsynced descriptors")
def test_fsync_on_makes_new_names_and_directories_durable(tmp_path, fsynced):
    """store.md §11: with fsync on, the directory gaining a name is fsynced after link/rename, and so is each new
    directory and the directory that gained it (open-issues item 6)."""
    root = tmp_path / "s"
    store = open_store(str(root), fsync=True)
    fsynced.clear()
    assert store.backend.create("refs/t/00000000000000000001", b"entry")
    assert {str(root / "refs"), str(root / "refs" / "t")} <= set(fsynced), fsynced
    assert str(root) in fsynced, "the new refs/ directory is made durable in the store root"
    fsynced.clear()
    store.backend.replace("heartbeats/x", b"beat")
    assert str(root / "heartbeats") in fsynced


def test_fsync_off_fsyncs_nothing(tmp_path, fsynced):
    store = open_store(str(tmp_path / "s"))
    store.backend.create("refs/t/00000000000000000001", b"entry")
    assert fsynced == []
