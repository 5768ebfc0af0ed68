"""``auto_connect_streams``: stdout, stderr and ``logging`` teed into the task's console log; and the
``auto_connect_frameworks`` matplotlib hook (``plt.show()`` / ``Figure.savefig`` reported as plots).

:func:`connect` is called by ``Task.init`` (``Task._start_process_tracking``) and :func:`disconnect` by
``Task._finish`` (close, exit, ``mark_completed``). Everything printed keeps going where it went before.

Streams
-------
``auto_connect_streams``: ``True`` (stdout and stderr), ``False``, or ClearML's dict
``{'stdout': bool, 'stderr': bool, 'logging': bool}`` where a missing key is False and ``{}`` is False.

How a stream is captured (per stream, chosen at ``Task.init``):

* **File-descriptor level** (POSIX, when ``sys.stdout.fileno()`` is 1 / ``sys.stderr.fileno()`` is 2):
  fd 1/2 is pointed at a pipe (a pseudo-terminal when it was a terminal, so colours, ``isatty`` and the
  terminal width still work; its output processing is off, so bytes pass unchanged); a daemon thread reads
  it, writes every byte on to the original destination and reports the text. Everything that writes to the
  inherited descriptor is captured: ``print``, C extensions, ``subprocess.run(["echo", ...])``, forked
  workers. At close fd 1/2 is restored and what is still in the pipe is read to its end first, so nothing is
  lost or reordered (also on ``sys.exit``, an exception, SIGTERM and ``mark_completed``; ``os._exit`` is
  wrapped to drain first too). Child processes still running afterwards keep printing through the pipe to
  the original destination (not into the log) until they end: a ``cat`` process takes over the pipe's read
  end, so they outlive this process without meeting a closed pipe. ``faulthandler`` output is pointed at the
  original descriptor while capturing (a crashing process cannot read its own pipe).
* **Python level** (``sys.stdout``/``sys.stderr`` are not fd 1/2: pytest's ``capsys``/``capfd``, Jupyter,
  IDE consoles, Windows): ``sys.stdout``/``sys.stderr`` are replaced by a tee that writes to the stream it
  replaced and reports what was written. Child processes and C-level writes are not captured then. At close
  the original object is put back (if nothing replaced the tee meanwhile; otherwise the tee just stops
  reporting). ``capture_modes()`` tells which mode each stream got; ``FSTRACK_CONSOLE_CAPTURE=python``
  forces this mode, ``=off`` turns stream capture off.

Under ``fstrack agent`` (``FSTRACK_AGENT_STREAMS=1``) nothing is captured: the agent already writes the
process's stdout and stderr into the log.

What is stored (segment kind ``console``; spec/metrics.md): one row per line, without its line break,
stamped when read; ``stream`` ``"stdout"`` (level 20) or ``"stderr"`` (level 40), as ClearML and the agent
do. A line rewritten with carriage returns (progress bars; tqdm's cursor-up counts as one) is stored as it
finally reads; a line still being rewritten is also stored as it reads every :data:`CR_FLUSH_SECONDS` (as
ClearML's ``console_cr_flush_period``). A line without a line break is stored when it ends, when it
passes :data:`MAX_LINE` characters, or at close. Bytes are decoded as UTF-8 (invalid bytes replaced).
``report_text(..., print_console=True)`` stores its ``"report"`` row and prints to the original stream
without the print being captured a second time.

``logging`` (dict form only, as in ClearML): every record a ``logging.Handler`` formats (so: what the
script's logging configuration emits, ``logging.lastResort`` included) is stored once as a row with
``stream`` ``"logging"``, the record's level and the handler's formatted text. When that handler writes to
a captured stdout/stderr, the printed copy is not stored again as a ``stderr`` row.

Read-your-writes: ``Task.flush`` and the ``get_reported_*`` readers call :func:`sync`, which flushes
``sys.stdout``/``sys.stderr`` and waits until the reader threads have consumed everything written so far.

matplotlib
----------
When ``auto_connect_frameworks`` allows ``matplotlib`` (True, or a dict whose ``'matplotlib'`` is not
False), ``matplotlib.pyplot.show()``, ``Figure.show()`` and ``Figure.savefig(<path>)`` report the figure
with ``Logger.report_matplotlib_figure`` (hooked right after matplotlib is imported if that happens after
``Task.init``; nothing happens if matplotlib is not installed). ``show`` reports every open figure that
changed since it was last reported; ``savefig`` reports the saved figure (not when saving to a file
object). Title: the figure's suptitle, else its first axes title, else (``savefig``) the file name without
extension, else ``"untitled NN"`` (NN counts to 99 and wraps, ClearML's naming); a title reported again at
the same iteration gets ``/1``, ``/2``... (ClearML's rule). Series ``"plot"``; a figure showing images
(``imshow``) is reported as an image (debug sample) under series ``"plot image"``. Iteration: the last
iteration the script reported (0 before any). A failure to report warns and never breaks the call.
"""

