"""Models: OutputModel / InputModel / Model on the store, the Task's model methods, auto-logged frameworks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
import zipfile

import pytest

import fstrack
from fstrack import Task
from fstrack.records.modeldb import ModelNotFoundError
from fstrack.sdk import current
from fstrack.sdk.models import InputModel, Model, ModelLockedError, OutputModel, model_db, wait_for_uploads
from fstrack.store.fsck import fsck
from fstrack.store.objects import BlobId
from fstrack.store.store import OBJECTS_DIR, open_store


@pytest.fixture
def use_store(location_factory, tmp_path, monkeypatch):
    """``use_store(backend)``: point Task and the models at a fresh store (and a private cache)."""
    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    current.main = None

    def use(backend: str):
        loc = location_factory(backend)
        fstrack.set_store(loc.url, **loc.storage_options)
        return loc

    yield use
    if current.main is not None:
        current.main.close()
    current.main = None
    wait_for_uploads()


@pytest.fixture(params=["local", "memory", "s3"])
def store3(request, use_store):
    return use_store(request.param)


@pytest.fixture(params=["local", "memory"])
def store2(request, use_store):
    return use_store(request.param)


def _file(path, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def _store():
    from fstrack.records import config

    return config.get_store()


def _blobs_of_size(size: int) -> int:
    return sum(1 for e in _store().backend.walk(OBJECTS_DIR) if e.size == size)


def run_script(code: str, loc, tmp_path, name: str = "script.py", timeout: float = 180):
    script = tmp_path / name
    script.write_text(textwrap.dedent(code))
    env = {
        **os.environ,
        **loc.env,
        "FSTRACK_URL": loc.url,
        "FSTRACK_STORAGE_OPTIONS": json.dumps(loc.storage_options),
        "FSTRACK_CACHE_DIR": str(tmp_path / f"cache-{name}"),
    }
    env.pop("FSTRACK_TASK_ID", None)
    return subprocess.run(
        [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout
    )


# -- round trips on every backend ---------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["local", "memory", "s3", "azure", "gcs"])
def test_output_model_round_trip(backend, use_store, tmp_path):
    use_store(backend)
    task = Task.create(project_name="models/rt", task_name="trainer")
    payload = os.urandom(200_000)
    weights = _file(tmp_path / "net.pt", payload)
    model = OutputModel(
        task=task,
        config_dict={"layers": 3},
        label_enumeration={"bg": 0, "cat": 1},
        name="resnet",
        tags=["best"],
        comment="first try",
    )
    url = model.update_weights(weights, auto_delete_file=False, iteration=7, async_enable=False)
    assert os.path.exists(weights)
    assert url == model.url and url.endswith(
        f"{OBJECTS_DIR}/{model._data['weights']['object'][:2]}/{model._data['weights']['object'][2:]}"
    )
    # the task lists it (list-like and by name on the task: the file name without extension)
    task.reload()
    assert task.output_models_id == {"net": model.id}
    assert [m.id for m in task.models.output] == [model.id] and task.models["output"]["net"].id == model.id
    assert task.models.output[-1].name == "resnet" and task.get_models()["input"] == []
    # found without the task
    found = Model.query_models(project_name="models/rt", model_name="resnet")
    assert [m.id for m in found] == [model.id]
    loaded = InputModel(name="resnet", project="models/rt", tags=["best"])
    assert loaded.id == model.id
    assert (loaded.framework, loaded.iteration, loaded.labels, loaded.config_dict) == (
        "PyTorch",
        7,
        {"bg": 0, "cat": 1},
        {"layers": 3},
    )
    assert loaded.original_task == task.id and loaded.project_name == "models/rt"
    assert loaded.comment.startswith(f"snapshot {weights} stored") and "first try" in loaded.comment
    with open(loaded.get_local_copy(), "rb") as f:
        assert f.read() == payload
    assert fsck(_store()).ok


def test_local_copy_is_cached_by_hash(store3, tmp_path, monkeypatch):
    task = Task.create(project_name="p", task_name="t")
    payload = os.urandom(50_000)
    model = OutputModel(task=task, name="m")
    model.update_weights(_file(tmp_path / "m.bin", payload), async_enable=False)
    first = Model(model.id).get_local_copy()
    assert os.path.basename(first) == "m.bin" and open(first, "rb").read() == payload

    def no_io(*args, **kwargs):
        raise AssertionError("a cached copy must not be downloaded again")

    import fstrack.store.gc

    monkeypatch.setattr(fstrack.store.gc, "fetch_object", no_io)
    monkeypatch.setattr(type(_store()), "get_file", no_io)
    assert Model(model.id).get_local_copy() == first
    assert Model(model.id).get_weights() == first


def test_same_bytes_are_one_object_whatever_task_uploads_them(store3, tmp_path):
    payload = os.urandom(123_457)  # a size no manifest has
    ids = []
    for i in range(3):
        task = Task.create(project_name="dedupe", task_name=f"t{i}")
        model = OutputModel(task=task, name=f"m{i}")
        model.update_weights(_file(tmp_path / f"w{i}.pt", payload), async_enable=False)
        ids.append(model._data["weights"]["object"])
        assert _blobs_of_size(len(payload)) == 1, "identical weights must be stored once"
    assert len(set(ids)) == 1 and isinstance(ids[0], BlobId)
    assert len(Model.query_models(project_name="dedupe")) == 3


@pytest.mark.servers
def test_background_upload_to_object_store(use_store, tmp_path):
    use_store("s3")
    task = Task.create(project_name="p", task_name="async")
    path = _file(tmp_path / "big.bin", os.urandom(300_000))
    model = OutputModel(task=task, name="async")
    url = model.update_weights(path)  # async by default on object stores; the file is deleted once stored
    assert wait_for_uploads(timeout=120)
    assert not os.path.exists(path), "auto_delete_file deletes the local file once it is stored (ClearML)"
    model.reload()
    assert model.url == url and _store().has(model._data["weights"]["object"])


# -- the model record -------------------------------------------------------------------------------------------
def test_model_record_in_the_store(store2, tmp_path):
    task = Task.create(project_name="spec", task_name="t")
    model = OutputModel(task=task, name="m", framework="ONNX", base_model_id=None)
    model.update_weights(_file(tmp_path / "m.onnx", b"onnx"), async_enable=False, iteration=3)
    db = model_db()
    head = db.refs.head(f"models/{model.id}")
    assert head[0] == 2 and set(head[1]) == {"manifest", "time"}
    manifest = db.load(model.id)
    assert manifest["kind"] == "model" and manifest["task"] == task.id and manifest["project"] == "spec"
    assert manifest["weights"] == {
        "object": manifest["weights"]["object"],
        "size": 4,
        "file": "m.onnx",
        "package": False,
    }
    assert manifest["previous"] is not None
    names = _store().backend.list("index/models")
    assert names == [f"{model.id}.{2:020d}"]
    record = db.records()[0]
    assert record["hash"] == str(manifest["weights"]["object"]) and record["uri"] is None
    assert [m["iteration"] for m in db.history(model.id)] == [None, 3]


def test_output_model_is_stored_on_first_need(store2, tmp_path):
    task = Task.create(project_name="p", task_name="lazy")
    model = OutputModel(task=task, name="never-used")
    assert Model.query_models(project_name="p") == [] and task.output_models_id == {}
    model.tags = ["x"]  # edits of an unstored model stay local
    assert model.tags == ["x"]
    model.set_metadata("k", 1, "int")  # stores it
    task.reload()
    assert task.output_models_id == {"Output Model": model.id}
    assert Model(model.id).tags == ["x"] and Model(model.id).get_metadata_casted("k") == 1


def test_register_uri_import_and_load_model(store2, tmp_path):
    task = Task.create(project_name="p", task_name="reg")
    model = OutputModel(task=task, name="registered")
    before = set(_store().object_ids())
    url = model.update_weights(register_uri="s3://somewhere/else/model.h5")
    assert url == "s3://somewhere/else/model.h5" == model.url
    assert model.framework == "Keras"
    added = set(_store().object_ids()) - before
    assert {_store().get_doc(o)["kind"] for o in added} == {"model", "task"}  # manifests only: nothing uploaded
    imported = InputModel.import_model(
        "https://example.com/w/resnet50.pth",
        name="resnet50",
        project="zoo",
        tags=["pretrained"],
        config_text="depth: 50",
        label_enumeration={"a": 1},
        create_as_published=True,
    )
    assert imported.published and imported.framework == "PyTorch" and imported.config_dict == {"depth": 50}
    again = InputModel.import_model("https://example.com/w/resnet50.pth", name="other name")
    assert again.id == imported.id and again.name == "resnet50"
    assert InputModel.load_model("https://example.com/w/resnet50.pth").id == imported.id
    assert InputModel.load_model("https://example.com/w/unknown.pth") is None
    # a registered local file is returned as is
    local = _file(tmp_path / "local.bin", b"local weights")
    registered = InputModel.import_model(local)
    assert registered.get_local_copy() == local


def test_update_weights_package(store2, tmp_path):
    folder = tmp_path / "pkg"
    (folder / "sub").mkdir(parents=True)
    _file(folder / "a.txt", b"alpha")
    _file(folder / "sub" / "b.bin", b"beta")
    task = Task.create(project_name="p", task_name="pkg")
    model = OutputModel(task=task, name="packaged")
    model.update_weights_package(weights_path=str(folder), auto_delete_file=False, async_enable=False)
    assert model._is_package() and "package" in model.system_tags
    copy_ = Model(model.id).get_local_copy()
    assert os.path.isdir(copy_)
    assert open(os.path.join(copy_, "a.txt"), "rb").read() == b"alpha"
    assert open(os.path.join(copy_, "sub", "b.bin"), "rb").read() == b"beta"
    files = Model(model.id).get_weights_package()
    assert sorted(p.name for p in files) == ["a.txt", "b.bin"]
    # deterministic packages: the same folder is the same object
    other = OutputModel(task=task, name="again")
    other.update_weights(str(folder), auto_delete_file=True, async_enable=False)  # a folder is packaged too
    assert other._data["weights"]["object"] == model._data["weights"]["object"]
    assert not folder.exists(), "auto_delete_file removes the packaged files and the emptied folder"
    with pytest.raises(ValueError, match="not packaged"):
        plain = OutputModel(task=task, name="plain")
        plain.update_weights(_file(tmp_path / "x.pt", b"x"), async_enable=False)
        plain.get_weights_package()


def test_unsafe_package_is_refused(store2, tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr("../../escaped.txt", "gotcha")
    model = InputModel.import_model(str(evil), is_package=True)
    with pytest.raises(ValueError, match="unsafe|outside"):
        model.get_local_copy(raise_on_error=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert model.get_local_copy() is None
    assert not any(p.name == "escaped.txt" for p in tmp_path.rglob("escaped.txt"))


def test_publish_archive_metadata_and_queries(store2, tmp_path):
    task = Task.create(project_name="q", task_name="t")
    models = []
    for i in range(3):
        m = OutputModel(task=task, name=f"m{i}", tags=["even" if i % 2 == 0 else "odd"])
        m.update_weights(_file(tmp_path / f"{i}.pt", bytes([i]) * 10), async_enable=False)
        models.append(m)
    models[0].publish()
    with pytest.raises(ModelLockedError):
        models[0].update_weights(_file(tmp_path / "late.pt", b"late"), async_enable=False)
    with pytest.raises(ModelLockedError):
        models[0].update_labels({"x": 1})
    models[0].tags = ["even", "final"]  # tags stay editable
    models[1].archive()
    models[2].set_metadata("accuracy", 0.93, "float")
    models[2].set_all_metadata({"stage": {"value": "prod", "type": "str"}}, replace=False)

    def ids(**kw):
        return [m.id for m in Model.query_models(project_name="q", **kw)]

    assert ids() == [models[2].id, models[0].id]  # newest first; archived left out
    assert set(ids(include_archived=True)) == {m.id for m in models}
    assert ids(only_published=True) == [models[0].id]
    assert ids(tags=["final"]) == [models[0].id]
    assert ids(tags=["-even"], include_archived=True) == [models[1].id]
    assert ids(metadata={"stage": "prod", "accuracy": 0.93}) == [models[2].id]
    assert ids(max_results=1) == [models[2].id]
    assert Model.query_models(project_name="elsewhere") == []
    m2 = Model(models[2].id)
    assert m2.get_metadata("accuracy") == "0.93" and m2.get_metadata_casted("accuracy") == 0.93
    assert m2.get_all_metadata()["stage"] == {"key": "stage", "value": "prod", "type": "str"}
    models[1].unarchive()
    assert len(ids()) == 3
    assert InputModel(name="m0", only_published=True).id == models[0].id
    with pytest.raises(ModelNotFoundError):
        InputModel(name="m1", only_published=True)


def test_input_models_on_a_task(store2, tmp_path):
    producer = Task.create(project_name="p", task_name="producer")
    out = OutputModel(task=producer, name="base", config_text="depth: 18", label_enumeration={"bg": 0, "dog": 1})
    out.update_weights(_file(tmp_path / "base.pt", b"base"), async_enable=False)
    consumer = Task.create(project_name="p", task_name="consumer")
    model = InputModel(model_id=out.id)
    assert consumer.connect(model) is model
    consumer.reload()
    assert consumer.input_models_id == {"base": out.id}
    assert f"Using model id: {out.id}" in consumer.comment
    assert consumer.get_model_design() == "depth: 18" and consumer.get_labels_enumeration() == {"bg": 0, "dog": 1}
    assert consumer.models.input["base"].id == out.id
    # by name: only published models
    with pytest.raises(ModelNotFoundError):
        consumer.set_input_model(model_name="base")
    out.publish()
    consumer.set_input_model(model_name="base", name="warm start")
    assert consumer.input_models_id == {"base": out.id, "warm start": out.id}
    tuned = OutputModel(task=consumer, name="tuned")
    tuned.connect(consumer, name="base")  # the output of the same name as an input: its parent
    tuned.update_weights(_file(tmp_path / "tuned.pt", b"tuned"), async_enable=False)
    assert Model(tuned.id).parent == out.id
    consumer.remove_input_models([out])
    assert consumer.input_models_id == {}
    clone = Task.clone(consumer)
    assert clone.input_models_id == {}
    consumer.set_input_model(model_id=out.id)
    assert Task.clone(consumer).input_models_id == {"base": out.id}
    # a task with output models is not reusable; removal refuses while another task uses the model
    assert Model.remove(out.id) is False
    with pytest.raises(ValueError, match="used by"):
        Model.remove(out, raise_on_errors=True)
    assert Model.remove(out.id, force=True) is True
    with pytest.raises(ModelNotFoundError):
        Model(out.id)
    assert [m.id for m in Model.query_models(project_name="p")] == [tuned.id]


def test_input_model_under_an_agent_uses_the_stored_one(store2, tmp_path, monkeypatch):
    from fstrack.sdk.task import _PRIVATE

    producer = Task.create(project_name="p", task_name="producer")
    first, second = OutputModel(task=producer, name="first"), OutputModel(task=producer, name="second")
    first.update_weights(_file(tmp_path / "a.pt", b"a"), async_enable=False)
    second.update_weights(_file(tmp_path / "b.pt", b"b"), async_enable=False)
    draft = Task.create(project_name="p", task_name="draft")
    draft.set_input_model(model_id=second.id, name="backbone")  # what the user chose for the agent's run
    monkeypatch.setenv("FSTRACK_TASK_ID", draft.id)
    remote = Task(_PRIVATE, db=draft._db, task_id=draft.id, remote=True)
    model = InputModel(model_id=first.id)
    model.connect(remote, name="backbone")  # the code asks for `first`; the stored choice wins
    assert model.id == second.id and remote.input_models_id == {"backbone": second.id}
    kept = InputModel(model_id=first.id)
    monkeypatch.delenv("FSTRACK_TASK_ID")
    local = Task.create(project_name="p", task_name="local")
    kept.connect(local, name="backbone", ignore_remote_overrides=True)
    assert local.get_parameter("backbone/_ignore_remote_overrides_input_model_") in (True, "True")
    assert local.input_models_id == {"backbone": first.id}


def test_connect_output_model_and_update_output_model(store2, tmp_path):
    task = Task.create(project_name="p", task_name="writer")
    task.set_model_label_enumeration({"a": 1})
    out = OutputModel(task=task)
    assert out.labels == {"a": 1} and out.name == "writer"  # defaults from the task
    task.connect(out, name="checkpoint")
    out.update_weights(_file(tmp_path / "epoch1.pt", b"1"), async_enable=False)
    task.reload()
    assert task.output_models_id == {"checkpoint": out.id}
    url = task.update_output_model(
        _file(tmp_path / "best.pt", b"best"), name="best", tags=["t"], iteration=5, auto_delete_file=False
    )
    task.reload()
    best = task.models.output["best"]
    assert best.name == "writer - best" and best.url == url and best.iteration == 5 and best.tags == ["t"]
    assert task.update_output_model("gs://bucket/remote.pt", name="remote") == "gs://bucket/remote.pt"
    with pytest.raises(ValueError):
        OutputModel(task=Task.create(project_name="p", task_name="other")).connect(task)
    # reuse of the same model id by another task
    follower = Task.create(project_name="p", task_name="follower")
    again = OutputModel(task=follower, base_model_id=out.id, comment="continued")
    again.update_weights(_file(tmp_path / "epoch2.pt", b"2"), async_enable=False)
    assert again.id == out.id and Model(out.id).original_task == follower.id
    assert "Overwritten by task id" in Model(out.id).comment
    follower.reload()
    assert out.id in follower.output_models_id.values()


def test_model_design_calls(store2, tmp_path):
    task = Task.create(project_name="p", task_name="design")
    assert task.get_model_design() == ""
    with pytest.raises(ValueError):
        task.save_exec_model_design_file()
    with pytest.warns(DeprecationWarning):
        task.set_model_config(config_dict={"lr": 0.1})
    with pytest.warns(DeprecationWarning):
        assert task.get_model_config_dict() == {"lr": 0.1}
    with pytest.warns(DeprecationWarning):
        assert '"lr": 0.1' in task.get_model_config_text()
    desc = _file(tmp_path / "desc.txt", b"layers = 4")
    assert task.update_model_desc(desc)
    assert task.get_model_design() == "layers = 4" == task.get_configuration_object("General")
    path = task.save_exec_model_design_file("design.txt")
    assert open(path).read() == "layers = 4"
    assert task.save_exec_model_design_file("design.txt", use_cache=True) == path
    with pytest.raises(ValueError):
        task.save_exec_model_design_file("../escape.txt")
    with pytest.raises(FileNotFoundError):
        task.update_model_desc(str(tmp_path / "missing.txt"))
    model = OutputModel(task=task)
    assert model.config_text == "layers = 4"  # inherited from the task's design
    model.config_dict = {"layers": 5}
    assert Model(model.id).config_dict == {"layers": 5}
    assert task.get_model_design() == "layers = 4", "an existing task design is kept"


def test_reports_on_a_model(store2, tmp_path):
    task = Task.create(project_name="p", task_name="reports")
    model = OutputModel(task=task, name="reported")
    for i in range(5):
        model.report_scalar("loss", "val", 1.0 / (i + 1), iteration=i)
    model.report_single_value("accuracy", 0.9)
    model.report_histogram("hist", "h", values=[1, 2, 3], iteration=1)
    model.report_confusion_matrix("cm", "c", matrix=[[1, 0], [0, 1]], iteration=1)
    model.flush_reports()
    reader = Model(model.id)
    scalars = reader.get_reported_scalars()
    assert scalars["loss"]["val"]["x"] == [0, 1, 2, 3, 4]
    assert reader.get_reported_single_values() == {"accuracy": 0.9}
    assert {p["metric"] for p in reader.get_reported_plots()} >= {"hist", "cm"}
    assert reader._data["last_metrics"]["loss"]["val"]["min"] == pytest.approx(0.2)


def test_models_live_in_another_store(store2, tmp_path):
    other = tmp_path / "other-bucket"
    task = Task.create(project_name="p", task_name="elsewhere")
    task.output_uri = str(other)
    payload = os.urandom(10_000)
    model = OutputModel(task=task, name="far")
    url = model.update_weights(_file(tmp_path / "far.pt", payload), async_enable=False)
    weights = model._data["weights"]
    assert weights["store"] == str(other) and url.startswith(str(other)) and "object" not in weights
    far = open_store(str(other), create=False)
    assert far.has(weights["hash"]) and not _store().has(weights["hash"])
    from fstrack.store.refs import Refs

    pin = Refs(far).head(f"outputs/{model.id}")
    assert pin[1]["weights"] == weights["hash"]
    assert open(Model(model.id).get_local_copy(), "rb").read() == payload
    Model.remove(model.id)
    assert Refs(far).head(f"outputs/{model.id}")[1]["deleted"] is True


def test_gc_keeps_live_model_weights_and_frees_removed_ones(store2, tmp_path):
    from fstrack.store import gc

    task = Task.create(project_name="p", task_name="gc")
    keep, drop = OutputModel(task=task, name="keep"), OutputModel(task=task, name="drop")
    payload = os.urandom(3000)
    keep.update_weights(_file(tmp_path / "keep.pt", payload), async_enable=False)
    drop.update_weights(_file(tmp_path / "drop.pt", os.urandom(4000)), async_enable=False)
    kept, dropped = keep._data["weights"]["object"], drop._data["weights"]["object"]
    assert Model.remove(drop.id) is True  # only its creating task lists it
    gc.collect(_store(), grace_seconds=0, allow_short_grace=True)
    assert _store().has(kept) and not _store().has(dropped)
    assert open(Model(keep.id).get_local_copy(force_download=True), "rb").read() == payload


# -- errors --------------------------------------------------------------------------------------------------
def test_bad_input_errors(store2, tmp_path):
    with pytest.raises(ModelNotFoundError):
        Model("not-an-id")
    with pytest.raises(ModelNotFoundError):
        Model("0" * 32)
    with pytest.raises(ValueError):  # ClearML raises ValueError: ModelNotFoundError is one
        InputModel(name="nothing like it")
    with pytest.raises(ValueError):
        InputModel()
    with pytest.raises(ValueError, match="no current task"):
        OutputModel()
    with pytest.raises(TypeError):
        OutputModel(task="not a task")
    task = Task.create(project_name="p", task_name="errors")
    with pytest.raises(TypeError):
        OutputModel(task=task, label_enumeration={"a": "1"})
    with pytest.raises(TypeError):
        OutputModel(task=task, config_dict="not a dict")
    with pytest.raises(ValueError):
        OutputModel(task=task, config_text="a", config_dict={"b": 1})
    with pytest.raises(TypeError):
        OutputModel(task=task, tags=5)
    with pytest.raises(ModelNotFoundError):
        OutputModel(task=task, base_model_id="f" * 32)
    model = OutputModel(task=task)
    with pytest.raises(TypeError):
        model.update_weights(123)
    with pytest.raises(FileNotFoundError):
        model.update_weights(str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError):
        model.update_weights(_file(tmp_path / "x.pt", b"x"), register_uri="s3://b/x.pt")
    with pytest.raises(ValueError):
        model.update_weights()
    with pytest.raises(ValueError):
        model.update_weights(_file(tmp_path / "y.pt", b"y"), iteration=-1)
    with pytest.raises(TypeError):
        model.update_labels(["a"])
    with pytest.raises(ValueError):
        Model.query_models(max_results=-1)
    with pytest.raises(TypeError):
        Model.query_models(metadata=["a"])
    with pytest.raises(TypeError):
        Model.remove(42)
    with pytest.raises(ValueError):
        task.set_input_model()
    with pytest.raises(ModelNotFoundError):
        task.set_input_model(model_id="1" * 32)
    with pytest.raises(TypeError):
        task.remove_input_models("abc")
    with pytest.raises(TypeError):
        task.update_output_model(42)
    with pytest.raises(ModelNotFoundError):
        Model("A" * 32)


def test_task_with_output_model_is_not_reused(store2, tmp_path):
    first = Task.init("reuse", "exp", auto_connect_frameworks=False)
    OutputModel(task=first).update_weights(_file(tmp_path / "w.pt", b"w"), async_enable=False)
    first.close()
    second = Task.init("reuse", "exp")
    assert second.id != first.id
    second.close()


# -- auto-logged frameworks, across processes ---------------------------------------------------------------------
SAVER = """
    import json, os, sys
    from fstrack import Task
    task = Task.init("models/e2e", "train", auto_connect_frameworks={"pytorch": ["*.pt"], "joblib": True})
    import torch, joblib                        # imported after Task.init: hooked on import
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    torch.save(net.state_dict(), "weights.pt")
    with torch.no_grad():
        net.weight.add_(1.0)
    torch.save(net.state_dict(), "weights.pt")  # the same path: new weights in the same model
    torch.save(net.state_dict(), "ignored.pth")  # does not match the wildcard
    with open("weights.pt", "wb") as f:          # the script may overwrite its file right away
        f.write(b"overwritten")
    joblib.dump({"coef": [1, 2, 3]}, "clf.joblib")
    print(json.dumps({"task": task.id, "weight": net.weight.tolist(), "outputs": task.output_models_id}))
