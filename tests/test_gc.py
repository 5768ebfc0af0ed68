"""Garbage collection: two phases with a grace period, what it keeps (shared, kept, late-linked objects), the
writer's re-check, the lock, the dry run, output stores, and GC running while other processes upload."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fstrack
from fstrack import Task
from fstrack.sdk import artifacts, current
from fstrack.store import gc
from fstrack.store.objects import BlobId
from fstrack.store.refs import Refs
from fstrack.store.store import object_key, open_store


@pytest.fixture
def gc_store(request, location_factory, tmp_path, monkeypatch):
    loc = location_factory(getattr(request, "param", "local"))
    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    artifacts.set_cache_dir(None)
    fstrack.set_store(loc.url, **loc.storage_options)
    current.main = None
    yield loc
    current.main = None


def grace_for(loc) -> float:
    return 1.0 if loc.name in ("local", "memory") else 2.0  # object stores keep modification times to the second


def collect(store, grace, **kwargs):
    return gc.collect(store, grace_seconds=grace, allow_short_grace=True, **kwargs)


def live_links_missing(store) -> list[str]:
    """Links from the roots the collector keeps whose objects are not under objects/ (what fsck would report)."""
    mark = gc._mark(store)
    return sorted(oid for oid in mark.reachable if not store.has(oid))


def payload(tmp_path: Path, name: str, size: int = 30_000, seed: int | None = None) -> Path:
    path = tmp_path / name
    rng = random.Random(seed if seed is not None else name)
    path.write_bytes(rng.randbytes(size))
    return path


@pytest.mark.parametrize("gc_store", ["local", "memory", "s3", "azure", "gcs"], indirect=True)
def test_two_phases_reclaim_only_old_unreachable_objects(gc_store, tmp_path):
    store = fstrack.records.config.get_store()
    grace = grace_for(gc_store)
    task = Task.create(project_name="gc", task_name="kept")
    task.upload_artifact("keep", str(payload(tmp_path, "keep.bin")), wait_on_upload=True)
    garbage = store.put(b"nobody links me" * 100)
    time.sleep(grace + 1.1)
    young = store.put(b"written just now, not linked yet")
    first = collect(store, grace)
    assert first.planned == 1 and first.deleted == 0
    assert not store.has(garbage) and store.has(young), "phase 1 moves old garbage to the trash, nothing else"
    assert gc.read_object(store, garbage) == b"nobody links me" * 100, "readers still find it in the trash"
    second = collect(store, grace)
    assert second.deleted == 0 and second.waiting_plans, "phase 2 waits a grace period after phase 1"
    time.sleep(grace + 1.1)
    third = collect(store, grace)
    assert third.deleted == 1 and third.deleted_bytes == len(b"nobody links me" * 100)
    assert gc.find_trashed(store, garbage) is None
    with pytest.raises(fstrack.errors.ObjectNotFoundError):
        gc.read_object(store, garbage)
    assert third.planned == 1  # `young` is old by now, and still unlinked
    assert (
        Path(Task.get_task(task_id=task.id).artifacts["keep"].get_local_copy()).read_bytes()
        == (tmp_path / "keep.bin").read_bytes()
    )
    assert live_links_missing(store) == []


def test_grace_period_must_be_credible(gc_store):
    store = fstrack.records.config.get_store()
    with pytest.raises(ValueError, match="grace"):
        gc.collect(store, grace_seconds=5)
    assert gc.collect(store, grace_seconds=3600).planned == 0


@pytest.mark.parametrize("gc_store", ["local", "s3"], indirect=True)
def test_deleting_a_task_frees_only_what_nothing_else_links(gc_store, tmp_path):
    store = fstrack.records.config.get_store()
    grace = grace_for(gc_store)
    shared, own = payload(tmp_path, "shared.bin"), payload(tmp_path, "own.bin")
    a = Task.create(project_name="gc", task_name="a")
    a.upload_artifact("shared", str(shared))
    a.upload_artifact("own", str(own))
    a.flush(wait_for_uploads=True)
    b = Task.create(project_name="gc", task_name="b")
    b.upload_artifact("shared under another name", str(shared), wait_on_upload=True)
    own_id, shared_id = a.artifacts["own"].hash, a.artifacts["shared"].hash
    a_manifests = [m for m in a.history()]
    assert a.delete()
    time.sleep(grace + 1.1)
    dry = collect(store, grace, dry_run=True)
    assert dry.planned >= 1 + len(a_manifests) and store.has(own_id)
    collect(store, grace)
    time.sleep(grace + 1.1)
    freed = collect(store, grace)
    assert freed.deleted >= 1 + len(a_manifests)
    assert not store.has(own_id) and gc.find_trashed(store, own_id) is None
    assert store.has(shared_id), "an object another task links survives its first task's deletion"
    assert (
        Path(
            Task.get_task(task_id=b.id).artifacts["shared under another name"].get_local_copy(force_download=True)
        ).read_bytes()
        == shared.read_bytes()
    )
    assert live_links_missing(store) == []


def test_dry_run_changes_nothing_and_says_what_it_would_free(gc_store, tmp_path):
    store = fstrack.records.config.get_store()
    a = Task.create(project_name="gc", task_name="a")
    a.upload_artifact("x", str(payload(tmp_path, "x.bin", 123_456)), wait_on_upload=True)
    a.delete()
    time.sleep(1.2)
    before = sorted((e.key, e.size) for e in store.backend.walk(""))
    result = gc.gc_command(store.url, dry_run=True, grace_seconds=1, allow_short_grace=True)
    after = sorted((e.key, e.size) for e in store.backend.walk(""))
    assert before == after
    assert result["dry_run"] and result["planned"] >= 2 and result["planned_bytes"] >= 123_456
    assert "would move" in result["text"] and result["url"] == store.url


def test_delete_keeps_outputs_when_asked(gc_store, tmp_path):
    store = fstrack.records.config.get_store()
    kept_all = Task.create(project_name="gc", task_name="kept")
    kept_all.upload_artifact("k", str(payload(tmp_path, "k.bin")), wait_on_upload=True)
    chosen = Task.create(project_name="gc", task_name="chosen")
    chosen.upload_artifact("keep me", str(payload(tmp_path, "keep-me.bin")))
    chosen.upload_artifact("drop me", str(payload(tmp_path, "drop-me.bin")))
    chosen.flush(wait_for_uploads=True)
    ids = {n: chosen.artifacts[n].hash for n in ("keep me", "drop me")}
    k_id = kept_all.artifacts["k"].hash
    seen = []
    assert kept_all.delete(delete_artifacts_and_models=False)
    assert chosen.delete(
        delete_artifacts_and_models=False,
        callback=lambda kind, url: seen.append((kind, url)) or url.endswith(ids["drop me"][2:]),
    )
    assert sorted(k for k, _ in seen) == ["artifact", "artifact"]
    time.sleep(1.2)
    collect(store, 1)
    time.sleep(1.2)
    collect(store, 1)
    assert store.has(k_id) and store.has(ids["keep me"]) and not store.has(ids["drop me"])


def test_an_object_linked_after_phase_1_is_restored(gc_store, tmp_path):
    store = fstrack.records.config.get_store()
    lost = store.put(b"garbage that a late writer links" * 50)
    time.sleep(1.2)
    assert collect(store, 1).planned == 1 and not store.has(lost)
    # a writer that checked for the object before phase 1 moved it commits a link to it now
    Refs(store).append("tests/late-writer", {"blob": BlobId(lost)})
    time.sleep(1.2)
    report = collect(store, 1)
    assert report.restored == 1 and report.deleted == 0
    assert store.get(lost) == b"garbage that a late writer links" * 50


def test_the_uploader_rechecks_what_it_deduplicated_against(gc_store, tmp_path, monkeypatch):
    store = fstrack.records.config.get_store()
    data = payload(tmp_path, "dup.bin")
    oid = store.put(data.read_bytes())  # garbage with the same bytes, about to be collected
    real = artifacts.put_local_file

    def collected_meanwhile(target, path):
        result = real(target, path)
        assert result[2], "the upload deduplicated against the existing object"
        target.backend.move(object_key(oid), gc.trash_key("0000000000000-test", oid))  # phase 1 of a collector
        return result

    monkeypatch.setattr(artifacts, "put_local_file", collected_meanwhile)
    task = Task.create(project_name="gc", task_name="recheck")
    task.upload_artifact("dup", str(data), wait_on_upload=True)
    assert store.has(oid), "after committing, the uploader found the object gone and stored it again"
    assert live_links_missing(store) == []


def test_one_collector_at_a_time(gc_store):
    store = fstrack.records.config.get_store()
    holder = gc._Lock(store)
    holder.acquire()
    with pytest.raises(gc.GCBusyError, match="another garbage collection"):
        collect(store, 1)
    holder.release()
    collect(store, 1)
    stale = gc._Lock(store)
    stale.acquire()
    old = time.time() - gc.LOCK_STALE_SECONDS - 60
    os.utime(store.backend.path(gc.LOCK_KEY), (old, old))
    collect(store, 1)  # a dead collector's lock is broken
    assert not store.backend.exists(gc.LOCK_KEY)


def test_output_store_objects_are_pinned_until_the_task_goes(gc_store, location_factory, tmp_path):
    out = location_factory("local")
    out_store = open_store(out.url)
    keep = Task.create(project_name="gc", task_name="keeps")
    keep.output_uri = out.url
    keep.upload_artifact("w", str(payload(tmp_path, "w1.bin")), wait_on_upload=True)
    gone = Task.create(project_name="gc", task_name="goes")
    gone.output_uri = out.url
    gone.upload_artifact("w", str(payload(tmp_path, "w2.bin")), wait_on_upload=True)
    keep_id, gone_id = keep.artifacts["w"].hash, gone.artifacts["w"].hash
    time.sleep(1.2)
    assert collect(out_store, 1).planned == 0, "the pins are roots in the output store"
    gone.delete()
    time.sleep(1.2)
    collect(out_store, 1)
    time.sleep(1.2)
    collect(out_store, 1)
    assert out_store.has(keep_id) and not out_store.has(gone_id)


# -- GC while other processes upload ------------------------------------------------------------------------------

WRITER = """
import json, os, random, sys, time
from fstrack import Task

