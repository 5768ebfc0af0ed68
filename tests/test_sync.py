"""push / pull / watch between stores (spec/sync.md).

Every test builds small real stores with the Task API (tasks with parameters, scalars flushed in several
segments and compacted at close, console text, a plot, a debug image, artifacts, a model, a deleted task),
copies them, and checks the destination byte for byte: every object and sequence entry of the source is
in the destination with the same bytes, fsck finds nothing, and every task's ``export_task()`` and
``fstrack.scalars`` read the same on both sides.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest

import fstrack
from fstrack import Task
from fstrack.records import config
from fstrack.records.taskdb import TaskDB
from fstrack.store.fsck import fsck
from fstrack.store.store import open_store
from fstrack.sync.engine import SyncError, SyncProgress, _walk, format_progress, pull, push, watch

WRITES = ("create", "upload", "replace", "delete")


# -- helpers ---------------------------------------------------------------------------------------------------
pytestmark = pytest.mark.usefixtures("isolated_tasks")


@contextmanager
def using(loc):
    """Point the Task API at a location for the duration."""
    saved = config._explicit
    fstrack.set_store(loc.url, **loc.storage_options)
    try:
        yield
    finally:
        config._explicit = saved


def opened(loc, create=True):
    return open_store(loc.url, create=create, **loc.storage_options)


def add_task(
    i: int, project: str = "sync/a", *, scalars: int = 30, flushes: int = 3, artifacts: bool = True, close: bool = True
) -> Task:
    """A finished task: parameters, scalars in ``flushes`` segments (compacted at close), text, a plot, a debug
    image and two artifacts (one with the same bytes in every task)."""
    task = Task.create(project_name=project, task_name=f"run {i}")
    task.set_parameters({"General/lr": 0.1 * (i + 1), "General/epochs": i})
    task.mark_started()
    logger = task.get_logger()
    step = max(1, scalars // flushes)
    for it in range(scalars):
        logger.report_scalar("loss", "train", 1.0 / (it + 1) + i, it)
        logger.report_scalar("loss", "val", 2.0 / (it + 1) + i, it)
        if (it + 1) % step == 0:
            task.flush()
    logger.report_text(f"task {i} says hello", print_console=False)
    logger.report_histogram("hist", "h", values=[1, 2, 3 + i], iteration=1)
    logger.report_image("images", "sample", iteration=1, image=np.full((4, 4), i, dtype=np.uint8))
    if artifacts:
        task.upload_artifact("config", {"i": i}, wait_on_upload=True)
        task.upload_artifact("shared", {"same": "bytes in every task"}, wait_on_upload=True)
    if close:
        task.close()
    return task


def build(loc, n: int = 4, *, model: bool = True, deleted: bool = True, offset: int = 0) -> list[str]:
    """A source store with ``n`` finished tasks in two projects, a model on the first, and a deleted task."""
    ids = []
    with using(loc):
        for i in range(n):
            ids.append(add_task(i + offset, "sync/a" if i % 2 else "sync/b/deep").id)
        if model:
            from fstrack.sdk.models import OutputModel

            task = Task.get_task(task_id=ids[0])
            weights = os.path.join(os.environ["FSTRACK_CACHE_DIR"], f"net-{offset}.bin")
            os.makedirs(os.path.dirname(weights), exist_ok=True)
            with open(weights, "wb") as f:
                f.write(b"weights" * 10)
            out = OutputModel(task=task, name="net", framework="PyTorch")
            out.update_weights(weights, iteration=3, auto_delete_file=False, async_enable=False)
        if deleted:
            gone = add_task(99 + offset, "sync/a", scalars=4, flushes=1, artifacts=False)
            gone.delete()
    return ids


def snapshot(store, prefixes=("objects", "refs", "index/projects")) -> dict[str, bytes]:
    """Every key (and its bytes) under ``prefixes``: what a faithful copy must reproduce exactly."""
    keys = [key for prefix in prefixes for key, _s, _m in _walk(store, prefix, False)]
    keys = [key for key in keys if not key.startswith("refs/index/")]  # each store's own index checkpoints
    data = store.backend.read_many(keys)
    assert len(data) == len(keys)
    return data


def summaries(store) -> set[str]:
    """The newest summary name of every task and model (what a reader of the index uses)."""
    newest = {}
    for folder in ("index/tasks", "index/models"):
        for name in store.backend.list(folder):
            record, _, pos = name.partition(".")
            newest[(folder, record)] = max(newest.get((folder, record), ""), pos)
    return {f"{folder}/{record}.{pos}" for (folder, record), pos in newest.items()}


def task_views(loc) -> dict[str, tuple]:
    """Each live task's export and its scalars (as plain rows), read through the Task API."""
    with using(loc):
        views = {}
        for task in Task.get_tasks(task_filter={"search_hidden": True}):
            data = task.export_task()
            views[task.id] = (
                data,
                task.get_all_reported_scalars(),
                task.get_reported_console_output(10),
                {name: a.hash for name, a in task.artifacts.items()},
            )
        table = fstrack.scalars(loc.url, **loc.storage_options)
        rows = sorted(map(tuple, (r.values() for r in table.to_pylist())), key=repr)
    return {"tasks": views, "scalars": rows}