"""

LOADER = """
    import json
    import joblib, torch
    from fstrack.sdk.models import InputModel, Model
    found = Model.query_models(project_name="models/e2e", model_name="train - weights")
    state = torch.load(found[0].get_local_copy())
    clf = joblib.load(InputModel(name="train - clf", project="models/e2e").get_local_copy())
    print(json.dumps({"n": len(found), "weight": state["weight"].tolist(), "clf": clf,
                      "framework": found[0].framework, "task": found[0].original_task,
                      "ignored": len(Model.query_models(model_name="train - ignored")),
                      "versions": len(found[0]._db.history(found[0].id))}))
"""


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_auto_logged_models_across_processes(backend, location_factory, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("joblib")
    loc = location_factory(backend)
    saved = run_script(SAVER, loc, tmp_path, "saver.py")
    assert saved.returncode == 0, saved.stderr
    out = json.loads(saved.stdout.strip().splitlines()[-1])
    assert set(out["outputs"]) == {"weights", "clf"}
    loaded = run_script(LOADER, loc, tmp_path, "loader.py")
    assert loaded.returncode == 0, loaded.stderr
    got = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert got["n"] == 1 and got["weight"] == out["weight"] and got["clf"] == {"coef": [1, 2, 3]}
    assert got["framework"] == "PyTorch" and got["task"] == out["task"]
    assert got["ignored"] == 0 and got["versions"] == 3  # created, then two saves


def test_missing_framework_is_skipped_silently(location_factory, tmp_path):
    loc = location_factory("local")
    code = """
        import sys, warnings
        sys.modules["torch"] = None  # as if torch were not installed
        warnings.simplefilter("error")
        from fstrack import Task
        task = Task.init("p", "no torch", auto_connect_frameworks=True)
        try:
            import torch
        except ImportError:
            print("skipped")
    """
    result = run_script(code, loc, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "skipped"


def test_frameworks_options(location_factory, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("joblib")
    loc = location_factory("local")
    code = """
        import json, torch, joblib                  # imported before Task.init: hooked by it
        from fstrack import Task
        task = Task.init("p", "opts", auto_connect_frameworks={"pytorch": False, "scikit": False})
        torch.save({"a": 1}, "a.pt")
        joblib.dump([1], "b.pkl")
        print(json.dumps(task.output_models_id))
    """
    result = run_script(code, loc, tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {}


def test_wildcards_and_should_connect():
    from fstrack.capture.frameworks import matches_any_wildcard, should_connect

    assert should_connect(True, "pytorch") and not should_connect(False, "pytorch")
    assert not should_connect({}, "pytorch") and should_connect({"joblib": False}, "pytorch")
    assert should_connect({"pytorch": ["*.pt"]}, "pytorch") and not should_connect({"pytorch": False}, "pytorch")
    assert matches_any_wildcard("/a/b/model.pt", ["*.pt"])
    assert not matches_any_wildcard("/a/b/model.pth", ["*.pt"])
    assert matches_any_wildcard("/a/checkpoints/m.pt", ["checkpoints/*.pt"])
    assert not matches_any_wildcard("/a/other/m.pt", ["checkpoints/*.pt"])
    assert matches_any_wildcard("/x/y.bin", [])
    with pytest.raises(TypeError):
        from fstrack.capture.frameworks import _check_option

        _check_option("yes")
