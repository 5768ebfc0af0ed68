"""Object ids, hashing and the msgpack document encoding (no store involved)."""

from __future__ import annotations

import collections
import datetime
import decimal
import io

import msgpack
import pytest

from fstrack.errors import InvalidNameError
from fstrack.store.objects import BlobId, DocId, ObjectId, hash_bytes, hash_stream, iter_links, pack, unpack

# Official BLAKE3 test vectors (test_vectors.json): input = bytes(i % 251 for i in range(n)).
BLAKE3_VECTORS = {
    0: "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
    1: "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
    1024: "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7",
}
ABC = "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"  # blake3(b"abc")

D1 = DocId("11" * 32)
B1 = BlobId("22" * 32)
B2 = BlobId(hash_bytes(b"blob two"))


def _vector_input(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


# -- hashing ------------------------------------------------------------------------------------
@pytest.mark.parametrize("length", sorted(BLAKE3_VECTORS))
def test_hash_bytes_matches_blake3_test_vectors(length):
    assert hash_bytes(_vector_input(length)) == BLAKE3_VECTORS[length]


def test_hash_of_known_values():
    assert hash_bytes(b"") == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    assert hash_bytes(b"abc") == ABC
    assert hash_bytes(bytearray(b"abc")) == ABC
    assert hash_bytes(memoryview(b"xabcx")[1:4]) == ABC


@pytest.mark.parametrize("length", [0, 1, 1024, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 17])
def test_hash_stream_equals_hash_bytes_and_copies_to_sink(length):
    data = (_vector_input(251) * (length // 251 + 1))[:length]
    sink = io.BytesIO()
    digest, size = hash_stream(io.BytesIO(data), sink)
    assert (digest, size) == (hash_bytes(data), length)
    assert sink.getvalue() == data
    assert hash_stream(io.BytesIO(data)) == (hash_bytes(data), length)
    if length in BLAKE3_VECTORS:
        assert digest == BLAKE3_VECTORS[length]


# -- object ids ---------------------------------------------------------------------------------
def test_object_id_accepts_64_lowercase_hex_digits():
    oid = ObjectId(ABC)
    assert oid == ABC and isinstance(oid, str)
    assert DocId(ABC) == BlobId(ABC) == ABC
    assert repr(DocId(ABC)) == f"DocId('{ABC}')"
    assert repr(BlobId(ABC)) == f"BlobId('{ABC}')"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "a" * 63,
        "a" * 65,
        ABC.upper(),
        ABC[:-1] + "g",
        ABC + "\n",
        " " + ABC[1:],
        "../" + ABC[3:],
        ABC[:2] + "/" + ABC[3:],
        "0x" + ABC[2:],
    ],
)
@pytest.mark.parametrize("kind", [ObjectId, DocId, BlobId])
def test_object_id_rejects_anything_else(kind, bad):
    with pytest.raises(InvalidNameError, match="64 lowercase hex digits") as info:
        kind(bad)
    assert repr(bad) in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad", [None, 12, ABC.encode(), bytearray(ABC.encode())])
def test_object_id_rejects_non_strings(bad):
    with pytest.raises(InvalidNameError):
        ObjectId(bad)


# -- documents ----------------------------------------------------------------------------------
def test_pack_unpack_round_trip_with_links():
    document = {
        "none": None,
        "true": True,
        "false": False,
        "ints": [0, 1, -1, 127, 128, -33, 2**31, -(2**31), 2**63 - 1, 2**64 - 1, -(2**63)],
        "float": 1.5,
        "neg": -0.0,
        "big": 1e300,
        "text": "héllo wörld ✓ 日本語",
        "empty": "",
        "bytes": b"\x00\xff raw",
        "nobytes": b"",
        "doc": D1,
        "blob": B1,
        "nested": {"deeper": [B2, {"again": D1}]},
        "list": [1, "two", [3.0]],
        "emptylist": [],
        "emptymap": {},
    }
    decoded = unpack(pack(document))
    assert decoded == document
    assert type(decoded["doc"]) is DocId and type(decoded["blob"]) is BlobId
    assert type(decoded["nested"]["deeper"][0]) is BlobId
    assert type(decoded["nested"]["deeper"][1]["again"]) is DocId
    assert type(decoded["bytes"]) is bytes and type(decoded["text"]) is str
    assert decoded["true"] is True and decoded["false"] is False and decoded["none"] is None


@pytest.mark.parametrize("key", [3, 1.5, b"raw", None, (1, 2)])
def test_map_keys_other_than_strings_are_refused_by_writers_and_read_by_readers(key):
    """store.md §5: writers write string keys only (pack names the bad key); readers accept any key type."""
    with pytest.raises(TypeError, match="map keys must be strings"):
        pack({"outer": [{key: "value"}]})
    if not isinstance(key, tuple):
        assert unpack(msgpack.packb({key: "value"}, use_bin_type=True)) == {key: "value"}


def test_links_are_ext_types_with_raw_digest_bytes():
    """A document link is ext 1, a blob link ext 2, each 32 raw digest bytes (ext 8: c7 20 0x)."""
    assert pack(D1) == b"\xc7\x20\x01" + bytes.fromhex(D1)
    assert pack(B1) == b"\xc7\x20\x02" + bytes.fromhex(B1)
    raw = msgpack.unpackb(pack([D1, B1]), raw=False)
    assert raw == [msgpack.ExtType(1, bytes.fromhex(D1)), msgpack.ExtType(2, bytes.fromhex(B1))]


def test_an_untyped_object_id_is_refused_with_a_type_error():
    """A plain ObjectId has no kind (document or blob), so it cannot be written as a link."""
    with pytest.raises(TypeError, match="ObjectId"):
        pack({"link": ObjectId(ABC)})


def test_tuples_become_lists():
    decoded = unpack(pack({"t": (1, (2, 3), [4, (5,)]), "e": ()}))
    assert decoded == {"t": [1, [2, 3], [4, [5]]], "e": []}
    assert type(decoded["t"]) is list and type(decoded["t"][1]) is list


def test_subclasses_of_plain_types_are_stored_as_the_plain_type():
    class Text(str):
        pass

    class Count(int):
        pass

    class Mapping(dict):
        pass

    decoded = unpack(pack(Mapping(a=Text("x"), b=Count(3), c=collections.OrderedDict(z=1))))
    assert decoded == {"a": "x", "b": 3, "c": {"z": 1}}
    assert type(decoded["a"]) is str and type(decoded["b"]) is int and type(decoded["c"]) is dict


def test_packing_is_deterministic_for_equal_documents():
    a = {"x": [1, 2.5, "s", D1], "y": {"z": B1}}
    b = {"x": [1, 2.5, "s", DocId(str(D1))], "y": {"z": BlobId(str(B1))}}
    assert pack(a) == pack(b)


class _Custom:
    pass


@pytest.mark.parametrize(
    "value, type_name",
    [
        ({1, 2}, "set"),
        (frozenset([1]), "frozenset"),
        (_Custom(), "_Custom"),
        (datetime.datetime(2024, 1, 1), "datetime"),
        (decimal.Decimal("1.5"), "Decimal"),
        (complex(1, 2), "complex"),
        (object(), "object"),
    ],
)
def test_unsupported_types_raise_type_error_naming_the_type(value, type_name):
    for document in (value, {"k": value}, [1, [value]], (value,)):
        with pytest.raises(TypeError) as info:
            pack(document)
        assert type_name in str(info.value), str(info.value)


def test_unknown_ext_types_and_short_links_are_not_links():
    odd = msgpack.packb([msgpack.ExtType(7, b"abc"), msgpack.ExtType(1, b"short"), msgpack.ExtType(2, b"\x00" * 31)])
    decoded = unpack(odd)
    assert decoded == [msgpack.ExtType(7, b"abc"), msgpack.ExtType(1, b"short"), msgpack.ExtType(2, b"\x00" * 31)]
    assert list(iter_links(decoded)) == []


def test_unpack_rejects_garbage():
    for garbage in (b"", b"\xc1", b"\x92\x01", b"\xc7\x20\x01" + b"\x00" * 10):
        with pytest.raises(ValueError):
            unpack(garbage)


# -- links --------------------------------------------------------------------------------------
def test_iter_links_finds_every_link_in_values_and_keys():
    d2 = DocId(hash_bytes(b"d2"))
    document = {
        "a": D1,
        "b": [B1, [B2, {"c": D1}]],
        D1: "as a key",
        (): None,
        "plain": ["11" * 32, "not a link"],
        "bytes": bytes.fromhex(B1),
    }
    del document[()]
    document["deep"] = [[[[[[d2]]]]]]
    found = collections.Counter(iter_links(unpack(pack(document))))
    assert found == collections.Counter({D1: 3, B1: 1, B2: 1, d2: 1})
    assert all(type(link) in (DocId, BlobId) for link in found)
    kinds = {link: type(link) for link in iter_links(unpack(pack(document)))}
    assert kinds[B1] is BlobId and kinds[d2] is DocId


def test_iter_links_of_scalars_and_empty_containers():
    for value in (None, 1, "x", b"y", [], {}, [[], {}]):
        assert list(iter_links(value)) == []
    assert list(iter_links(D1)) == [D1]