def content(i):
    return random.Random(i).randbytes(20_000)

worker, rounds, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rng = random.Random(worker)
live = []
for r in range(rounds):
    task = Task.create(project_name="race", task_name=f"{worker}-{r}")
    names = {}
    for j in range(3):
        i = rng.randrange(20) if j < 2 else 10_000 + hash((worker, r)) % 10_000  # garbage bytes, then fresh ones
        path = os.path.join(folder, f"{worker}-{r}-{j}.bin")
        with open(path, "wb") as f:
            f.write(content(i))
        task.upload_artifact(f"a{j}", path, delete_after_upload=True)
        names[f"a{j}"] = i
    assert task.flush(wait_for_uploads=True)
    if r % 4 == 3:
        task.delete()        # new garbage while the collector runs
    else:
        live.append({"task": task.id, "artifacts": names})
print(json.dumps(live))
"""

COLLECTOR = """
import os, sys, time
from fstrack.store import gc, open_store
import json
store = open_store(os.environ["FSTRACK_URL"], create=False, **json.loads(os.environ["FSTRACK_STORAGE_OPTIONS"]))
grace, stop = float(sys.argv[1]), sys.argv[2]
runs = planned = deleted = restored = 0
while not os.path.exists(stop):
    report = gc.collect(store, grace_seconds=grace, allow_short_grace=True)
    runs += 1
    planned += report.planned
    deleted += report.deleted
    restored += report.restored
    time.sleep(0.05)
