"""Refs: append-only sequences of small entries, built only from create-only writes.

A *sequence* lives under ``refs/<key>/`` and holds entries named by their position
as 20 zero-padded decimal digits (``00000000000000000001`` first). An entry is
created only after the previous one exists, so names sort in commit order and have
no gaps. The same structure serves as:

* an append-only log (:meth:`Refs.append`, :meth:`Refs.entries` with ``after=`` for
  incremental readers), and
* a compare-and-swap head (:meth:`Refs.head`, :meth:`Refs.update`): the head is the
  highest entry; to change it, create entry head+1. Losing that race means someone
  else moved first: reload and reapply.

An entry is a msgpack array ``[token, value]``: 16 random bytes unique to the write, then the
value document. The token lets a writer whose create was answered "exists" (a transport retry
of a request that had in fact succeeded) recognise its own entry.
"""

from __future__ import annotations

import os
import random
import re
import time
import unicodedata
from collections.abc import Callable
from typing import Any

from fstrack.errors import CorruptRefError, InvalidNameError, RefConflictError
from fstrack.store.objects import hash_bytes, pack, unpack
from fstrack.store.store import Store

REFS_DIR = "refs"
SEQ_DIGITS = 20
MAX_COMPONENT = 128
_COMPONENT = re.compile(r"[a-z0-9_][a-z0-9._~-]*")
_SEQ_NAME = re.compile(r"[0-9]{%d}" % SEQ_DIGITS)
_SLUG_UNSAFE = re.compile(r"[^a-z0-9._-]+")


def encode_name(name: str) -> str:
    """A key component for a user-chosen name (project, task or queue name).

    ``<slug>~<32 hex digits of blake3(name)>``: the slug keeps listings readable, the hash
    makes the component unique per exact name, so no name can escape its prefix or collide
    with another (whatever its case, unicode form, length or punctuation).
    """
    if not isinstance(name, str):
        raise InvalidNameError(f"a name must be a string, got {type(name).__name__} {name!r:.80}")
    if not name:
        raise InvalidNameError("a name must not be empty")
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = _SLUG_UNSAFE.sub("-", ascii_name).strip(".-")[:48].rstrip(".-") or "_"
    digest = hash_bytes(name.encode("utf-8", "surrogatepass"))[:32]
    return f"{slug}~{digest}"


def check_key(key: str) -> str:
    """Validate a ref key: ``/``-separated components of ``[a-z0-9._~-]`` not starting with ``.``/``-``,
    and none of 20 digits (those name sequence entries)."""
    parts = key.split("/") if isinstance(key, str) else [None]
    for part in parts:
        if (
            not isinstance(part, str)
            or len(part) > MAX_COMPONENT
            or not _COMPONENT.fullmatch(part)
            or _SEQ_NAME.fullmatch(part)
        ):
            raise InvalidNameError(
                f"ref key {key!r} has an invalid component {part!r}: expected 1-{MAX_COMPONENT} characters of "
                "a-z 0-9 . _ ~ - starting with a letter, digit or _, and not 20 digits "
                "(encode user names with encode_name)"
            )
    return key


def _seq_name(seq: int) -> str:
    return str(seq).zfill(SEQ_DIGITS)


def entry_value(data: bytes) -> Any:
    """The value of an encoded sequence entry (``[16-byte token, value]``); ValueError if malformed."""
    entry = unpack(data)
    if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], bytes) and len(entry[0]) == 16):
        raise ValueError(f"malformed ref entry: expected [16-byte token, value], got {entry!r:.80}")
    return entry[1]