from __future__ import annotations

import codecs
import collections
import errno
import functools
import logging
import os
import selectors
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from fstrack import terminal, threads
from fstrack.capture.import_hooks import AfterImport

if TYPE_CHECKING:  # pragma: no cover
    from fstrack.sdk.task import Task

__all__ = [
    "connect",
    "disconnect",
    "connect_streams",
    "disconnect_streams",
    "sync",
    "capture_modes",
    "streams_option",
    "connect_matplotlib",
    "disconnect_matplotlib",
    "CR_FLUSH_SECONDS",
    "MAX_LINE",
]

#: Seconds between stored states of a line that is being rewritten with carriage returns.
CR_FLUSH_SECONDS = 10.0
#: A line longer than this many characters (no line break yet) is stored in pieces of this size.
MAX_LINE = 64 * 1024
#: Seconds ``disconnect``/``sync`` wait for a reader thread (only reached if the original output blocks).
WAIT_SECONDS = 10.0
MODE_ENV = "FSTRACK_CONSOLE_CAPTURE"
_AGENT_STREAMS_ENV = "FSTRACK_AGENT_STREAMS"
_LEVELS = {"stdout": logging.INFO, "stderr": logging.ERROR}
#: Where ``Logger.report_text(..., print_console=True)`` prints while streams are captured: the original
#: stream's ``write``, so that a printed report is not captured a second time (None: ``print``).
console_writer: Callable[[str], None] | None = None
_FDS = {"stdout": 1, "stderr": 2}
_READ_SIZE = 1 << 20
_PIPE_SIZE = 1 << 20


def streams_option(option: Any) -> dict[str, bool]:
    """``{'stdout', 'stderr', 'logging'}`` -> bool from an ``auto_connect_streams`` value (ClearML's rules)."""
    if isinstance(option, bool):
        return {"stdout": option, "stderr": option, "logging": False}
    if option is None:
        return {"stdout": False, "stderr": False, "logging": False}
    if not isinstance(option, Mapping):
        raise TypeError(
            f"auto_connect_streams must be True, False or a dict of 'stdout'/'stderr'/'logging' to "
            f"bool, got {type(option).__name__} {option!r:.80}"
        )
    unknown = [k for k in option if k not in ("stdout", "stderr", "logging")]
    if unknown:
        raise ValueError(f"auto_connect_streams keys are 'stdout', 'stderr' and 'logging', got {unknown!r}")
    return {key: bool(option.get(key, False)) for key in ("stdout", "stderr", "logging")}


# -- lines ------------------------------------------------------------------------------------------------------
def _visible(line: str) -> str:
    """What a terminal shows of a line rewritten with carriage returns."""
    if line.endswith("\r"):
        line = line[:-1]
    cut = line.rfind("\r")
    return line if cut < 0 else line[cut + 1 :]


