"""TensorBoard: what a ``SummaryWriter`` writes also goes to the task's logger (key ``tensorboard``).

Hooked: ``torch.utils.tensorboard`` and ``tensorboardX`` (each writer's ``FileWriter.add_summary``, through
which every ``add_*`` call passes, and ``SummaryWriter.add_hparams``), and TensorFlow 2's ``tf.summary`` in
eager mode (``tf.summary.write``, through which ``scalar``, ``image``, ``histogram``, ``text`` and ``audio``
pass, so Keras' ``TensorBoard`` callback too; summaries inside a ``tf.function`` graph are not captured).
The event files are still written as the script asked. The mapping is ClearML's:

* scalars (``add_scalar``; ``add_scalars`` writes one sub-writer per series): a tag ``"a/b/c"`` is title
  ``"a_b"``, series ``"c"``; a tag without ``/`` is title and series both the tag (title ``"Scalars"`` after
  ``Logger.tensorboard_auto_group_scalars(True)``). ``add_scalars("loss", {"train": ..})`` is title
  ``"loss"``, series ``"train"`` (title ``"loss train"`` after
  ``Logger.tensorboard_single_series_per_graph(True)``; ClearML recognises torch's sub-writers only, fstrack
  tensorboardX's too). When two writers (log directories) report the same title/series, the second one's
  series is prefixed with what is unique in its log directory (``"<dir>: <series>"``; with single series per
  graph the directory goes after the title instead).
* images (``add_image(s)``, ``add_figure``) -> debug images; animated GIFs (``add_video``, which needs moviepy)
  and audio (``add_audio``) -> media samples; text (``add_text``) -> a ``.txt`` media sample; title/series from
  the last parts of the tag (default titles ``Images``, ``Audio``, ``Text``).
* histograms (``add_histogram``) -> a histogram plot per step (title/series as scalars, default title
  ``Histograms``); PR curves (``add_pr_curve``) -> a precision/recall line plot titled with the tag.
* hparams (``add_hparams``) -> parameters ``TB_hparams/<name>``, unless
  ``auto_connect_frameworks={"tensorboard": {"report_hparams": False}}``; its metrics arrive as scalars.

Steps are the ``global_step`` given (0 when none).
"""

from __future__ import annotations

import io
import mimetypes
import re
import threading
from typing import Any

from fstrack.capture.frameworks import _core

KEY = "tensorboard"
_UNSAFE_TAG = re.compile(r"[^-/\w.]")


class _Names:
    """Which log directory first reported each title/series (shared by all writers, reset per task)."""

    lock = threading.Lock()
    owners: dict[tuple[str, str], str] = {}


def reset() -> None:
    with _Names.lock:
        _Names.owners = {}


