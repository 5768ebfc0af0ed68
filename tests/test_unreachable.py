"""A store that cannot be reached fails a command with one line naming the endpoint, never hangs it (issue 13).

Two real endpoints on 127.0.0.1: a port nobody listens on (connections refused) and a socket that listens but
never accepts or answers (the kernel completes the handshake, then nothing comes back: a paused server).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest
from workers.common import fstrack_command

pytest.importorskip("s3fs")

#: Generous hang bound for a loaded 2-core machine (measured: ~2 s refused, ~43 s silent; minutes before).
BOUND = 150


@pytest.fixture
def silent_endpoint():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


@pytest.fixture
def refusing_endpoint():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # bound, never listened: connections are refused
    return f"http://127.0.0.1:{port}"


def _ls(endpoint: str, tmp_path) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "HOME": str(tmp_path)}
    started = time.monotonic()
    result = subprocess.run(
        [*fstrack_command(), "ls", "--url", "s3://bucket/team", "-o", f"endpoint_url={endpoint}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=BOUND + 60,
    )
    return result, time.monotonic() - started


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["refusing_endpoint", "silent_endpoint"])
def test_ls_against_an_unreachable_endpoint_fails_in_bounded_time(kind, request, tmp_path):
    endpoint = request.getfixturevalue(kind)
    result, seconds = _ls(endpoint, tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and endpoint in lines[0], result.stderr
    assert seconds < BOUND, f"fstrack ls took {seconds:.0f} s against {endpoint}"
