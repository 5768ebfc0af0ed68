"""Artifacts: every type round-trips across processes, dedupe, output stores, the cache, registered
artifacts, secrets kept out of stores, and the security rules (pickles, archives, names)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import fstrack
from fstrack import Task
from fstrack.sdk import artifacts, current, local_cache
from fstrack.sdk.artifacts import ArtifactError, UnsafeArchiveError
from fstrack.store import transfer
from fstrack.store.objects import BlobId
from fstrack.store.store import open_store

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
Image = pytest.importorskip("PIL.Image")
yaml = pytest.importorskip("yaml")


@pytest.fixture
def art_store(request, location_factory, tmp_path, monkeypatch):
    loc = location_factory(getattr(request, "param", "local"))
    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    artifacts.set_cache_dir(None)
    fstrack.set_store(loc.url, **loc.storage_options)
    current.main = None
    yield loc
    if current.main is not None:
        current.main.close()
    current.main = None


def run_script(code: str, loc, tmp_path, *args: str, env: dict | None = None, timeout: float = 180):
    script = tmp_path / f"script-{os.urandom(4).hex()}.py"
    script.write_text(textwrap.dedent(code))
    full_env = {
        **os.environ,
        **loc.env,
        "FSTRACK_URL": loc.url,
        "FSTRACK_STORAGE_OPTIONS": json.dumps(loc.storage_options),
        "FSTRACK_CACHE_DIR": str(tmp_path / f"cache-{os.urandom(4).hex()}"),
        **(env or {}),
    }
    full_env.pop("FSTRACK_TASK_ID", None)
    done = subprocess.run(
        [sys.executable, str(script), *args],
        env=full_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def object_count(store) -> int:
    return sum(1 for _ in store.object_ids())


# -- the writer used by the round-trip tests (runs in a child process, or in this one for memory://) -------------
WRITE_ALL = """
import os, sys, pathlib
import numpy as np, pandas as pd
from PIL import Image
from fstrack import Task

def write_all(folder):
    folder = pathlib.Path(folder)
    (folder / "data" / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "a.txt").write_text("alpha")
    (folder / "data" / "b.csv").write_text("x,y\\n1,2\\n")
    (folder / "data" / "sub" / "c.txt").write_text("gamma")
    (folder / "model.bin").write_bytes(bytes(range(256)) * 100)
    task = Task.create(project_name="arts", task_name="all types")
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}, index=[10, 20, 30])
    up = task.upload_artifact
    up("file", str(folder / "model.bin"), metadata={"epoch": 3})
    up("path", folder / "model.bin")
    up("folder", str(folder / "data"))
    up("wildcard", str(folder / "data" / "*.txt"))
    up("files", [folder / "data" / "a.txt", folder / "data" / "sub" / "c.txt"])
    up("json", {"lr": 0.1, "layers": [1, 2]}, preview="my preview")
    up("yaml", {"lr": 0.1}, extension_name=".yaml")
    up("df_csv", df)
    up("df_parquet", df, extension_name=".parquet")
    up("df_feather", df.reset_index(drop=True), extension_name=".feather")
    up("df_pickle", df, extension_name=".pickle")
    up("np_npz", np.arange(12, dtype=np.int64).reshape(3, 4))
    up("np_csv", np.arange(6, dtype=float).reshape(2, 3), extension_name=".csv.gz")
    up("img_png", Image.new("RGB", (5, 4), (255, 0, 0)))
    up("img_jpg", Image.new("RGB", (5, 4), (0, 0, 255)), extension_name=".jpg")
    up("url", "s3://some-bucket/some/key.bin")
    up("text", "hello artifact")
    up("pickled", {1, 2, 3})
    up("custom", [4, 5, 6], serialization_function=lambda o: bytes(o), extension_name=".raw")
    assert task.flush(wait_for_uploads=True)
    return task

if __name__ == "__main__":
    print(write_all(sys.argv[1]).id)