def assert_same(src_loc, dst_loc, *, exact: bool = True, views: bool = True):
    """The destination holds everything of the source, byte for byte, and reads the same."""
    src, dst = opened(src_loc, False), opened(dst_loc, False)
    report = fsck(dst)
    assert report.ok, report.errors[:5]
    a, b = snapshot(src), snapshot(dst)
    missing = sorted(set(a) - set(b))
    assert not missing, missing[:5]
    assert all(a[k] == b[k] for k in a), [k for k in a if a[k] != b[k]][:5]
    if exact:
        assert set(a) == set(b), sorted(set(b) - set(a))[:5]
        assert summaries(src) == summaries(dst)
    if views:
        assert task_views(src_loc) == task_views(dst_loc)


def assert_no_dangling(store) -> None:
    """What a reader of a half-pushed destination must never see: an entry (or a document it reaches) linking an
    object that is not there, or a gap in a sequence. Like fsck without hashing every blob (cheap on S3)."""
    from fstrack.store.objects import DocId, iter_links, unpack
    from fstrack.store.refs import entry_value

    objects = {key[8:10] + key[11:] for key, _s, _m in _walk(store, "objects", False)}
    entries = [key for key, _s, _m in _walk(store, "refs", False) if key.rpartition("/")[2].isdigit()]
    positions: dict[str, list[int]] = {}
    for key in entries:
        directory, _, name = key.rpartition("/")
        positions.setdefault(directory, []).append(int(name))
    for directory, found in positions.items():
        assert sorted(found) == list(range(1, len(found) + 1)), f"gap in {directory}: {sorted(found)}"
    frontier = [link for data in store.backend.read_many(entries).values() for link in iter_links(entry_value(data))]
    seen: set[str] = set()
    while frontier:
        level = [link for link in dict.fromkeys(frontier) if link not in seen]
        seen.update(level)
        dangling = [link for link in level if link not in objects]
        assert not dangling, f"entries link missing objects {dangling[:3]}"
        docs = [f"objects/{d[:2]}/{d[2:]}" for d in level if isinstance(d, DocId)]
        frontier = [link for data in store.backend.read_many(docs).values() for link in iter_links(unpack(data))]


class Counting:
    """Counts a store's backend calls by name (wraps the bound methods of one Store object)."""

    def __init__(self, store, names=("read", "read_many", "exists", "info", *WRITES, "list", "walk")):
        self.store, self.calls = store, {}
        for name in names:
            original = getattr(store.backend, name)

            def wrapper(*args, _name=name, _original=original, **kwargs):
                self.calls[_name] = self.calls.get(_name, 0) + 1
                return _original(*args, **kwargs)

            setattr(store.backend, name, wrapper)

    def writes(self) -> int:
        return sum(self.calls.get(n, 0) for n in WRITES)


# -- round trips -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("middle", ["memory", "local", "s3"])
def test_round_trip_is_byte_for_byte(location_factory, middle):
    source, there, back = location_factory("local"), location_factory(middle), location_factory("local")
    build(source, 2 if middle == "s3" else 4)
    first = push(source.url, there.url, dst_options=there.storage_options)
    assert first["objects_copied"] > 0 and first["refs_appended"] > 0 and not first["errors"]
    assert not first["conflicts"] and first["objects_failed"] == 0
    assert_same(source, there)
    second = pull(there.url, back.url, src_options=there.storage_options)
    assert second["objects_copied"] == first["objects_copied"]
    assert second["refs_appended"] == first["refs_appended"]
    assert_same(source, back)