class _Events:
    """One writer's (log directory's) summaries, reported to one task."""

    def __init__(self, task: Any, logdir: str | None) -> None:
        self.task = task
        self.logger = task.get_logger()
        self.flags = type(self.logger)._tensorboard_flags
        self.logdir = (logdir or f"unknown {id(self)}").replace("\\", "/")
        self.scalar_names: dict[tuple[str, bool, bool], tuple[str, str]] = {}
        self.names: dict[tuple[str, int, str], tuple[str, str]] = {}

    # -- naming (ClearML's tag splitting) ------------------------------------------------------------------
    def _split(self, tag: str, parts: int, default_title: str, header_at: str, auto_reduce: bool = False) -> tuple:
        pieces = tag.split("/")
        if auto_reduce and parts > len(pieces) - 1:
            parts = max(1, len(pieces) - 1)
        series = "_".join(pieces[-parts:])
        title = "_".join(pieces[:-parts]) or default_title
        with _Names.lock:
            owner = _Names.owners.setdefault((title, series), self.logdir)
            if owner != self.logdir:
                mine = self.logdir.split("/")
                unique = set(mine) - set(owner.split("/"))
                header = "/".join(p for p in mine if p in unique) or self.logdir
                if header_at == "series_last":
                    series = f"{header}: {series}"
                else:
                    title = f"{title} {header}"
                _Names.owners.setdefault((title, series), self.logdir)
        return title, series

    def _named(self, tag: str, parts: int, default_title: str) -> tuple[str, str]:
        key = (tag, parts, default_title)
        names = self.names.get(key)
        if names is None:
            names = self.names[key] = self._split(tag, parts, default_title, "title", auto_reduce=parts > 1)
        return names

    def scalar_name(self, tag: str) -> tuple[str, str]:
        group = self.flags.get("group_scalars", False)
        single = self.flags.get("single_series", False)
        key = (tag, group, single)
        names = self.scalar_names.get(key)
        if names is None:
            default_title = "Scalars" if group else tag
            title, series = self._split(tag, 1, default_title, "title" if single else "series_last")
            sub = self._add_scalars_series(default_title)
            if sub:
                title, series = (f"{title} {sub}", series) if single else (title, sub)
            names = self.scalar_names[key] = (title, series)
        return names

    def _add_scalars_series(self, main_tag: str) -> str:
        """``add_scalars(main_tag, {k: v})`` writes ``main_tag`` through one writer per ``k``, in log directory
        ``<logdir>/<main_tag>_<k>`` (torch) or ``<logdir>/<main_tag>/<k>`` (tensorboardX): that ``k``, or ""
        for an ordinary writer."""
        if not main_tag:
            return ""
        path = _UNSAFE_TAG.sub("_", self.logdir).rstrip("/")
        head, _, last = path.rpartition("/")
        clean_tag = _UNSAFE_TAG.sub("_", main_tag).strip("/")
        if last.startswith(clean_tag + "_") and len(last) > len(clean_tag) + 1:
            return last[len(clean_tag) + 1 :]
        if head.endswith("/" + clean_tag) or head == clean_tag:
            return last
        return ""

    # -- one summary ---------------------------------------------------------------------------------------
    def report(self, summary: Any, step: int) -> None:
        for value in summary.value:
            kind = value.WhichOneof("value")
            if kind == "simple_value":
                title, series = self.scalar_name(value.tag)
                self.logger.report_scalar(title, series, value.simple_value, step)
            elif kind == "tensor":
                self._tensor(value, step)
            elif kind == "image":
                self._image(value.tag, value.image.encoded_image_string, step)
            elif kind == "histo":
                self._histogram(value.tag, value.histo, step)
            elif kind == "audio":
                title, series = self._named(value.tag, 3, "Audio")
                extension = mimetypes.guess_extension(value.audio.content_type or "audio/wav") or ".wav"
                self.logger.report_media(
                    title, series, step, stream=io.BytesIO(value.audio.encoded_audio_string), file_extension=extension
                )

    def report_tf(self, tag: str, plugin: str, data: Any, step: int) -> None:
        """One ``tf.summary.write``: ``data`` is the written tensor as numpy, ``plugin`` its plugin's name."""
        if plugin == "scalars" or (not plugin and getattr(data, "size", 0) == 1):
            title, series = self.scalar_name(tag)
            self.logger.report_scalar(title, series, float(data.reshape(-1)[0]), step)
        elif plugin == "images":  # [width, height, png, png, ...]
            for encoded in list(data.reshape(-1))[2:]:
                self._image(tag, bytes(encoded), step)
        elif plugin == "histograms" and data.ndim == 2 and data.shape[1] == 3 and len(data):  # [left, right, count]
            title, series = self._split(tag, 1, "Histograms", "series_last")
            self.logger.report_histogram(
                title,
                series,
                values=[float(c) for c in data[:, 2]],
                iteration=step,
                xlabels=[f"{right:.4g}" for right in data[:, 1]],
                xaxis="value (bucket upper limit)",
                yaxis="count",
            )
        elif plugin == "text":
            title, series = self._named(tag, 3, "Text")
            text = "\n".join(
                v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v) for v in data.reshape(-1)
            )
            self.logger.report_media(title, series, step, stream=io.StringIO(text), file_extension=".txt")
        elif plugin == "audio":  # [[wav, label], ...]
            title, series = self._named(tag, 3, "Audio")
            for encoded in data.reshape(-1, 2)[:, 0]:
                self.logger.report_media(title, series, step, stream=io.BytesIO(bytes(encoded)), file_extension=".wav")

    def _tensor(self, value: Any, step: int) -> None:
        plugin = value.metadata.plugin_data.plugin_name
        tensor = value.tensor
        if plugin == "scalars":
            numbers = _floats(tensor)
            if numbers is not None and numbers.size == 1:
                title, series = self.scalar_name(value.tag)
                self.logger.report_scalar(title, series, float(numbers.reshape(-1)[0]), step)
        elif plugin == "text" and tensor.string_val:
            title, series = self._named(value.tag, 3, "Text")
            text = b"\n".join(tensor.string_val).decode("utf-8", errors="replace")
            self.logger.report_media(title, series, step, stream=io.StringIO(text), file_extension=".txt")
        elif plugin == "pr_curves":
            self._pr_curve(value, step)

    def _image(self, tag: str, encoded: bytes, step: int) -> None:
        from PIL import Image

        title, series = self._named(tag, 3, "Images")
        with Image.open(io.BytesIO(encoded)) as image:
            if getattr(image, "is_animated", False):
                self.logger.report_media(title, series, step, stream=io.BytesIO(encoded), file_extension=".gif")
            else:
                image.load()
                self.logger.report_image(title, series, step, image=image.copy())

    def _histogram(self, tag: str, histo: Any, step: int) -> None:
        counts = list(histo.bucket)
        limits = list(histo.bucket_limit)
        used = [i for i, count in enumerate(counts) if count]
        if not used:
            return
        first, last = used[0], used[-1] + 1
        title, series = self._split(tag, 1, "Histograms", "series_last")
        self.logger.report_histogram(
            title,
            series,
            values=counts[first:last],
            iteration=step,
            xlabels=[f"{limit:.4g}" for limit in limits[first:last]],
            xaxis="value (bucket upper limit)",
            yaxis="count",
        )

    def _pr_curve(self, value: Any, step: int) -> None:
        import numpy as np

        data = _floats(value.tensor)
        if data is None or data.ndim != 2 or data.shape[0] < 6:
            return
        precision, recall = data[4], data[5]
        self.logger.report_line_plot(
            title=value.tag,
            series=[{"name": value.tag, "data": np.vstack((recall, precision)).T}],
            xaxis="recall",
            yaxis="precision",
            iteration=step,
        )