class _Lines:
    """Splits one stream's text into lines and reports them (one thread feeds it at a time)."""

    def __init__(self, report: Callable[[str], None]):
        self._report = report
        self._pending = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._last_cr = time.monotonic()
        self._expected: dict[str, int] = {}
        self._expected_at: collections.deque[tuple[float, str]] = collections.deque()
        self._expect_lock = threading.RLock()  # re-entrant: signal handlers may log

    def feed_bytes(self, data: bytes) -> None:
        self.feed(self._decoder.decode(data))

    def feed(self, text: str) -> None:
        if not text:
            return
        if "\x1b[A" in text:  # tqdm moves the cursor up to redraw a bar: treat as a carriage return
            text = text.replace("\x1b[A", "\r")
        text = self._pending + text if self._pending else text
        if "\n" in text:
            *lines, text = text.split("\n")
            for line in lines:
                self._emit(_visible(line) if "\r" in line else line)
        if "\r" in text:
            cut = text.rfind("\r", 0, len(text) - 1)
            if cut > 0:
                text = text[cut:]  # only the last rewrite of the line matters
            now = time.monotonic()
            if now - self._last_cr >= CR_FLUSH_SECONDS:
                self._last_cr = now
                shown = _visible(text)
                if shown.strip():
                    self._emit(shown)
        while len(text) > MAX_LINE:
            self._emit(text[:MAX_LINE])
            text = text[MAX_LINE:]
        self._pending = text

    def close(self) -> None:
        text = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        if text:
            shown = _visible(text) if "\r" in text else text
            if shown:
                self._emit(shown)

    def expect(self, text: str) -> None:
        """``text`` is about to be written to this stream by a logging handler whose record is stored already."""
        now = time.monotonic()
        with self._expect_lock:
            for line in text.split("\n"):
                line = _visible(line) if "\r" in line else line
                self._expected[line] = self._expected.get(line, 0) + 1
                self._expected_at.append((now, line))
            self._expire(now)

    def _expire(self, now: float) -> None:
        while self._expected_at and (now - self._expected_at[0][0] > 30 or len(self._expected_at) > 10_000):
            _, line = self._expected_at.popleft()
            self._drop_expected(line)

    def _drop_expected(self, line: str) -> None:
        count = self._expected.get(line, 0) - 1
        if count > 0:
            self._expected[line] = count
        else:
            self._expected.pop(line, None)

    def _emit(self, line: str) -> None:
        if self._expected:
            with self._expect_lock:
                if self._expected.get(line):
                    self._drop_expected(line)
                    for i, (_, waiting) in enumerate(self._expected_at):
                        if waiting == line:
                            del self._expected_at[i]
                            break
                    return
        try:
            self._report(line)
        except Exception:  # noqa: BLE001 - capture must never break printing
            pass


# -- file-descriptor capture ------------------------------------------------------------------------------------
def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:  # the original destination is non-blocking and full: wait for room
            selector = selectors.DefaultSelector()
            try:
                selector.register(fd, selectors.EVENT_WRITE)
                selector.select(1.0)
            finally:
                selector.close()
            continue
        except InterruptedError:
            continue
        view = view[written:]