@pytest.mark.servers
def test_round_trip_on_azurite(location_factory):
    source, there, back = location_factory("local"), location_factory("azure"), location_factory("local")
    build(source, 1, deleted=False)
    push(source.url, there.url, dst_options=there.storage_options)
    pull(there.url, back.url, src_options=there.storage_options)
    assert_same(source, there)
    assert_same(source, back)


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_second_push_transfers_nothing_and_only_lists(location_factory, backend):
    source, dest = location_factory("local"), location_factory(backend)
    build(source, 2)
    push(source.url, dest.url, dst_options=dest.storage_options)
    src, dst = Counting(opened(source, False)), Counting(opened(dest, False))
    again = push(src.store, dst.store)
    assert (again["objects_copied"], again["refs_appended"], again["index_copied"], again["records_copied"]) == (
        0,
        0,
        0,
        0,
    )
    assert again["objects_skipped"] > 0 and again["sequences"] > 0
    # nothing is read but the format markers, nothing is written: a few listings per side
    assert dst.writes() == 0 and src.writes() == 0
    for counter in (src, dst):
        assert counter.calls.get("read_many", 0) == 0 and counter.calls.get("exists", 0) == 0, counter.calls
        assert counter.calls.get("read", 0) <= 1, counter.calls  # the marker, for the state file's name
        assert counter.calls.get("walk", 0) <= 4, counter.calls


def test_incremental_push_copies_only_what_is_new(location_factory):
    source, dest = location_factory("local"), location_factory("memory")
    ids = build(source, 2, model=False, deleted=False)
    push(source.url, dest.url)
    with using(source):
        task = Task.get_task(task_id=ids[0])
        task.mark_started(force=True)
        task.get_logger().report_scalar("loss", "train", 42.0, 100)
        task.set_comment("continued")
        task.close()
        add_task(7)
    again = push(source.url, dest.url)
    assert 0 < again["objects_copied"] < 30
    assert again["refs_appended"] >= 3 and not again["conflicts"]
    assert_same(source, dest)


def test_dry_run_writes_nothing(location_factory):
    source, dest = location_factory("local"), location_factory("local")
    build(source, 2, model=False)
    plan = push(source.url, dest.url, dry_run=True)
    assert plan["dry_run"] and plan["objects_copied"] > 0 and plan["refs_appended"] > 0
    assert not os.path.exists(dest.url)
    done = push(source.url, dest.url)
    assert (done["objects_copied"], done["refs_appended"]) == (plan["objects_copied"], plan["refs_appended"])


def test_progress_reports_files_bytes_and_rate(location_factory):
    source, dest = location_factory("local"), location_factory("memory")
    build(source, 2, model=False, deleted=False)
    seen: list[SyncProgress] = []
    summary = push(source.url, dest.url, progress=seen.append, workers=4)
    phases = [p.phase for p in seen]
    assert phases[0] == "listing" and phases[-1] == "done" and "objects" in phases and "refs" in phases
    last_objects = [p for p in seen if p.phase == "objects"][-1]
    assert last_objects.files_done == last_objects.files_total == summary["objects_copied"]
    assert last_objects.bytes_done == last_objects.bytes_total == summary["bytes_copied"]
    assert last_objects.rate > 0
    json.dumps([p.as_dict() for p in seen])
    json.dumps(summary)
    line = format_progress(last_objects)
    assert f"{summary['objects_copied']}/{summary['objects_copied']} objects" in line and "/s" in line


def test_same_store_and_bad_arguments_are_refused(location_factory):
    source = location_factory("local")
    build(source, 1, model=False, deleted=False)
    with pytest.raises(SyncError, match="same store"):
        push(source.url, source.url + "/")
    with pytest.raises(SyncError, match="source store"):
        push(source.url + "-missing", location_factory("memory").url)
    with pytest.raises(SyncError, match="workers"):
        push(source.url, location_factory("memory").url, workers=0)


