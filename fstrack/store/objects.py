"""Object ids, hashing and the msgpack document encoding.

Every object in a store is named by the blake3 hash of its bytes (64 lowercase hex
digits). Objects are of two kinds, told apart only by how they are referenced:

* a *document* is a msgpack value; it may reference further objects,
* a *blob* is opaque bytes (an Arrow segment, an artifact file, an image).

Inside documents, references are msgpack extension values (code 1 for a document,
code 2 for a blob, 32 raw digest bytes) so that integrity checks and garbage
collection can find every reference without knowing any schema.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO

import blake3
import msgpack

from fstrack.errors import InvalidNameError, check_text

HEX_DIGITS = 64
DOC_EXT = 1
BLOB_EXT = 2
_HEX = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


class ObjectId(str):
    """The blake3 hex digest naming an object; subclasses say what kind of object."""

    __slots__ = ()
    ext_code: int

    def __new__(cls, value: str) -> ObjectId:
        if not isinstance(value, str) or not _HEX.fullmatch(value):
            raise InvalidNameError(f"object id must be {HEX_DIGITS} lowercase hex digits, got {value!r}")
        return super().__new__(cls, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __copy__(self) -> ObjectId:
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, Any]) -> ObjectId:
        return self


class DocId(ObjectId):
    """Id of a msgpack document object, which may reference further objects."""

    __slots__ = ()
    ext_code = DOC_EXT


class BlobId(ObjectId):
    """Id of an opaque blob object."""

    __slots__ = ()
    ext_code = BLOB_EXT


_ID_TYPES: dict[int, type[ObjectId]] = {DOC_EXT: DocId, BLOB_EXT: BlobId}


def hash_bytes(data: bytes | bytearray | memoryview) -> str:
    """The blake3 hex digest of ``data``."""
    return blake3.blake3(data).hexdigest()


def hash_stream(stream: BinaryIO, sink: BinaryIO | None = None) -> tuple[str, int]:
    """Hash a stream in 1 MiB chunks, copying it to ``sink`` if given; returns (digest, size)."""
    hasher = blake3.blake3()
    size = 0
    while chunk := stream.read(_CHUNK):
        hasher.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink.write(chunk)
    return hasher.hexdigest(), size


def _default(value: Any) -> Any:
    if isinstance(value, ObjectId):
        if type(value) is ObjectId:
            raise TypeError(
                f"an untyped ObjectId ({value}) cannot be stored: use DocId (a document) or BlobId (a blob)"
            )
        return msgpack.ExtType(value.ext_code, bytes.fromhex(value))
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    raise TypeError(
        f"cannot store a value of type {type(value).__name__} ({value!r:.80}); "
        "expected None, bool, int, float, str, bytes, list, tuple, dict or an object id"
    )


def _ext_hook(code: int, data: bytes) -> Any:
    id_type = _ID_TYPES.get(code)
    if id_type is None or len(data) != HEX_DIGITS // 2:
        return msgpack.ExtType(code, data)
    return id_type(data.hex())


def pack(document: Any) -> bytes:
    """Encode a document as msgpack (object ids become extension values). Map keys must be strings
    (spec/store.md §5): a key of another type raises TypeError naming it; text that is not valid Unicode is an
    :class:`UnstorableTextError` naming it."""
    _check_keys(document)
    try:
        data: bytes = msgpack.packb(document, default=_default, strict_types=True, use_bin_type=True)
    except UnicodeEncodeError as exc:
        check_text(exc.object if isinstance(exc.object, str) else str(exc.object), "text")
        raise
    return data


def _check_keys(document: Any) -> None:
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise TypeError(
                        f"cannot store a map key of type {type(key).__name__} ({key!r:.80}): "
                        "map keys must be strings (convert them, e.g. str(key))"
                    )
                if isinstance(item, (dict, list, tuple)):
                    stack.append(item)
        elif isinstance(value, (list, tuple)):
            stack.extend(item for item in value if isinstance(item, (dict, list, tuple)))


def unpack(data: bytes) -> Any:
    """Decode a msgpack document; references come back as :class:`DocId`/:class:`BlobId`."""
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)


def iter_links(document: Any) -> Iterator[ObjectId]:
    """Every object id referenced anywhere inside a decoded document."""
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, ObjectId):
            yield value
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def new_token() -> str:
    """A random 32-hex-digit token (task ids, writer ids)."""
    return uuid.uuid4().hex
