"""auto_connect_streams and the matplotlib hook (fstrack.capture.console), mostly with real script processes.

A script's stdout/stderr is captured at the file-descriptor level (child processes included) and still
reaches the original destination; under pytest (replaced ``sys.stdout``) capture degrades to a Python-level
tee. Every exit path (normal, exception, sys.exit, SIGTERM, mark_completed, os._exit) ends without losing
or reordering a line, and SIGKILL keeps what was flushed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import fstrack
from fstrack.capture import console
from fstrack.records import metrics
from fstrack.sdk import current
from fstrack.sdk.task import Task
from fstrack.store.fsck import fsck

PREAMBLE = """
import json, logging, os, subprocess, sys, threading, time
from fstrack import Task
"""


@pytest.fixture
def loc(location_factory, tmp_path, monkeypatch):
    location = location_factory("local")
    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    fstrack.set_store(location.url, **location.storage_options)
    current.main = None
    yield location
    if current.main is not None:
        current.main.close()
    current.main = None


def _env(loc, tmp_path, extra: dict | None = None) -> dict:
    env = {
        **os.environ,
        **loc.env,
        "FSTRACK_URL": loc.url,
        "FSTRACK_STORAGE_OPTIONS": json.dumps(loc.storage_options),
        "FSTRACK_CACHE_DIR": str(tmp_path / "cache"),
    }
    for name in ("FSTRACK_TASK_ID", "FSTRACK_AGENT_STREAMS", console.MODE_ENV, "PYTHONUNBUFFERED"):
        env.pop(name, None)
    return {**env, **(extra or {})}


def _script(tmp_path, code: str, name: str = "script.py") -> str:
    path = tmp_path / name
    path.write_text(PREAMBLE + textwrap.dedent(code))
    return str(path)


def run(
    loc, tmp_path, code: str, *args: str, env: dict | None = None, timeout: float = 60, **popen
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, _script(tmp_path, code), *args],
        env=_env(loc, tmp_path, env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        **popen,
    )


def start(loc, tmp_path, code: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, _script(tmp_path, code), *args],
        env=_env(loc, tmp_path, env),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def task_id_of(output: str) -> str:
    return next(line.split()[1] for line in output.splitlines() if line.startswith("TASK "))


def rows(task_id: str) -> list[tuple[str, int, str]]:
    """(stream, level, message) of every stored console row, in order."""
    task = Task.get_task(task_id=task_id)
    table = metrics.read_kind(task._db.store, task._db.refs, task_id, None, "console")
    return list(
        zip(table.column("stream").to_pylist(), table.column("level").to_pylist(), table.column("message").to_pylist())
    )


def lines_of(task_id: str, stream: str) -> list[str]:
    return [message for s, _, message in rows(task_id) if s == stream]


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# -- a subprocess-heavy, multi-threaded script ------------------------------------------------------------------
BUSY = """
task = Task.init("console", "busy", auto_resource_monitoring=False)
print("TASK", task.id, flush=True)
def worker(k):
    for i in range(100):
        sys.stdout.write(f"thread {k} line {i}\\n")
        sys.stdout.flush()
threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
for i in range(15):
    print(f"main {i}", flush=True)
    subprocess.run(["echo", f"echo {i}"], check=True)
    print(f"err {i}", file=sys.stderr, flush=True)
    subprocess.run(["sh", "-c", f"echo sh-err {i} >&2"], check=True)
subprocess.run([sys.executable, "-c", "import sys; print('py child'); print('py child err', file=sys.stderr)"])
os.system("echo from os.system")
for t in threads:
    t.join()
