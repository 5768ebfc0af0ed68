"""Smoke tests for the test servers and the behaviours fstrack relies on.

These check the *fixtures* (and the backends' fsspec drivers), not fstrack.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os

import fsspec
import pytest
from servers import StoreLocation, location_fs


def _fs(loc: StoreLocation):
    fs, root = location_fs(loc)
    if loc.name == "local":
        fs.makedirs(root, exist_ok=True)  # object stores need no directories
    return fs, root


def test_location_contract(store_location):
    loc = store_location
    assert loc.name in ("local", "memory", "s3", "azure", "gcs")
    assert loc.storage_options["use_listings_cache"] is False
    assert loc.storage_options["skip_instance_cache"] is True
    assert isinstance(loc.env, dict)
    json.dumps(loc.storage_options)  # plain data: can go to a subprocess as JSON
    fs, root = location_fs(loc)
    assert not fs.exists(root + "/anything")


def test_pipe_cat_ls_rm(store_location):
    fs, root = _fs(store_location)
    if store_location.name == "local":
        fs.makedirs(f"{root}/a", exist_ok=True)
    fs.pipe_file(f"{root}/a/one", b"1")
    fs.pipe_file(f"{root}/a/two", b"")
    assert fs.cat_file(f"{root}/a/one") == b"1"
    assert fs.cat_file(f"{root}/a/two") == b""
    names = sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(f"{root}/a", detail=False))
    assert names == ["one", "two"]
    fs.rm_file(f"{root}/a/one")
    assert not fs.exists(f"{root}/a/one")
    with pytest.raises(FileNotFoundError):
        fs.cat_file(f"{root}/a/one")


@pytest.mark.parametrize("data", [b"x", b""], ids=["nonempty", "empty"])
def test_create_only_refuses_existing(object_store_location, data):
    """pipe_file(mode="create") never overwrites (gcsfs: small-object path)."""
    fs, root = _fs(object_store_location)
    path = f"{root}/k"
    fs.pipe_file(path, data, mode="create")
    with pytest.raises((FileExistsError, OSError)):
        fs.pipe_file(path, b"other", mode="create")
    assert fs.cat_file(path) == data


def _child_roundtrip(loc: StoreLocation, q) -> None:
    try:
        fs, root = location_fs(loc)
        q.put(fs.cat_file(f"{root}/from-parent"))
        fs.pipe_file(f"{root}/from-child", b"child")
    except BaseException as exc:  # noqa: BLE001
        q.put(repr(exc))


def test_child_process_sees_same_store(object_store_location):
    loc = object_store_location
    fs, root = _fs(loc)
    fs.pipe_file(f"{root}/from-parent", b"parent")
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    old = {k: os.environ.get(k) for k in loc.env}
    os.environ.update(loc.env)
    try:
        p = ctx.Process(target=_child_roundtrip, args=(loc, q))
        p.start()
        got = q.get(timeout=120)
        p.join(60)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert got == b"parent"
    assert p.exitcode == 0
    assert fs.cat_file(f"{root}/from-child") == b"child"


def test_locations_are_unique(location_factory):
    a = location_factory("memory")
    b = location_factory("memory")
    assert a.url != b.url
    fs = fsspec.filesystem("memory")
    fs.pipe_file(a.url + "/x", b"1")
    assert not fs.exists(b.url + "/x")
