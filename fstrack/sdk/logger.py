"""ClearML's ``Logger`` on fstrack: scalars, single values, text, plots, images and media.

Every ``report_*`` method validates its input in the calling thread (a bad value raises there, never
later in the flusher) and appends one row to the task's in-memory buffers; nothing touches the store
until the background flush (:mod:`fstrack.records.metrics`). Plots become plotly JSON built from plain dicts;
images and media become store objects ("debug samples") named in the segment log.

Choices where ClearML needs a server or optional packages:

* Images are stored as PNG (lossless; fstrack's own encoder, no Pillow needed). PIL images are saved as
  PNG by Pillow; ``local_path`` files and media are stored byte for byte.
* ``report_matplotlib_figure`` renders the figure with matplotlib's own ``savefig`` (PNG) in the calling
  thread. With ``report_image=True`` the PNG is a debug sample; otherwise it is a plot: plotly's
  ``mpl_to_plotly`` conversion if plotly is installed and the conversion succeeds, else a plot whose
  layout shows the PNG (``layout.images[0].source`` is the image's URL in the store).
* ``set_default_upload_destination(uri)``: images and media are written there (fsspec URL, files named
  ``<task id>/<title>/<series>_<slot>.<ext>`` with ``slot = count % max_history`` as ClearML names them)
  instead of into the store; the debug sample then records that URL.
* NaN and inf scalars are stored as given (ClearML reports them as 0 unless told otherwise); call
  ``Logger.set_reporting_nan_value`` / ``set_reporting_inf_value`` for ClearML's replacement.

Console capture hook: :meth:`Logger.report_console` appends console text from any thread (used by
``report_text`` and by stream capture); stream capture sets :data:`fstrack.capture.console.console_writer` to
print ``report_text`` messages somewhere other than ``sys.stdout`` (the real stream when stdout is being teed).
"""

from __future__ import annotations

import io
import logging
import mimetypes
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

from fstrack.errors import FstrackError, check_text
from fstrack.records import config, metrics
from fstrack.records.metrics import PENDING_URL, PendingBlob
from fstrack.sdk import current
from fstrack.utilities import plotly_reporter
from fstrack.utilities.plotly_reporter import SeriesInfo

if TYPE_CHECKING:  # pragma: no cover
    from fstrack.sdk.reporting import ReportingMixin

_now = time.time
#: ClearML's shipped default of ``sdk.metrics.file_history_size``.
DEFAULT_HISTORY = 100
_MAX_ITERATION = metrics.MAX_ITERATION
_MEMORY_LIMIT = 64 << 20  # media files larger than this are stored at report time (not held in memory)


class ReportError(FstrackError, ValueError):
    """A ``report_*`` call got arguments it cannot use (the message names the argument and what is allowed)."""


# -- validation helpers (the slow paths of report_scalar and the whole of the other methods) -----------
def _value(value: Any, what: str = "value") -> float:
    if isinstance(value, float):
        return value
    if value is None or isinstance(value, (str, bytes, bytearray)) or not hasattr(value, "__float__"):
        raise TypeError(
            f"{what} must be a number (int, float or a numpy/torch scalar), got {type(value).__name__} {value!r:.80}"
        )
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be a single number, got {type(value).__name__} {value!r:.80} ({exc})") from None


def _iteration(iteration: Any, what: str = "iteration") -> int:
    if isinstance(iteration, bool) or not hasattr(iteration, "__index__"):
        raise TypeError(f"{what} must be a non-negative int, got {type(iteration).__name__} {iteration!r:.80}")
    value: int = iteration.__index__()
    if value < 0:
        raise ValueError(f"{what} must be a non-negative int, got {value}")
    if value > _MAX_ITERATION:
        raise ValueError(f"{what} must be at most 2**62, got {value}")
    return value


def _optional_iteration(iteration: Any) -> int:
    return 0 if iteration is None else _iteration(iteration)


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__} {value!r:.80}")
    return check_text(value, what)


