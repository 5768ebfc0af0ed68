"""Access control and response hardening for the UI, as one ASGI middleware.

* **Token.** When the server has a token (always, unless it is bound to a loopback address), every request
  must carry it: ``?token=`` in the URL (the server then sets an HttpOnly, SameSite=Strict cookie so the
  pages' own requests carry it), the ``fstrack_token`` cookie, or ``Authorization: Bearer <token>``.
* **Host check.** Without a token the server answers only requests addressed to a loopback name, so a web
  page on another site cannot reach it through DNS rebinding.
* **Writes** (any method but GET/HEAD) need the ``X-Requested-With: fstrack`` header, which a cross-site
  page cannot send without a CORS pre-flight the server never grants, and an ``Origin``, when present,
  equal to the server's own. ``read_only`` refuses them all.
* **Headers.** ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` and a strict
  ``Content-Security-Policy`` (no inline script, nothing from other origins) on every response that does
  not set a stricter one itself (store objects are served with ``sandbox``).
"""

from __future__ import annotations

import hmac
import json
import secrets
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

TOKEN_COOKIE = "fstrack_token"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "media-src 'self'; frame-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'self'"
)
#: Store content served inline runs in an opaque origin, with no script.
OBJECT_CSP = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'"
_SAFE_METHODS = frozenset({"GET", "HEAD"})


def new_token() -> str:
    """A random token (48 hex digits) for a server that is reachable from other machines."""
    return secrets.token_hex(24)


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_NAMES or host.startswith("127.")


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header[: host_header.find("]") + 1]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class Guard:
    """The ASGI middleware described in the module text."""

    def __init__(self, app: Any, *, token: str | None, read_only: bool, check_host: bool):
        self.app = app
        self.token = token
        self.read_only = read_only
        self.check_host = check_host

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        set_cookie = None
        if self.check_host and not is_loopback(_host_name(host)):
            await _refuse(
                send,
                403,
                f"this server answers only loopback names, not Host {host!r} (start it with --token to allow any)",
            )
            return
        if self.token is not None:
            from_query = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token") or [None])[0]
            cookie = SimpleCookie(headers.get("cookie", ""))
            supplied = [from_query, cookie[TOKEN_COOKIE].value if TOKEN_COOKIE in cookie else None]
            auth = headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                supplied.append(auth[7:].strip())
            if not any(s is not None and hmac.compare_digest(s.encode(), self.token.encode()) for s in supplied):
                await _refuse(send, 401, "a token is required: open the URL fstrack ui printed (with ?token=...)")
                return
            if from_query is not None:
                set_cookie = f"{TOKEN_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
        method = scope.get("method", "GET")
        if method not in _SAFE_METHODS:
            if self.read_only:
                await _refuse(send, 403, "this UI is read-only (fstrack ui --read-only)")
                return
            origin = headers.get("origin")
            if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
                await _refuse(send, 403, f"cross-origin write refused (Origin {origin!r}, Host {host!r})")
                return
            if headers.get("x-requested-with") != "fstrack":
                await _refuse(send, 403, "writes need the header X-Requested-With: fstrack")
                return

        async def send_hardened(message: dict) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
                if b"content-security-policy" not in present:
                    extra.append((b"content-security-policy", APP_CSP.encode()))
                if set_cookie:
                    extra.append((b"set-cookie", set_cookie.encode()))
                message = dict(message, headers=[*message.get("headers", []), *extra])
            await send(message)

        await self.app(scope, receive, send_hardened)


async def _refuse(send: Any, status: int, reason: str) -> None:
    body = json.dumps({"error": reason}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
