"""The conformance corpus: a store written by an independent second writer (``tests/second_writer/writer.py``,
written from ``spec/`` alone, no ``fstrack`` imports), and what every reader must see in it.

The reference reads it through four doors: ``fstrack fsck``, ``Task.get_task``, ``fstrack.scalars`` and
``fstrack show``. The store's key listing is checked against ``tests/second_writer/expected_keys.txt``: with a
seed, ids, tokens and times are fixed, so the names are the same on every machine (object names of Arrow
segments depend on the Arrow library's bytes and are left out of that listing).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import fsspec
import pytest

import fstrack
from fstrack import Task
from fstrack.sdk import current

HERE = Path(__file__).parent
WRITER = HERE / "second_writer" / "writer.py"
EXPECTED_KEYS = HERE / "second_writer" / "expected_keys.txt"
SEED = 20261203


def _write(root: Path) -> dict:
    """Run the second writer in its own interpreter, with no access to the fstrack package."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-I", str(WRITER), str(root), "--seed", str(SEED)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=root.parent,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus") / "store"
    return root, _write(root)


@pytest.fixture
def reader(corpus, tmp_path, monkeypatch):
    root, expected = corpus
    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    fstrack.set_store(str(root))
    current.main = None
    return root, expected


def _fstrack(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    return subprocess.run(
        [sys.executable, "-m", "fstrack", *args], capture_output=True, text=True, env=env, timeout=300
    )


def _keys(root: Path) -> list[str]:
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and not str(path.relative_to(root)).startswith(("tmp/", "objects/"))
    )


def test_writer_is_independent_of_the_package():
    source = WRITER.read_text()
    assert "import fstrack" not in source and "from fstrack" not in source


def test_corpus_keys_are_the_expected_listing(corpus, tmp_path):
    """The same seed gives the same store: its key listing is the checked-in one, and a second run writes the
    same bytes."""
    root, _expected = corpus
    assert _keys(root) == EXPECTED_KEYS.read_text().split()
    again = tmp_path / "again"
    _write(again)
    assert {k: (root / k).read_bytes() for k in _keys(root)} == {k: (again / k).read_bytes() for k in _keys(again)}


def test_fsck_finds_the_corpus_intact(corpus):
    root, _expected = corpus
    done = _fstrack("fsck", str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 errors" in done.stdout


def _same(value, expected):
    if expected == "inf":
        return value == math.inf
    if expected is None:
        return value is None or (isinstance(value, float) and math.isnan(value))
    if isinstance(expected, dict):
        return set(value) == set(expected) and all(_same(value[k], v) for k, v in expected.items())
    return value == expected


def test_get_task_reads_every_field(reader):
    root, expected = reader
    listed = Task.get_tasks(project_name=expected["project"])
    assert [t.id for t in listed] == expected["tasks_newest_first"], "newest first; the deleted task not listed"
    for task_id, want in expected["tasks"].items():
        task = Task.get_task(task_id)
        assert (task.name, task.get_status(), task.get_tags()) == (want["name"], want["status"], want["tags"])
        assert task.data.run == want["run"]
        assert task.get_parameters() == want["parameters"]
        assert _same(task.get_last_scalar_metrics(), want["last_metrics"])
        assert task.get_last_iteration() == want["last_iteration"]
        assert [row["message"] for row in task.iter_console()] == want["console"]
    main_id = expected["tasks_newest_first"][1]
    main = Task.get_task(main_id)
    want = expected["tasks"][main_id]
    assert main.data.script.diff == want["diff"], "a linked member reads as its text"
    assert main.get_reported_single_values() == want["single_values"]
    sample = main.get_debug_samples("img", "s")[0]
    assert sample["url"] == f"{root}/objects/{want['image'][:2]}/{want['image'][2:]}"
    with fsspec.open(sample["url"], "rb") as f:
        assert f.read().startswith(b"\x89PNG")
    plot = json.loads(main.get_reported_plots()[0]["plot_str"])
    assert plot["data"][0]["y"] == [2, 3]
    with pytest.raises(Exception, match=expected["deleted"]):
        Task.get_task(expected["deleted"])
    assert not (root / "heartbeats").exists() or not list((root / "heartbeats").iterdir())


def test_scalars_reads_the_current_runs_rows_once(reader):
    root, expected = reader
    table = fstrack.scalars(str(root))
    rows = [
        [r["task"], r["title"], r["series"], r["iteration"], None if math.isnan(r["value"]) else r["value"]]
        for r in table.to_pylist()
    ]
    want = [
        [task_id, *row] for task_id in expected["tasks_newest_first"] for row in expected["tasks"][task_id]["scalars"]
    ]
    assert rows == want


def test_show_prints_the_task(corpus):
    root, expected = corpus
    task_id = expected["tasks_newest_first"][1]
    done = _fstrack("show", task_id, "--url", str(root))
    assert done.returncode == 0, done.stderr
    for text in ("spec only", "conformance/second writer", "completed", "General/lr", "metric loss/train: last=0.125"):
        assert text in done.stdout, done.stdout
