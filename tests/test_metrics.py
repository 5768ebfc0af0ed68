"""Reported events as Arrow segments: buffers, flushing, the segment log, compaction, crashes, queries.

Runs against a real store on every backend the ``store_location`` fixture provides (local, memory and
the S3/Azure/GCS test servers); multi-process tests use backends other processes can reach.
"""

from __future__ import annotations

import glob
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import msgpack
import pyarrow.ipc
import pytest

import fstrack
from fstrack.records import metrics
from fstrack.records.metrics import MetricsFlushError, segments_key
from fstrack.sdk import current
from fstrack.sdk.reporting import ReportingMixin
from fstrack.store.fsck import fsck

# -- fixtures ---------------------------------------------------------------------------------------------


def flushed(task, within: float = 120) -> None:
    """``task.flush()`` until it stored everything: on a loaded machine a request to a test server may fail now
    and then, and the running task's flush then returns False (the writer retries) instead of blocking."""
    deadline = time.monotonic() + within
    while not task.flush():
        assert time.monotonic() < deadline, f"the reports of {task.id} were not stored within {within} s"
        time.sleep(0.05)


def reporting_task_class():
    """``Task`` with reporting. Until ``Task`` inherits ReportingMixin itself, a subclass wires it in the way
    the Task is expected to: ReportingMixin first, ``_finish`` calling ``_close_reporting``."""
    from fstrack.sdk.task import Task

    if issubclass(Task, ReportingMixin):
        return Task

    class ReportingTask(ReportingMixin, Task):
        def _finish(self, status, message=""):
            if not self._closed:
                self._close_reporting()
            super()._finish(status, message)

    return ReportingTask


CHILD_PRELUDE = """
import os, sys, json, time
import fstrack
from fstrack.sdk.task import Task
from fstrack.sdk.reporting import ReportingMixin
if issubclass(Task, ReportingMixin):
    T = Task
else:
    class T(ReportingMixin, Task):
        def _finish(self, status, message=""):
            if not self._closed:
                self._close_reporting()
            super()._finish(status, message)
"""


@pytest.fixture
def T(monkeypatch, tmp_path):
    from fstrack.sdk.task import Task

    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    current.main = None
    cls = reporting_task_class()
    yield cls
    for owner in {Task, cls}:  # (until Task inherits ReportingMixin, Task.init on the subclass sets current.main)
        main = owner.__dict__.get("_main")
        if main is not None and not main._closed:
            main.close()
        if "_main" in owner.__dict__:
            owner._main = None


@pytest.fixture
def loc(store_location, T):
    fstrack.set_store(store_location.url, **store_location.storage_options)
    return store_location


@pytest.fixture
def local(location_factory, T):
    location = location_factory("local")
    fstrack.set_store(location.url, **location.storage_options)
    return location


def new_task(T, name="run", project="metrics"):
    return T.create(project_name=project, task_name=name)