class Refs:
    """The sequences of one store. Caches the last head it saw so uncontended updates cost one write."""

    def __init__(self, store: Store, *, max_attempts: int = 10_000):
        self.store = store
        self.backend = store.backend
        self.max_attempts = max_attempts
        self._heads: dict[str, tuple[int, bytes]] = {}  # key -> last (position, packed value) seen

    def _dir(self, key: str) -> str:
        return f"{REFS_DIR}/{check_key(key)}"

    def _decode(self, key: str, seq: int, data: bytes) -> Any:
        """The value of entry ``seq`` of ``key``; a malformed one is a CorruptRefError naming the entry."""
        try:
            return entry_value(data)
        except Exception as exc:
            raise CorruptRefError(
                f"ref entry {self._dir(key)}/{_seq_name(seq)} in store {self.store.url!r} does not decode "
                f"({type(exc).__name__}: {exc}); run fstrack fsck"
            ) from None

    # -- reading -----------------------------------------------------------------
    def seqs(self, key: str) -> list[int]:
        """Positions of every entry of a sequence, ascending."""
        return [int(name) for name in self.backend.list(self._dir(key)) if _SEQ_NAME.fullmatch(name)]

    def entries(self, key: str, after: int = 0) -> list[tuple[int, Any]]:
        """``(position, value)`` of the entries after position ``after``, in commit order.

        Stops before the first position missing from the listing: a listing racing a writer can show
        entry n+1 without entry n, and a caller resuming from the last position returned must not skip n.
        """
        wanted: list[int] = []
        for seq in self.seqs(key):
            if seq > after:
                if seq != after + len(wanted) + 1:
                    break
                wanted.append(seq)
        directory = self._dir(key)
        found = self.backend.read_many([f"{directory}/{_seq_name(s)}" for s in wanted])
        result = []
        for seq in wanted:
            data = found.get(f"{directory}/{_seq_name(seq)}")
            if data is None:
                break
            result.append((seq, self._decode(key, seq, data)))
        return result

    def head(self, key: str) -> tuple[int, Any] | None:
        """``(position, value)`` of the newest entry, or None for an empty sequence."""
        directory = self._dir(key)
        for seq in reversed(self.seqs(key)):
            try:
                data = self.backend.read(f"{directory}/{_seq_name(seq)}")
            except FileNotFoundError:  # pragma: no cover - entries are never deleted
                continue
            self._heads[key] = (seq, data)
            return seq, self._decode(key, seq, data)
        self._heads.pop(key, None)
        return None

    def keys(self, prefix: str) -> list[str]:
        """Names directly below ``refs/<prefix>/`` (sub-keys or sequences)."""
        return self.backend.list(self._dir(prefix))

    # -- writing -----------------------------------------------------------------
    def try_append(self, key: str, seq: int, value: Any) -> bool:
        """Create entry ``seq`` holding ``value``; False if it exists already (someone moved first).

        The caller must have seen entry ``seq - 1`` (or an empty sequence for ``seq == 1``).
        """
        if seq < 1:
            raise ValueError(f"sequence positions start at 1, got {seq}")
        data = pack([os.urandom(16), value])
        entry = f"{self._dir(key)}/{_seq_name(seq)}"
        created = self.backend.create(entry, data)
        if not created:
            try:
                there = self.backend.read(entry)
            except FileNotFoundError:
                there = None
            created = there == data  # our own write, answered "exists" on a retry
            if not created and there is not None:
                self._heads[key] = (seq, there)  # the winner's entry: the newest known, not always the head
                return False
        if created:
            self._heads[key] = (seq, data)
        return created

    def update(self, key: str, fn: Callable[[Any], Any]) -> tuple[int, Any]:
        """Apply ``fn(current value or None) -> new value`` atomically; returns (position, new value).

        ``fn`` may run several times (once per lost race) and must not have side effects.
        """
        lost = False
        for attempt in range(self.max_attempts):
            known = self._heads.get(key)
            if known is not None and lost:
                known = self._catch_up(key, *known)
            if known is None:
                current = self.head(key)
                seq, value = current if current is not None else (0, None)
            else:
                seq, value = known[0], self._decode(key, *known)
            new_value = fn(value)
            if self.try_append(key, seq + 1, new_value):
                return seq + 1, new_value
            lost = True
            if attempt:
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** min(attempt, 6))))
        raise RefConflictError(f"gave up updating ref {key!r} after {self.max_attempts} lost races")

    def _catch_up(self, key: str, seq: int, data: bytes, reads: int = 4) -> tuple[int, bytes] | None:
        """The head, found by reading the positions after entry ``seq`` (known to hold ``data``) one by one:
        after a lost race usually one or two reads, where listing a long sequence costs more. None when more
        than ``reads`` entries were added meanwhile (the caller lists instead)."""
        directory = self._dir(key)
        for _ in range(reads):
            try:
                newer = self.backend.read(f"{directory}/{_seq_name(seq + 1)}")
            except FileNotFoundError:
                return seq, data
            seq, data = seq + 1, newer
        self._heads.pop(key, None)
        return None

    def append(self, key: str, value: Any) -> int:
        """Append ``value`` to a log; returns its position."""
        return self.update(key, lambda _previous: value)[0]
