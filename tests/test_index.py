"""The task index: checkpoints plus tail (spec/tasks.md §7), deleted tasks staying deleted, left-behind summaries
swept, concurrent writers and checkpointers in real processes, a checkpointer killed midway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from fstrack.records.modeldb import MODEL_KIND
from fstrack.records.taskdb import TaskDB, TaskNotFoundError, summarize
from fstrack.store.fsck import fsck
from fstrack.store.gc import classify_sequences, collect
from fstrack.store.objects import pack, unpack
from fstrack.store.store import open_store

LIMIT = 4  # FSTRACK_INDEX_TAIL in these tests: checkpoints after a few writes
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def index_store(request, location_factory, monkeypatch):
    monkeypatch.setenv("FSTRACK_INDEX_TAIL", str(LIMIT))
    loc = location_factory(request.param)
    for key, value in loc.env.items():
        monkeypatch.setenv(key, value)
    return loc, open_store(loc.url, **loc.storage_options)


BACKENDS = ["local", "memory", pytest.param("s3", marks=pytest.mark.servers)]
PROCESS_BACKENDS = ["local", pytest.param("s3", marks=pytest.mark.servers)]


def manifest(name: str = "t", **fields) -> dict:
    return {"id": uuid.uuid4().hex, "name": name, "project": "p", "status": "created", "tags": [], **fields}


def truth(db: TaskDB, ids) -> dict[str, dict]:
    """What the heads say: the summary of every live task's newest manifest."""
    found = {}
    for task_id in ids:
        try:
            found[task_id] = summarize(db.load(task_id))
        except TaskNotFoundError:
            pass
    return found


def listed(store) -> dict[str, dict]:
    """A fresh reader's listing (no cache)."""
    return {r["id"]: r for r in TaskDB(store, cache_dir="").records()}


def old_reader(store) -> dict[str, dict]:
    """A reader that knows nothing of checkpoints (spec/tasks.md §7 before them): newest summary per task."""
    newest: dict[str, str] = {}
    for name in store.backend.list("index/tasks"):
        task_id, _, _pos = name.partition(".")
        newest[task_id] = max(newest.get(task_id, ""), name)
    records = [unpack(store.backend.read(f"index/tasks/{n}")) for n in newest.values()]
    return {r["id"]: r for r in records if not r.get("deleted")}


def checkpoints(store) -> list[str]:
    return store.backend.list("refs/index/tasks")


def strip(records: dict[str, dict]) -> dict[str, tuple]:
    return {t: (r["name"], r["status"], tuple(r["tags"])) for t, r in records.items()}


@pytest.mark.parametrize("index_store", BACKENDS, indirect=True)
def test_checkpoint_plus_tail_equals_the_full_listing(index_store):
    _loc, store = index_store
    db = TaskDB(store, cache_dir="")
    ids = [db.create(manifest(f"t{i}"))["id"] for i in range(11)]
    assert not checkpoints(store)
    assert strip(listed(store)) == strip(truth(db, ids))  # the reader that found 11 summaries checkpointed
    assert checkpoints(store) and not store.backend.list("index/tail/tasks")
    for i, task_id in enumerate(ids[:7]):
        db.update(task_id, lambda m, i=i: m.update(name=f"renamed {i}", tags=["x"]))
    db.delete(ids[8])
    ids.append(db.create(manifest("late"))["id"])
    reader = TaskDB(store, cache_dir="")
    assert strip({r["id"]: r for r in reader.records()}) == strip(truth(db, ids))
    assert len(checkpoints(store)) == 2  # the reader found the tail long and wrote the next checkpoint
    db.update(ids[0], lambda m: m.update(status="queued"))  # a tail after the checkpoint
    assert len(store.backend.list("index/tail/tasks")) == 1
    assert strip({r["id"]: r for r in reader.records()}) == strip(truth(db, ids)) == strip(old_reader(store))
    assert strip(listed(store)) == strip(truth(db, ids))
    assert fsck(store).ok


@pytest.mark.parametrize("index_store", ["local", "memory"], indirect=True)
def test_models_have_checkpoints_too(index_store):
    _loc, store = index_store
    models = TaskDB(store, cache_dir="", kind=MODEL_KIND)
    ids = [models.create({"id": uuid.uuid4().hex, "name": f"m{i}", "project": "p"})["id"] for i in range(6)]
    assert {r["id"] for r in models.records()} == set(ids)
    assert store.backend.list("refs/index/models") and not store.backend.list("refs/index/tasks")
    models.delete(ids[0])
    assert {r["id"] for r in TaskDB(store, cache_dir="", kind=MODEL_KIND).records()} == set(ids[1:])