print("unterminated last line", end="")
"""


def test_threads_and_subprocesses_land_in_order_per_stream(loc, tmp_path):
    t0 = time.monotonic()
    result = run(loc, tmp_path, BUSY)
    assert result.returncode == 0, result.stderr
    task_id = task_id_of(result.stdout)
    out = lines_of(task_id, "stdout")
    err = lines_of(task_id, "stderr")
    # everything still reached the real stdout/stderr, and exactly that was stored, line for line
    assert out == result.stdout.split("\n"), (out, result.stdout)
    printed_err = [line for line in result.stderr.split("\n") if line]
    assert printed_err[: len(err)] == err  # (anything after: fstrack's own warnings after the task closed)
    assert all("fstrack" in line or line.startswith(" ") for line in printed_err[len(err) :])
    # per producer order: main thread and its sequential children strictly interleaved, each thread in order
    main = [line for line in out if line.startswith(("main ", "echo "))]
    assert main == [x for i in range(15) for x in (f"main {i}", f"echo {i}")]
    for k in range(4):
        assert [line for line in out if line.startswith(f"thread {k} ")] == [f"thread {k} line {i}" for i in range(100)]
    assert out[-3:] == ["py child", "from os.system", "unterminated last line"]
    assert [line for line in err if line.startswith(("err ", "sh-err "))] == [
        x for i in range(15) for x in (f"err {i}", f"sh-err {i}")
    ]
    assert "py child err" in err and any(line.startswith("fstrack Task:") for line in err)
    levels = {(s, level) for s, level, _ in rows(task_id)}
    assert levels == {("stdout", 20), ("stderr", 40)}
    assert fsck(Task.get_task(task_id=task_id)._db.store).ok
    print(f"busy script: {len(out) + len(err)} lines in {time.monotonic() - t0:.2f}s")


def test_forked_workers_are_captured_by_the_parent(loc, tmp_path):
    result = run(
        loc,
        tmp_path,
        """
        import multiprocessing
        task = Task.init("console", "fork", auto_resource_monitoring=False)
        def child(i):
            print(f"forked {i}", flush=True)
        ctx = multiprocessing.get_context("fork")
        procs = [ctx.Process(target=child, args=(i,)) for i in range(3)]
        for p in procs:
            p.start()
            p.join()
        print("TASK", task.id, flush=True)
        """,
    )
    assert result.returncode == 0, result.stderr
    out = lines_of(task_id_of(result.stdout), "stdout")
    assert out[:3] == ["forked 0", "forked 1", "forked 2"]


# -- exit paths --------------------------------------------------------------------------------------------------
EXITS = """
mode = sys.argv[1]
task = Task.init("console", "exit-" + mode, auto_resource_monitoring=False)
print("TASK", task.id, flush=True)
for i in range(200):
    print(f"line {i}")  # block-buffered: the exit path must flush it through the pipe
print("to stderr", file=sys.stderr)
subprocess.Popen(["sh", "-c", "sleep 1.5; echo late child"])  # still running when the script ends
if mode == "raise":
    raise RuntimeError("boom")
if mode == "exit":
    sys.exit(4)
if mode == "complete":
    task.mark_completed()
    print("NOT REACHED")
if mode == "os_exit":
    sys.stdout.flush()
    os._exit(0)