def _history(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int (negative or 0: unlimited), got {value!r:.80}")
    return value


def _exactly_one(**given: Any) -> str:
    chosen = [k for k, v in given.items() if not (v is None or v is False or (isinstance(v, str) and not v))]
    if len(chosen) != 1:
        raise ReportError(f"pass exactly one of {', '.join(given)}; got {', '.join(chosen) or 'none'}")
    return chosen[0]


# -- images ----------------------------------------------------------------------------------------------
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(pixels: Any) -> bytes:
    """PNG bytes of a uint8 array shaped (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)."""
    import numpy as np

    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    rows = np.ascontiguousarray(pixels, dtype=np.uint8).reshape(height, width * channels)
    raw = np.concatenate([np.zeros((height, 1), dtype=np.uint8), rows], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw, 6))
        + _png_chunk(b"IEND", b"")
    )


def normalize_image(image: Any) -> Any:
    """A uint8 (H, W) / (H, W, 3) / (H, W, 4) copy of an image array; floats are taken as 0..1."""
    import numpy as np

    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array or a PIL image, got {type(image).__name__}")
    shape = image.shape
    if image.ndim == 3 and shape[2] == 1:
        image = image[:, :, 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))) or 0 in image.shape:
        hint = " (channels first? use array.transpose(1, 2, 0))" if image.ndim == 3 and shape[0] in (1, 3, 4) else ""
        raise ReportError(
            f"image must be shaped (H, W) grayscale, (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA "
            f"with H, W > 0; got shape {shape}{hint}"
        )
    kind = image.dtype.kind
    if kind == "b":
        return image.astype(np.uint8) * 255
    if kind == "f":
        if not np.isfinite(image).all():
            image = np.nan_to_num(image, nan=0.0, posinf=1.0, neginf=0.0)
        return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if kind in ("u", "i"):
        if image.dtype == np.uint8:
            return image.copy()
        low, high = int(image.min()), int(image.max())
        if low < 0 or high > 255:
            raise ReportError(
                f"integer image values must be 0..255 (got {image.dtype} values {low}..{high}); "
                "scale them, or pass floats in 0..1"
            )
        return image.astype(np.uint8)
    raise ReportError(f"image dtype must be uint8, another integer type, bool or float (0..1), got {image.dtype}")


def _content_type(name: str, default: str = "application/octet-stream") -> str:
    return mimetypes.guess_type(name)[0] or default


def _extension(name: str) -> str:
    base = os.path.basename(name)
    return "." + base.split(".", 1)[1] if "." in base.strip(".") else ""


class _Destination:
    """Writes debug-sample files to a user's upload destination, ClearML-style names with history slots."""

    def __init__(self, uri: str, task_id: str):
        import fsspec

        try:
            self.fs, self.root = fsspec.core.url_to_fs(uri)
        except (ImportError, ValueError, TypeError, OSError) as exc:
            raise ReportError(f"cannot use upload destination {uri!r}: {exc}") from exc
        self.uri = uri.rstrip("/")
        self.task_id = task_id

    def writer(self, title: str, series: str, slot: int, ext: str) -> Callable[[bytes], str]:
        def safe(s: str) -> str:
            return "".join(c if c.isalnum() or c in "-_." else "_" for c in s) or "_"

        relative = f"{self.task_id}/{safe(title)}/{safe(series)}_{slot:08d}{ext}"

        def write(data: bytes) -> str:
            path = f"{self.root.rstrip('/')}/{relative}"
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            self.fs.pipe_file(path, data)
            return f"{self.uri}/{relative}"

        return write