@pytest.mark.parametrize("index_store", BACKENDS, indirect=True)
def test_deleted_task_stays_deleted_behind_a_late_summary(index_store):
    """Open issue 7: a writer that created entry n - 1 before the tombstone writes its summary after the
    deleter's clean-up; the index tombstone outranks it, in checkpoints too."""
    _loc, store = index_store
    db = TaskDB(store, cache_dir="")
    task_id = db.create(manifest("doomed"))["id"]
    late = db.update(task_id, lambda m: m.update(name="late"))  # entry 2
    db.delete(task_id)  # tombstone at 3
    db._write_summary(task_id, 2, late)  # the slow writer's summary of position 2 lands now
    others = [db.create(manifest(f"o{i}"))["id"] for i in range(2 * LIMIT)]
    assert task_id not in listed(store) and task_id not in old_reader(store)
    assert checkpoints(store)
    db._write_summary(task_id, 2, late)  # and again, after the checkpoint
    for _ in range(2):
        assert set(listed(store)) == set(others)


@pytest.mark.parametrize("index_store", BACKENDS, indirect=True)
def test_deleted_task_whose_deleter_died_leaves_listings_once_loaded(index_store):
    """Open issue 7: the deleter died after the tombstone entry, before the index tombstone. Loading the task
    (which fails) repairs the index, so it stops being listed."""
    _loc, store = index_store
    db = TaskDB(store, cache_dir="")
    task_id = db.create(manifest("doomed"))["id"]
    keep = db.create(manifest("kept"))["id"]
    db.refs.update(f"tasks/{task_id}", lambda _e: {"deleted": True, "time": time.time()})  # no index write
    with pytest.raises(TaskNotFoundError):
        TaskDB(store, cache_dir="").load(task_id)
    assert set(listed(store)) == {keep}
    assert set(old_reader(store)) == {keep}


@pytest.mark.parametrize("index_store", BACKENDS, indirect=True)
def test_gc_sweeps_left_behind_summaries(index_store, cli):
    """Open issue 8: summaries of lower positions left by writers finishing out of order (or crashing) are
    deleted by the next checkpoint that names a higher one, and by `fstrack gc`."""
    loc, store = index_store
    db = TaskDB(store, cache_dir="")
    task_id = db.create(manifest("busy"))["id"]
    second = db.update(task_id, lambda m: m.update(name="two"))
    db.update(task_id, lambda m: m.update(name="three"))
    db._write_summary(task_id, 2, second)  # writer 2 finished after writer 3
    store.backend.create(f"index/tasks/{task_id}.{1:020d}", pack(summarize(second)))  # a crash's leftover
    assert len(store.backend.list("index/tasks")) == 3
    if loc.name == "memory":
        TaskDB(store, cache_dir="").compact_index()  # what fstrack gc does, in this process
    else:
        env = {**loc.env, "FSTRACK_URL": loc.url, "FSTRACK_STORAGE_OPTIONS": json.dumps(loc.storage_options)}
        out = cli("gc", env=env)
        assert out.returncode == 0, out.stderr
    assert store.backend.list("index/tasks") == [f"{task_id}.{3:020d}"]
    assert listed(store)[task_id]["name"] == "three"


@pytest.mark.parametrize("index_store", ["local", "memory"], indirect=True)
def test_gc_keeps_the_newest_checkpoint_only(index_store):
    _loc, store = index_store
    db = TaskDB(store, cache_dir="")
    ids = [db.create(manifest(f"t{i}"))["id"] for i in range(LIMIT)]
    db.compact_index()
    db.update(ids[0], lambda m: m.update(name="new"))
    db.compact_index()
    live, _tombstones, _dead = classify_sequences(store)
    assert [k.rsplit("/", 1)[1] for k in live["index/tasks"]] == [f"{2:020d}"]
    report = collect(store, grace_seconds=0, allow_short_grace=True)
    assert report.planned == 1  # the first checkpoint's blob
    assert listed(store)[ids[0]]["name"] == "new"
    assert fsck(store).ok


@pytest.mark.parametrize("index_store", ["local", "memory"], indirect=True)
def test_bad_checkpoint_and_bad_summary_are_skipped_with_a_warning(index_store):
    _loc, store = index_store
    db = TaskDB(store, cache_dir="")
    ids = [db.create(manifest(f"t{i}"))["id"] for i in range(3)]
    db.refs.try_append("index/tasks", 1, {"checkpoint": store.put(b"not zlib"), "summaries": 3, "time": 0.0})
    store.backend.create(f"index/tasks/{uuid.uuid4().hex}.{1:020d}", b"\xc1 not msgpack")
    with pytest.warns(UserWarning) as caught:
        assert set(listed(store)) == set(ids)
    messages = " ".join(str(w.message) for w in caught)
    assert "ignoring index checkpoint" in messages and "skipping malformed index summary" in messages


def test_tail_limit_must_be_a_positive_integer(monkeypatch):
    monkeypatch.setenv("FSTRACK_INDEX_TAIL", "many")
    store = open_store(f"memory://index-{uuid.uuid4().hex}")
    TaskDB(store, cache_dir="").create(manifest())
    with pytest.raises(Exception, match="FSTRACK_INDEX_TAIL must be a positive integer, got 'many'"):
        TaskDB(store, cache_dir="").records()