def test_defaults_push_the_offline_folder_and_pull_back(location_factory, monkeypatch, tmp_path):
    offline, team, laptop = location_factory("local"), location_factory("local"), tmp_path / "offline-again"
    build(offline, 1, model=False, deleted=False)
    monkeypatch.setenv("FSTRACK_OFFLINE_DIR", offline.url)
    monkeypatch.setenv("FSTRACK_URL", team.url)
    monkeypatch.setenv("FSTRACK_OFFLINE", "1")  # offline mode on: the configured store is still the target
    assert push()["objects_copied"] > 0
    assert_same(offline, team)
    monkeypatch.setenv("FSTRACK_OFFLINE_DIR", str(laptop))
    assert pull()["objects_copied"] > 0
    assert snapshot(opened(team, False)) == snapshot(open_store(str(laptop), create=False))


# -- merging ---------------------------------------------------------------------------------------------------
def test_diverged_task_head_is_reported_not_clobbered(location_factory):
    laptop, bucket = location_factory("local"), location_factory("memory")
    ids = build(laptop, 2, model=False, deleted=False)
    push(laptop.url, bucket.url)
    with using(bucket):
        Task.get_task(task_id=ids[0]).set_comment("edited in the bucket")
        Task.get_task(task_id=ids[1]).add_tags(["bucket-only"])  # only moved in the bucket: no conflict
    with using(laptop):
        Task.get_task(task_id=ids[0]).set_comment("edited on the laptop")
    report = push(laptop.url, bucket.url)
    assert [c["id"] for c in report["conflicts"]] == [ids[0]]
    conflict = report["conflicts"][0]
    assert conflict["kind"] == "task" and conflict["ref"] == f"tasks/{ids[0]}"
    assert conflict["source_head"] == conflict["destination_head"] == conflict["position"]
    with using(bucket):
        assert Task.get_task(task_id=ids[0]).comment == "edited in the bucket"
        assert "bucket-only" in Task.get_task(task_id=ids[1]).get_tags()
    assert push(laptop.url, bucket.url)["conflicts"] == report["conflicts"]  # reported until resolved
    assert fsck(opened(bucket, False)).ok
    # pulling brings the bucket-only change back (the laptop is behind there), the conflict stays
    back = pull(bucket.url, laptop.url)
    assert [c["id"] for c in back["conflicts"]] == [ids[0]]
    with using(laptop):
        assert "bucket-only" in Task.get_task(task_id=ids[1]).get_tags()


def test_diverged_segment_logs_merge_by_union(location_factory):
    laptop, bucket = location_factory("local"), location_factory("memory")
    with using(laptop):
        task = add_task(0, close=False, artifacts=False)
        task.flush()
        task_id = task.id
    push(laptop.url, bucket.url)
    with using(bucket):  # someone reports to the same task in the bucket
        other = Task.get_task(task_id=task_id)
        other.get_logger().report_scalar("loss", "bucket", 5.0, 1)
        other.flush()
    with using(laptop):
        task.get_logger().report_scalar("loss", "laptop", 7.0, 2)
        task.close()  # also compacts the laptop's log into a checkpoint
    report = push(laptop.url, bucket.url)
    assert report["logs_merged"] == [f"segments/{task_id}"]
    assert [c["ref"] for c in report["conflicts"]] == [f"tasks/{task_id}"]  # its head moved in both
    with using(bucket):
        series = Task.get_task(task_id=task_id).get_all_reported_scalars()["loss"]
    assert series["bucket"]["y"] == [5.0] and series["laptop"]["y"] == [7.0]
    assert len(series["train"]["y"]) == 30
    again = push(laptop.url, bucket.url)
    assert again["refs_appended"] == 0 and again["logs_merged"] == []
    assert fsck(opened(bucket, False)).ok