print(runs, planned, deleted, restored)
"""


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_gc_while_other_processes_upload_loses_nothing(backend, location_factory, tmp_path, monkeypatch):
    loc = location_factory(backend)
    grace = grace_for(loc)
    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    fstrack.set_store(loc.url, **loc.storage_options)
    store = fstrack.records.config.get_store()
    # garbage: twenty contents of a deleted task, old enough to be collected at once
    old = Task.create(project_name="race", task_name="garbage")
    for i in range(20):
        path = tmp_path / f"g{i}.bin"
        path.write_bytes(random.Random(i).randbytes(20_000))
        old.upload_artifact(f"g{i}", str(path))
    old.flush(wait_for_uploads=True)
    old.delete()
    time.sleep(grace + 1.1)

    env = {
        **os.environ,
        **loc.env,
        "FSTRACK_URL": loc.url,
        "FSTRACK_STORAGE_OPTIONS": json.dumps(loc.storage_options),
        "FSTRACK_CACHE_DIR": str(tmp_path / "child-cache"),
    }
    (tmp_path / "writer.py").write_text(WRITER)
    (tmp_path / "collector.py").write_text(COLLECTOR)
    stop = tmp_path / "stop"
    collector = subprocess.Popen(
        [sys.executable, str(tmp_path / "collector.py"), str(grace), str(stop)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    rounds = 12 if backend == "local" else 16
    writers = [
        subprocess.Popen(
            [sys.executable, str(tmp_path / "writer.py"), f"w{n}", str(rounds), str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    live = []
    for w in writers:
        out, err = w.communicate(timeout=400)
        assert w.returncode == 0, err[-3000:]
        live.extend(json.loads(out.strip().splitlines()[-1]))
    stop.touch()
    out, err = collector.communicate(timeout=400)
    assert collector.returncode == 0, err[-3000:]
    runs, planned, deleted, restored = map(int, out.split())
    print("collector:", runs, "runs", planned, "planned", deleted, "deleted", restored, "restored")
    assert runs >= 2, "the collector ran while the writers uploaded"
    # let every plan come due and finish
    for _ in range(2):
        time.sleep(grace + 1.1)
        deleted += collect(store, grace).deleted
    assert live_links_missing(store) == []
    fstrack.set_store(loc.url, **loc.storage_options)
    for entry in live:
        task = Task.get_task(task_id=entry["task"])
        for name, i in entry["artifacts"].items():
            art = task.artifacts[name]
            assert store.has(art.hash), f"{name} of {entry['task']} lost"
            assert Path(art.get_local_copy(force_download=True)).read_bytes() == random.Random(i).randbytes(20_000)
    assert planned > 0 and deleted > 0, (runs, planned, deleted, restored)
