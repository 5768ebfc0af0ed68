"""What S3, GCS and Azure share: create-only by a conditional write, claims by claim files."""

from __future__ import annotations

import random
import time
from urllib.parse import urlsplit

from fstrack.store.backends.base import Backend
from fstrack.store.objects import new_token


class ObjectStoreBackend(Backend):
    """A cloud object store with conditional writes (S3 If-None-Match, GCS ifGenerationMatch=0,
    Azure If-None-Match: *). Claims are create-only claim files: ``mv`` there is copy+delete.

    Create-only is relied on for small writes (ref entries, claims, markers), which always go in one
    request. Large objects may be uploaded in parts, where some servers do not check the condition;
    that is harmless because an object's name is the hash of its bytes: racing writers write the same.
    """

    #: How many times a create is retried on a transient "conditional request conflict".
    conflict_retries = 10
    #: Seconds one small write (a create, a replace) may take in all, the client's own retries included (two
    #: attempts of a 5 s connect and a 5 s reply by default). The client's timeouts bound reads, but a write to an
    #: endpoint that accepts and never answers was seen to wait forever in aiobotocore (issue 13): this is
    #: fsspec's own bound on the whole call.
    write_deadline = 20.0
    #: What the filesystem raises when a request got no answer: the endpoint refused the connection, did not
    #: answer in time, or cut it off (each backend adds its SDK's own types).
    transport_errors: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)

    def endpoint(self) -> str:
        """Where requests go, as ``scheme://host[:port]``."""
        raise NotImplementedError

    def unreachable(self, error: BaseException) -> str | None:
        chain = list(_chain(error))
        if not any(isinstance(e, self.transport_errors) for e in chain):
            return None
        if any(isinstance(e, ConnectionRefusedError) for e in chain):
            what = "refused the connection"
        elif any(isinstance(e, TimeoutError) or "timeout" in type(e).__name__.lower() for e in chain):
            what = "did not answer in time"
        else:
            what = "could not be reached"
        return f"endpoint {self.endpoint()} {what} ({type(error).__name__})"

    def create(self, key: str, data: bytes) -> bool:
        for attempt in range(self.conflict_retries):
            try:
                self._create_once(self.path(key), data)
                return True
            except FileExistsError:
                return False
            except OSError as exc:
                if self._is_precondition_failure(exc):
                    return False
                if not self._is_transient_conflict(exc) or attempt == self.conflict_retries - 1:
                    raise
            time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
        raise AssertionError("unreachable")

    def _create_once(self, path: str, data: bytes) -> None:
        self.fs.pipe_file(path, data, mode="create", timeout=self.write_deadline)

    def replace(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(self.path(key), data, timeout=self.write_deadline)

    @staticmethod
    def _is_precondition_failure(exc: OSError) -> bool:
        return _error_code(exc) in (412, "PreconditionFailed")

    @staticmethod
    def _is_transient_conflict(exc: OSError) -> bool:
        return _error_code(exc) in (409, "ConditionalRequestConflict", "OperationAborted")

    def claim(self, key: str, claimed_key: str) -> bytes | None:
        try:
            data = self.read(key)
        except FileNotFoundError:
            return None
        token = new_token().encode()
        # Most lost races are visible before writing; a failed conditional write can be slow (seconds on
        # some S3 servers), a lookup is not. The conditional create below still decides.
        won = False
        if not self.exists(claimed_key):
            won = self.create(claimed_key, token)
            if not won:  # a retried request whose first attempt won is answered "exists": the token tells
                try:
                    won = self.read(claimed_key) == token
                except FileNotFoundError:
                    won = False
        try:
            self.delete(key)  # taken either way: the winner, or a loser tidying up after a winner that died
        except OSError:
            pass  # a leftover entry is skipped by readers (it has a claimed key)
        return data if won else None


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: no user, password, path or query (any of which may hold a secret)."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    host = parts.hostname or "?"
    try:
        port = parts.port
    except ValueError:
        port = None
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and the exceptions it was raised from or while handling, outermost first."""
    chain: list[BaseException] = []
    seen: BaseException | None = error
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return chain


def _error_code(exc: BaseException) -> int | str | None:
    """The HTTP status or service error code behind a filesystem error (botocore keeps it on the cause)."""
    for seen in _chain(exc):
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            code = (response.get("Error") or {}).get("Code")
            if code:
                return str(code)
            status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            if status:
                return int(status)
        for attribute in ("status_code", "status", "code"):
            value = getattr(seen, attribute, None)
            if isinstance(value, int) and 100 <= value < 600:
                return value
    return None
