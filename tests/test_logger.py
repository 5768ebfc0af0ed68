"""ClearML's Logger on fstrack: every report_* method, its stored form, and its bad-input errors."""

from __future__ import annotations

import io
import json
import logging
import math
import os
import struct
import zlib

import fsspec
import pytest

import fstrack
from fstrack.capture import console
from fstrack.records import metrics
from fstrack.sdk import current
from fstrack.sdk.logger import Logger, ReportError, encode_png
from fstrack.sdk.reporting import ReportingMixin
from fstrack.store.fsck import fsck
from fstrack.utilities.plotly_reporter import SeriesInfo


def reporting_task_class():
    from fstrack.sdk.task import Task

    if issubclass(Task, ReportingMixin):
        return Task

    class ReportingTask(ReportingMixin, Task):
        def _finish(self, status, message=""):
            if not self._closed:
                self._close_reporting()
            super()._finish(status, message)

    return ReportingTask


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


@pytest.fixture(params=["local", "memory"])
def task(request, location_factory, T):
    location = location_factory(request.param)
    fstrack.set_store(location.url, **location.storage_options)
    return T.create(project_name="logger", task_name="reports")


@pytest.fixture
def logger(task):
    return task.get_logger()


def plots(task, **kwargs):
    task.flush()
    return {(p["metric"], p["variant"]): json.loads(p["plot_str"]) for p in task.get_reported_plots(**kwargs)}