# -- real processes ------------------------------------------------------------------------------------------------
WRITER = textwrap.dedent(
    """
    import json, random, sys, uuid
    from fstrack.records.taskdb import TaskDB
    from fstrack.store.store import open_store
    url, options, seed, rounds = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(seed)
    db = TaskDB(open_store(url, **options), cache_dir="")
    mine = []
    for i in range(rounds):
        roll = rng.random()
        if roll < 0.4 or not mine:
            m = {"id": uuid.uuid4().hex, "name": f"w{seed}-{i}", "project": "p", "status": "created", "tags": []}
            mine.append(db.create(m)["id"])
        elif roll < 0.8:
            db.update(rng.choice(mine), lambda m, i=i: m.update(name=f"w{seed}-edit-{i}"))
        elif roll < 0.9:
            db.delete(mine.pop(rng.randrange(len(mine))))
        else:
            db.records()  # readers checkpoint when the tail is long
    print(json.dumps(mine))
    """
)


def _env(loc) -> dict:
    return {**os.environ, **loc.env, "FSTRACK_INDEX_TAIL": str(LIMIT), "PYTHONPATH": REPO}


@pytest.mark.slow
@pytest.mark.parametrize("index_store", PROCESS_BACKENDS, indirect=True)
def test_concurrent_writers_and_checkpointers_lose_nothing(index_store):
    loc, store = index_store
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, loc.url, json.dumps(loc.storage_options), str(seed), "40"],
            env=_env(loc),
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in range(4)
    ]
    live = set()
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0
        live |= set(json.loads(out))
    assert len(checkpoints(store)) >= 2
    db = TaskDB(store, cache_dir="")
    every = {name[:32] for name in store.backend.list("index/tasks")}
    assert strip(listed(store)) == strip(truth(db, every))
    assert set(listed(store)) == live == set(old_reader(store))
    assert fsck(store).ok


CHECKPOINTER = textwrap.dedent(
    """
    import json, sys, time
    from fstrack.records.taskdb import TaskDB
    from fstrack.store.store import open_store
    url, options, stop_at, marker = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
    store = open_store(url, **options)
    db = TaskDB(store, cache_dir="")

    def hold():
        open(marker, "w").close()
        time.sleep(600)

    if stop_at == "before-ref":
        db.refs.try_append = lambda *args, **kwargs: hold()
    else:
        delete = store.backend.delete

        def held_delete(key):
            if key.startswith("index/tail/"):
                hold()
            return delete(key)

        store.backend.delete = held_delete
    db.compact_index()
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("stop_at", ["before-ref", "mid-deletes"])
@pytest.mark.parametrize("index_store", PROCESS_BACKENDS, indirect=True)
def test_checkpointer_killed_midway_loses_nothing(index_store, stop_at, tmp_path):
    loc, store = index_store
    db = TaskDB(store, cache_dir="")
    ids = [db.create(manifest(f"t{i}"))["id"] for i in range(3)]
    db.update(ids[0], lambda m: m.update(name="edited"))
    marker = tmp_path / "holding"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHECKPOINTER, loc.url, json.dumps(loc.storage_options), stop_at, str(marker)],
        env=_env(loc),
    )
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert len(checkpoints(store)) == (0 if stop_at == "before-ref" else 1)
    ids.append(db.create(manifest("after the crash"))["id"])
    assert strip(listed(store)) == strip(truth(db, ids)) == strip(old_reader(store))
    db.compact_index()  # the next checkpointer finishes the clean-up
    assert not store.backend.list("index/tail/tasks")
    assert strip(listed(store)) == strip(truth(db, ids))
    assert fsck(store).ok


@pytest.mark.parametrize("index_store", ["local", pytest.param("s3", marks=pytest.mark.servers)], indirect=True)
def test_push_gives_the_destination_its_own_checkpoint(index_store, location_factory, tmp_path, monkeypatch):
    from fstrack.sync import push

    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    loc, store = index_store
    db = TaskDB(store, cache_dir="")
    ids = [db.create(manifest(f"t{i}"))["id"] for i in range(2 * LIMIT)]
    db.delete(ids[0])
    db.compact_index()
    source_checkpoints = checkpoints(store)
    db.update(ids[1], lambda m: m.update(name="after the checkpoint"))  # in the source's tail
    dest_loc = location_factory("memory")
    result = push(loc.url, dest_loc.url, src_options=loc.storage_options)
    assert not result["errors"] and not result["conflicts"]
    dest = open_store(dest_loc.url)
    assert strip(listed(dest)) == strip(listed(store)) == strip(truth(db, ids))
    assert checkpoints(dest) == [f"{1:020d}"] and source_checkpoints == [f"{1:020d}"]
    assert TaskDB(dest, cache_dir="").refs.head("index/tasks")[1]["summaries"] == len(ids)
    assert not dest.backend.list("index/tail/tasks")  # the push checkpointed the destination
