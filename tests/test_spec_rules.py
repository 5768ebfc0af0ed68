"""Rules spec/ states for an independent writer, held against the reference (spec/metrics.md)."""

from __future__ import annotations

import numpy as np
import pytest

import fstrack
from fstrack import Task
from fstrack.records import metrics
from fstrack.records.taskdb import TaskDB
from fstrack.sdk import current
from fstrack.store.store import object_key, open_store
from fstrack.sync.engine import push


@pytest.fixture
def two_stores(location_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    source, dest = location_factory("local"), location_factory("local")
    fstrack.set_store(source.url)
    current.main = None
    yield source, dest
    if current.main is not None:
        current.main.close()
    current.main = None


def test_objects_resolve_against_the_store_being_read(two_stores):
    """metrics.md §1.4: a debug sample's and a plot image's object are found in the store being read, so they
    survive a push (the writer stores keys relative to the store, never its own absolute URL)."""
    source, dest = two_stores
    task = Task.init("p", "images")
    image = np.zeros((4, 6, 3), dtype=np.uint8)
    task.get_logger().report_image("img", "s", iteration=1, image=image)
    plt = pytest.importorskip("matplotlib.pyplot")
    figure = plt.figure()
    plt.plot([1, 2])
    task.get_logger().report_matplotlib_figure("fig", "s", figure, iteration=1, report_interactive=False)
    task.close()
    written = open_store(source.url)
    entries = metrics.log_entries(TaskDB(written, cache_dir="").refs, task.id, None)
    raw = [
        metrics.decode_segment(written.get(entry["segments"][kind]["segment"]))
        for _pos, entry in entries
        for kind in ("debug_samples", "plots")
        if kind in entry["segments"]
    ]
    stored_urls = [u for t in raw if "url" in t.column_names for u in t.column("url").to_pylist()]
    assert stored_urls and all(u.startswith("objects/") for u in stored_urls), stored_urls
    assert not any(source.url in p for t in raw if "plot" in t.column_names for p in t.column("plot").to_pylist())

    push(source.url, dest.url)
    fstrack.set_store(dest.url)
    there = Task.get_task(task.id)
    sample = there.get_debug_samples("img", "s")[0]
    assert sample["url"] == f"{dest.url}/{object_key(sample['object'])}"
    plot = there.get_reported_plots()[0]["plot_str"]
    assert dest.url in plot and source.url not in plot