if mode == "sigterm":
    print("WAITING", flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("mode", ["ok", "raise", "exit", "complete", "os_exit", "sigterm"])
def test_every_exit_path_keeps_every_line_and_ends(loc, tmp_path, mode):
    t0 = time.monotonic()
    if mode == "sigterm":
        proc = start(loc, tmp_path, EXITS, mode)
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("WAITING"):
                break
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        out = "".join(lines) + out
        code = proc.returncode
    else:
        result = run(loc, tmp_path, EXITS, mode, timeout=30)
        out, err, code = result.stdout, result.stderr, result.returncode
    elapsed = time.monotonic() - t0
    expected_code = {"ok": 0, "raise": 1, "exit": 4, "complete": 0, "os_exit": 0, "sigterm": 128 + 15}[mode]
    assert code == expected_code, err
    printed = out.split("\n")
    assert [line for line in printed if line.startswith("line ")] == [f"line {i}" for i in range(200)]
    assert "late child" in printed  # a child still writing after close reaches the real stdout
    assert "NOT REACHED" not in out
    task_id = task_id_of(out)
    stored = lines_of(task_id, "stdout")
    if mode != "os_exit":  # os._exit skips the final flush of events (the lines are still printed)
        assert [line for line in stored if line.startswith("line ")] == [f"line {i}" for i in range(200)]
        assert "to stderr" in lines_of(task_id, "stderr")
        assert "late child" not in stored  # printed after the task closed
    if mode == "raise":
        assert "RuntimeError: boom" in lines_of(task_id, "stderr")
    if mode == "sigterm":
        assert Task.get_task(task_id=task_id).get_status() == "stopped"
    assert elapsed < 20


SIGKILL = """
task = Task.init("console", "sigkill", auto_resource_monitoring=False)
print("TASK", task.id, flush=True)
for i in range(100):
    print(f"before {i}", flush=True)
    subprocess.run(["echo", f"child {i}"]) if i % 10 == 0 else None
if sys.argv[1] == "explicit":
    task.flush()
    print("FLUSHED", flush=True)
else:
    print("PRINTED", flush=True)  # the background flush (every 2 s) stores the lines
for i in range(100000):
    print(f"after {i}", flush=True)
    time.sleep(0.01)
"""


@pytest.mark.parametrize("how", ["explicit", "background"])
def test_sigkill_keeps_what_was_flushed(loc, tmp_path, how):
    proc = start(loc, tmp_path, SIGKILL, how)
    task_id = None
    for line in proc.stdout:
        if line.startswith("TASK "):
            task_id = line.split()[1]
        if line.strip() in ("FLUSHED", "PRINTED"):
            break
    if how == "background":
        wait_for(lambda: "PRINTED" in lines_of(task_id, "stdout"), what="a background flush")
    proc.kill()
    proc.communicate(timeout=30)
    stored = lines_of(task_id, "stdout")
    expected = [f"before {i}" for i in range(100)]
    assert [line for line in stored if line.startswith("before ")] == expected
    assert [line for line in stored if line.startswith("child ")] == [f"child {i}" for i in range(0, 100, 10)]
    after = [line for line in stored if line.startswith("after ")]
    assert after == [f"after {i}" for i in range(len(after))]  # a prefix, never a gap
    assert fsck(Task.get_task(task_id=task_id)._db.store).ok


def test_flush_and_readers_see_what_was_just_printed(loc, tmp_path):
    result = run(
        loc,
        tmp_path,
        """
        task = Task.init("console", "ryw", auto_resource_monitoring=False)
        misses = 0
        for i in range(30):
            print(f"now {i}", flush=True)
            subprocess.run(["echo", f"echo {i}"])
            last = [m for m in task.get_reported_console_output(5) if m.startswith(("now", "echo"))]
            misses += last[-2:] != [f"now {i}", f"echo {i}"]  # (stderr rows may sit in between)
        print("TASK", task.id, "MISSES", misses, flush=True)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert "MISSES 0" in result.stdout


def test_report_text_prints_once_in_order_and_is_stored_once(loc, tmp_path):
    result = run(
        loc,
        tmp_path,
        """
        task = Task.init("console", "report", auto_resource_monitoring=False)
        print("TASK", task.id, flush=True)
        for i in range(20):
            print(f"a {i}")
            task.get_logger().report_text(f"b {i}")
            subprocess.run(["echo", f"c {i}"])
        """,
    )
    assert result.returncode == 0, result.stderr
    printed = [line for line in result.stdout.split("\n") if line[:2] in ("a ", "b ", "c ")]
    assert printed == [f"{x} {i}" for i in range(20) for x in "abc"]
    task_id = task_id_of(result.stdout)
    assert lines_of(task_id, "report") == [f"b {i}" for i in range(20)]
    assert [line for line in lines_of(task_id, "stdout") if line[:2] in ("a ", "b ", "c ")] == [
        f"{x} {i}" for i in range(20) for x in "ac"
    ]


def test_progress_bars_are_stored_as_they_finally_read(loc, tmp_path):
    result = run(
        loc,
        tmp_path,
        """
        task = Task.init("console", "progress", auto_resource_monitoring=False)
        print("TASK", task.id, flush=True)
        for i in range(101):
            sys.stderr.write(f"\\r{i:3d}%|{'#' * (i // 10):10s}|")
            sys.stderr.flush()
        sys.stderr.write("\\n")
        sys.stderr.write("\\x1b[Aredrawn line\\n")
        print("crlf line\\r")
        """,
    )
    assert result.returncode == 0, result.stderr
    task_id = task_id_of(result.stdout)
    assert lines_of(task_id, "stderr")[-2:] == ["100%|##########|", "redrawn line"]
    assert "crlf line" in lines_of(task_id, "stdout")


def test_pseudo_terminal_stays_a_terminal(loc, tmp_path):
    import fcntl
    import struct
    import termios

    script = _script(
        tmp_path,
        """
        task = Task.init("console", "pty", auto_resource_monitoring=False)
        print("TASK", task.id, os.isatty(1), sys.stderr.isatty(), os.get_terminal_size(1).columns, flush=True)
        subprocess.run(["sh", "-c", "test -t 1 && echo child sees a tty"])
        print("\\x1b[31mred\\x1b[0m", flush=True)
        """,
    )
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 123, 0, 0))
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    proc = subprocess.Popen(
        [sys.executable, script], stdin=slave, stdout=slave, stderr=slave, env=_env(loc, tmp_path), cwd=tmp_path
    )
    os.close(slave)
    data = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    os.close(master)
    assert proc.wait(timeout=30) == 0
    text = data.decode()
    assert "True True 123" in text and "child sees a tty" in text and "\x1b[31mred\x1b[0m" in text
    task_id = next(line.split()[1] for line in text.splitlines() if line.startswith("TASK"))
    stored = lines_of(task_id, "stdout")
    assert stored[1:] == ["child sees a tty", "\x1b[31mred\x1b[0m"]


# -- options ----------------------------------------------------------------------------------------------------------
LOGGING = """
option = json.loads(sys.argv[1])
early = logging.getLogger("early")
task = Task.init("console", "logging", auto_resource_monitoring=False, auto_connect_streams=option)
print("TASK", task.id, flush=True)
logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
logging.getLogger("app").info("info record")
early.warning("warning record")
logging.getLogger("app").error("error\\nspanning lines")
print("plain stderr", file=sys.stderr, flush=True)
"""


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (
            {"stdout": True, "stderr": True, "logging": True},
            {
                "stdout": ["TASK"],
                "stderr": ["plain stderr"],
                "logging": [
                    (20, "INFO:app:info record"),
                    (30, "WARNING:early:warning record"),
                    (40, "ERROR:app:error\nspanning lines"),
                ],
            },
        ),
        (
            {"stdout": True, "stderr": True},  # ClearML: logging arrives as a by-product of stderr
            {
                "stdout": ["TASK"],
                "stderr": [
                    "INFO:app:info record",
                    "WARNING:early:warning record",
                    "ERROR:app:error",
                    "spanning lines",
                    "plain stderr",
                ],
                "logging": [],
            },
        ),
        (
            {"logging": True},
            {
                "stdout": [],
                "stderr": [],
                "logging": [
                    (20, "INFO:app:info record"),
                    (30, "WARNING:early:warning record"),
                    (40, "ERROR:app:error\nspanning lines"),
                ],
            },
        ),
        ({"stdout": True}, {"stdout": ["TASK"], "stderr": [], "logging": []}),
        ({}, {"stdout": [], "stderr": [], "logging": []}),
        (False, {"stdout": [], "stderr": [], "logging": []}),
    ],
)
def test_auto_connect_streams_dict(loc, tmp_path, option, expected):
    result = run(loc, tmp_path, LOGGING, json.dumps(option))
    assert result.returncode == 0, result.stderr
    assert "INFO:app:info record" in result.stderr and "plain stderr" in result.stderr  # still printed
    stored = rows(task_id_of(result.stdout))
    by_stream = {s: [m for stream, _, m in stored if stream == s] for s in ("stdout", "stderr")}
    assert [m.split()[0] for m in by_stream["stdout"]] == expected["stdout"]
    assert [m for m in by_stream["stderr"] if not m.startswith("fstrack Task:")] == expected["stderr"]
    assert [(level, m) for stream, level, m in stored if stream == "logging"] == expected["logging"]


def test_agent_runs_are_not_captured_twice(loc, tmp_path):
    result = run(
        loc,
        tmp_path,
        """
        task = Task.init("console", "agent", auto_resource_monitoring=False)
        print("TASK", task.id, flush=True)
        """,
        env={"FSTRACK_AGENT_STREAMS": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert rows(task_id_of(result.stdout)) == []


def test_forced_python_level_capture(loc, tmp_path):
    result = run(
        loc,
        tmp_path,
        """
        from fstrack.capture import console
        task = Task.init("console", "python-level", auto_resource_monitoring=False)
        print("TASK", task.id, console.capture_modes(), flush=True)
        subprocess.run(["echo", "not captured at this level"])
        """,
        env={console.MODE_ENV: "python"},
    )
    assert result.returncode == 0, result.stderr
    assert "{'stdout': 'python', 'stderr': 'python'}" in result.stdout
    assert "not captured at this level" in result.stdout
    assert [m.split()[0] for m in lines_of(task_id_of(result.stdout), "stdout")] == ["TASK"]


def test_bad_option_raises():
    with pytest.raises(TypeError, match="auto_connect_streams"):
        console.streams_option("yes")
    with pytest.raises(ValueError, match="keys"):
        console.streams_option({"stdin": True})
    assert console.streams_option(True) == {"stdout": True, "stderr": True, "logging": False}
    assert console.streams_option({"stderr": 1}) == {"stdout": False, "stderr": True, "logging": False}


# -- in-process: pytest has replaced sys.stdout, so capture is a Python-level tee ----------------------------------
def test_under_pytest_capture_degrades_to_a_python_tee(loc, capsys):
    before_out, before_err = sys.stdout, sys.stderr
    task = Task.init(
        "console",
        "in-process",
        auto_resource_monitoring=False,
        auto_connect_streams={"stdout": True, "stderr": True, "logging": True},
    )
    assert console.capture_modes() == {"stdout": "python", "stderr": "python"}
    print("captured line")
    print("partial", end="")
    print(" and done")
    print("on stderr", file=sys.stderr)
    handler = logging.StreamHandler(sys.stderr)
    logging.getLogger("inproc").addHandler(handler)
    try:
        logging.getLogger("inproc").warning("logged once")
    finally:
        logging.getLogger("inproc").removeHandler(handler)
    task.get_logger().report_text("reported")
    task.close()
    assert (sys.stdout, sys.stderr) == (before_out, before_err)
    assert console.capture_modes() == {}
    print("after close")
    captured = capsys.readouterr()
    assert captured.out.split("\n")[:4] == ["captured line", "partial and done", "reported", "after close"]
    assert "on stderr" in captured.err and "logged once" in captured.err
    stored = rows(task.id)
    assert [m for s, _, m in stored if s == "stdout"] == ["captured line", "partial and done"]
    assert [m for s, _, m in stored if s == "stderr" and not m.startswith("fstrack Task:")] == ["on stderr"]
    assert [(level, m) for s, level, m in stored if s == "logging"] == [(30, "logged once")]
    assert [m for s, _, m in stored if s == "report"] == ["reported"]
    assert logging.Handler.format is console._original_format  # unpatched


def test_line_splitting_rules(monkeypatch):
    seen: list[str] = []
    lines = console._Lines(seen.append)
    for chunk in ["a", "b\nc", "d\n", "\r 1%", "\r 2%", "\r 3%\n", "x\r\n", "\n"]:
        lines.feed(chunk)
    assert seen == ["ab", "cd", " 3%", "x", ""]
    seen.clear()
    monkeypatch.setattr(console, "CR_FLUSH_SECONDS", 0.0)
    lines.feed("\r10%")
    lines.feed("\r20%")
    assert seen == ["10%", "20%"]  # a bar that is still being redrawn is stored as it reads, periodically
    lines.feed("\n")
    seen.clear()
    monkeypatch.setattr(console, "MAX_LINE", 4)
    lines.feed("0123456789")
    assert seen == ["0123", "4567"]
    lines.feed_bytes("é".encode()[:1])
    lines.feed_bytes("é".encode()[1:] + b"\n")
    assert seen[-1] == "89é"
    lines.feed("tail")
    lines.close()
    assert seen[-1] == "tail"


# -- matplotlib ----------------------------------------------------------------------------------------------------
MPL = """
if sys.argv[1] == "before":
    import matplotlib.pyplot as plt
option = json.loads(sys.argv[2])
task = Task.init("console", "mpl", auto_resource_monitoring=False, auto_connect_frameworks=option)
print("TASK", task.id, flush=True)
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
logger = task.get_logger()
for it in (1, 2):
    logger.report_scalar("loss", "train", 1.0 / it, iteration=it)
    plt.figure()
    plt.plot([0, 1, 2], [it, 0, it])
    plt.title("loss curve")
    plt.show()
    plt.show()  # nothing changed: not reported again
    plt.close("all")
fig, ax = plt.subplots()
ax.plot([1, 2, 3])
fig.savefig(os.path.join(os.getcwd(), "saved_curve.png"))
fig2, ax2 = plt.subplots()
ax2.imshow(np.eye(8))
ax2.set_title("an image")
fig2.savefig(os.path.join(os.getcwd(), "image.png"))
fig3, ax3 = plt.subplots()
ax3.plot([3, 2, 1])
plt.show()
plt.close("all")
task.flush()
plots = sorted((p["metric"], p["variant"], p["iter"]) for p in task.get_reported_plots(max_iterations=10))
samples = [(s["metric"], s["variant"], s["iter"]) for s in task.get_debug_samples("an image", "plot image")]
print("RESULT", json.dumps({"plots": plots, "samples": samples}), flush=True)
"""


@pytest.mark.parametrize("when", ["before", "after"])
def test_matplotlib_show_and_savefig_are_reported(loc, tmp_path, when):
    pytest.importorskip("matplotlib")
    result = run(loc, tmp_path, MPL, when, "true")
    assert result.returncode == 0, result.stderr
    assert "could not" not in result.stderr.replace("could not compact", ""), result.stderr
    found = json.loads(result.stdout.split("RESULT ", 1)[1])
    assert sorted(map(tuple, found["plots"])) == [
        ("loss curve", "plot", 1),
        ("loss curve", "plot", 2),
        ("saved_curve", "plot", 2),
        ("untitled 00", "plot", 2),
    ]
    assert found["samples"] == [["an image", "plot image", 2]]
    assert (tmp_path / "saved_curve.png").stat().st_size > 0  # the user's own file is still written


@pytest.mark.parametrize("option", [{"matplotlib": False}, False])
def test_matplotlib_not_hooked_when_turned_off(loc, tmp_path, option):
    pytest.importorskip("matplotlib")
    result = run(loc, tmp_path, MPL, "after", json.dumps(option))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.split("RESULT ", 1)[1]) == {"plots": [], "samples": []}


def test_without_matplotlib_nothing_happens(loc, tmp_path):
    result = run(
        loc,
        tmp_path,
        """
        sys.modules["matplotlib"] = None  # as if it were not installed
        task = Task.init("console", "no-mpl", auto_resource_monitoring=False)
        try:
            import matplotlib.pyplot
        except ImportError:
            print("TASK", task.id, "no matplotlib", flush=True)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert "no matplotlib" in result.stdout