# -- filters -----------------------------------------------------------------------------------------------------
def test_filters_copy_the_closure_of_the_selected_tasks(location_factory):
    source = location_factory("local")
    ids = build(source, 4)
    model_task = ids[0]  # in sync/b/deep, with a model
    by_project = location_factory("memory")
    report = push(source.url, by_project.url, project="sync/b")
    assert report["tasks"] == 2 and not report["errors"]
    assert fsck(opened(by_project, False)).ok
    with using(by_project):
        assert sorted(t.id for t in Task.get_tasks()) == sorted([ids[0], ids[2]])
        task = Task.get_task(task_id=model_task)
        assert task.artifacts["config"].get() == {"i": 0}
        assert len(task.get_all_reported_scalars()["loss"]["train"]["x"]) == 30
        assert task.get_debug_samples("images", "sample")
        model = task.models["output"][0]
        assert open(model.get_local_copy(), "rb").read() == b"weights" * 10
        assert {p.name for p in Task.get_projects()} == {"sync", "sync/b", "sync/b/deep"}
    by_id = location_factory("memory")
    report = push(source.url, by_id.url, task_ids=[ids[1], "0" * 32])
    assert report["tasks"] == 2 and report["errors"] == [f"task {'0' * 32} is not in the source store"]
    by_filter = location_factory("memory")
    push(source.url, by_filter.url, task_filter={"status": ["completed"], "tags": []}, project="sync/a")
    with using(by_filter):
        assert sorted(t.id for t in Task.get_tasks()) == sorted([ids[1], ids[3]])
    # a filtered push followed by a full push completes the store exactly
    push(source.url, by_project.url)
    assert_same(source, by_project)
    assert push(source.url, by_project.url, project="sync/b")["refs_appended"] == 0


# -- crashes and concurrency -------------------------------------------------------------------------------------
KILLED_PUSH = f"""
import os, signal, sys, threading, json
from fstrack.store import open_store
from fstrack import sync
src_url, dst_json, kill_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
dst_loc = json.loads(dst_json)
os.environ.update(dst_loc["env"])
src = open_store(src_url, create=False)
dst = open_store(dst_loc["url"], **dst_loc["storage_options"])
if kill_at >= 1:  # die just before the kill_at-th write to the destination
    lock, count = threading.Lock(), [0]
    for name in {WRITES!r}:
        original = getattr(dst.backend, name)
        def wrapped(*args, _original=original, **kwargs):
            with lock:
                count[0] += 1
                if count[0] >= kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
            return _original(*args, **kwargs)
        setattr(dst.backend, name, wrapped)
print("ready", flush=True)
sys.stdin.readline()
print(json.dumps(sync.push(src, dst, workers=4)), flush=True)
"""


def _start_push(tmp_path, source, dest, kill_at: float) -> subprocess.Popen:
    script = tmp_path / "killed_push.py"
    script.write_text(textwrap.dedent(KILLED_PUSH))
    dst_json = json.dumps({"url": dest.url, "storage_options": dest.storage_options, "env": dest.env})
    proc = subprocess.Popen(
        [sys.executable, str(script), source.url, dst_json, str(kill_at)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **dest.env},
    )
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


def _check_consistent(dest) -> None:
    """What a reader of a half-pushed destination sees: no entry links a missing object, no gap, and every
    task it lists loads."""
    store = opened(dest, False)
    assert_no_dangling(store)
    db = TaskDB(store, cache_dir="")
    for record in db.records():
        db.load(record["id"])


@pytest.mark.timeout(600)
def test_push_killed_at_20_points_and_rerun_is_complete(location_factory, tmp_path):
    source = location_factory("local")
    build(source, 3)
    probe = Counting(opened(location_factory("local")))
    push(opened(source, False), probe.store)
    total = probe.writes()
    assert total > 100
    rng = random.Random(7)
    points = sorted(rng.sample(range(1, total + 1), 20))
    for number, kill_at in enumerate(points):
        dest = location_factory("local")
        proc = _start_push(tmp_path, source, dest, kill_at)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        proc.wait(timeout=120)
        assert proc.returncode == -signal.SIGKILL, (kill_at, proc.stderr.read()[-3000:])
        if os.path.exists(os.path.join(dest.url, "fstrack.json")):
            _check_consistent(dest)
        rerun = push(source.url, dest.url)
        assert not rerun["errors"] and not rerun["conflicts"]
        assert_same(source, dest, views=number == len(points) - 1)
        shutil.rmtree(dest.url)


@pytest.mark.servers
@pytest.mark.timeout(600)
def test_push_to_s3_killed_at_random_times_resumes(location_factory, tmp_path):
    source, dest = location_factory("local"), location_factory("s3")
    build(source, 2, deleted=False)
    rng = random.Random(11)
    started = time.monotonic()
    reference = push(source.url, location_factory("s3").url, dst_options=dest.storage_options)
    duration = time.monotonic() - started
    for _ in range(4):  # each run gets further: state and objects survive the kills
        proc = _start_push(tmp_path, source, dest, 0)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        time.sleep(rng.uniform(0.05, max(0.1, duration)))
        proc.kill()
        proc.wait(timeout=60)
        _check_consistent(dest)
    final = push(source.url, dest.url, dst_options=dest.storage_options)
    assert not final["errors"] and not final["conflicts"]
    assert final["objects_copied"] <= reference["objects_copied"]
    assert_same(source, dest)