"""


def check_all(task: Task) -> None:
    arts = task.artifacts
    assert set(arts) == {
        "file",
        "path",
        "folder",
        "wildcard",
        "files",
        "json",
        "yaml",
        "df_csv",
        "df_parquet",
        "df_feather",
        "df_pickle",
        "np_npz",
        "np_csv",
        "img_png",
        "img_jpg",
        "url",
        "text",
        "pickled",
        "custom",
    }
    f = arts["file"]
    assert (f.type, f.mode, f.size, f.metadata, f.filename) == ("custom", "output", 25600, {"epoch": "3"}, "model.bin")
    assert f.hash == arts["path"].hash and len(f.hash) == 64
    assert Path(f.get()).read_bytes() == bytes(range(256)) * 100
    assert f.preview.startswith("model.bin - ")
    assert f.url.endswith(f"objects/{f.hash[:2]}/{f.hash[2:]}")
    folder = Path(arts["folder"].get_local_copy())
    assert (folder / "a.txt").read_text() == "alpha" and (folder / "sub" / "c.txt").read_text() == "gamma"
    assert arts["folder"].type == "archive" and "a.txt" in arts["folder"].preview
    assert zipfile.is_zipfile(arts["folder"].get_local_copy(extract_archive=False))
    wild = Path(arts["wildcard"].get_local_copy())
    assert sorted(p.relative_to(wild).as_posix() for p in wild.rglob("*") if p.is_file()) == ["a.txt", "sub/c.txt"]
    files = Path(arts["files"].get_local_copy())
    assert sorted(p.name for p in files.rglob("*") if p.is_file()) == ["a.txt", "c.txt"]
    assert arts["json"].get() == {"lr": 0.1, "layers": [1, 2]} and arts["json"].preview == "my preview"
    assert arts["json"].type == "dict" and arts["json"].content_type == "application/json"
    assert arts["yaml"].get() == {"lr": 0.1} and arts["yaml"].filename == "yaml.yaml"
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}, index=[10, 20, 30])
    pd.testing.assert_frame_equal(arts["df_csv"].get(), df)
    assert arts["df_csv"].filename == "df_csv.csv.gz" and arts["df_csv"].type == "pandas"
    pd.testing.assert_frame_equal(arts["df_parquet"].get(), df)
    pd.testing.assert_frame_equal(arts["df_feather"].get(), df.reset_index(drop=True))
    pd.testing.assert_frame_equal(arts["df_pickle"].get(allow_pickle=True), df)
    assert (arts["np_npz"].get() == np.arange(12).reshape(3, 4)).all()
    assert (arts["np_csv"].get() == np.arange(6, dtype=float).reshape(2, 3)).all()
    png = arts["img_png"].get()
    assert png.size == (5, 4) and png.getpixel((0, 0)) == (255, 0, 0) and arts["img_png"].content_type == "image/png"
    assert arts["img_png"].preview.startswith("PIL.Image.Image image mode=RGB size=5x4")
    assert arts["img_jpg"].get().format == "JPEG" and arts["img_jpg"].filename == "img_jpg.jpg"
    url = arts["url"]
    assert (url.url, url.type, url.size, url.hash) == ("s3://some-bucket/some/key.bin", "custom", None, None)
    assert arts["text"].get() == "hello artifact" and arts["text"].type == "string"
    assert arts["pickled"].type == "pickle" and arts["pickled"].get(allow_pickle=True) == {1, 2, 3}
    assert arts["custom"].get(deserialization_function=lambda b: list(b)) == [4, 5, 6]
    assert Path(arts["custom"].get()).read_bytes() == bytes([4, 5, 6])


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_every_type_round_trips_across_processes(backend, location_factory, tmp_path, monkeypatch):
    loc = location_factory(backend)
    (tmp_path / "writer.py").write_text(WRITE_ALL)
    done = run_script(
        f"import runpy, sys; sys.argv = ['w', {str(tmp_path / 'files')!r}]; "
        f"runpy.run_path({str(tmp_path / 'writer.py')!r}, run_name='__main__')",
        loc,
        tmp_path,
    )
    task_id = done.stdout.strip().splitlines()[-1]
    # another process (another machine: its own cache folder) reads everything back
    check = run_script(
        f"""
        import runpy, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_artifacts import check_all
        from fstrack import Task
        check_all(Task.get_task(task_id={task_id!r}))
        print("ok")
        """,
        loc,
        tmp_path,
    )
    assert check.stdout.strip().endswith("ok")
    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "reader-cache"))
    fstrack.set_store(loc.url, **loc.storage_options)
    check_all(Task.get_task(task_id=task_id))


def test_every_type_round_trips_in_memory(art_store, tmp_path):
    namespace: dict = {}
    exec(compile(WRITE_ALL, "writer", "exec"), namespace)
    written = namespace["write_all"](tmp_path / "files")
    check_all(Task.get_task(task_id=written.id))


# -- behaviour ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("art_store", ["local", "memory", "s3"], indirect=True)
def test_dedupe_and_overwrite(art_store, tmp_path):
    store = fstrack.records.config.get_store()
    payload = tmp_path / "weights.bin"
    payload.write_bytes(os.urandom(100_000))
    a = Task.create(project_name="d", task_name="a")
    a.upload_artifact("w", str(payload), wait_on_upload=True)
    before = object_count(store)
    b = Task.create(project_name="d", task_name="b")
    b.upload_artifact("same bytes", str(payload), wait_on_upload=True)
    b.upload_artifact("again", str(payload), wait_on_upload=True)
    b.upload_artifact("as pickle?", payload.read_bytes(), serialization_function=bytes, wait_on_upload=True)
    after = object_count(store)
    # only b's manifests were added: the 100 kB blob is stored once
    blob_ids = {t.artifacts[n].hash for t, n in ((a, "w"), (b, "same bytes"), (b, "again"), (b, "as pickle?"))}
    assert len(blob_ids) == 1
    sizes = [e.size for e in store.backend.walk("objects")]
    assert sum(1 for s in sizes if s == 100_000) == 1
    assert after - before == len(b.history())
    # same name overwrites
    b.upload_artifact("again", {"now": "a dict"}, wait_on_upload=True)
    assert b.artifacts["again"].get() == {"now": "a dict"}
    assert len(b.artifacts) == 3


def test_background_upload_flush_delete_after_and_retries(art_store, tmp_path, monkeypatch):
    task = Task.create(project_name="bg", task_name="t")
    src = tmp_path / "to-delete.txt"
    src.write_text("bye")
    calls = {"n": 0}
    real = artifacts.put_local_file

    def flaky(store, path):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise OSError("transient")
        return real(store, path)

    monkeypatch.setattr(artifacts, "put_local_file", flaky)
    assert task.upload_artifact("x", str(src), delete_after_upload=True, retries=2)  # queued in the background
    assert task.flush(wait_for_uploads=True)
    assert not src.exists(), "delete_after_upload removes the local file once stored"
    assert Task.get_task(task_id=task.id).artifacts["x"].get_local_copy() is not None
    calls["n"] = -10
    monkeypatch.setattr(artifacts, "put_local_file", lambda store, path: (_ for _ in ()).throw(OSError("down")))
    with pytest.warns(UserWarning, match="down"):
        assert task.upload_artifact("y", "text", wait_on_upload=True, retries=0) is False
    assert "y" not in task.artifacts


def test_auto_pickle_false_refuses_unknown_objects(art_store):
    task = Task.create(project_name="p", task_name="t")
    with pytest.raises(ArtifactError, match="auto_pickle"):
        task.upload_artifact("obj", object(), auto_pickle=False)
    with pytest.raises(fstrack.errors.InvalidNameError):
        task.upload_artifact("", "x")


def test_close_waits_for_uploads(location_factory, tmp_path):
    loc = location_factory("local")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 << 20))
    done = run_script(
        f"""
        from fstrack import Task
        task = Task.init("p", "closing")
        task.upload_artifact("big", {str(big)!r})   # background; the script ends at once
        print(task.id)
        """,
        loc,
        tmp_path,
    )
    task_id = done.stdout.strip().splitlines()[-1]
    fstrack.set_store(loc.url)
    task = Task.get_task(task_id=task_id)
    assert task.status == "completed" and task.artifacts["big"].size == 20 << 20


def test_local_cache_means_no_store_io(art_store, tmp_path, monkeypatch):
    task = Task.create(project_name="c", task_name="t")
    task.upload_artifact("d", {"k": 1}, wait_on_upload=True)
    art = Task.get_task(task_id=task.id).artifacts["d"]
    first = art.get_local_copy()
    assert first.startswith(str(tmp_path / "cache")) and Path(first).parent.name == art.hash
    assert task.cache_dir == Path(tmp_path / "cache" / "artifacts")
    store = fstrack.records.config.get_store()

    def no_io(*args, **kwargs):
        raise AssertionError("the store was read although the copy is cached")

    for name in ("read", "download", "exists", "read_many", "list"):
        monkeypatch.setattr(store.backend, name, no_io)
    assert art.get_local_copy() == first
    assert art.get() == {"k": 1}


def test_registered_artifacts_sync_on_flush_and_close(art_store):
    task = Task.create(project_name="r", task_name="audit")
    df = pd.DataFrame({"id": [1, 2, 2], "v": [0.5, 0.5, 0.7]})
    other = pd.DataFrame({"id": [2, 3], "v": [0.5, 0.1]})
    task.register_artifact("train", df, metadata={"rows": 3}, uniqueness_columns=["id"])
    task.register_artifact("test", other)
    assert set(task.get_registered_artifacts()) == {"train", "test"}
    assert task.flush(wait_for_uploads=True)
    art = Task.get_task(task_id=task.id).artifacts["train"]
    assert art.type == "data-audit-table" and art.metadata == {"rows": "3"}
    assert "shape=(3, 2), 2 unique rows, 66.7% uniqueness" in art.preview
    assert "shape=(2, 2), 2 unique rows, 100.0% uniqueness" in Task.get_task(task_id=task.id).artifacts["test"].preview
    assert "Intersection with [test]" in artifacts._uniqueness_summary(task._registered())
    pd.testing.assert_frame_equal(art.get(), df)
    first_hash = art.hash
    with pytest.raises(ArtifactError, match="register_artifact"):
        task.upload_artifact("train", {"a": 1})
    df.loc[3] = [9, 9.9]  # changed in place: the next flush stores the new snapshot
    task.flush(wait_for_uploads=True)
    again = Task.get_task(task_id=task.id).artifacts["train"]
    assert again.hash != first_hash and len(again.get()) == 4
    task.unregister_artifact("test")
    assert set(task.get_registered_artifacts()) == {"train"}
    df.loc[4] = [10, 1.0]
    task._close_artifacts()  # what close() does
    assert len(Task.get_task(task_id=task.id).artifacts["train"].get()) == 5


def test_delete_and_set_artifacts(art_store, tmp_path):
    a = Task.create(project_name="s", task_name="a")
    a.upload_artifact("one", {"v": 1})
    a.upload_artifact("two", {"v": 2})
    a.flush(wait_for_uploads=True)
    assert a.delete_artifacts(["one"])
    assert set(Task.get_task(task_id=a.id).artifacts) == {"two"}
    b = Task.create(project_name="s", task_name="b")
    result = b.set_artifacts([Task.get_task(task_id=a.id).artifacts["two"]])
    assert [r.name for r in result] == ["two"]
    record = b._data["artifacts"]["two"]
    assert isinstance(record["object"], BlobId), "same store: a link the collector follows"
    assert b.artifacts["two"].get() == {"v": 2}
    with pytest.raises(TypeError):
        b.artifacts["x"] = 1


def test_output_uri_store_records_location_and_pins(art_store, location_factory, tmp_path):
    out = location_factory("local")
    task = Task.create(project_name="o", task_name="elsewhere")
    task.output_uri = out.url
    payload = tmp_path / "p.bin"
    payload.write_bytes(os.urandom(50_000))
    task.upload_artifact("p", str(payload), wait_on_upload=True)
    record = task._data["artifacts"]["p"]
    assert record["object"] is None and record["store"] == out.url and len(record["hash"]) == 64
    out_store = open_store(out.url, create=False)
    assert out_store.has(record["hash"]) and not fstrack.records.config.get_store().has(record["hash"])
    pins = fstrack.store.refs.Refs(out_store).entries(f"outputs/{task.id}")
    assert pins and pins[-1][1]["artifacts"]["p"] == BlobId(record["hash"])
    assert task.get_output_destination() == out.url
    assert task.get_output_destination("x/y") == out.url + "/x/y"
    copy = Task.get_task(task_id=task.id).artifacts["p"].get_local_copy()
    assert Path(copy).read_bytes() == payload.read_bytes()
    # output_uri=True: the task's own store, linked
    own = Task.create(project_name="o", task_name="own")
    own.output_uri = own.store_url
    own.upload_artifact("q", str(payload), wait_on_upload=True)
    assert isinstance(own._data["artifacts"]["q"]["object"], BlobId)


@pytest.mark.servers
def test_output_uri_on_another_bucket_across_processes(location_factory, tmp_path):
    loc, out = location_factory("s3"), location_factory("s3")
    done = run_script(
        f"""
        import fstrack
        from fstrack import Task
        from fstrack.sdk import artifacts
        artifacts.set_storage_options({out.url!r}, **{out.storage_options!r})
        task = Task.init("o", "s3 output", output_uri={out.url!r})
        task.upload_artifact("arr", {{"in": "the other prefix"}}, wait_on_upload=True)
        print(task.id)
        """,
        loc,
        tmp_path,
    )
    task_id = done.stdout.strip().splitlines()[-1]
    check = run_script(
        f"""
        from fstrack import Task
        a = Task.get_task(task_id={task_id!r}).artifacts["arr"]
        assert a.get() == {{"in": "the other prefix"}}, a
        assert a.store_url == {out.url!r}
        print("ok")
        """,
        loc,
        tmp_path,
    )  # same server: the task store's options serve the output store too
    assert check.stdout.strip().endswith("ok")


def _all_bytes(loc) -> bytes:
    from servers import location_fs

    fs, root = location_fs(loc)
    chunks = []
    for path in fs.find(root):
        chunks.append(path.encode())
        chunks.append(fs.cat_file(path))
    return b"\n".join(chunks)


def test_setup_aws_upload_keeps_secrets_out_of_every_store(art_store, seaweedfs, location_factory, tmp_path):
    out = location_factory("s3")
    options = out.storage_options
    bucket_and_prefix = out.url[len("s3://") :]
    bucket, _, prefix = bucket_and_prefix.partition("/")
    endpoint = options["client_kwargs"]["endpoint_url"]
    task = Task.create(project_name="secrets", task_name="aws")
    task.setup_aws_upload(
        bucket=bucket,
        subdir=prefix,
        host=endpoint,
        key=options["key"],
        secret=options["secret"],
        secure=False,
        use_listings_cache=False,
        skip_instance_cache=True,
    )
    assert task.output_uri == out.url
    assert task.get_output_storage_options()["secret"] == options["secret"]
    task.upload_artifact("cfg", {"a": 1}, wait_on_upload=True)
    assert Task.get_task(task_id=task.id).artifacts["cfg"].get() == {"a": 1}
    for where in (art_store, out):
        data = _all_bytes(where)
        assert options["secret"].encode() not in data and options["key"].encode() not in data
    # the other setups map onto fsspec options the same way, in memory only
    task.setup_gcp_upload("gbucket", "sub", project="proj", credentials_json="/nonexistent/creds.json")
    assert task.output_uri == "gs://gbucket/sub"
    assert task.get_output_storage_options()["token"] == "/nonexistent/creds.json"
    task.setup_azure_upload("acct", "s3cr3t-azure-key", container_name="cont")
    assert task.output_uri == "az://cont" and task.get_output_storage_options()["account_key"] == "s3cr3t-azure-key"
    assert b"s3cr3t-azure-key" not in _all_bytes(art_store)


@pytest.mark.parametrize("backend", ["s3", "azure", "gcs"])
def test_large_artifact_on_seaweedfs_azurite_and_gcs(backend, location_factory, tmp_path, monkeypatch):
    """A 40 MiB artifact takes the streaming paths (multipart upload, ranged download hashed on the fly);
    an upload that fails half way leaves no object behind."""
    loc = location_factory(backend)
    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    fstrack.set_store(loc.url, **loc.storage_options)
    task = Task.create(project_name="cloud", task_name=backend)
    payload = tmp_path / "w.bin"
    payload.write_bytes(os.urandom(40 << 20))
    task.upload_artifact("weights", str(payload), wait_on_upload=True)
    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "other-cache"))
    art = Task.get_task(task_id=task.id).artifacts["weights"]
    assert Path(art.get_local_copy()).read_bytes() == payload.read_bytes()
    assert str(tmp_path / "other-cache") in art.get_local_copy()

    store = fstrack.records.config.get_store()
    other = tmp_path / "other.bin"
    other.write_bytes(os.urandom(40 << 20))
    real_open = open

    class Failing:
        def __init__(self, f):
            self.f, self.read_so_far = f, 0

        def read(self, n):
            if self.read_so_far > 36 << 20:
                raise OSError("disk went away")
            data = self.f.read(n)
            self.read_so_far += len(data)
            return data

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(
        transfer,
        "open",
        lambda p, mode="r", *a, **k: (
            Failing(real_open(p, mode, *a, **k)) if p == str(other) else real_open(p, mode, *a, **k)
        ),
        raising=False,
    )
    with pytest.raises(OSError, match="disk went away"):
        transfer.stream_upload(store.backend, str(other), "objects/ff/failed-upload")
    assert not store.backend.exists("objects/ff/failed-upload"), "a failed multipart upload is aborted"


# -- security ----------------------------------------------------------------------------------------------------


def test_zip_slip_archive_is_refused(art_store, tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("fine.txt", "ok")
        zf.writestr("../../escaped.txt", "pwned")
    task = Task.create(project_name="sec", task_name="zip")
    task.upload_artifact("evil", str(evil), wait_on_upload=True)
    record = dict(task._data["artifacts"]["evil"], type="archive")  # as a malicious writer would record it
    task.set_artifacts([record])
    art = Task.get_task(task_id=task.id).artifacts["evil"]
    with pytest.raises(UnsafeArchiveError):
        art.get_local_copy()
    cache = tmp_path / "cache"
    assert not list(tmp_path.rglob("escaped.txt")) and not list(cache.rglob("fine.txt"))
    absolute = tmp_path / "abs.zip"
    with zipfile.ZipFile(absolute, "w") as zf:
        zf.writestr("/tmp/absolute-escape.txt", "pwned")
    with pytest.raises(UnsafeArchiveError):
        artifacts.safe_extract(str(absolute), str(tmp_path / "out"))
    link = tmp_path / "link.zip"
    with zipfile.ZipFile(link, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError):
        artifacts.safe_extract(str(link), str(tmp_path / "out2"))


class Boobytrap:
    def __reduce__(self):
        return (Path.touch, (Path(os.environ["BOOBYTRAP"]),))


def test_pickles_are_unpickled_only_on_opt_in(art_store, tmp_path, monkeypatch):
    """Issue 13 item 3: a teammate's pickle (and a DataFrame stored as a pickle) runs nothing on a reader unless
    the reader opts in, per call or by setting; listing and previews never unpickle."""
    import pandas as pd

    marker = tmp_path / "unpickled"
    monkeypatch.setenv("BOOBYTRAP", str(marker))
    monkeypatch.delenv("FSTRACK_ALLOW_PICKLE", raising=False)
    task = Task.create(project_name="sec", task_name="pickle")
    task.upload_artifact("trap", Boobytrap(), wait_on_upload=True)
    with monkeypatch.context() as hostile:  # what a hostile writer stores under a DataFrame's name
        hostile.setattr(pd.DataFrame, "to_pickle", lambda _df, path: Path(path).write_bytes(pickle.dumps(Boobytrap())))
        task.upload_artifact("frame", pd.DataFrame({"a": [1]}), extension_name=".pickle", wait_on_upload=True)
    loaded = Task.get_task(task_id=task.id)
    art = loaded.artifacts["trap"]
    assert art.type == "pickle" and "Boobytrap" in art.preview
    art.get_local_copy()
    repr(art)
    for name in ("trap", "frame"):
        with pytest.raises(artifacts.PickleNotAllowedError, match="allow_pickle=True.*FSTRACK_ALLOW_PICKLE"):
            Task.get_task(task_id=task.id).artifacts[name].get()
    assert not marker.exists(), "listing, previewing, copying or a plain get() never unpickles"
    Task.get_task(task_id=task.id).artifacts["trap"].get(allow_pickle=True)
    assert marker.exists(), "get(allow_pickle=True) unpickles: the caller trusts the writers"
    marker.unlink()
    monkeypatch.setenv("FSTRACK_ALLOW_PICKLE", "1")
    Task.get_task(task_id=task.id).artifacts["trap"].get()
    assert marker.exists(), "the setting allows pickles for teams that trust their bucket"


def test_names_cannot_escape(art_store, tmp_path):
    task = Task.create(project_name="sec", task_name="names")
    task.upload_artifact("../../../escape", "text content", wait_on_upload=True)
    task.upload_artifact("a/b\\c", {"x": 1}, wait_on_upload=True)
    arts = Task.get_task(task_id=task.id).artifacts
    for name in ("../../../escape", "a/b\\c"):
        local = Path(arts[name].get_local_copy()).resolve()
        assert (tmp_path / "cache" / "artifacts").resolve() in local.parents
    assert arts["../../../escape"].get() == "text content"
    store = fstrack.records.config.get_store()
    assert not any("escape" in e.key for e in store.backend.walk("")), "names never become store keys"


def test_peak_memory_of_a_2gb_upload_is_bounded(location_factory, tmp_path):
    loc = location_factory("local")
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        block = os.urandom(1 << 20)
        for _ in range(2048):
            f.write(block)
    done = run_script(
        f"""
        import resource
        from fstrack import Task
        def hwm():
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) * 1024
        task = Task.create(project_name="big", task_name="2gb")
        before = hwm()
        task.upload_artifact("big", {str(big)!r}, wait_on_upload=True)
        print(before, hwm(), task.artifacts["big"].size)
        """,
        loc,
        tmp_path,
        timeout=600,
    )
    before, peak, size = map(int, done.stdout.split()[-3:])
    assert size == 2 << 30
    assert peak - before < 100 << 20, f"peak RSS grew by {(peak - before) >> 20} MiB for a 2 GiB upload"
    big.unlink()


def test_output_storage_options_from_the_environment(monkeypatch):
    monkeypatch.setenv("FSTRACK_OUTPUT_STORAGE_OPTIONS", json.dumps({"s3://out-bucket": {"key": "k", "secret": "s"}}))
    assert artifacts.storage_options_for("s3://out-bucket/team") == {"key": "k", "secret": "s"}
    monkeypatch.setenv("FSTRACK_OUTPUT_STORAGE_OPTIONS", "not json")
    with pytest.raises(ArtifactError):
        artifacts.storage_options_for("s3://elsewhere")


@pytest.mark.parametrize("damage", ["corrupt", "file_and_folder"])
def test_get_local_copy_of_a_bad_archive_returns_none(art_store, tmp_path, damage):
    """ClearML's contract: ``raise_on_error=False`` (the default) gives None for an archive that cannot be
    extracted; ``raise_on_error=True`` raises ArtifactError naming the artifact."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "x.txt").write_text("x")
    task = Task.init(project_name="arts", task_name="bad archive", reuse_last_task_id=False)
    task.upload_artifact("folder", folder, wait_on_upload=True)
    art = Task.get_task(task_id=task.id).artifacts["folder"]
    archive = Path(art.get_local_copy(extract_archive=False))  # the cached download that extraction reads
    if damage == "corrupt":
        archive.write_bytes(b"PK\x03\x04 not really a zip")
    else:
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("a", "a file")
            z.writestr("a/b", "and a file below it")
    # the cache re-downloads a cached file that changed; seal it as if these were the bytes the store holds
    local_cache.seal(str(archive))
    assert art.get_local_copy() is None
    with pytest.raises(ArtifactError, match="folder"):
        art.get_local_copy(raise_on_error=True)
