"""``fstrack ui``: the web UI over any store (the top layer: it reads and writes through everything below it).

:func:`serve` runs the app of :mod:`fstrack.ui.app` with uvicorn. It binds 127.0.0.1 by default; any other
address requires a token (one is generated and printed in the URL, as Jupyter does, unless given).
"""

from __future__ import annotations

import socket
import sys
from typing import Any, TextIO

from fstrack.ui.security import is_loopback, new_token


def check_options(port: Any, token: str | None) -> None:
    """Refuse a port outside 0..65535 or an empty token (before anything else is looked at)."""
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer in 0..65535, got {port!r}")
    if token is not None and not token.strip():
        raise ValueError("token must not be empty")


def serve(
    url: str,
    storage_options: dict[str, Any] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    read_only: bool = False,
    out: TextIO = sys.stdout,
) -> None:
    """Serve the UI of the store at ``url`` until interrupted; prints the URL to open (nothing is opened)."""
    import uvicorn

    from fstrack.store.store import public_url
    from fstrack.ui.app import create_app

    check_options(port, token)
    loopback = is_loopback(host)
    if token is None and not loopback:
        token = new_token()
    app = create_app(url, storage_options, token=token, read_only=read_only, check_host=token is None)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted connections: no 40 ms stalls
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)  # connections made as soon as the URL is printed wait for the server instead of failing
    bound_port = sock.getsockname()[1]
    shown_host = host if loopback else (socket.gethostname() if host in ("0.0.0.0", "::") else host)
    shown_host = f"[{shown_host}]" if ":" in shown_host else shown_host
    link = f"http://{shown_host}:{bound_port}/" + (f"?token={token}" if token else "")
    print(
        f"fstrack ui: serving {public_url(app.app.state.view.db.store.url)} at {link}"
        + (" (read-only)" if read_only else ""),
        file=out,
        flush=True,
    )
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])
