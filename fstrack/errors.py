"""Exceptions raised by fstrack. Every message names the bad value and what was expected."""

from __future__ import annotations


class FstrackError(Exception):
    """Base class of every error fstrack raises on purpose."""


class StoreError(FstrackError):
    """A store cannot be opened or used as asked."""


class UnsupportedBackendError(StoreError):
    """The URL's filesystem cannot provide the atomic create-only write fstrack relies on."""


class IncompatibleStoreError(StoreError):
    """The store was written in a format this version of fstrack cannot read."""


class ObjectNotFoundError(FstrackError, KeyError):
    """An object id names no object in the store."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class CorruptObjectError(FstrackError):
    """Stored bytes do not hash to the name they are stored under."""


class RefConflictError(FstrackError):
    """A compare-and-swap update of a ref kept losing races until it gave up."""


class InvalidNameError(FstrackError, ValueError):
    """A name or key component is not acceptable where it was used."""


class StoreLinkError(StoreError):
    """A key of a local store passes through a symbolic link (or names something that is not a regular file):
    fstrack follows no link inside a store (spec/store.md §2)."""


class CorruptRefError(FstrackError, ValueError):
    """A ref sequence entry does not decode; the message names the entry's key and the store."""


class UnstorableTextError(FstrackError, ValueError):
    """Text that cannot be encoded as UTF-8 (a lone surrogate, e.g. from bytes decoded with ``surrogateescape``)."""


def check_text(text: str, what: str) -> str:
    """``text``, or :class:`UnstorableTextError` naming it if it cannot be stored (is not encodable as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UnstorableTextError(
            f"{what} {text!r:.80} cannot be stored: it holds {text[exc.start : exc.end]!r} at position {exc.start}, "
            "which is not valid Unicode (a lone surrogate, as os.fsdecode makes of bytes that are not UTF-8); "
            "fstrack stores text as UTF-8"
        ) from None
    return text