def decode_png(data: bytes):
    """(width, height, channels, rows of bytes) of a PNG written with filter 0 (as encode_png writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0] == zlib.crc32(kind + body)
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    channels = {0: 1, 2: 3, 6: 4}[color]
    raw = zlib.decompress(idat)
    stride = width * channels + 1
    rows = [raw[r * stride : (r + 1) * stride] for r in range(height)]
    assert all(row[0] == 0 for row in rows)
    return width, height, channels, [row[1:] for row in rows]


# -- text and single values ---------------------------------------------------------------------------------


def test_report_text_and_console(task, logger, capsys):
    logger.report_text("printed and logged")
    logger.report_text("only logged", level=logging.WARNING, print_console=False)
    logger.report_text("value %d", logging.INFO, False, 3)
    logger.report_console("from a stream", stream="stderr")
    assert capsys.readouterr().out == "printed and logged\n"
    assert task.get_reported_console_output(10) == ["printed and logged", "only logged", "value 3", "from a stream"]
    assert task.get_reported_console_output() == ["from a stream"]
    table = metrics.read_kind(task._db.store, task._db.refs, task.id, 1, "console")
    assert table.column("level").to_pylist() == [20, 30, 20, 20]
    assert table.column("stream").to_pylist() == ["report", "report", "report", "stderr"]
    with pytest.raises(ValueError, match="level"):
        logger.report_text("x", level="LOUD")
    with pytest.raises(ValueError, match="number_of_reports"):
        task.get_reported_console_output(0)


def test_console_writer_hook(task, logger, monkeypatch):
    seen = []
    monkeypatch.setattr(console, "console_writer", seen.append)
    logger.report_text("hooked")
    assert seen == ["hooked\n"]


def test_report_text_from_threads(task, logger):
    import threading

    threads = [
        threading.Thread(target=lambda k=k: [logger.report_text(f"{k}-{i}", print_console=False) for i in range(200)])
        for k in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(task.get_reported_console_output(10_000)) == sorted(f"{k}-{i}" for k in range(4) for i in range(200))


def test_capture_logging(task, logger):
    with logger.capture_logging():
        logging.getLogger("some.module").warning("through logging")
    logging.getLogger("some.module").warning("not captured")
    assert task.get_reported_console_output(5) == ["through logging"]


def test_single_values(task, logger):
    logger.report_single_value("accuracy", 0.9)
    logger.report_single_value("loss", 3)
    logger.report_single_value("accuracy", 0.95)
    assert task.get_reported_single_values() == {"accuracy": 0.95, "loss": 3.0}
    assert task.get_reported_single_value("accuracy") == 0.95
    assert task.get_reported_single_value("missing") is None
    with pytest.raises(TypeError, match="name must be a string"):
        logger.report_single_value(1, 0.5)
    with pytest.raises(TypeError, match="value must be a number"):
        logger.report_single_value("x", "high")


# -- plots -------------------------------------------------------------------------------------------------


def test_report_plotly(task, logger):
    figure = {"data": [{"type": "scatter", "x": [1, 2], "y": [3.5, float("nan")]}], "layout": {"height": 300}}
    logger.report_plotly("manual", "fig", figure, iteration=4)
    stored = plots(task)[("manual", "fig")]
    assert stored["data"][0]["y"] == [3.5, None]  # NaN becomes null, as plotly's encoder does
    assert stored["layout"] == {"height": 300, "title": "fig"}
    event = task.get_reported_plots()[0]
    assert event["iter"] == 4 and event["type"] == "plot" and event["task"] == task.id
    assert event["plot_len"] == len(event["plot_str"]) and event["@timestamp"].endswith("Z")


def test_report_plotly_numpy_values(task, logger):
    np = pytest.importorskip("numpy")
    logger.report_plotly(
        "np", "fig", {"data": [{"x": np.arange(3), "y": np.array([0.5, np.inf, 1.0]), "z": np.float32(2.5)}]}
    )
    data = plots(task)[("np", "fig")]["data"][0]
    assert data == {"x": [0, 1, 2], "y": [0.5, None, 1.0], "z": 2.5}


@pytest.mark.parametrize(
    "figure, error",
    [
        ({"data": [{"x": object()}]}, "not JSON serializable"),
        ({"data": [{"x": {1, 2}.__iter__()}]}, "not JSON serializable"),
        ("{'data': []}", "must be a plotly Figure or a dict"),
        ([1, 2], "must be a plotly Figure or a dict"),
    ],
)
def test_non_json_figures_raise_at_the_call(task, logger, figure, error):
    with pytest.raises(TypeError, match=error):
        logger.report_plotly("bad", "fig", figure)
    assert logger._writer.pending_rows() == 0


def test_histogram_and_vector(task, logger):
    logger.report_histogram("hist", "one", [1, 2, 3], iteration=1, xaxis="bin", yaxis="count")
    logger.report_histogram("hist", "two", [[1, 2], [3, 4]], labels=["a", "b"], xlabels=["x0", "x1"], mode="stack")
    logger.report_vector("vec", "v", [5, 6], iteration=2)
    stored = plots(task, max_iterations=5)
    one = stored[("hist", "one")]
    assert one["data"] == [{"type": "bar", "name": "one", "x": [0, 1, 2], "y": [1, 2, 3]}]
    assert one["layout"]["barmode"] == "group" and one["layout"]["xaxis"]["title"]["text"] == "bin"
    two = stored[("hist", "two")]
    assert [d["name"] for d in two["data"]] == ["a", "b"] and two["data"][1]["x"] == ["x0", "x1"]
    assert two["layout"]["barmode"] == "stack"
    assert stored[("vec", "v")]["data"][0]["y"] == [5, 6]
    with pytest.raises(ValueError, match="mode"):
        logger.report_histogram("h", "s", [1], mode="bars")
    with pytest.raises(ValueError, match="labels"):
        logger.report_histogram("h", "s", [[1], [2]], labels=["only one"])
    with pytest.raises(TypeError, match="numbers"):
        logger.report_histogram("h", "s", ["a", "b"])
    with pytest.raises(ValueError, match="rectangular"):
        logger.report_histogram("h", "s", [[1, 2], [3]])
    for mixed in ([[1, 2], 3], [3, [1, 2]]):  # rows beside numbers: not a matrix either
        with pytest.raises(ValueError, match="rectangular"):
            logger.report_histogram("h", "s", mixed)


def test_scatter_plots(task, logger):
    logger.report_scatter2d("sc", "pairs", [(0, 1), (1, 3)], xaxis="x", yaxis="y", labels=["p", "q"], mode="markers")
    logger.report_scatter3d("sc3", "xyz", [[0, 1, 2], [3, 4, 5]], zaxis="z")
    stored = plots(task)
    trace = stored[("sc", "pairs")]["data"][0]
    assert trace == {
        "type": "scatter",
        "mode": "markers",
        "name": "pairs",
        "x": [0, 1],
        "y": [1, 3],
        "text": ["p", "q"],
    }
    trace3 = stored[("sc3", "xyz")]["data"][0]
    assert trace3["type"] == "scatter3d" and trace3["z"] == [2, 5]
    assert stored[("sc3", "xyz")]["layout"]["scene"]["zaxis"]["title"]["text"] == "z"
    with pytest.raises(ValueError, match="2-value points"):
        logger.report_scatter2d("sc", "bad", [(0, 1, 2)])
    with pytest.raises(ValueError, match="3-value points"):
        logger.report_scatter3d("sc", "bad", [(0, 1)])


def test_scatter_numpy(task, logger):
    np = pytest.importorskip("numpy")
    logger.report_scatter2d("sc", "np", np.column_stack([np.arange(4), np.arange(4) ** 2]))
    assert plots(task)[("sc", "np")]["data"][0]["y"] == [0, 1, 4, 9]
    with pytest.raises(ValueError):
        logger.report_scatter2d("sc", "bad", np.zeros((3, 3)))


def test_matrices_and_surface(task, logger):
    logger.report_confusion_matrix(
        "cm", "val", [[5, 1], [2, 7]], xlabels=["a", "b"], ylabels=["a", "b"], yaxis_reversed=True
    )
    logger.report_matrix("m", "s", [[1, 2]])
    logger.report_surface("surf", "s", [[1, 2], [3, 4]], camera=(1, 1, 2), zaxis="height")
    stored = plots(task)
    cm = stored[("cm", "val")]
    assert cm["data"][0]["type"] == "heatmap" and cm["data"][0]["z"] == [[5, 1], [2, 7]]
    assert cm["data"][0]["texttemplate"] == "%{z}" and cm["layout"]["yaxis"]["autorange"] == "reversed"
    assert stored[("m", "s")]["data"][0]["z"] == [[1, 2]]
    surf = stored[("surf", "s")]
    assert surf["data"][0]["type"] == "surface"
    assert surf["layout"]["scene"]["camera"]["eye"] == {"x": 1.0, "y": 1.0, "z": 2.0}
    with pytest.raises(ValueError, match="xlabels"):
        logger.report_confusion_matrix("cm", "bad", [[1, 2]], xlabels=["only one"])
    with pytest.raises(ValueError, match="dimensional"):
        logger.report_surface("surf", "bad", [[[1]]])


def test_line_plot_with_series_info(task, logger):
    series = [
        SeriesInfo("train", [[0, 1.0], [1, 0.5]]),
        {"name": "val", "data": [[0, 2.0], [1, 1.5]], "labels": ["a", "b"]},
    ]
    logger.report_line_plot("curves", series, xaxis="epoch", yaxis="loss", iteration=3, reverse_xaxis=True)
    stored = plots(task)[("curves", "train")]
    assert [(d["name"], d["y"]) for d in stored["data"]] == [("train", [1.0, 0.5]), ("val", [2.0, 1.5])]
    assert stored["data"][1]["text"] == ["a", "b"] and stored["layout"]["xaxis"]["autorange"] == "reversed"
    assert Logger.SeriesInfo is SeriesInfo
    with pytest.raises(ValueError, match="2-value points"):
        SeriesInfo("bad", [[1, 2, 3]])
    with pytest.raises(ValueError, match="one label per data point"):
        SeriesInfo("bad", [[1, 2]], labels=["a", "b"])
    with pytest.raises(TypeError, match="SeriesInfo"):
        logger.report_line_plot("curves", [("train", [[0, 1]])], xaxis="x", yaxis="y")


def test_tables(task, logger, tmp_path):
    logger.report_table("tbl", "rows", table_plot=[["name", "score"], ["a", 1.5], ["b", float("nan")]])
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("id,name,score\n0,a,1\n1,b,2.5\n")
    logger.report_table("tbl", "csv", csv=str(csv_path))
    logger.report_table("tbl", "url", url=f"file://{csv_path}")
    stored = plots(task)
    rows = stored[("tbl", "rows")]["data"][0]
    assert rows["type"] == "table" and rows["header"]["values"] == ["name", "score"]
    assert rows["cells"]["values"] == [["a", "b"], [1.5, "NaN"]]
    from_csv = stored[("tbl", "csv")]["data"][0]
    assert from_csv["header"]["values"] == ["id", "name", "score"]
    assert from_csv["cells"]["values"] == [[0, 1], ["a", "b"], [1, 2.5]]
    assert stored[("tbl", "url")]["data"][0]["cells"] == from_csv["cells"]
    with pytest.raises(ReportError, match="exactly one"):
        logger.report_table("tbl", "x", table_plot=[["a"]], csv=str(csv_path))
    with pytest.raises(ReportError, match="exactly one"):
        logger.report_table("tbl", "x")
    with pytest.raises(ReportError, match="cells"):
        logger.report_table("tbl", "x", table_plot=[["a", "b"], [1]])
    with pytest.raises(FileNotFoundError):
        logger.report_table("tbl", "x", csv=str(tmp_path / "missing.csv"))


def test_dataframe_table(task, logger):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"legs": [2, 4], "wings": [2.0, math.inf]}, index=pd.Index(["bird", "dog"], name="animal"))
    logger.report_table("tbl", "df", iteration=1, table_plot=frame)
    data = plots(task)[("tbl", "df")]["data"][0]
    assert data["header"]["values"] == ["animal", "legs", "wings"]
    assert data["cells"]["values"] == [["bird", "dog"], [2, 4], [2.0, "Inf"]]


def test_get_reported_plots_keeps_last_iterations_per_plot(task, logger):
    for i in range(5):
        logger.report_histogram("h", "a", [i], iteration=i)
    logger.report_histogram("h", "b", [9], iteration=1)
    task.flush()
    assert [(p["variant"], p["iter"]) for p in task.get_reported_plots()] == [("a", 4), ("b", 1)]
    assert [p["iter"] for p in task.get_reported_plots(max_iterations=3) if p["variant"] == "a"] == [4, 3, 2]
    with pytest.raises(ValueError, match="max_iterations"):
        task.get_reported_plots(max_iterations=-1)


# -- images and media ------------------------------------------------------------------------------------


def sample_bytes(task, sample):
    return task._db.store.get(sample["object"])


def test_images_from_arrays(task, logger):
    np = pytest.importorskip("numpy")
    gray = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgba = np.full((2, 2, 4), 7, dtype=np.uint8)
    logger.report_image("img", "gray", iteration=0, image=gray)
    logger.report_image("img", "rgb", iteration=0, image=rgb)
    logger.report_image("img", "rgba", iteration=0, matrix=rgba)
    logger.report_image("img", "single", iteration=0, image=np.ones((2, 2, 1), dtype=np.float64))
    logger.report_image("img", "bool", iteration=0, image=np.eye(2, dtype=bool))
    logger.report_image("img", "int", iteration=0, image=np.full((1, 1), 200, dtype=np.int32))
    task.flush()
    (g,) = task.get_debug_samples("img", "gray")
    width, height, channels, rows = decode_png(sample_bytes(task, g))
    assert (width, height, channels) == (4, 3, 1) and (g["width"], g["height"]) == (4, 3)
    assert rows[0][0] == 0 and rows[2][3] == 255 and g["content_type"] == "image/png"
    assert g["size"] == len(sample_bytes(task, g)) and g["type"] == "training_debug_image"
    (c,) = task.get_debug_samples("img", "rgb")
    _, _, channels, rows = decode_png(sample_bytes(task, c))
    assert channels == 3 and rows[0][:3] == bytes([255, 0, 0])
    assert decode_png(sample_bytes(task, task.get_debug_samples("img", "rgba")[0]))[2] == 4
    assert decode_png(sample_bytes(task, task.get_debug_samples("img", "single")[0]))[3] == [b"\xff\xff"] * 2
    assert decode_png(sample_bytes(task, task.get_debug_samples("img", "bool")[0]))[3] == [b"\xff\x00", b"\x00\xff"]
    assert decode_png(sample_bytes(task, task.get_debug_samples("img", "int")[0]))[3] == [b"\xc8"]
    with fsspec.open(c["url"], "rb", **task._db.store.storage_options) as f:  # the URL is readable as is
        assert f.read() == sample_bytes(task, c)
    assert fsck(task._db.store).ok


@pytest.mark.parametrize(
    "shape, dtype",
    [
        ((3, 4, 4, 1), "uint8"),
        ((3, 4, 5), "uint8"),
        ((3, 4, 2), "uint8"),
        ((3, 2, 2), "float32"),
        ((0, 4), "uint8"),
        ((5,), "uint8"),
    ],
)
def test_wrong_shaped_images_raise_at_the_call(task, logger, shape, dtype):
    np = pytest.importorskip("numpy")
    with pytest.raises(ReportError, match="shaped"):
        logger.report_image("img", "bad", iteration=0, image=np.zeros(shape, dtype=dtype))
    assert logger._writer.pending_rows() == 0


def test_bad_image_values_and_arguments(task, logger, tmp_path):
    np = pytest.importorskip("numpy")
    with pytest.raises(ReportError, match="0..255"):
        logger.report_image("img", "bad", image=np.full((2, 2), 300, dtype=np.int16))
    with pytest.raises(ReportError, match="dtype"):
        logger.report_image("img", "bad", image=np.array([["a"]]))
    with pytest.raises(TypeError, match="numpy array or a PIL image"):
        logger.report_image("img", "bad", image=[[0, 1]])
    with pytest.raises(ReportError, match="exactly one"):
        logger.report_image("img", "bad", image=np.zeros((2, 2)), url="https://x/y.png")
    with pytest.raises(FileNotFoundError):
        logger.report_image("img", "bad", local_path=str(tmp_path / "nope.png"))
    with pytest.raises(ValueError, match="iteration"):
        logger.report_image("img", "bad", iteration=-3, url="https://x/y.png")
    assert logger._writer.pending_rows() == 0


def test_image_from_path_url_and_pil(task, logger, tmp_path):
    path = tmp_path / "picture.jpg"
    path.write_bytes(b"\xff\xd8not really a jpeg")
    logger.report_image("img", "file", iteration=1, local_path=str(path), delete_after_upload=True)
    assert not path.exists()
    logger.report_image("img", "web", iteration=1, url="https://example.com/cat.png")
    task.flush()
    (f,) = task.get_debug_samples("img", "file")
    assert sample_bytes(task, f) == b"\xff\xd8not really a jpeg" and f["content_type"] == "image/jpeg"
    assert f["key"].endswith(".jpg")
    (w,) = task.get_debug_samples("img", "web")
    assert w["url"] == "https://example.com/cat.png" and w["object"] is None
    Image = pytest.importorskip("PIL.Image")
    logger.report_image("img", "pil", iteration=2, image=Image.new("RGB", (5, 3), (0, 255, 0)))
    task.flush()
    (p,) = task.get_debug_samples("img", "pil")
    assert (p["width"], p["height"]) == (5, 3) and sample_bytes(task, p)[:8] == b"\x89PNG\r\n\x1a\n"


def test_max_image_history(task, logger):
    np = pytest.importorskip("numpy")
    for i in range(6):
        logger.report_image("hist", "s", iteration=i, image=np.full((1, 1), i, dtype=np.uint8), max_image_history=2)
    logger.set_default_debug_sample_history(3)
    for i in range(5):
        logger.report_image("hist", "default", iteration=i, url=f"https://x/{i}.png")
    assert logger.get_default_debug_sample_history() == 3
    task.flush()
    samples = task.get_debug_samples("hist", "s")
    assert [s["iter"] for s in samples] == [5, 4]  # newest first, only the last two kept
    assert [s["key"] for s in samples] == ["hist_s_00000001.png", "hist_s_00000000.png"]
    assert [s["iter"] for s in task.get_debug_samples("hist", "default")] == [4, 3, 2]
    assert [s["iter"] for s in task.get_debug_samples("hist", "default", n_last_iterations=1)] == [4]
    with pytest.raises(TypeError, match="n_last_iterations"):
        task.get_debug_samples("hist", "s", n_last_iterations=-2)
    store, refs = task._db.store, task._db.refs
    metrics.compact_log(store, refs, task.id, 1)  # close compacts: only the kept images stay referenced
    logger.report_text("after", print_console=False)
    task.flush()
    metrics.compact_log(store, refs, task.id, 1)
    ((pos, checkpoint),) = metrics.log_entries(refs, task.id, 1)
    assert len(checkpoint["segments"]["debug_samples"]["objects"]) == 2
    assert [s["iter"] for s in task.get_debug_samples("hist", "s")] == [5, 4]


def test_media(task, logger, tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    logger.report_media("media", "file", iteration=1, local_path=str(path))
    logger.report_media("media", "bytes", iteration=1, stream=io.BytesIO(b"RIFF....WAVE"), file_extension="wav")
    logger.report_media("media", "text", iteration=1, stream=io.StringIO("<b>hi</b>"), file_extension=".html")
    logger.report_media("media", "web", iteration=1, url="https://example.com/a.mp3")
    task.flush()
    (f,) = task.get_debug_samples("media", "file")
    assert sample_bytes(task, f) == path.read_bytes() and f["content_type"] == "video/mp4" and f["kind"] == "media"
    (b,) = task.get_debug_samples("media", "bytes")
    assert sample_bytes(task, b) == b"RIFF....WAVE" and b["key"].endswith(".wav")
    (h,) = task.get_debug_samples("media", "text")
    assert sample_bytes(task, h) == b"<b>hi</b>" and h["content_type"] == "text/html"
    assert task.get_debug_samples("media", "web")[0]["url"] == "https://example.com/a.mp3"
    with pytest.raises(ReportError, match="file_extension"):
        logger.report_media("media", "bad", stream=io.BytesIO(b"x"))
    with pytest.raises(ReportError, match="exactly one"):
        logger.report_media("media", "bad")
    with pytest.raises(TypeError, match="readable"):
        logger.report_media("media", "bad", stream=b"raw bytes", file_extension="bin")


def test_upload_destination(task, logger, tmp_path):
    np = pytest.importorskip("numpy")
    destination = tmp_path / "uploads"
    logger.set_default_upload_destination(str(destination))
    assert logger.get_default_upload_destination() == str(destination)
    for i in range(3):
        logger.report_image("dest", "img", iteration=i, image=np.zeros((2, 2), dtype=np.uint8), max_image_history=2)
    task.flush()
    samples = task.get_debug_samples("dest", "img")
    assert [s["object"] for s in samples] == [None, None]
    files = sorted(p.name for p in (destination / task.id / "dest").iterdir())
    assert files == ["img_00000000.png", "img_00000001.png"]  # ClearML's rotating names
    assert samples[0]["url"].endswith("img_00000000.png") and os.path.exists(samples[0]["url"])


def test_matplotlib_figures(task, logger):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    axes.plot([0, 1, 2], [1, 0, 1])
    logger.report_matplotlib_figure("mpl", "as image", figure, iteration=1, report_image=True)
    Logger.matplotlib_force_report_non_interactive(True)
    try:
        logger.report_matplotlib_figure("mpl", "as plot", plt, iteration=1)
    finally:
        Logger.matplotlib_force_report_non_interactive(False)
    plt.close(figure)
    task.flush()
    (image,) = task.get_debug_samples("mpl", "as image")
    assert sample_bytes(task, image)[:8] == b"\x89PNG\r\n\x1a\n"
    (plot,) = [p for p in task.get_reported_plots() if p["variant"] == "as plot"]
    source = json.loads(plot["plot_str"])["layout"]["images"][0]["source"]
    assert source.startswith(task._db.store.url) and "/objects/" in source
    assert fsck(task._db.store).ok  # the figure's PNG is referenced from the log
    with pytest.raises(TypeError, match="matplotlib"):
        logger.report_matplotlib_figure("mpl", "bad", {"not": "a figure"})


# -- logger plumbing -----------------------------------------------------------------------------------------


def test_current_logger_and_logger_property(location_factory, T):
    location = location_factory("local")
    fstrack.set_store(location.url, **location.storage_options)
    assert Logger.current_logger() is None
    task = T.init("logger", "current", reuse_last_task_id=False, auto_connect_arg_parser=False)

    current.main = task  # (a no-op once Task inherits ReportingMixin: T is Task then)
    assert Logger.current_logger() is task.get_logger() is task.logger
    Logger.current_logger().report_scalar("a", "b", 1.0, 0)
    task.close()
    assert task.get_all_reported_scalars()["a"]["b"]["y"] == [1.0]
    assert task.get_status() == "completed"


def test_flush_period_settings(task, logger):
    assert logger.get_flush_period() == 2.0
    logger.set_flush_period(0.5)
    assert logger.get_flush_period() == 0.5
    logger.set_flush_period(None)
    assert logger.get_flush_period() is None
    with pytest.raises(ValueError, match="flush period"):
        logger.set_flush_period(-1)
    logger.report_scalar("a", "b", 1.0, 0)
    assert logger.flush() is True and logger._writer.pending_rows() == 0


def test_reporting_nan_value_replacement(task, logger):
    Logger.set_reporting_nan_value(0.0)
    Logger.set_reporting_inf_value(-1.0)
    try:
        logger.report_scalar("a", "b", float("nan"), 0)
        logger.report_scalar("a", "b", float("inf"), 1)
        task.flush()
    finally:
        Logger.set_reporting_nan_value(None)
        Logger.set_reporting_inf_value(None)
    assert task.get_all_reported_scalars()["a"]["b"]["y"] == [0.0, -1.0]


def test_encode_png_matches_the_format():
    np = pytest.importorskip("numpy")
    pixels = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    width, height, channels, rows = decode_png(encode_png(pixels))
    assert (width, height, channels) == (4, 2, 3) and rows[1] == bytes(range(12, 24))


def test_every_report_kind_on_every_backend(store_location, T):
    np = pytest.importorskip("numpy")
    fstrack.set_store(store_location.url, **store_location.storage_options)
    task = T.create(project_name="logger", task_name="all kinds")
    logger = task.get_logger()
    logger.report_scalar("s", "v", 1.0, 0)
    logger.report_single_value("one", 1.0)
    logger.report_text("text", print_console=False)
    logger.report_histogram("h", "v", [1, 2])
    logger.report_image("i", "v", image=np.zeros((2, 2), dtype=np.uint8))
    logger.report_media("m", "v", stream=io.BytesIO(b"data"), file_extension="bin")
    task.flush()
    assert task.get_all_reported_scalars()["s"]["v"]["y"] == [1.0]
    assert task.get_reported_single_values() == {"one": 1.0}
    assert task.get_reported_console_output() == ["text"]
    assert len(task.get_reported_plots()) == 1
    assert sample_bytes(task, task.get_debug_samples("m", "v")[0]) == b"data"
    assert decode_png(sample_bytes(task, task.get_debug_samples("i", "v")[0]))[:3] == (2, 2, 1)
    report = fsck(task._db.store)
    assert report.ok, report.errors


def test_unreachable_upload_destination_does_not_block_other_events(task, logger, tmp_path, monkeypatch):
    np = pytest.importorskip("numpy")
    logger.set_default_upload_destination(str(tmp_path / "uploads"))
    logger.set_flush_period(None)
    logger.report_image("dest", "img", iteration=0, image=np.zeros((2, 2), dtype=np.uint8))
    logger.report_scalar("a", "b", 1.0, 0)
    destination = logger._destination
    working = destination.fs.pipe_file

    def down(*_args, **_kwargs):
        raise OSError("destination unreachable (simulated)")

    monkeypatch.setattr(destination.fs, "pipe_file", down)
    with pytest.raises(metrics.MetricsFlushError, match="destination unreachable"):
        logger._writer.flush(attempts=1)
    assert logger._writer.pending_rows() == 1  # the image waits; the scalar was stored
    monkeypatch.setattr(destination.fs, "pipe_file", working)
    task.flush()
    assert len(task.get_debug_samples("dest", "img")) == 1
    assert task.get_all_reported_scalars()["a"]["b"]["y"] == [1.0]
