"""Queues of claim files: exactly-once under real concurrent processes, on every backend."""

from __future__ import annotations

from collections import Counter

import pytest
from workers.common import child_env, location_to_json, run_together

import fstrack
from fstrack import Task
from fstrack.dispatch.queues import QueueNotFoundError, Queues, queue_id
from fstrack.records.lifecycle import InvalidTransitionError
from fstrack.sdk.task import UsageError
from fstrack.store.store import open_store

ENTRIES = {"local": 2000, "s3": 2000, "azure": 200, "gcs": 200}  # the counts


@pytest.mark.parametrize("backend", list(ENTRIES))
@pytest.mark.parametrize("with_dequeue", [False, True], ids=["workers", "workers+dequeue"])
def test_eight_workers_take_every_entry_exactly_once(backend, with_dequeue, location_factory):
    loc = location_factory(backend)
    store = open_store(loc.url, **loc.storage_options)
    queues = Queues(store)
    qid = queues.ensure("drain")
    n = ENTRIES[backend] // (2 if with_dequeue else 1)
    task_ids = [f"{i:032x}" for i in range(n)]
    for task_id in task_ids:
        queues.push(qid, task_id, queues.new_entry_name())
    modes = ["work"] * 8 + (["dequeue"] if with_dequeue else [])
    results, seconds = run_together(
        "queue_drain.py", [[location_to_json(loc), qid, m] for m in modes], env=child_env(loc), timeout=600
    )
    taken = Counter(t for result in results for t in result)
    assert set(taken) == set(task_ids), "an entry was lost"
    assert max(taken.values()) == 1, f"taken twice: {[t for t, c in taken.items() if c > 1][:5]}"
    assert queues.pending(qid) == []
    print(
        f"{backend}: {n} entries drained by {len(modes)} processes in {seconds:.2f}s "
        f"(per process: {[len(r) for r in results]})"
    )


@pytest.fixture
def local_tasks(location_factory, tmp_path, monkeypatch):
    loc = location_factory("local")
    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    fstrack.set_store(loc.url)
    return loc


def test_enqueue_dequeue_shapes_and_rules(local_tasks):
    task = Task.create(project_name="p", task_name="queued")
    response = Task.enqueue(task, queue_name="gpu")
    assert response["queued"] == 1 and response["fields"]["status"] == "queued"
    assert response["fields"]["execution.queue"] == queue_id("gpu")
    assert Task.get_num_enqueued_tasks(queue_name="gpu") == 1
    assert Task.get_num_enqueued_tasks(queue_id=queue_id("gpu")) == 1
    assert task.get_executed_queue(return_name=True) == "gpu"
    with pytest.raises(InvalidTransitionError, match="'queued' to 'queued'"):
        Task.enqueue(task, queue_name="cpu")  # a task is in at most one queue
    assert Task.dequeue(task.id)["fields"]["status"] == "created"
    assert Task.get_num_enqueued_tasks(queue_name="gpu") == 0
    with pytest.raises(InvalidTransitionError, match="not queued"):
        Task.dequeue(task)
    Task.enqueue(task, queue_name="gpu")
    queues = Queues(task._db.store)
    assert next(queues.claims(queue_id("gpu"))).task_id == task.id  # a worker takes it
    with pytest.raises(UsageError, match="already taken"):
        Task.dequeue(task)


def test_enqueue_errors(local_tasks):
    task = Task.create(project_name="p", task_name="e")
    with pytest.raises(ValueError, match="exactly one"):
        Task.enqueue(task)
    with pytest.raises(QueueNotFoundError, match="nope"):
        Task.enqueue(task, queue_id="nope")
    task.mark_started()
    with pytest.raises(InvalidTransitionError, match="'in_progress' to 'queued'"):
        Task.enqueue(task, queue_name="gpu")
    task.mark_completed()
    Task.enqueue(task, queue_name="gpu", force=True)  # force resets a finished task first
    assert task.get_status() == "queued" and task._data["run"] == 2


def test_fifo_order(local_tasks):
    queues = Queues(open_store(local_tasks.url))
    qid = queues.ensure("fifo")
    for i in range(20):
        queues.push(qid, f"{i:032x}", queues.new_entry_name())
    assert [c.task_id for c in queues.claims(qid)] == [f"{i:032x}" for i in range(20)]
