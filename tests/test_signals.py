"""A failing store never hangs a script: signals reach the main thread (issue 13, item 14).

The kernel hands a process-directed signal (Ctrl-C, SIGTERM) to any thread that does not block it; Python runs
the handler only in the main thread, and a main thread asleep in ``time.sleep`` is woken only if the signal
landed on it. So every thread fstrack (or a library it imports, such as pyarrow) starts must block them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/task")

SCRIPT = """
import json, os, threading, time
from fstrack import Task
task = Task.init("signals", "threads")
task.get_logger().report_scalar("loss", "train", 1.0, 0)
task.flush()
task.get_reported_scalars()
time.sleep(0.5)  # the background threads are all up
main = threading.main_thread().native_id
masks = {}
for tid in os.listdir("/proc/self/task"):
    status = open(f"/proc/self/task/{tid}/status").read()
    blocked = int(next(l for l in status.splitlines() if l.startswith("SigBlk")).split()[1], 16)
    masks[open(f"/proc/self/task/{tid}/comm").read().strip() + "/" + tid] = (int(tid) == main, blocked)
print("MASKS", json.dumps(masks), flush=True)
task.close()
"""


def test_only_the_main_thread_takes_process_signals(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "FSTRACK_URL": str(tmp_path / "store"), "FSTRACK_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("FSTRACK_TASK_ID", None)
    result = subprocess.run(
        [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    masks = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("MASKS"))[6:])
    assert len(masks) > 2, masks
    wanted = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
    open_to_signals = [name for name, (is_main, blocked) in masks.items() if not is_main and blocked & wanted != wanted]
    assert not open_to_signals, f"threads that could swallow Ctrl-C/SIGTERM: {open_to_signals}"
    assert [name for name, (is_main, blocked) in masks.items() if is_main and blocked & wanted] == []