def _floats(tensor: Any) -> Any:
    """A float tensor proto as a numpy array of its shape (None for other dtypes)."""
    import numpy as np

    shape = [int(d.size) for d in tensor.tensor_shape.dim]
    if tensor.float_val:
        data = np.asarray(tensor.float_val, dtype=np.float64)
    elif tensor.double_val:
        data = np.asarray(tensor.double_val, dtype=np.float64)
    elif tensor.tensor_content:
        dtype = {1: np.float32, 2: np.float64, 19: np.float16}.get(int(tensor.dtype))
        if dtype is None:
            return None
        data = np.frombuffer(tensor.tensor_content, dtype=dtype).astype(np.float64)
    else:
        return None
    return data.reshape(shape) if shape and int(np.prod(shape)) == data.size else data


def _events_of(writer: Any, task: Any) -> _Events:
    events = writer.__dict__.get("_fstrack_events")
    if events is None or events.task is not task:
        try:
            logdir = writer.get_logdir()
        except Exception:  # noqa: BLE001
            logdir = None
        events = writer.__dict__["_fstrack_events"] = _Events(task, logdir)
    return events


def _summary_added(_result: Any, writer: Any, summary: Any, global_step: Any = None, *args: Any, **kw: Any) -> None:
    task = _core.active(KEY)
    if task is None:
        return
    try:
        step = 0 if global_step is None else int(global_step)
        _events_of(writer, task).report(summary, step)
    except Exception as exc:  # noqa: BLE001 - reporting must never break the user's writer
        _core.warn(f"could not report a TensorBoard summary to task {task.id}", exc)