class Logger:
    """The reporting interface of one task (``task.get_logger()``, ``task.logger``, ``Logger.current_logger()``)."""

    SeriesInfo: TypeAlias = SeriesInfo
    _force_non_interactive = False
    _tensorboard_flags: dict[str, bool] = {}

    def __init__(self, private_task: ReportingMixin, writer: metrics.MetricsWriter | None = None, **_ignored: Any):
        if writer is None:
            writer = private_task._reporting_writer()
        self._task = private_task
        self._writer = writer
        self._buf = writer.scalars
        self._sids: dict[str, dict[str, int]] = {}
        self._register_lock = threading.Lock()
        self._offset = int(getattr(private_task, "_initial_iteration", 0) or 0)
        self._history_default: int | None = None
        self._destination: _Destination | None = None
        self._sample_counts: dict[tuple[str, str], int] = {}
        #: Credentials of the store (an agent hands them to task code): scrubbed from captured console text.
        self._credentials = config.credential_values(private_task._db.store.storage_options)

    def __repr__(self) -> str:
        return f"<fstrack Logger of task {self._task.id}>"

    @classmethod
    def current_logger(cls) -> Logger | None:
        """The logger of the current (main) task (in a child process, its parent's task), or None if no task was
        initialised."""
        task = current.main_task()
        return task.get_logger() if task is not None else None

    # -- scalars ------------------------------------------------------------------------------------
    def report_scalar(self, title: str, series: str, value: float, iteration: int) -> None:
        """Report one point of the scalar series ``title``/``series`` (the hot path: a few list appends)."""
        if value.__class__ is not float:
            value = _value(value)
        if iteration.__class__ is not int or not 0 <= iteration <= 4611686018427387904:
            iteration = _iteration(iteration)
        try:
            sid = self._sids[title][series]
        except (KeyError, TypeError):
            sid = self._register(title, series)
        self._buf.extend((sid, iteration, value, _now()))

    def _register(self, title: Any, series: Any) -> int:
        _name(title, "title")
        _name(series, "series")
        with self._register_lock:
            known = self._sids.get(title, {}).get(series)
            if known is not None:
                return known
            table = self._writer.series
            table.append((title, series, self._offset))
            sid = len(table) - 1
            self._sids.setdefault(title, {})[series] = sid
            return sid

    def _set_iteration_offset(self, offset: int) -> None:
        """Iterations reported from now on are shifted by ``offset`` (``Task.set_initial_iteration``)."""
        with self._register_lock:
            self._offset = int(offset)
            self._sids = {}

    def report_single_value(self, name: str, value: float) -> None:
        """Report a single-value metric (e.g. the final accuracy); the latest value of a name wins."""
        _name(name, "name")
        value = _value(value)
        self._writer.rows["single_values"].append((name, value, _now()))

    # -- text ---------------------------------------------------------------------------------------
    def report_text(
        self, msg: Any, level: int | str = logging.INFO, print_console: bool = True, *args: Any, **_: Any
    ) -> None:
        """Add ``msg`` to the task's console log (and print it, unless ``print_console=False``)."""
        text = msg if isinstance(msg, str) else str(msg)
        if args:
            try:
                text = text % args
            except (TypeError, ValueError):
                text = " ".join([text, *map(str, args)])
        self.report_console(text, level=level, stream="report")
        if print_console:
            from fstrack.capture import console  # stream capture prints past itself, not into the log twice

            if console.console_writer is not None:
                console.console_writer(text if text.endswith("\n") else text + "\n")
            else:
                print(text)

    def report_console(self, message: str, level: int | str = logging.INFO, stream: str = "stdout") -> None:
        """Append console text (any thread; no I/O). ``stream``: "stdout", "stderr", "logging" or "report"."""
        if not isinstance(message, str):
            raise TypeError(f"console message must be a string, got {type(message).__name__}")
        for credential in self._credentials:
            if credential in message:
                message = message.replace(credential, "***")
        self._writer.rows["console"].append((_now(), _level(level), stream, message))

    @contextmanager
    def capture_logging(self) -> Iterator[Logger]:
        """Within the ``with`` block, records of the root ``logging`` logger also go to the console log."""
        logger = self

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                try:
                    logger.report_console(self.format(record), level=record.levelno, stream="logging")
                except Exception:  # noqa: BLE001 - logging must never raise
                    self.handleError(record)

        handler = _Handler()
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            yield self
        finally:
            root.removeHandler(handler)

    # -- plots --------------------------------------------------------------------------------------
    def _plot(
        self, title: Any, series: Any, iteration: Any, figure: dict[str, Any], blob: PendingBlob | None = None
    ) -> None:
        _name(title, "title")
        _name(series, "series")
        iteration = _optional_iteration(iteration) + self._offset
        text = metrics.dumps_plot(figure)
        self._writer.rows["plots"].append((title, series, iteration, _now(), text, blob))

    def report_plotly(self, title: str, series: str, figure: Any, iteration: int | None = None) -> None:
        """Report a plotly figure (a ``plotly.graph_objects.Figure`` or a plotly.js dict) as is."""
        if hasattr(figure, "to_plotly_json") and not isinstance(figure, dict):
            figure = figure.to_plotly_json()
        if not isinstance(figure, dict):
            raise TypeError(
                f"figure must be a plotly Figure or a dict like {{'data': [...], 'layout': {{...}}}}, "
                f"got {type(figure).__name__} {figure!r:.80}"
            )
        figure = dict(figure)
        layout = figure.get("layout")
        if layout is None or isinstance(layout, dict):
            figure["layout"] = dict(layout or {}, title=series)
        self._plot(title, series, iteration, figure)

    def report_histogram(
        self,
        title: str,
        series: str,
        values: Any,
        iteration: int | None = None,
        labels: Sequence[str] | None = None,
        xlabels: Sequence[str] | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        mode: str | None = None,
        data_args: dict[str, Any] | None = None,
        extra_layout: dict[str, Any] | None = None,
    ) -> None:
        """Report an already-computed histogram: each row of ``values`` is a bar series."""
        figure = plotly_reporter.histogram(
            values,
            title=title,
            series=series,
            labels=labels,
            xlabels=xlabels,
            xaxis=xaxis,
            yaxis=yaxis,
            mode=mode or "group",
            data_args=data_args,
            extra_layout=extra_layout,
        )
        self._plot(title, series, iteration, figure)

    def report_vector(
        self,
        title: str,
        series: str,
        values: Any,
        iteration: int | None = None,
        labels: Sequence[str] | None = None,
        xlabels: Sequence[str] | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        mode: str | None = None,
        extra_layout: dict[str, Any] | None = None,
    ) -> None:
        """Same as :meth:`report_histogram` (ClearML's deprecated name)."""
        self.report_histogram(
            title,
            series,
            values,
            iteration,
            labels=labels,
            xlabels=xlabels,
            xaxis=xaxis,
            yaxis=yaxis,
            mode=mode,
            extra_layout=extra_layout,
        )

    def report_table(
        self,
        title: str,
        series: str,
        iteration: int | None = None,
        table_plot: Any = None,
        csv: str | None = None,
        url: str | None = None,
        extra_layout: dict[str, Any] | None = None,
        extra_data: dict[str, Any] | None = None,
    ) -> None:
        """Report a table: a pandas DataFrame or a list of rows (the first row is the header) as
        ``table_plot``, or a CSV file path ``csv``, or a CSV ``url`` (any fsspec URL). For CSV input the first
        column is the index, as ClearML reads it."""
        chosen = _exactly_one(table_plot=table_plot, csv=csv, url=url)
        if chosen == "table_plot":
            header, columns = _table_from_object(table_plot)
        else:
            header, columns = _table_from_csv(csv if chosen == "csv" else url)
        figure = plotly_reporter.table(
            header, columns, title=title, series=series, extra_layout=extra_layout, extra_data=extra_data
        )
        self._plot(title, series, iteration, figure)

    def report_line_plot(
        self,
        title: str,
        series: Sequence[SeriesInfo],
        xaxis: str,
        yaxis: str,
        mode: str = "lines",
        iteration: int | None = None,
        reverse_xaxis: bool = False,
        comment: str | None = None,
        extra_layout: dict[str, Any] | None = None,
    ) -> None:
        """Report several lines (``SeriesInfo(name, data=Nx2, labels=None)``, or dicts of those fields) in one plot."""
        if isinstance(series, (SeriesInfo, dict)) or not isinstance(series, Sequence):
            raise TypeError(f"series must be a list of SeriesInfo, got {type(series).__name__}")
        infos = [
            s if isinstance(s, SeriesInfo) else SeriesInfo(**s) if isinstance(s, dict) else _bad_series(s)
            for s in series
        ]
        figure = plotly_reporter.line_plot(
            infos,
            title=title,
            xaxis=xaxis,
            yaxis=yaxis,
            mode=mode,
            reverse_xaxis=reverse_xaxis,
            comment=comment,
            extra_layout=extra_layout,
        )
        self._plot(title, infos[0].name if infos else "", iteration, figure)

    def report_scatter2d(
        self,
        title: str,
        series: str,
        scatter: Any,
        iteration: int | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        labels: Sequence[str] | None = None,
        mode: str = "lines",
        comment: str | None = None,
        extra_layout: dict[str, Any] | None = None,
    ) -> None:
        """Report (x, y) points (an Nx2 array or a list of pairs)."""
        figure = plotly_reporter.scatter2d(
            scatter,
            title=title,
            series=series,
            xaxis=xaxis,
            yaxis=yaxis,
            labels=labels,
            mode=mode,
            comment=comment,
            extra_layout=extra_layout,
        )
        self._plot(title, series, iteration, figure)

    def report_scatter3d(
        self,
        title: str,
        series: str,
        scatter: Any,
        iteration: int | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        zaxis: str | None = None,
        labels: Sequence[str] | None = None,
        mode: str = "markers",
        fill: bool = False,
        comment: str | None = None,
        extra_layout: dict[str, Any] | None = None,
    ) -> None:
        """Report (x, y, z) points (an Nx3 array, or a list of such arrays for several series)."""
        figure = plotly_reporter.scatter3d(
            scatter,
            title=title,
            series=series,
            xaxis=xaxis,
            yaxis=yaxis,
            zaxis=zaxis,
            labels=labels,
            mode=mode,
            fill=fill,
            comment=comment,
            extra_layout=extra_layout,
        )
        self._plot(title, series, iteration, figure)

    def report_confusion_matrix(
        self,
        title: str,
        series: str,
        matrix: Any,
        iteration: int | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        xlabels: Sequence[str] | None = None,
        ylabels: Sequence[str] | None = None,
        yaxis_reversed: bool = False,
        comment: str | None = None,
        extra_layout: dict[str, Any] | None = None,
    ) -> None:
        """Report a matrix as a heatmap (cells annotated with their values unless ``extra_layout`` says otherwise)."""
        figure = plotly_reporter.heatmap(
            matrix,
            title=title,
            series=series,
            xaxis=xaxis,
            yaxis=yaxis,
            xlabels=xlabels,
            ylabels=ylabels,
            yaxis_reversed=yaxis_reversed,
            comment=comment,
            extra_layout=extra_layout,
        )
        if extra_layout is None:
            figure["data"][0]["texttemplate"] = "%{z}"
        self._plot(title, series, iteration, figure)

    def report_matrix(
        self,
        title: str,
        series: str,
        matrix: Any,
        iteration: int | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        xlabels: Sequence[str] | None = None,
        ylabels: Sequence[str] | None = None,
        yaxis_reversed: bool = False,
        extra_layout: dict[str, Any] | None = None,
    ) -> None:
        """Same as :meth:`report_confusion_matrix` (ClearML's deprecated name)."""
        self.report_confusion_matrix(
            title,
            series,
            matrix,
            iteration,
            xaxis=xaxis,
            yaxis=yaxis,
            xlabels=xlabels,
            ylabels=ylabels,
            yaxis_reversed=yaxis_reversed,
            extra_layout=extra_layout,
        )

    def report_surface(
        self,
        title: str,
        series: str,
        matrix: Any,
        iteration: int | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        zaxis: str | None = None,
        xlabels: Sequence[str] | None = None,
        ylabels: Sequence[str] | None = None,
        camera: Sequence[float] | None = None,
        comment: str | None = None,
        extra_layout: dict[str, Any] | None = None,
    ) -> None:
        """Report a matrix as a 3-D surface."""
        figure = plotly_reporter.surface(
            matrix,
            title=title,
            series=series,
            xaxis=xaxis,
            yaxis=yaxis,
            zaxis=zaxis,
            xlabels=xlabels,
            ylabels=ylabels,
            camera=camera,
            comment=comment,
            extra_layout=extra_layout,
        )
        self._plot(title, series, iteration, figure)

    def report_matplotlib_figure(
        self,
        title: str,
        series: str,
        figure: Any,
        iteration: int | None = None,
        report_image: bool = False,
        report_interactive: bool = True,
    ) -> None:
        """Report a matplotlib figure (or the ``pyplot`` module: its current figure). See the module docstring."""
        _name(title, "title")
        _name(series, "series")
        if hasattr(figure, "gcf") and callable(figure.gcf):
            figure = figure.gcf()
        if not hasattr(figure, "savefig"):
            raise TypeError(f"figure must be a matplotlib Figure or matplotlib.pyplot, got {type(figure).__name__}")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        png = buffer.getvalue()
        width, height = _png_size(png)
        if report_image:
            self._sample(
                title,
                series,
                iteration,
                "image",
                PendingBlob(png),
                None,
                "png",
                "image/png",
                len(png),
                width,
                height,
                None,
            )
            return
        if report_interactive and not type(self)._force_non_interactive:
            converted = _mpl_to_plotly(figure)
            if converted is not None:
                self._plot(title, series, iteration, converted)
                return
        plot = plotly_reporter.image_plot(PENDING_URL, title=title, series=series, width=width, height=height)
        self._plot(title, series, iteration, plot, blob=PendingBlob(png))

    # -- debug samples --------------------------------------------------------------------------------
    def _sample(
        self,
        title: str,
        series: str,
        iteration: Any,
        kind: str,
        blob: PendingBlob | None,
        url: str | None,
        ext: str,
        content_type: str,
        size: int | None,
        width: int | None,
        height: int | None,
        max_history: int | None,
    ) -> None:
        iteration = _optional_iteration(iteration) + self._offset
        history = (
            self.get_default_debug_sample_history() if max_history is None else _history(max_history, "max_history")
        )
        key = (title, series)
        count = self._sample_counts.get(key, 0)
        self._sample_counts[key] = count + 1
        slot = count if history < 1 else count % history
        ext = ext if not ext or ext.startswith(".") else "." + ext
        name = f"{title}_{series}_{slot:08d}{ext}"
        destination = None
        if blob is not None and self._destination is not None:
            destination = self._destination.writer(title, series, slot, ext)
        self._writer.rows["debug_samples"].append(
            (
                title,
                series,
                iteration,
                _now(),
                kind,
                blob,
                url,
                name,
                content_type,
                size,
                width,
                height,
                history,
                destination,
            )
        )

    def report_image(
        self,
        title: str,
        series: str,
        iteration: int | None = None,
        local_path: str | None = None,
        image: Any = None,
        matrix: Any = None,
        max_image_history: int | None = None,
        delete_after_upload: bool = False,
        url: str | None = None,
    ) -> None:
        """Report an image: a numpy array (uint8 0..255 or float 0..1; grayscale, RGB or RGBA), a PIL image, a
        local file, or a URL. Only the newest ``max_image_history`` samples per title/series are kept."""
        _name(title, "title")
        _name(series, "series")
        if image is None and matrix is not None:
            image = matrix
        chosen = _exactly_one(local_path=local_path, url=url, image=image)
        if chosen == "url":
            url = _name(url, "url")
            self._sample(
                title,
                series,
                iteration,
                "image",
                None,
                url,
                _extension(url),
                _content_type(url, "image/*"),
                None,
                None,
                None,
                max_image_history,
            )
        elif chosen == "local_path":
            assert local_path is not None  # chosen by _exactly_one
            data = _read_file(local_path, "local_path")
            self._sample(
                title,
                series,
                iteration,
                "image",
                PendingBlob(data),
                None,
                _extension(local_path),
                _content_type(local_path, "image/*"),
                len(data),
                None,
                None,
                max_image_history,
            )
            if delete_after_upload:
                os.unlink(local_path)
        elif hasattr(image, "save") and hasattr(image, "mode") and hasattr(image, "size"):  # PIL
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            data = buffer.getvalue()
            width, height = image.size
            self._sample(
                title,
                series,
                iteration,
                "image",
                PendingBlob(data),
                None,
                ".png",
                "image/png",
                len(data),
                width,
                height,
                max_image_history,
            )
        else:
            try:
                import numpy as np

                is_array = isinstance(image, np.ndarray)
            except ImportError:  # pragma: no cover - an array cannot exist without numpy
                is_array = False
            if not is_array:
                raise TypeError(f"image must be a numpy array or a PIL image, got {type(image).__name__}")
            pixels = normalize_image(image)
            height, width = pixels.shape[:2]
            self._sample(
                title,
                series,
                iteration,
                "image",
                PendingBlob(lambda: encode_png(pixels)),
                None,
                ".png",
                "image/png",
                None,
                width,
                height,
                max_image_history,
            )

    def report_image_and_upload(
        self,
        title: str,
        series: str,
        iteration: int | None = None,
        path: str | None = None,
        matrix: Any = None,
        max_image_history: int | None = None,
        delete_after_upload: bool = False,
    ) -> None:
        """ClearML's older name of :meth:`report_image`."""
        self.report_image(
            title,
            series,
            iteration,
            local_path=path,
            image=matrix,
            max_image_history=max_image_history,
            delete_after_upload=delete_after_upload,
        )

    def report_media(
        self,
        title: str,
        series: str,
        iteration: int | None = None,
        local_path: str | None = None,
        stream: Any = None,
        file_extension: str | None = None,
        max_history: int | None = None,
        delete_after_upload: bool = False,
        url: str | None = None,
    ) -> None:
        """Report a media file (audio, video, html, ...): a local file, a stream (``BytesIO``/``StringIO``, with
        ``file_extension``) or a URL."""
        _name(title, "title")
        _name(series, "series")
        chosen = _exactly_one(local_path=local_path, url=url, stream=stream)
        if chosen == "url":
            url = _name(url, "url")
            self._sample(
                title,
                series,
                iteration,
                "media",
                None,
                url,
                _extension(url),
                _content_type(url),
                None,
                None,
                None,
                max_history,
            )
            return
        if chosen == "stream":
            if not file_extension:
                raise ReportError("report_media with a stream needs file_extension (e.g. '.mp4')")
            if not hasattr(stream, "read"):
                raise TypeError(
                    f"stream must be a readable file object (BytesIO/StringIO), got {type(stream).__name__}"
                )
            data = stream.read()
            data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
            ext = file_extension if file_extension.startswith(".") else "." + file_extension
        else:
            assert local_path is not None  # chosen by _exactly_one
            data = _read_file(local_path, "local_path")
            ext = file_extension or _extension(local_path)
            ext = ext if not ext or ext.startswith(".") else "." + ext
        self._sample(
            title,
            series,
            iteration,
            "media",
            PendingBlob(data),
            None,
            ext,
            _content_type("x" + ext),
            len(data),
            None,
            None,
            max_history,
        )
        if chosen == "local_path" and delete_after_upload and local_path is not None:
            os.unlink(local_path)

    # -- settings -----------------------------------------------------------------------------------
    def set_default_upload_destination(self, uri: str) -> None:
        """Write images and media to ``uri`` (any fsspec URL) instead of into the store; see the module docstring."""
        _name(uri, "uri")
        self._destination = _Destination(uri, self._task.id)

    def get_default_upload_destination(self) -> str:
        """The upload destination set, else the task's store URL (where debug samples go by default)."""
        return self._destination.uri if self._destination is not None else self._task._db.store.url

    def set_default_debug_sample_history(self, max_history: int) -> None:
        """Images/media kept per title/series when ``max_history`` is not given (< 1: all)."""
        self._history_default = _history(max_history, "max_history")

    def get_default_debug_sample_history(self) -> int:
        return DEFAULT_HISTORY if self._history_default is None else self._history_default

    def flush(self, wait: bool = False) -> bool:
        """Write everything buffered to the store now: :meth:`Task.flush` (False if not all was stored)."""
        return self._task.flush(wait_for_uploads=wait)

    def set_flush_period(self, period: float | None) -> None:
        """Seconds between background flushes (default 2); None or 0: flush only when buffers fill or on flush()."""
        self._writer.set_flush_period(period)

    def get_flush_period(self) -> float | None:
        return self._writer.flush_period

    @classmethod
    def set_reporting_nan_value(cls, value: float, warn_period: int = 1000) -> None:
        """Store NaN scalars as ``value`` from now on (by default fstrack stores NaN as given)."""
        metrics.NAN_VALUE = None if value is None else _value(value)

    @classmethod
    def set_reporting_inf_value(cls, value: float, warn_period: int = 1000) -> None:
        """Store +/-inf scalars as ``value`` from now on (by default fstrack stores them as given)."""
        metrics.INF_VALUE = None if value is None else _value(value)

    @classmethod
    def matplotlib_force_report_non_interactive(cls, force: bool) -> None:
        """Always report matplotlib figures as images (never converted to plotly)."""
        cls._force_non_interactive = bool(force)

    @classmethod
    def tensorboard_auto_group_scalars(cls, group_scalars: bool = False) -> None:
        """Recorded for TensorBoard binding (fstrack does not bind TensorBoard yet, so this has no effect)."""
        cls._tensorboard_flags["group_scalars"] = bool(group_scalars)

    @classmethod
    def tensorboard_single_series_per_graph(cls, single_series: bool = False) -> None:
        """Recorded for TensorBoard binding (fstrack does not bind TensorBoard yet, so this has no effect)."""
        cls._tensorboard_flags["single_series"] = bool(single_series)


