"""Task.import_offline_session: fstrack offline folders (and zips) and ClearML offline sessions.

The ClearML session in tests/fixtures/clearml_offline_session/ was made by the real clearml package (2.1.12) in
offline mode with tests/fixtures/make_clearml_offline_session.py; its task.json records absolute paths of the
machine that made it, which do not exist here. One test also makes a fresh session with the clearml package the
test extras install (or the Python named by FSTRACK_CLEARML_PYTHON) and imports that.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fstrack
from fstrack import Task
from fstrack.sdk.offline_import import OfflineSessionError
from fstrack.store.fsck import fsck
from fstrack.store.store import open_store
from fstrack.sync.engine import _walk

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SESSION = FIXTURES / "clearml_offline_session"
SESSION_EVENTS = [e for line in (SESSION / "metrics.jsonl").read_text().splitlines() for e in json.loads(line)]
SESSION_LOGS = [e for line in (SESSION / "log.jsonl").read_text().splitlines() for e in json.loads(line)]


pytestmark = pytest.mark.usefixtures("isolated_tasks")


@pytest.fixture(params=["local", "memory"])
def store(request, location_factory):
    loc = location_factory(request.param)
    fstrack.set_store(loc.url, **loc.storage_options)
    return loc


def zipped(folder: Path, target: Path, *, top: str | None = None) -> Path:
    """A zip of ``folder`` (entries under ``top/`` if given, as zipping the folder itself gives)."""
    with zipfile.ZipFile(target, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                name = path.relative_to(folder).as_posix()
                zf.write(path, f"{top}/{name}" if top else name)
    return target


def check_clearml_task(task: Task, *, offset: int = 0) -> None:
    """Everything the fixture session holds, read back through the Task API."""
    params = task.get_parameters()
    assert params["General/lr"] == "0.01" and params["General/epochs"] == "3"
    assert params["General/layers"] == "[16, 8]" and params["General/use_bn"] == "True"
    assert params["Data/batch"] == "32" and params["Data/seed"] == "7"
    assert task.get_parameters(cast=True)["General/layers"] == [16, 8]
    assert task._data["hyperparams"]["General"]["layers"]["type"] == "list/int"
    assert task.get_configuration_object_as_dict("model-config") == {
        "model": {"depth": 2, "width": 16},
        "aug": ["flip", "crop"],
    }
    scalars = task.get_all_reported_scalars()
    assert scalars["loss"]["train"]["x"] == [i + offset for i in range(5)]
    assert scalars["loss"]["train"]["y"] == [1.0 / (i + 1) for i in range(5)]
    assert scalars["accuracy"]["val"]["y"] == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9])
    rows = task._reported("scalars").to_pylist()  # the original report times, to the millisecond
    stamps = [int(r["timestamp"].timestamp() * 1000) for r in rows if (r["title"], r["series"]) == ("loss", "val")]
    assert stamps == [e["timestamp"] for e in SESSION_EVENTS if e.get("variant") == "val" and e["metric"] == "loss"]
    assert task.get_reported_single_value("best_acc") == 0.9
    assert task.get_last_scalar_metrics()["loss"]["train"] == {"last": 0.2, "min": 0.2, "max": 1.0}
    console = "\n".join(task.get_reported_console_output(100))
    assert "epoch 0: loss=1.0000" in console and "training finished" in console
    plots = {(p["metric"], p["variant"]): p for p in task.get_reported_plots()}
    expected = {(e["metric"], e["variant"]): e for e in SESSION_EVENTS if e["type"] == "plot"}
    assert set(plots) == set(expected) == {("hist", "weights"), ("scatter", "pts")}
    assert all(json.loads(plots[k]["plot_str"]) == json.loads(expected[k]["plot_str"]) for k in expected)
    assert plots[("hist", "weights")]["iter"] == 4 + offset
    samples = task.get_debug_samples("samples", "img")
    assert len(samples) == 1 and samples[0]["iter"] == 4 + offset
    image = next(SESSION.rglob("samples_img_00000000.jpeg")).read_bytes()
    assert task._db.store.get(samples[0]["object"]) == image
    artifacts = task.artifacts
    assert artifacts["summary"].get() == {"best": 0.9, "epochs": 3}
    assert artifacts["summary"].type == "dict" and artifacts["summary"].preview.startswith("{")
    assert np.array_equal(artifacts["vector"].get(), np.arange(6, dtype=np.float64))
    assert Path(artifacts["notes"].get()).read_text() == "hello from an offline ClearML run\n"
    assert artifacts["notes"].content_type == "text/plain"


def check_clearml_fields(task: Task) -> None:
    assert task.name == "clearml offline demo" and task.get_project_name() == "fstrack-fixtures/offline"
    assert task.get_tags() == ["offline", "fixture"]
    assert task.comment == "made by tests/fixtures make_session.py"
    script = task.export_task()["script"]
    assert (
        "Task.set_offline(True)" in script["code"] and not script["diff"] and script["entry_point"] == "make_session.py"
    )
    assert "clearml == 2.1.12" in script["requirements"]["pip"]
    model = task.models["output"][0]
    assert model.name == "demo-net" and model.framework == "PyTorch" and "fixture" in model.tags
    assert Path(model.get_local_copy()).read_bytes() == b"\x00weights\x01" * 4


# -- ClearML sessions ------------------------------------------------------------------------------------------------
def test_clearml_session_folder_imports_faithfully(store):
    task_id = Task.import_offline_session(str(SESSION))
    task = Task.get_task(task_id=task_id)
    assert task.get_status() == "completed"
    check_clearml_fields(task)
    check_clearml_task(task)
    first = min(e["timestamp"] for e in SESSION_EVENTS + SESSION_LOGS) / 1000
    assert task._data["started"] == pytest.approx(first)
    assert Task.get_task(project_name="fstrack-fixtures/offline", task_name="clearml offline demo").id == task_id
    assert fsck(open_store(store.url, create=False, **store.storage_options)).ok


def test_clearml_session_zip_imports(store, tmp_path):
    archive = zipped(SESSION, tmp_path / "offline-session.zip", top="offline-66030ea9dcc240f09cb2a828e83caf0d")
    task = Task.get_task(task_id=Task.import_offline_session(archive))
    check_clearml_fields(task)
    check_clearml_task(task)
    flat = zipped(SESSION, tmp_path / "flat.zip")
    check_clearml_task(Task.get_task(task_id=Task.import_offline_session(str(flat))))


def test_clearml_session_continues_a_previous_task_with_an_offset(store):
    previous = Task.create(project_name="fstrack-fixtures/offline", task_name="long run")
    previous.mark_started()
    for i in range(5):
        previous.get_logger().report_scalar("loss", "train", 10.0 + i, i)
    previous.close()
    returned = Task.import_offline_session(str(SESSION), previous_task_id=previous.id, iteration_offset=100)
    assert returned == previous.id
    continued = Task.get_task(task_id=previous.id)
    assert continued.get_status() == "completed" and continued.name == "long run"
    train = continued.get_all_reported_scalars()["loss"]["train"]
    assert train["x"] == [0, 1, 2, 3, 4, 100, 101, 102, 103, 104]
    assert train["y"][:5] == [10.0, 11.0, 12.0, 13.0, 14.0]
    assert continued.get_parameters()["General/lr"] == "0.01"
    assert continued.artifacts["summary"].get() == {"best": 0.9, "epochs": 3}
    assert continued.get_last_iteration() == 104
    # as ClearML does, the session also becomes a task of its own, holding its parameters and model
    own = Task.get_task(project_name="fstrack-fixtures/offline", task_name="clearml offline demo")
    assert own.id != previous.id and own.models["output"][0].name == "demo-net"


def test_not_a_session_is_refused(store, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(OfflineSessionError, match="neither"):
        Task.import_offline_session(str(tmp_path / "empty"))
    with pytest.raises(OfflineSessionError, match="could not find"):
        Task.import_offline_session(str(tmp_path / "nowhere.zip"))
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../escape/task.json", "{}")
    from fstrack.sdk.artifacts import UnsafeArchiveError

    with pytest.raises(UnsafeArchiveError):
        Task.import_offline_session(str(evil))
    assert not (tmp_path / "escape").exists()


def _clearml_python() -> str | None:
    """A Python with the clearml package: FSTRACK_CLEARML_PYTHON, else this one (the test extras install it)."""
    for candidate in (os.environ.get("FSTRACK_CLEARML_PYTHON"), sys.executable):
        if candidate and os.path.exists(candidate):
            probe = subprocess.run([candidate, "-c", "import clearml"], capture_output=True)
            if probe.returncode == 0:
                return candidate
    return None


@pytest.mark.timeout(200)
def test_fresh_clearml_session_made_by_clearml_imports(location_factory, tmp_path):
    python = _clearml_python()
    if python is None:
        pytest.skip(
            "no Python with the clearml package (set FSTRACK_CLEARML_PYTHON); the checked-in session is "
            "imported by the other tests"
        )
    home = tmp_path / "home"
    home.mkdir()
    # clearml's background scan of imports for the requirements sometimes hangs until its 300 s timeout at exit;
    # a synchronous `pip freeze` records them without that race
    (home / "clearml.conf").write_text(
        "sdk { development { vcs_repo_detect_async: false, detect_with_pip_freeze: true } }\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEARML", "FSTRACK"))}
    env.update(HOME=str(home), PYTHONPATH="")
    log = tmp_path / "clearml.log"
    with open(log, "wb") as out:  # a file, not a pipe: clearml leaves a helper process holding its output open
        made = subprocess.Popen(
            [python, str(FIXTURES / "make_clearml_offline_session.py")],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        assert made.wait(timeout=150) == 0, log.read_text()[-3000:]
    finally:
        try:
            os.killpg(made.pid, signal.SIGKILL)  # that helper, if it is still there (our own process group)
        except ProcessLookupError:
            pass
    archive = next((home / ".clearml" / "cache" / "offline").glob("*.zip"))
    loc = location_factory("local")
    fstrack.set_store(loc.url)
    task = Task.get_task(task_id=Task.import_offline_session(str(archive)))
    assert task.get_parameters()["General/lr"] == "0.01"
    assert task.get_all_reported_scalars()["loss"]["train"]["y"] == [1.0 / (i + 1) for i in range(5)]
    assert "epoch 4: loss=0.2000" in "\n".join(task.get_reported_console_output(100))
    assert task.artifacts["summary"].get() == {"best": 0.9, "epochs": 3}
    assert task.models["output"][0].name == "demo-net"


# -- fstrack offline folders ---------------------------------------------------------------------------------------
OFFLINE_SCRIPT = """
import sys
import numpy as np
from fstrack import Task
Task.set_offline(True)
task = Task.init(project_name="offline/proj", task_name=sys.argv[1])
task.connect({"lr": 0.5, "steps": 3})
for i in range(3):
    task.get_logger().report_scalar("loss", "train", 1.0 / (i + 1), i)
