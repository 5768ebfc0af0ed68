"""Lock-free work queues made of files in the store.

Layout (see spec/queues.md):

* ``index/queues/<encode_name(name)>``: ``{"name": str, "id": str, "created": float}``; the id is the
  first 32 hex digits of blake3("queue:" + name).
* ``queues/<queue id>/entries/<entry>``: one file per enqueued task, ``{"task": id, "enqueued": float}``.
  Entry names are ``<time in ns, 20 digits>-<16 hex>``: they sort in enqueue order (FIFO; across
  machines, as far as their clocks agree).
* ``queues/<queue id>/claimed/<entry>``: created by the store's exactly-once claim
  (:meth:`fstrack.store.backends.base.Backend.claim`): the one process whose claim succeeds owns the entry, whether
  it is a worker starting the task or ``dequeue`` withdrawing it. An entry is pending iff it exists and
  its claimed key does not.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fstrack.errors import FstrackError, InvalidNameError
from fstrack.store.backends.base import STAGING_DIR
from fstrack.store.objects import hash_bytes, new_token, pack, unpack
from fstrack.store.refs import encode_name
from fstrack.store.store import Store

QUEUE_INDEX = "index/queues"
QUEUES_DIR = "queues"
#: Entry names (new_entry_name); a listing may hold other names: S3 servers (SeaweedFS) list an emptied
#: prefix's own folder marker as a name, which must not be taken for an entry.
_ENTRY_NAME = re.compile(r"[0-9]{20}-[0-9a-f]{16}")


class QueueNotFoundError(FstrackError, LookupError):
    """No queue with the given id exists."""


def queue_id(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidNameError(f"queue name must be a non-empty string, got {name!r}")
    return hash_bytes(b"queue:" + name.encode("utf-8", "surrogatepass"))[:32]


@dataclass(frozen=True)
class Claim:
    """A queue entry this process took."""

    queue: str
    entry: str
    task_id: str
    enqueued: float


class Queues:
    """The queues of one store."""

    def __init__(self, store: Store):
        self.store = store
        self.backend = store.backend
        self._known: set[str] = set()

    # -- queue records -------------------------------------------------------------------
    def ensure(self, name: str) -> str:
        """Create the queue ``name`` if new; returns its id."""
        qid = queue_id(name)
        if qid not in self._known:
            record = {"name": name, "id": qid, "created": time.time()}
            self.backend.create(f"{QUEUE_INDEX}/{encode_name(name)}", pack(record))
            self._known.add(qid)
        return qid

    def all(self) -> list[dict[str, Any]]:
        """Every queue, sorted by name."""
        keys = [f"{QUEUE_INDEX}/{n}" for n in self.backend.list(QUEUE_INDEX)]
        return sorted((unpack(d) for d in self.backend.read_many(keys).values()), key=lambda q: q["name"])

    def resolve(
        self, queue_name: str | None = None, queue_id_: str | None = None, *, create: bool = False
    ) -> dict[str, Any]:
        """The record of a queue given by name (created on first use if ``create``) or by id."""
        if (queue_name is None) == (queue_id_ is None):
            raise ValueError(f"give exactly one of queue_name or queue_id, got {queue_name!r} and {queue_id_!r}")
        if queue_name is not None:
            if create:
                return {"name": queue_name, "id": self.ensure(queue_name)}
            qid = queue_id(queue_name)
        else:
            assert queue_id_ is not None  # exactly one of the two was given
            qid = queue_id_
        for record in self.all():
            if record["id"] == qid:
                return record
        raise QueueNotFoundError(
            f"no queue {queue_name or queue_id_!r} in store {self.store.url!r} "
            f"(queues: {', '.join(q['name'] for q in self.all()) or 'none'})"
        )

    # -- entries -------------------------------------------------------------------------
    @staticmethod
    def new_entry_name() -> str:
        return f"{time.time_ns():020d}-{new_token()[:16]}"

    def push(self, qid: str, task_id: str, entry: str) -> None:
        """Add the pending entry ``entry`` (from :meth:`new_entry_name`) for ``task_id``."""
        data = pack({"task": task_id, "enqueued": time.time()})
        if not self.backend.create(f"{QUEUES_DIR}/{qid}/entries/{entry}", data):
            raise FstrackError(f"queue entry {entry} already exists")  # 64 random bits: never in practice

    def _entries(self, qid: str) -> list[str]:
        return [e for e in self.backend.list(f"{QUEUES_DIR}/{qid}/entries") if _ENTRY_NAME.fullmatch(e)]

    def pending(self, qid: str) -> list[str]:
        """Names of the entries not yet claimed, oldest first."""
        entries = self._entries(qid)
        if not entries:
            return []
        claimed = set(self.backend.list(f"{QUEUES_DIR}/{qid}/claimed"))
        return [e for e in entries if e not in claimed]

    def claim(self, qid: str, entry: str) -> Claim | None:
        """Take ``entry`` exactly once; None if another process took it first."""
        data = self.backend.claim(f"{QUEUES_DIR}/{qid}/entries/{entry}", f"{QUEUES_DIR}/{qid}/claimed/{entry}")
        if data is None:
            return None
        payload = unpack(data)
        return Claim(qid, entry, payload["task"], payload["enqueued"])

    def claims(self, qid: str, *, window: int = 1) -> Iterator[Claim]:
        """Claim pending entries one at a time, for as long as the caller asks and the queue has any.

        Each round lists the queue once and walks every ``window``-th entry from a random offset below
        ``window``, oldest first. Several workers with the same window mostly walk different entries, so
        few claims are lost to races, and the order stays FIFO within the window (strict FIFO for a
        ``window`` of 1). The next round lists again, picking up what others left and what was added.
        """
        while True:
            pending = self._entries(qid)
            if not pending:
                return
            for entry in pending[random.randrange(max(1, window)) :: max(1, window)]:
                taken = self.claim(qid, entry)
                if taken is not None:
                    yield taken

    # -- the store's clock ---------------------------------------------------------------
    def store_now(self) -> float:
        """The store's current time (the modification time of a file written now), so that leases and
        heartbeats written by other machines are judged without trusting this machine's clock."""
        probe = f"{STAGING_DIR}/clock-{new_token()}"
        self.backend.replace(probe, b"")
        try:
            return self.backend.info(probe).mtime
        finally:
            self.backend.delete(probe)