def run_child(code: str, location, tmp_path, *args: str, wait: bool = True, timeout: float = 120):
    script = tmp_path / f"child-{time.monotonic_ns()}.py"
    script.write_text(CHILD_PRELUDE + textwrap.dedent(code))
    env = {
        **os.environ,
        **location.env,
        "FSTRACK_URL": location.url,
        "FSTRACK_STORAGE_OPTIONS": json.dumps(location.storage_options),
        "FSTRACK_CACHE_DIR": str(tmp_path / "cache"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("FSTRACK_TASK_ID", None)
    command = [sys.executable, str(script), *args]
    if not wait:
        return subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def all_points(task, title, series):
    data = task.get_all_reported_scalars()[title][series]
    return data["x"], data["y"]


# -- the basics on every backend --------------------------------------------------------------------------


def test_scalars_round_trip_on_every_backend(loc, T):
    task = new_task(T)
    logger = task.get_logger()
    for i in range(300):
        logger.report_scalar("loss", "train", 1.0 / (i + 1), i)
        if i % 3 == 0:
            logger.report_scalar("loss", "val", 2.0 / (i + 1), i)
    logger.report_scalar("acc", "val", 7, 2)  # ints are numbers too
    flushed(task)
    xs, ys = all_points(task, "loss", "train")
    assert xs == list(range(300)) and ys == [1.0 / (i + 1) for i in range(300)]
    assert all_points(task, "loss", "val")[0] == list(range(0, 300, 3))
    assert all_points(task, "acc", "val") == ([2], [7.0])
    last = task.get_last_scalar_metrics()
    assert last["loss"]["train"] == {"last": 1.0 / 300, "min": 1.0 / 300, "max": 1.0}
    assert last["acc"]["val"] == {"last": 7.0, "min": 7.0, "max": 7.0}
    assert task.get_last_iteration() == 299
    report = fsck(task._db.store)
    assert report.ok, report.errors


def test_nan_and_inf_are_stored_as_given(loc, T):
    task = new_task(T)
    logger = task.get_logger()
    values = [float("nan"), float("inf"), -float("inf"), 0.5, -0.0]
    for i, value in enumerate(values):
        logger.report_scalar("weird", "values", value, i)
    flushed(task)
    _, ys = all_points(task, "weird", "values")
    assert math.isnan(ys[0]) and ys[1:] == [math.inf, -math.inf, 0.5, -0.0]
    assert math.copysign(1, ys[4]) == -1
    last = task.get_last_scalar_metrics()["weird"]["values"]
    assert last == {"last": -0.0, "min": -math.inf, "max": math.inf}  # NaN skipped by min/max


def test_all_nan_series_keeps_nan_summary(local, T):
    task = new_task(T)
    task.get_logger().report_scalar("x", "y", float("nan"), 0)
    flushed(task)
    summary = task.get_last_scalar_metrics()["x"]["y"]
    assert all(math.isnan(summary[k]) for k in ("last", "min", "max"))


# -- bad input raises at the call --------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1.5", b"1", None, [1.0], {"v": 1}, object(), 1 + 2j])
def test_non_numeric_values_raise_at_the_call(local, T, value):
    logger = new_task(T).get_logger()
    with pytest.raises(TypeError, match="value must be a number"):
        logger.report_scalar("t", "s", value, 0)
    with pytest.raises(TypeError):
        logger.report_single_value("n", value)
    assert logger._writer.pending_rows() == 0


@pytest.mark.parametrize(
    "iteration, error",
    [
        (-1, ValueError),
        (1.5, TypeError),
        (2.0, TypeError),
        ("3", TypeError),
        (None, TypeError),
        (True, TypeError),
        (2**63, ValueError),
    ],
)
def test_bad_iterations_raise_at_the_call(local, T, iteration, error):
    logger = new_task(T).get_logger()
    with pytest.raises(error, match="iteration"):
        logger.report_scalar("t", "s", 1.0, iteration)
    assert logger._writer.pending_rows() == 0


def test_bad_names_raise_at_the_call(local, T):
    logger = new_task(T).get_logger()
    with pytest.raises(TypeError, match="title must be a string"):
        logger.report_scalar(3, "s", 1.0, 0)
    with pytest.raises(TypeError, match="series must be a string"):
        logger.report_scalar("t", ["s"], 1.0, 0)
    assert logger._writer.pending_rows() == 0


def test_numpy_scalars_are_numbers(local, T):
    np = pytest.importorskip("numpy")
    task = new_task(T)
    logger = task.get_logger()
    logger.report_scalar("np", "f32", np.float32(0.5), np.int64(3))
    logger.report_scalar("np", "i64", np.int64(4), np.uint8(4))
    flushed(task)
    assert all_points(task, "np", "f32") == ([3], [0.5])
    assert all_points(task, "np", "i64") == ([4], [4.0])


# -- flushing -----------------------------------------------------------------------------------------------


def test_background_flush_by_period_and_one_manifest_edit_per_flush(local, T):
    task = new_task(T)
    logger = task.get_logger()
    logger.set_flush_period(None)  # report everything first (a slow machine must not flush halfway)
    before = len(task.history())
    for i in range(1000):
        logger.report_scalar("a", "b", float(i), i)
        logger.report_scalar("a", "c", float(i), i)
    logger.set_flush_period(0.2)
    deadline = time.monotonic() + 10
    while logger._writer.pending_rows() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert logger._writer.pending_rows() == 0, "the background thread did not flush"
    assert logger._writer.flushes == 1
    assert len(task.history()) == before + 1  # last_metrics/last_iteration: one edit for the whole flush
    task.reload()
    assert task.get_last_iteration() == 999
    assert task._data["last_metrics"]["a"]["c"] == {"last": 999.0, "min": 0.0, "max": 999.0}


def test_flush_is_bounded_by_size(local, T):
    task = new_task(T)
    logger = task.get_logger()
    logger.set_flush_period(None)
    logger._writer.max_rows = 500
    for i in range(2000):
        logger.report_scalar("a", "b", float(i), i)
    deadline = time.monotonic() + 10
    while logger._writer.flushes == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert logger._writer.flushes >= 1
    flushed(task)
    assert all_points(task, "a", "b")[0] == list(range(2000))


def test_flush_failure_is_retried_and_surfaced(local, T, monkeypatch):
    task = new_task(T)
    logger = task.get_logger()
    logger.set_flush_period(0.05)
    backend = task._db.store.backend
    real_create = backend.create
    outage = {"on": True, "attempts": 0}

    def failing_create(key, data):
        if outage["on"] and key.startswith("objects/"):
            outage["attempts"] += 1
            raise OSError(5, "bucket unreachable (simulated)")
        return real_create(key, data)

    monkeypatch.setattr(backend, "create", failing_create)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for i in range(100):
            logger.report_scalar("a", "b", float(i), i)
        deadline = time.monotonic() + 10
        while outage["attempts"] < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert outage["attempts"] >= 3, "the background thread did not retry"
        assert logger._writer.pending_rows() == 100  # kept
        with pytest.raises(MetricsFlushError, match="bucket unreachable"):
            task.flush()
        with pytest.raises(MetricsFlushError):
            logger.flush()
        for i in range(100, 150):
            logger.report_scalar("a", "b", float(i), i)
    outage["on"] = False
    assert task.flush() is True
    xs, ys = all_points(task, "a", "b")
    assert xs == list(range(150)) and ys == [float(i) for i in range(150)]  # each row exactly once
    assert logger._writer.last_error is None


def test_failed_manifest_update_is_retried_without_duplicating_rows(local, T, monkeypatch):
    task = new_task(T)
    logger = task.get_logger()
    logger.set_flush_period(None)
    real = task._apply_reporting_stats
    calls = {"n": 0}

    def flaky(stats):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("manifest write failed (simulated)")
        real(stats)

    monkeypatch.setattr(task._reporting_writer(), "_on_flushed", flaky)
    logger.report_scalar("a", "b", 1.0, 5)
    with pytest.raises(MetricsFlushError):
        logger._writer.flush(attempts=1)
    logger._writer.flush()
    assert all_points(task, "a", "b") == ([5], [1.0])
    assert task.get_last_scalar_metrics()["a"]["b"]["last"] == 1.0


def test_threads_report_concurrently_without_tearing_rows(local, T):
    task = new_task(T)
    logger = task.get_logger()
    logger.set_flush_period(0.01)  # flush while the threads report

    def work(k):
        for i in range(5000):
            logger.report_scalar("threads", f"t{k}", float(k * 100000 + i), i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flushed(task)
    data = task.get_all_reported_scalars()["threads"]
    for k in range(4):
        assert data[f"t{k}"]["x"] == list(range(5000))
        assert data[f"t{k}"]["y"] == [float(k * 100000 + i) for i in range(5000)]


# -- reading ----------------------------------------------------------------------------------------------


def test_downsampling_follows_clearml(local, T):
    task = new_task(T)
    logger = task.get_logger()
    for i in range(12000):
        logger.report_scalar("big", "s", float(i), i)
    for i in range(10):
        logger.report_scalar("small", "s", float(i), i * 7)
    logger.report_scalar("small", "s", 100.0, 0)  # a second value at x=0: averaged
    flushed(task)
    data = task.get_reported_scalars()
    big = data["big"]["s"]
    # 12000 points >= 5000 samples: interval ceil(12000 / 5000) = 3, windows start at multiples of 3
    assert big["x"] == list(range(0, 12000, 3)) and len(big["x"]) == 4000
    assert big["y"][:2] == [1.0, 4.0] and big["name"] == "s"
    small = data["small"]["s"]
    assert small["x"] == [i * 7 for i in range(10)] and small["y"][0] == 50.0
    few = task.get_reported_scalars(max_samples=100)["big"]["s"]
    assert len(few["x"]) == 100 and few["x"][:2] == [0, 120] and few["y"][0] == sum(range(120)) / 120
    capped = task.get_reported_scalars(max_samples=10**6)["big"]["s"]
    assert len(capped["x"]) <= 5000
    with pytest.raises(ValueError, match="x_axis"):
        task.get_reported_scalars(x_axis="step")
    with pytest.raises(ValueError, match="max_samples"):
        task.get_reported_scalars(max_samples=-1)


def test_x_axis_timestamp_and_iso_time(local, T):
    task = new_task(T)
    logger = task.get_logger()
    before = time.time()
    logger.report_scalar("t", "s", 1.0, 0)
    logger.report_scalar("t", "s", 2.0, 1)
    after = time.time()
    flushed(task)
    stamps = task.get_all_reported_scalars(x_axis="timestamp")["t"]["s"]["x"]
    assert all(int(before * 1000) - 1 <= ms <= int(after * 1000) + 1 for ms in stamps)
    iso = task.get_all_reported_scalars(x_axis="iso_time")["t"]["s"]["x"][0]
    assert iso.endswith("Z") and iso[:4] == time.strftime("%Y", time.gmtime(before))
    assert task.get_reported_scalars(x_axis="iso_time")["t"]["s"]["x"][0].endswith("Z")


def test_same_iteration_last_report_wins(local, T):
    task = new_task(T)
    logger = task.get_logger()
    logger.report_scalar("t", "s", 1.0, 3)
    flushed(task)
    logger.report_scalar("t", "s", 2.0, 3)
    logger.report_scalar("t", "s", 0.5, 1)
    flushed(task)
    assert all_points(task, "t", "s") == ([1, 3], [0.5, 2.0])


def test_initial_iteration_offset(local, T):
    task = new_task(T)
    logger = task.get_logger()
    logger.report_scalar("t", "s", 1.0, 0)
    task.set_initial_iteration(100)
    logger.report_scalar("t", "s", 2.0, 0)
    logger.report_histogram("h", "s", [1, 2], iteration=1)
    flushed(task)
    assert all_points(task, "t", "s") == ([0, 100], [1.0, 2.0])
    assert task.get_reported_plots()[0]["iter"] == 101
    assert task.get_last_iteration() == 100  # plots do not move last_iteration; the scalar at 100 does


def test_reset_starts_a_new_run(local, T):
    task = new_task(T)
    task.get_logger().report_scalar("old", "s", 1.0, 0)
    flushed(task)
    task.reset(force=True)
    assert task.get_all_reported_scalars() == {}
    assert task.get_last_scalar_metrics() == {}
    task.get_logger().report_scalar("new", "s", 2.0, 0)
    flushed(task)
    assert list(task.get_all_reported_scalars()) == ["new"]


# -- compaction and the log ----------------------------------------------------------------------------------


def test_close_compacts_to_one_checkpoint(loc, T):
    task = T.init(
        "metrics", "compaction", reuse_last_task_id=False, auto_connect_arg_parser=False, auto_connect_streams=False
    )  # the rows below are exactly what the test reports
    logger = task.get_logger()
    logger.set_flush_period(None)
    for flush in range(4):
        for i in range(100):
            logger.report_scalar("a", "b", float(flush * 100 + i), flush * 100 + i)
        logger.report_text(f"flush {flush}", print_console=False)
        flushed(task)
    refs = task._db.refs
    assert len(refs.seqs(segments_key(task.id))) == 4
    before = task.get_all_reported_scalars()
    task.close()
    entries = metrics.log_entries(refs, task.id, None)
    assert len(entries) == 1 and entries[0][1]["checkpoint"] is True
    assert entries[0][1]["segments"]["scalars"]["rows"] == 400
    assert task.get_all_reported_scalars() == before
    assert task.get_reported_console_output(10) == [f"flush {k}" for k in range(4)]
    assert fsck(task._db.store).ok


def test_duplicate_log_entries_are_read_once(local, T):
    task = new_task(T)
    logger = task.get_logger()
    logger.report_scalar("a", "b", 1.0, 0)
    flushed(task)
    refs = task._db.refs
    ((_, entry),) = metrics.log_entries(refs, task.id, 1)
    refs.append(segments_key(task.id), entry)  # what a transport retry of the append can leave
    assert all_points(task, "a", "b") == ([0], [1.0])


def test_racing_compactions_never_duplicate_rows(local, T):
    task = new_task(T)
    logger = task.get_logger()
    logger.set_flush_period(None)
    for k in range(6):
        logger.report_scalar("a", "b", float(k), k)
        flushed(task)
    store, refs = task._db.store, task._db.refs
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(metrics.compact_log(store, refs, task.id, 1))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert any(r is not None for r in results)
    assert all_points(task, "a", "b") == (list(range(6)), [float(k) for k in range(6)])
    logger.report_scalar("a", "b", 6.0, 6)  # logging after a checkpoint appends after it
    flushed(task)
    assert all_points(task, "a", "b")[0] == list(range(7))


def test_segments_are_readable_with_plain_pyarrow(local, T):
    """No fstrack code: msgpack for the log entries, pyarrow for the segments."""
    task = new_task(T)
    logger = task.get_logger()
    for i in range(50):
        logger.report_scalar("loss", "train", i / 10, i)
    logger.report_text("hello", print_console=False)
    flushed(task)
    root = local.url
    entry_files = sorted(glob.glob(os.path.join(root, "refs", "segments", task.id, "*")))
    assert entry_files
    tables = {}
    for path in entry_files:
        with open(path, "rb") as f:
            value = msgpack.unpackb(f.read(), raw=False)
        if isinstance(value, list):  # [token, value] entries
            value = value[1]
        for kind, info in value["segments"].items():
            link = info["segment"]
            assert isinstance(link, msgpack.ExtType) and link.code == 2
            digest = link.data.hex()
            tables[kind] = pyarrow.ipc.open_file(os.path.join(root, "objects", digest[:2], digest[2:])).read_all()
    scalars = tables["scalars"]
    assert scalars.schema.names == ["task", "title", "series", "iteration", "timestamp", "value"]
    assert scalars.schema.metadata[b"fstrack.kind"] == b"scalars"
    frame = scalars.to_pandas()
    assert list(frame["iteration"]) == list(range(50)) and frame["value"].iloc[10] == 1.0
    assert set(frame["task"]) == {task.id} and set(frame["title"]) == {"loss"}
    assert tables["console"].column("message").to_pylist() == ["hello"]


def test_storage_is_at_most_16_bytes_per_scalar(local, T):
    import random

    task = new_task(T)
    logger = task.get_logger()
    logger.set_flush_period(None)
    rng = random.Random(1)
    for i in range(20000):
        logger.report_scalar("loss", "train", rng.random(), i)  # incompressible values: the worst case
    flushed(task)
    ((_, entry),) = metrics.log_entries(task._db.refs, task.id, 1)
    size = entry["segments"]["scalars"]["bytes"]
    assert size / 20000 <= 16, f"{size / 20000:.1f} bytes per scalar"


# -- processes ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_two_processes_log_to_one_task(backend, location_factory, tmp_path, T):
    location = location_factory(backend)
    fstrack.set_store(location.url, **location.storage_options)
    task = T.init("metrics", "two writers", reuse_last_task_id=False, auto_connect_arg_parser=False)
    child = run_child(
        f'''
        other = T.get_task(task_id="{task.id}")
        logger = other.get_logger()
        logger.set_flush_period(0.05)
        for i in range(2000):
            logger.report_scalar("loss", "second", float(i), i)
        logger.report_text("from the second process", print_console=False)
        print("done", flush=True)
    ''',
        location,
        tmp_path,
        wait=False,
    )
    logger = task.get_logger()
    logger.set_flush_period(0.05)
    for i in range(2000):
        logger.report_scalar("loss", "first", float(-i), i)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err[-3000:]
    task.close()
    data = task.get_all_reported_scalars()["loss"]
    assert "second" in data, err[-3000:]
    assert data["first"]["x"] == list(range(2000)) and data["first"]["y"][5] == -5.0
    assert data["second"]["x"] == list(range(2000)) and data["second"]["y"][5] == 5.0
    assert "from the second process" in task.get_reported_console_output(5)
    last = task.get_last_scalar_metrics()["loss"]
    assert last["first"]["last"] == -1999.0 and last["second"]["last"] == 1999.0
    assert fsck(task._db.store).ok


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_sigkill_loses_at_most_the_events_since_the_last_flush(backend, location_factory, tmp_path, T):
    location = location_factory(backend)
    fstrack.set_store(location.url, **location.storage_options)
    child = run_child(
        """
        task = T.init("metrics", "killed", reuse_last_task_id=False, auto_connect_arg_parser=False)
        print(task.id, flush=True)
        logger = task.get_logger()
        logger.set_flush_period(0.02)  # background flushes race the kill too
        i = 0
        while True:
            logger.report_scalar("loss", "train", float(i), i)
            i += 1
            if i % 500 == 0:
                logger.flush()
                print(i, flush=True)
    """,
        location,
        tmp_path,
        wait=False,
    )
    task_id = child.stdout.readline().strip()
    flushed = 0
    target = 6000 if backend == "local" else 2500
    try:
        while flushed < target:
            line = child.stdout.readline()
            assert line, child.stderr.read()[-3000:]
            flushed = int(line)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    task = T.get_task(task_id=task_id)
    xs, ys = all_points(task, "loss", "train")
    assert xs[:flushed] == list(range(flushed)), "events flushed before the kill are missing"
    assert xs == list(range(len(xs))) and ys == [float(x) for x in xs]  # no partial or duplicate rows
    report = fsck(task._db.store)
    assert report.ok, report.errors


# -- fstrack.scalars ----------------------------------------------------------------------------------------


def test_scalars_across_tasks(loc, T):
    from fstrack.records.analytics import scalars

    made = []
    for k in range(4):
        task = new_task(T, name=f"run-{k}", project="alpha" if k < 3 else "beta")
        if k == 1:
            task.add_tags(["best"])
        logger = task.get_logger()
        for i in range(20):
            logger.report_scalar("loss", "train", float(k * 100 + i), i)
            logger.report_scalar("acc", "val", float(i), i)
        flushed(task)
        made.append(task)
    table = scalars()
    assert table.num_rows == 4 * 40
    assert table.schema.names == ["task", "project", "task_name", "title", "series", "iteration", "timestamp", "value"]
    frame = table.to_pandas()
    assert set(frame["project"]) == {"alpha", "beta"}
    assert set(frame["task_name"]) == {"run-0", "run-1", "run-2", "run-3"}
    assert scalars(project="beta").num_rows == 40
    assert set(scalars(task_ids=[made[2].id]).column("task").to_pylist()) == {made[2].id}
    picked = scalars(project="alpha", tags=["best"], metrics="loss", iterations=(5, 9))
    assert picked.column("iteration").to_pylist() == [5, 6, 7, 8, 9]
    assert picked.column("value").to_pylist() == [105.0, 106.0, 107.0, 108.0, 109.0]
    assert scalars(series=["val"]).num_rows == 4 * 20
    assert scalars(task_name="^run-3$").column("task_name").unique().to_pylist() == ["run-3"]
    assert scalars(project="nope").num_rows == 0
    urls = fstrack.records.analytics.scalar_segment_urls(project="alpha")
    assert len(urls) == 3
    with pytest.raises(ValueError, match="iterations"):
        scalars(iterations=(5,))