task.get_logger().report_image("img", "sample", iteration=1, image=np.array([[0, 255], [255, 0]], dtype=np.uint8))
print("working offline")
task.upload_artifact("result", {"ok": True})
print("offline folder:", task.get_offline_mode_folder())
"""


def run_offline(tmp_path: Path, folder: Path, name: str) -> None:
    script = tmp_path / "offline_run.py"
    script.write_text(textwrap.dedent(OFFLINE_SCRIPT))
    env = {**os.environ, "FSTRACK_OFFLINE_DIR": str(folder), "FSTRACK_CACHE_DIR": str(tmp_path / "child-cache")}
    for variable in ("FSTRACK_URL", "FSTRACK_TASK_ID", "FSTRACK_OFFLINE"):
        env.pop(variable, None)
    done = subprocess.run(
        [sys.executable, str(script), name], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"offline folder: {folder}" in done.stdout


def keys_and_bytes(loc_url: str, options: dict | None = None) -> dict[str, bytes]:
    store = open_store(loc_url, create=False, **(options or {}))
    keys = [k for prefix in ("objects", "refs") for k, _s, _m in _walk(store, prefix, False)]
    return store.backend.read_many(keys)


def test_fstrack_offline_folder_and_zip_import(store, tmp_path):
    folder = tmp_path / "offline"
    run_offline(tmp_path, folder, "laptop run")
    task_id = Task.import_offline_session(str(folder))
    task = Task.get_task(task_id=task_id)
    assert task.name == "laptop run" and task.get_status() == "completed"
    assert task.get_parameters()["General/lr"] == "0.5"
    assert task.get_all_reported_scalars()["loss"]["train"]["y"] == [1.0, 0.5, 1.0 / 3]
    assert "working offline" in "\n".join(task.get_reported_console_output(100))
    assert task.artifacts["result"].get() == {"ok": True}
    mine, theirs = keys_and_bytes(str(folder)), keys_and_bytes(store.url, store.storage_options)
    assert all(theirs.get(k) == v for k, v in mine.items())  # the task's bytes, unchanged
    # a zip of the folder (as one would mail it) imports too, and importing twice changes nothing
    archive = shutil.make_archive(str(tmp_path / "offline-session"), "zip", root_dir=tmp_path, base_dir="offline")
    assert Task.import_offline_session(archive) == task_id
    assert keys_and_bytes(store.url, store.storage_options) == theirs


def test_fstrack_offline_folder_continues_a_previous_task(store, tmp_path):
    previous = Task.create(project_name="online", task_name="started online")
    previous.mark_started()
    previous.get_logger().report_scalar("loss", "train", 9.0, 0)
    previous.close()
    folder = tmp_path / "offline"
    run_offline(tmp_path, folder, "continued offline")
    assert Task.import_offline_session(str(folder), previous.id, iteration_offset=10) == previous.id
    continued = Task.get_task(task_id=previous.id)
    train = continued.get_all_reported_scalars()["loss"]["train"]
    assert train["x"] == [0, 10, 11, 12] and train["y"] == [9.0, 1.0, 0.5, 1.0 / 3]
    assert continued.get_parameters()["General/lr"] == "0.5"
    assert continued.artifacts["result"].get() == {"ok": True}
    assert "working offline" in "\n".join(continued.get_reported_console_output(100))
    sample = continued.get_debug_samples("img", "sample")[0]
    assert sample["iter"] == 11 and sample["url"].startswith(store.url.rstrip("/") + "/objects/")
    import fsspec

    with fsspec.open(sample["url"], "rb", **store.storage_options) as f:
        assert f.read() == continued._db.store.get(sample["object"])
    assert continued.get_status() == "completed"
    assert fsck(open_store(store.url, create=False, **store.storage_options)).ok
    with pytest.raises(OfflineSessionError, match="previous_task_id"):
        Task.import_offline_session(str(folder), iteration_offset=5)