class _FdTee:
    """fd ``fd`` pointed at a pipe (or pty) whose reader thread forwards to the original and reports lines."""

    mode = "fd"

    def __init__(self, name: str, lines: _Lines):
        self.name = name
        self.fd = _FDS[name]
        self.lines = lines
        self._forward = True
        self._stopping = False
        self._waiters: list[threading.Event] = []
        self._injected: collections.deque[bytes] = collections.deque()
        self._lock = threading.RLock()  # re-entrant: a signal handler may print while it is held
        self.drained = threading.Event()
        self._stopped = False
        _flush_python_stream(name)
        opened: list[int] = []
        try:
            self.real = os.dup(self.fd)  # the original destination (not inherited by children)
            opened.append(self.real)
            self.read_fd, self.keep_fd = self._open_channel()
            opened += [self.read_fd, self.keep_fd]
            self.wake_r, self.wake_w = os.pipe()
            opened += [self.wake_r, self.wake_w]
            os.set_blocking(self.read_fd, False)
            os.set_blocking(self.wake_r, False)
            os.set_blocking(self.wake_w, False)
            os.dup2(self.keep_fd, self.fd)  # fd 1/2 now writes into the pipe (inheritable: children use it too)
        except OSError:
            for fd in opened:
                try:
                    os.close(fd)
                except OSError:
                    pass
            raise
        self.thread = threading.Thread(target=self._run, name=f"fstrack-console-{name}", daemon=True)
        threads.start(self.thread)

    def _open_channel(self) -> tuple[int, int]:
        if os.isatty(self.real):
            try:
                import fcntl
                import termios

                master, slave = os.openpty()
                attrs = termios.tcgetattr(slave)
                attrs[1] &= ~termios.OPOST  # bytes pass unchanged (no \n -> \r\n)
                termios.tcsetattr(slave, termios.TCSANOW, attrs)
                try:
                    size = fcntl.ioctl(self.real, termios.TIOCGWINSZ, b"\0" * 8)
                    fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
                except OSError:
                    pass
                return master, slave
            except (ImportError, OSError):
                pass
        read_fd, write_fd = os.pipe()
        if sys.platform.startswith("linux"):  # a 1 MiB pipe: fewer hand-overs between a printing thread and us
            try:
                import fcntl

                fcntl.fcntl(write_fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_SIZE)
            except OSError:
                pass
        return read_fd, write_fd

    # -- the reader thread --------------------------------------------------------------------------------
    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.read_fd, selectors.EVENT_READ, "data")
        selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        try:
            while True:
                events = selector.select()
                if any(key.data == "wake" for key, _ in events):
                    try:
                        while os.read(self.wake_r, 4096):
                            pass
                    except BlockingIOError:
                        pass
                    with self._lock:
                        waiters, self._waiters = self._waiters, []
                        stopping = self._stopping
                    eof = self._drain()
                    while self._injected:
                        self._out(self._injected.popleft())
                    for waiter in waiters:
                        waiter.set()
                    if stopping or eof:
                        break
                elif self._drain():
                    break
        except Exception:  # noqa: BLE001 - e.g. descriptors closed under us; the stop path still completes
            pass
        finally:
            selector.close()
            self.lines.close()
            with self._lock:
                while self._injected:
                    self._out(self._injected.popleft())
                self.drained.set()
                waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                waiter.set()

    def _drain(self, report: bool = True) -> bool:
        """Read everything available now; True at end of file (no writer is left)."""
        while True:
            try:
                data = os.read(self.read_fd, _READ_SIZE)
            except BlockingIOError:
                return False
            except InterruptedError:
                continue
            except OSError as exc:  # a pty whose every writer is gone reads EIO
                if exc.errno == errno.EIO:
                    return True
                raise
            if not data:
                return True
            self._out(data)
            if report:
                self.lines.feed_bytes(data)

    def _out(self, data: bytes) -> None:
        if self._forward:
            try:
                _write_all(self.real, data)
            except OSError:  # the original destination is gone (closed pipe): keep capturing
                self._forward = False

    def _hand_over(self) -> None:
        """Child processes still hold the pipe: let ``cat`` pass it on to the original destination until they
        end (a thread would die with this process and leave them writing into a closed pipe)."""
        import subprocess

        os.set_blocking(self.read_fd, True)
        try:
            subprocess.Popen(
                ["cat"],
                stdin=self.read_fd,
                stdout=self.real if self._forward else subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
        except OSError:  # no cat: forward from a thread for as long as this process lives
            read_fd, real, self.read_fd, self.real = self.read_fd, self.real, -1, -1
            threads.start(
                threading.Thread(
                    target=_forward_until_eof, args=(read_fd, real), name=f"fstrack-console-{self.name}", daemon=True
                )
            )

    def _close_fds(self) -> None:
        for fd in (self.read_fd, self.wake_r, self.wake_w, self.real, self.keep_fd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass

    # -- called from other threads -------------------------------------------------------------------------
    def _wake(self) -> None:
        try:
            os.write(self.wake_w, b"\0")
        except (BlockingIOError, OSError):
            pass  # full: a wake-up is pending anyway

    def sync(self, timeout: float = WAIT_SECONDS) -> None:
        """Wait until everything written to the descriptor so far has been read and reported."""
        if threading.current_thread() is self.thread or self.drained.is_set():
            return
        _flush_python_stream(self.name)
        waiter = threading.Event()
        with self._lock:
            if self.drained.is_set():
                return
            self._waiters.append(waiter)
        self._wake()
        waiter.wait(timeout)

    def write_original(self, text: str) -> None:
        """Print ``text`` on the original destination after what is already in the pipe, without capturing it."""
        _flush_python_stream(self.name)
        stream = _python_stream(self.name)
        data = text.encode(getattr(stream, "encoding", None) or "utf-8", "replace")
        waiter = threading.Event()
        with self._lock:
            queued = not self.drained.is_set()
            if queued:
                self._injected.append(data)
                self._waiters.append(waiter)
        if queued:
            self._wake()
            if threading.current_thread() is not self.thread:
                waiter.wait(WAIT_SECONDS)  # printed before anything written after this call
            return
        if not self._stopped:
            self._out(data)

    def stop(self, timeout: float = WAIT_SECONDS) -> None:
        """Put the original descriptor back, read what is left in the pipe, stop reporting."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._stopping = True
        _flush_python_stream(self.name)
        os.dup2(self.real, self.fd)
        self._wake()
        if threading.current_thread() is self.thread or not self.drained.wait(timeout):
            return  # the original destination blocks the reader: leave it be
        os.close(self.keep_fd)
        self.keep_fd = -1
        try:
            if not self._drain(report=False):  # children that inherited the pipe are still running
                self._hand_over()
        except Exception:  # noqa: BLE001
            pass
        self._close_fds()
        self.read_fd = self.real = self.wake_r = self.wake_w = -1


def _forward_until_eof(read_fd: int, real: int) -> None:
    try:
        while True:
            try:
                data = os.read(read_fd, _READ_SIZE)
            except InterruptedError:
                continue
            if not data:
                break
            _write_all(real, data)
    except OSError:
        pass
    finally:
        for fd in (read_fd, real):
            try:
                os.close(fd)
            except OSError:
                pass


def _python_stream(name: str) -> Any:
    return getattr(sys, name, None)


def _flush_python_stream(name: str) -> None:
    stream = _python_stream(name)
    if stream is not None:
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed or broken stream
            pass


def _stream_fd(stream: Any) -> int | None:
    try:
        return stream.fileno()
    except Exception:  # noqa: BLE001 - io.UnsupportedOperation, ValueError (closed), AttributeError
        return None


# -- Python-level capture -------------------------------------------------------------------------------------------
class _PythonTee:
    """Replaces ``sys.stdout``/``sys.stderr``: writes to the stream it replaced and reports the lines."""

    mode = "python"

    def __init__(self, name: str, lines: _Lines):
        self.name = name
        self.lines = lines
        self.target = _python_stream(name)
        self.stream = _TeeStream(self.target, lines)
        setattr(sys, name, self.stream)

    def sync(self, timeout: float = WAIT_SECONDS) -> None:
        return

    def write_original(self, text: str) -> None:
        self.stream._write_through(text)

    def stop(self, timeout: float = WAIT_SECONDS) -> None:
        stream = self.stream
        with stream._lock:
            if stream._lines is None:
                return
            object.__setattr__(stream, "_lines", None)
        self.lines.close()
        if getattr(sys, self.name, None) is stream:
            setattr(sys, self.name, self.target)


class _TeeStream:
    """A text stream that writes through to ``target`` and feeds what it writes to a line splitter."""

    def __init__(self, target: Any, lines: _Lines):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_lines", lines)
        object.__setattr__(self, "_lock", threading.RLock())

    def write(self, text: str) -> int:
        with self._lock:
            written = self._target.write(text)
            lines = self._lines
            if lines is not None and isinstance(text, str):
                lines.feed(text)
        return written

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def _write_through(self, text: str) -> None:
        with self._lock:
            self._target.write(text)
            try:
                self._target.flush()
            except Exception:  # noqa: BLE001
                pass

    def flush(self) -> None:
        return self._target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def __iter__(self):
        return iter(self._target)

    def __repr__(self) -> str:
        return f"<fstrack console tee of {self._target!r}>"


# -- one capture per process --------------------------------------------------------------------------------------
class _Capture:
    def __init__(self, task: Task, options: dict[str, bool]):
        self.task = task
        self.pid = os.getpid()
        self.logger = task.get_logger()
        self.streams: dict[str, _FdTee | _PythonTee] = {}
        self.logging = options["logging"]
        self.faulthandler_fd: int | None = None
        self.console_writer: Callable[[str], None] | None = None
        forced = os.environ.get(MODE_ENV, "").strip().lower()
        for name in ("stdout", "stderr"):
            if not options[name] or forced == "off":
                continue
            stream = _python_stream(name)
            if stream is None or not hasattr(stream, "write"):
                continue
            lines = _Lines(functools.partial(self.logger.report_console, level=_LEVELS[name], stream=name))
            tee: _FdTee | _PythonTee | None = None
            if forced != "python" and os.name == "posix" and _stream_fd(stream) == _FDS[name]:
                try:
                    os.fstat(_FDS[name])
                    tee = _FdTee(name, lines)
                except OSError:
                    tee = None
            if tee is None:
                tee = _PythonTee(name, lines)
            self.streams[name] = tee
        if any(t.mode == "fd" for t in self.streams.values()):
            _install_exit_hook()
            self._point_faulthandler()
        if "stdout" in self.streams:
            self.console_writer = self.streams["stdout"].write_original
            _set_console_writer(self.console_writer)
        if self.logging:
            _patch_logging()

    def _point_faulthandler(self) -> None:
        tee = self.streams.get("stderr")
        if not isinstance(tee, _FdTee):
            return
        try:
            import faulthandler

            if faulthandler.is_enabled():
                faulthandler.enable(file=tee.real, all_threads=True)
                self.faulthandler_fd = tee.real
        except Exception:  # noqa: BLE001
            pass

    def on_log(self, handler: logging.Handler, record: logging.LogRecord, text: str) -> None:
        if not self.logging or os.getpid() != self.pid:
            return
        if not record.__dict__.get("_fstrack_console"):
            record.__dict__["_fstrack_console"] = True
            self.logger.report_console(text, level=record.levelno, stream="logging")
        stream = getattr(handler, "stream", None)
        if stream is None:
            return
        for tee in self.streams.values():
            if (isinstance(tee, _PythonTee) and stream is tee.stream) or (
                isinstance(tee, _FdTee) and not isinstance(stream, _TeeStream) and _stream_fd(stream) == tee.fd
            ):
                tee.lines.expect(text)
                return

    def sync(self) -> None:
        if os.getpid() != self.pid:
            return
        for tee in list(self.streams.values()):
            tee.sync()

    def stop(self, timeout: float = WAIT_SECONDS) -> None:
        if self.logging:
            _unpatch_logging()
            self.logging = False
        if self.faulthandler_fd is not None:
            try:
                import faulthandler

                faulthandler.enable(file=sys.__stderr__ if sys.__stderr__ is not None else 2, all_threads=True)
            except Exception:  # noqa: BLE001
                pass
            self.faulthandler_fd = None
        if self.console_writer is not None and console_writer is self.console_writer:
            _set_console_writer(None)
        for tee in self.streams.values():
            try:
                tee.stop(timeout)
            except Exception as exc:  # noqa: BLE001 - never fail the task's close over the console
                terminal.warn(f"fstrack: could not restore {tee.name}: {exc}", RuntimeWarning, stacklevel=3)


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.capture: _Capture | None = None


_state = _State()


def capture_modes() -> dict[str, str]:
    """``{"stdout": "fd" | "python", ...}`` for the streams being captured now (empty when none)."""
    capture = _state.capture
    return {name: tee.mode for name, tee in capture.streams.items()} if capture is not None else {}


def connect_streams(task: Task, option: Any = True) -> None:
    """Start capturing the streams ``option`` (an ``auto_connect_streams`` value) asks for into ``task``."""
    options = streams_option(option)
    if os.environ.get(_AGENT_STREAMS_ENV) == "1" or not any(options.values()):
        return
    with _state.lock:
        if _state.capture is not None:
            _state.capture.stop()
            _state.capture = None
        _state.capture = _Capture(task, options)


def disconnect_streams(task: Task | None = None) -> None:
    """Stop capturing (for ``task``, or whatever task is captured); restores the streams."""
    with _state.lock:
        capture = _state.capture
        if capture is None or (task is not None and capture.task is not task):
            return
        _state.capture = None
        if capture.pid == os.getpid():
            capture.stop()


def sync(task: Task | None = None) -> None:
    """Wait until everything printed so far is in ``task``'s buffers (no-op when not capturing)."""
    capture = _state.capture
    if capture is not None and (task is None or capture.task is task):
        capture.sync()


def connect(task: Task, streams: Any = None, frameworks: Any = None) -> None:
    """``Task.init``: capture streams and hook matplotlib per ``task``'s settings (or the values given)."""
    settings = task._data.get("settings") or {}
    streams = settings.get("auto_connect_streams", True) if streams is None else streams
    frameworks = settings.get("auto_connect_frameworks", True) if frameworks is None else frameworks
    connect_streams(task, streams)
    connect_matplotlib(task, frameworks)


def disconnect(task: Task | None = None) -> None:
    """``Task._finish``: stop capturing and stop reporting figures for ``task``."""
    disconnect_matplotlib(task)
    disconnect_streams(task)


# -- logging: ClearML's Handler.format hook -------------------------------------------------------------------------
_original_format: Callable[..., str] | None = None  # logging.Handler.format before the patch


def _format(self: logging.Handler, record: logging.LogRecord) -> str:
    original = _original_format
    text = original(self, record) if original is not None else (self.formatter or logging.Formatter()).format(record)
    capture = _state.capture
    if capture is not None:
        try:
            capture.on_log(self, record, text)
        except Exception:  # noqa: BLE001 - logging must never raise because of us
            pass
    return text


def _patch_logging() -> None:
    global _original_format
    with _state.lock:
        if logging.Handler.format is _format:
            return
        _original_format = logging.Handler.format
        logging.Handler.format = _format  # type: ignore[method-assign]


def _unpatch_logging() -> None:
    with _state.lock:
        if logging.Handler.format is _format and _original_format is not None:
            logging.Handler.format = _original_format  # type: ignore[method-assign]


# -- process hooks -----------------------------------------------------------------------------------------------
_real_exit = os._exit
_exit_hooked = False


def _exit(code: int) -> None:
    """``os._exit`` that first drains the console pipes of the capturing process (their bytes would be lost)."""
    capture = _state.capture
    if capture is not None and capture.pid == os.getpid():
        try:
            capture.stop(timeout=2.0)
        except BaseException:  # noqa: BLE001
            pass
    _real_exit(code)


def _install_exit_hook() -> None:
    global _exit_hooked
    if not _exit_hooked:
        _exit_hooked = True
        os._exit = _exit  # type: ignore[assignment]


def _after_fork_in_child() -> None:
    """A forked child writes into the parent's pipe (the parent reports it); the child reports nothing itself."""
    capture = _state.capture
    _state.lock = threading.RLock()
    if capture is not None:
        _state.capture = None
        capture.logging = False
        for tee in capture.streams.values():
            if isinstance(tee, _PythonTee):
                object.__setattr__(tee.stream, "_lines", None)
        if console_writer is capture.console_writer:
            _set_console_writer(None)
    _mpl.task = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# -- matplotlib ----------------------------------------------------------------------------------------------------
class _Mpl:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.task: Task | None = None
        self.patched: set[str] = set()
        self.local = threading.local()
        self.untitled = -1
        self.titles: dict[str, tuple[int, int]] = {}  # title -> (iteration, times reported at it)
        self.reported: weakref.WeakSet = weakref.WeakSet()


_mpl = _Mpl()
_MPL_MODULES = ("matplotlib.figure", "matplotlib.pyplot")


def connect_matplotlib(task: Task, option: Any = True) -> None:
    """Report figures shown or saved by the script into ``task`` (if ``option`` allows matplotlib)."""
    from fstrack.capture.frameworks import should_connect

    if not should_connect(option, "matplotlib"):
        return
    with _mpl.lock:
        _mpl.task = task
    _mpl_hook.apply()


def disconnect_matplotlib(task: Task | None = None) -> None:
    with _mpl.lock:
        if task is None or _mpl.task is task:
            _mpl.task = None
            _mpl.titles.clear()


def _mpl_task() -> Task | None:
    task = _mpl.task
    if task is None or getattr(task, "_closed", False) or getattr(_mpl.local, "busy", False):
        return None
    return task


def _patch_mpl(name: str, module: Any) -> None:
    with _mpl.lock:
        if name in _mpl.patched:
            return
        try:
            if name == "matplotlib.figure":
                figure_class = module.Figure
                figure_class.savefig = _wrap(figure_class.savefig, _after_savefig)
                figure_class.show = _wrap(figure_class.show, None, before=_before_figure_show)
            else:
                original = module.show
                wrapped = _wrap(original, None, before=_before_show)
                module.show = wrapped
                pylab: Any = sys.modules.get("matplotlib.pylab")  # a third-party module we patch
                if pylab is not None and getattr(pylab, "show", None) is original:
                    pylab.show = wrapped
            _mpl.patched.add(name)
        except Exception as exc:  # noqa: BLE001 - an unusual matplotlib: figures are just not reported
            terminal.warn(f"fstrack: could not hook {name} for automatic figure reporting: {exc}", stacklevel=3)


def _wrap(original: Callable, after: Callable[..., None] | None, before: Callable[..., None] | None = None) -> Callable:
    if getattr(original, "__fstrack_original__", None) is not None:
        return original

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if before is not None and _mpl.task is not None:
            _guarded(before, *args, **kwargs)
        result = original(*args, **kwargs)
        if after is not None and _mpl.task is not None:
            _guarded(after, *args, **kwargs)
        return result

    wrapper.__fstrack_original__ = original  # type: ignore[attr-defined]
    return wrapper


def _guarded(hook: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    task = _mpl_task()
    if task is None:
        return
    _mpl.local.busy = True
    try:
        hook(task, *args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - reporting must never break the user's plot
        terminal.warn(
            f"fstrack: could not report a matplotlib figure: {type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=4
        )
    finally:
        _mpl.local.busy = False


def _after_savefig(task: Task, figure: Any, *args: Any, **kwargs: Any) -> None:
    target = args[0] if args else kwargs.get("fname")
    if not isinstance(target, (str, os.PathLike)):
        return  # a file object (often a renderer's own buffer): not a saved figure file
    stem = os.path.splitext(os.path.basename(os.fspath(target)))[0]
    _report_figure(task, figure, stem if isinstance(stem, str) else None)


def _before_figure_show(task: Task, figure: Any, *args: Any, **kwargs: Any) -> None:
    if figure.stale or figure not in _mpl.reported:
        _report_figure(task, figure, None)


def _before_show(task: Task, *args: Any, **kwargs: Any) -> None:
    from matplotlib import _pylab_helpers

    for manager in list(_pylab_helpers.Gcf.get_all_fig_managers()):
        figure = manager.canvas.figure
        if figure.stale or figure not in _mpl.reported:
            _report_figure(task, figure, None)


def _figure_title(figure: Any) -> str:
    suptitle = getattr(figure, "_suptitle", None)
    text = suptitle.get_text() if suptitle is not None else ""
    if not text:
        for axes in getattr(figure, "axes", []):
            text = axes.get_title() or ""
            if text:
                break
    if not text and getattr(figure, "texts", None):
        text = figure.texts[0].get_text()
    return text.strip()


def _report_figure(task: Task, figure: Any, fallback: str | None) -> None:
    from fstrack.capture.monitor import script_iteration

    iteration = script_iteration(task)
    title = _figure_title(figure) or fallback
    with _mpl.lock:
        if not title:
            _mpl.untitled += 1
            title = f"untitled {_mpl.untitled % 100:02d}"
        else:
            last, count = _mpl.titles.get(title, (None, -1))
            count = count + 1 if last == iteration else 0
            _mpl.titles[title] = (iteration, count)
            if count:
                title = f"{title}/{count}"
    as_image = any(getattr(axes, "images", None) for axes in getattr(figure, "axes", []))
    task.get_logger().report_matplotlib_figure(
        title, "plot image" if as_image else "plot", figure, iteration=iteration, report_image=as_image
    )
    _mpl.reported.add(figure)
    try:
        figure.stale = False  # rendering restores dpi/colours, which marks it stale: it is what was reported
    except Exception:  # noqa: BLE001
        pass


_mpl_hook = AfterImport(_MPL_MODULES, _patch_mpl, done=lambda name: name in _mpl.patched)


def _set_console_writer(writer: Callable[[str], None] | None) -> None:
    global console_writer
    console_writer = writer