LAPTOP = """
import json, sys
from fstrack import sync
dst = json.loads(sys.argv[2])
print("ready", flush=True)
sys.stdin.readline()
print(json.dumps(sync.push(sys.argv[1], dst["url"], dst_options=dst["storage_options"])), flush=True)
"""


@pytest.mark.servers
@pytest.mark.timeout(300)
def test_two_laptops_push_different_tasks_into_one_bucket_at_once(location_factory, tmp_path):
    laptops = [location_factory("local"), location_factory("local")]
    bucket = location_factory("s3")
    ids = [build(laptop, 2, offset=10 * k, deleted=k == 0) for k, laptop in enumerate(laptops)]
    script = tmp_path / "laptop.py"
    script.write_text(textwrap.dedent(LAPTOP))
    dst_json = json.dumps({"url": bucket.url, "storage_options": bucket.storage_options})
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), laptop.url, dst_json],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **bucket.env},
        )
        for laptop in laptops
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    for proc in procs:  # as close together as two writes to two pipes
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert all(not r["errors"] and not r["conflicts"] for r in results)
    store = opened(bucket, False)
    assert fsck(store).ok
    everything = snapshot(store)
    for laptop in laptops:
        mine = snapshot(opened(laptop, False), ("objects", "refs"))  # project records: the first creator's stands
        assert all(everything.get(k) == v for k, v in mine.items())
    with using(bucket):
        assert {t.id for t in Task.get_tasks()} == set(ids[0]) | set(ids[1])
        assert len(fstrack.scalars(bucket.url, **bucket.storage_options)) == 4 * 60


def test_same_folder_pushed_twice_at_once_lands_once(location_factory):
    source, dest = location_factory("local"), location_factory("memory")
    build(source, 3, model=False)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(push(source.url, dest.url, cache_dir=""))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(not r["conflicts"] and not r["errors"] for r in results)
    assert_same(source, dest)


def test_corrupt_source_object_is_reported_and_its_task_held_back(location_factory):
    source, dest = location_factory("local"), location_factory("memory")
    ids = build(source, 2, model=False, deleted=False)
    store = opened(source, False)
    with using(source):
        blob = Task.get_task(task_id=ids[0]).artifacts["config"].hash
    path = store.backend.path(f"objects/{blob[:2]}/{blob[2:]}")
    with open(path, "r+b") as f:
        f.write(b"X")
    report = push(source.url, dest.url)
    assert report["objects_failed"] == 1 and report["errors"]
    assert fsck(opened(dest, False)).ok  # nothing links what is missing
    with using(dest):
        assert ids[1] in {t.id for t in Task.get_tasks()}


# -- watch -------------------------------------------------------------------------------------------------------
@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", ["memory", "s3"])
def test_watch_mirrors_a_running_task_within_seconds(location_factory, backend):
    source, bucket = location_factory("local"), location_factory(backend)
    build(source, 1, model=False, deleted=False)
    stop = threading.Event()
    rounds: list[dict] = []
    result: dict = {}
    thread = threading.Thread(
        target=lambda: result.update(
            watch(
                source.url,
                bucket.url,
                dst_options=bucket.storage_options,
                stop_event=stop,
                interval=0.2,
                on_push=rounds.append,
            )
        )
    )
    thread.start()

    def seen(predicate, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with using(bucket):
                    if predicate():
                        return time.monotonic()
            except LookupError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"not mirrored within {timeout}s; rounds: {rounds[-3:]}")

    try:
        with using(source):
            task = add_task(5, close=False)
            task.flush()
        started = time.monotonic()
        seen(
            lambda: (
                Task.get_task(task_id=task.id).get_status() == "in_progress"
                and len(Task.get_task(task_id=task.id).get_all_reported_scalars()["loss"]["train"]["x"]) == 30
            )
        )
        assert time.monotonic() - started < 10
        with using(source):
            task.close()
        seen(lambda: Task.get_task(task_id=task.id).get_status() == "completed")
    finally:
        stop.set()
        thread.join(timeout=60)
    assert result["rounds"] >= 2 and not result["errors"]
    assert any(r["round"] == "changes" for r in rounds)
    push(source.url, bucket.url, dst_options=bucket.storage_options)
    assert_same(source, bucket)