def _level(level: Any) -> int:
    if isinstance(level, bool):
        raise TypeError(f"level must be a logging level (int or name), got {level!r}")
    if isinstance(level, int):
        return max(0, min(level, 32767))
    if isinstance(level, str):
        number = logging.getLevelName(level.upper())
        if isinstance(number, int):
            return number
    raise ValueError(f"level must be a logging level such as logging.INFO or 'WARNING', got {level!r:.80}")


def _bad_series(value: Any) -> SeriesInfo:
    raise TypeError(
        f"series must hold SeriesInfo objects (or dicts of name/data/labels), got {type(value).__name__} {value!r:.80}"
    )


def _read_file(path: Any, what: str) -> bytes:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} must be a path, got {type(path).__name__} {path!r:.80}")
    try:
        size = os.path.getsize(path)
        if size > _MEMORY_LIMIT:
            raise ReportError(
                f"{what} {os.fspath(path)!r} is {size} bytes; debug samples are limited to "
                f"{_MEMORY_LIMIT} bytes (upload large files as artifacts)"
            )
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {os.fspath(path)!r} does not exist") from None


def _table_from_object(table: Any) -> tuple[list[Any], list[list[Any]]]:
    if hasattr(table, "columns") and hasattr(table, "index") and hasattr(table, "to_numpy"):  # pandas DataFrame
        index_name = table.index.name if table.index.name is not None else ""
        header = [index_name, *[str(c) for c in table.columns]]
        columns = [list(table.index)] + [list(table[c]) for c in table.columns]
        return header, columns
    if isinstance(table, (list, tuple)) and table and all(isinstance(r, (list, tuple)) for r in table):
        header, *rows = table
        width = len(header)
        bad = [i for i, r in enumerate(rows, 1) if len(r) != width]
        if bad:
            raise ReportError(f"table rows must all have {width} cells (the header's), rows {bad[:5]} differ")
        return list(header), [[r[i] for r in rows] for i in range(width)]
    raise TypeError(
        f"table_plot must be a pandas DataFrame or a non-empty list of rows (first row: header), got "
        f"{type(table).__name__} {table!r:.80}"
    )