def _hparams_added(_result: Any, _writer: Any, hparam_dict: Any = None, *args: Any, **kwargs: Any) -> None:
    task = _core.active(KEY)
    if task is None or not _core.should_connect(_core.state.option, KEY, "report_hparams"):
        return
    try:
        hparams = hparam_dict if hparam_dict is not None else kwargs.get("hparam_dict") or {}
        task.update_parameters({f"TB_hparams/{name}": _plain(value) for name, value in hparams.items()})
    except Exception as exc:  # noqa: BLE001
        _core.warn(f"could not record TensorBoard hparams in task {task.id}", exc)


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    item = getattr(value, "item", None)  # numpy / torch scalars
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError, RuntimeError):
            pass
    return str(value)


# -- tf.summary (TensorFlow 2, eager) ----------------------------------------------------------------------------
def _tf_written(
    _result: Any, tag: Any = None, tensor: Any = None, step: Any = None, metadata: Any = None, *args: Any, **kwargs: Any
) -> None:
    task = _core.active(KEY)
    if task is None:
        return
    try:
        import tensorflow as tf
        from tensorflow.python.ops import summary_ops_v2

        writer = summary_ops_v2._summary_state.writer
        if writer is None or not tf.executing_eagerly() or not summary_ops_v2.should_record_summaries():
            return
        if step is None:
            step = tf.summary.experimental.get_step()
        if step is None:
            return
        if callable(tensor):  # histogram and image summaries pass a lazily computed tensor
            tensor = tensor()
        plugin = _plugin_name(metadata)
        events = writer.__dict__.get("_fstrack_events")
        if events is None or events.task is not task:
            events = writer.__dict__["_fstrack_events"] = _Events(task, writer.__dict__.get("_fstrack_logdir"))
        import numpy as np

        data = np.asarray(tensor.numpy() if hasattr(tensor, "numpy") else tensor)
        events.report_tf(str(tag), plugin, data, int(step))
    except Exception as exc:  # noqa: BLE001 - reporting must never break the user's summary
        _core.warn(f"could not report a tf.summary to task {task.id}", exc)


def _plugin_name(metadata: Any) -> str:
    if metadata is None:
        return ""
    if isinstance(metadata, bytes):
        from tensorboard.compat.proto.summary_pb2 import SummaryMetadata

        metadata = SummaryMetadata.FromString(metadata)
    return str(metadata.plugin_data.plugin_name)


def _tf_writer_created(result: Any, logdir: Any = None, *args: Any, **kwargs: Any) -> None:
    try:
        result.__dict__["_fstrack_logdir"] = str(logdir)
    except (AttributeError, TypeError):
        pass


def _patch_tensorflow(tensorflow: Any) -> None:
    from tensorflow.python.ops import summary_ops_v2

    write = _core.wrap(summary_ops_v2.write, _tf_written)
    create = _core.wrap(summary_ops_v2.create_file_writer_v2, _tf_writer_created)
    summary_ops_v2.write = write
    summary_ops_v2.create_file_writer_v2 = create
    # the public API modules hold their own references (TensorBoard's summary ops call tf.compat.v2's)
    for api in (tensorflow.summary, getattr(getattr(tensorflow, "compat", None), "v2", None)):
        api = getattr(api, "summary", api)
        if api is None:
            continue
        if getattr(api, "write", None) is not None:
            api.write = write
        if getattr(api, "create_file_writer", None) is not None:
            api.create_file_writer = create


def patch(name: str, module: Any) -> None:
    """``name`` is ``torch.utils.tensorboard.writer``, ``tensorboardX.writer`` or ``tensorflow``."""
    if name == "tensorflow":
        _patch_tensorflow(module)
        return
    _core.patch_method(module.FileWriter, "add_summary", _summary_added)
    _core.patch_method(module.SummaryWriter, "add_hparams", _hparams_added)