def test_heartbeats_of_running_tasks_only(location_factory):
    source, dest = location_factory("local"), location_factory("memory")
    ids = build(source, 2, model=False, deleted=False)
    db = TaskDB(opened(source, False), cache_dir="")
    db.beat(ids[0], {"host": "laptop", "pid": 1, "time": time.time()})
    db.beat(ids[1], {"host": "laptop", "pid": 2, "time": time.time()})
    old = time.time() - 3600
    os.utime(db.store.backend.path(f"heartbeats/{ids[1]}"), (old, old))  # a task that died an hour ago
    assert push(source.url, dest.url)["heartbeats_copied"] == 1
    copied = TaskDB(opened(dest, False), cache_dir="")
    assert copied.store.backend.exists(f"heartbeats/{ids[0]}")
    assert not copied.store.backend.exists(f"heartbeats/{ids[1]}")


def test_listing_many_sequences_picks_from_one_listing(location_factory):
    from fstrack.store.refs import Refs
    from fstrack.sync.engine import _list_refs, _Listing

    store = opened(location_factory("local"))
    refs = Refs(store)
    keys = [f"segments/{i:032x}" for i in range(70)]
    for i, key in enumerate(keys):
        for _ in range(i % 3 + 1):
            refs.append(key, {"n": i})
    many, few = _Listing(), _Listing()
    _list_refs(store, many, only=keys + ["tasks/" + "f" * 32])
    for key in keys + ["tasks/" + "f" * 32]:
        _list_refs(store, few, only=[key])
    assert many.seqs == few.seqs and many.seqs[keys[4]] == 2 and many.seqs["tasks/" + "f" * 32] == 0


@pytest.mark.timeout(120)
def test_watch_survives_a_destination_that_is_down_for_a_while(location_factory):
    source, bucket = location_factory("local"), location_factory("memory")
    build(source, 1, model=False, deleted=False)
    dst = opened(bucket)
    down = threading.Event()
    original = dst.backend.create

    def flaky(key, data):
        if down.is_set():
            raise OSError("503 Slow Down")
        return original(key, data)

    dst.backend.create = flaky
    stop = threading.Event()
    rounds: list[dict] = []
    thread = threading.Thread(
        target=lambda: rounds.append(watch(source.url, dst, stop_event=stop, interval=0.1, on_push=rounds.append))
    )
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not rounds and time.monotonic() < deadline:
            time.sleep(0.05)
        down.set()
        with using(source):
            task = add_task(3, artifacts=False)
        deadline = time.monotonic() + 20
        while not any(r.get("round") == "failed" for r in rounds) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(r.get("round") == "failed" for r in rounds)
        down.clear()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with using(bucket):
                if (
                    task.id in {t.id for t in Task.get_tasks()}
                    and Task.get_task(task_id=task.id).get_status() == "completed"
                ):
                    break
            time.sleep(0.1)
        else:
            raise AssertionError(f"not mirrored after the destination came back: {rounds[-3:]}")
    finally:
        stop.set()
        thread.join(timeout=60)
    assert rounds[-1]["errors"] and rounds[-1]["rounds"] >= 2
    assert_same(source, bucket, views=False)


@pytest.mark.parametrize("backend", ["local", "memory"])
def test_large_objects_are_streamed_and_verified(location_factory, monkeypatch, backend):
    import fstrack.sync.engine as sync

    monkeypatch.setattr(sync, "STREAM_ABOVE", 1000)
    source, dest = location_factory("local"), location_factory(backend)
    store = opened(source)
    big = os.urandom(50_000)
    oid = store.put(big)
    from fstrack.store.objects import BlobId
    from fstrack.store.refs import Refs

    Refs(store).append("outputs/" + "a" * 32, {"task": "a" * 32, "kept": {"big": BlobId(oid)}, "time": 1.0})
    report = push(source.url, dest.url)
    assert report["objects_copied"] == 1 and report["bytes_copied"] == 50_000
    assert opened(dest, False).get(oid) == big
    assert_same(source, dest, views=False)