def _table_from_csv(location: Any) -> tuple[list[Any], list[list[Any]]]:
    import csv

    import fsspec

    _name(location, "csv/url")
    try:
        with fsspec.open(location, "rt", encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise FileNotFoundError(f"CSV {location!r} does not exist") from None
    if not rows:
        raise ReportError(f"CSV {location!r} is empty")
    return _table_from_object([[_csv_cell(c) for c in row] for row in rows])


def _csv_cell(text: str) -> Any:
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and text.strip().lstrip("+-").isdigit() else number


def _png_size(png: bytes) -> tuple[int | None, int | None]:
    if png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) >= 24:
        width, height = struct.unpack(">II", png[16:24])
        return width, height
    return None, None


def _mpl_to_plotly(figure: Any) -> dict[str, Any] | None:
    """plotly's own matplotlib conversion, if plotly is installed and it manages the figure."""
    try:
        from plotly.tools import mpl_to_plotly
    except Exception:  # noqa: BLE001 - plotly missing or broken
        return None
    try:
        converted = mpl_to_plotly(figure)
        return converted.to_plotly_json() if hasattr(converted, "to_plotly_json") else dict(converted)
    except Exception:  # noqa: BLE001 - many figures cannot be converted; fall back to an image
        return None


__all__ = ["Logger", "SeriesInfo", "ReportError", "encode_png", "normalize_image"]
