"""Refs: key validation, encoding of user-chosen names, sequences, heads and compare-and-swap."""

from __future__ import annotations

import unicodedata

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fstrack.errors import InvalidNameError
from fstrack.store.objects import BlobId, hash_bytes
from fstrack.store.refs import MAX_COMPONENT, Refs, check_key, encode_name
from fstrack.store.store import open_store

HOSTILE_NAMES = [
    "..",
    ".",
    "/",
    "//",
    "../../etc/passwd",
    "a/b",
    "a/../b",
    "\x00",
    "a\x00b",
    "\x00" * 3,
    "x" * 10_000,
    "x" * 10_001,
    "y" * 129,
    "\u00e9",
    "e\u0301",
    "A",
    "a",
    "AA",
    "aa",
    "Aa",
    "ǅ",
    "ﬁ",
    "fi",
    "Ｆｕｌｌ",
    "full",
    "日本語",
    "日本",
    "🙂",
    "\ud83d",
    "\ud83d\ude42",
    "~",
    "~x",
    "x~",
    "-",
    "-x",
    "_",
    "_x",
    " ",
    "  ",
    "\t",
    "\n",
    "name with spaces",
    "name-with-spaces",
    "CON",
    "con",
    "nul",
    "a.",
    "a..",
    ".a",
    "00000000000000000001",
    "1",
    "\u202e",
    "\ufeffbom",
    "my run",
    "My Run",
    "my-run",
    "my_run",
    "my.run",
    "my/run",
    "my\\run",
    "*",
    "?",
    "[x]",
    "%2F",
    "%2f",
]


# -- check_key -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "key",
    [
        "a",
        "tasks/abc",
        "a.b/c_d/e~f/g-h",
        "_x",
        "9",
        "x" * MAX_COMPONENT,
        "a/b/c/d/e/f",
        "0" * 19,
        "0" * 21,
        "a..b",
        "a.",
    ],
)
def test_check_key_accepts_valid_keys(key):
    assert check_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "..",
        ".",
        "/x",
        "x/",
        "a//b",
        "a/../b",
        "a/./b",
        "../a",
        "A",
        "tasks/Abc",
        "x" * (MAX_COMPONENT + 1),
        "a/" + "x" * (MAX_COMPONENT + 1),
        "a b",
        "a\x00b",
        "a\\b",
        "~a",
        "-a",
        ".a",
        "é",
        "a:b",
        "a*",
        "a?",
        "0" * 20,
        "a/00000000000000000001",
        "a\n",
    ],
)
def test_check_key_rejects_invalid_keys(key):
    with pytest.raises(InvalidNameError) as info:
        check_key(key)
    assert repr(key) in str(info.value)


@pytest.mark.parametrize("key", [None, 1, b"abc", ["a"]])
def test_check_key_rejects_non_strings(key):
    with pytest.raises(InvalidNameError):
        check_key(key)


# -- encode_name -----------------------------------------------------------------------------------
@given(st.text(min_size=1))
@settings(max_examples=500, deadline=None)
def test_encode_name_of_any_string_is_one_valid_key_component(name):
    component = encode_name(name)
    assert check_key(component) == component
    assert "/" not in component and len(component) <= 81
    slug, tilde, digest = component.rpartition("~")
    assert tilde and "~" not in slug and digest == hash_bytes(name.encode("utf-8", "surrogatepass"))[:32]
    assert encode_name(name) == component  # deterministic


@given(st.lists(st.text(min_size=1), min_size=2, max_size=30, unique=True))
@settings(max_examples=300, deadline=None)
def test_encode_name_is_injective_on_distinct_names(names):
    components = [encode_name(n) for n in names]
    assert len(set(components)) == len(names)


@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20))
@settings(max_examples=300, deadline=None)
def test_encode_name_separates_case_and_unicode_forms(name):
    variants = {
        name,
        name.upper(),
        name.lower(),
        name.swapcase(),
        unicodedata.normalize("NFC", name),
        unicodedata.normalize("NFD", name),
        unicodedata.normalize("NFKC", name),
    }
    assert len({encode_name(v) for v in variants}) == len(variants)


def test_encode_name_on_hostile_names():
    components = {}
    for name in HOSTILE_NAMES:
        component = encode_name(name)
        assert check_key(component) == component, f"{name!r} -> {component!r}"
        assert len(component) <= MAX_COMPONENT
        assert component not in (".", "..") and "/" not in component and "\x00" not in component
        assert component not in components, f"{name!r} and {components.get(component)!r} collide"
        components[component] = name
    # the pairs the spec singles out
    assert encode_name("\u00e9") != encode_name("e\u0301")  # NFC vs NFD
    assert encode_name("A") != encode_name("a")
    assert encode_name("x" * 10_000) != encode_name("x" * 10_001)


@pytest.mark.parametrize(
    "name, component",
    [
        ("My Run", "my-run~5571b0647a8571171b8a8e4e150f7641"),
        ("Résumé — v2.0", "resume-v2.0~ecb6ae452e433ee42647a09365ab9edc"),
        ("a/b\x00c", "a-b-c~1a68ecbd70fa043df078e5191b603e8e"),
        (".hidden", "hidden~f8c9ff5d199a9b89241e79f69d9869fe"),
        ("..", "_~ee7fc3886dda7d9af8dd50700eb0e958"),
        ("日本語", "_~b4c93ae12a924052348244286280921d"),
        ("Ｆｕｌｌｗｉｄｔｈ", "fullwidth~8a44c25eaa5621c88164e859cdb4791b"),
    ],
)
def test_encode_name_matches_the_spec_examples(name, component):
    assert encode_name(name) == component


@pytest.mark.parametrize("bad", ["", None, 3, b"bytes"])
def test_encode_name_refuses_non_names(bad):
    with pytest.raises(InvalidNameError):
        encode_name(bad)


def test_hostile_names_stay_inside_their_prefix(store_location):
    """Every hostile name gets its own sequence under refs/projects/, and nothing lands elsewhere."""
    store = open_store(store_location.url, **store_location.storage_options)
    refs = Refs(store)
    names = HOSTILE_NAMES[:40]
    for i, name in enumerate(names):
        assert refs.append(f"projects/{encode_name(name)}/log", {"i": i}) == 1
    keys = [e.key for e in store.backend.walk("")]
    outside = [k for k in keys if not (k.startswith("refs/projects/") or k == "fstrack.json" or k.startswith("tmp/"))]
    assert not outside, f"keys outside refs/projects/: {outside[:5]}"
    assert len(store.backend.list("refs/projects")) == len(names)
    for i, name in enumerate(names):
        assert refs.entries(f"projects/{encode_name(name)}/log") == [(1, {"i": i})]


# -- sequences -------------------------------------------------------------------------------------
@pytest.fixture
def refs(store_location):
    return Refs(open_store(store_location.url, **store_location.storage_options))


def test_empty_sequence(refs):
    assert refs.head("empty/seq") is None
    assert refs.entries("empty/seq") == []
    assert refs.entries("empty/seq", after=5) == []
    assert refs.seqs("empty/seq") == []


def test_append_and_entries_with_after(refs):
    values = [{"step": i, "blob": BlobId(hash_bytes(b"%d" % i))} for i in range(1, 13)]
    for i, value in enumerate(values, start=1):
        assert refs.append("runs/log", value) == i
    assert refs.seqs("runs/log") == list(range(1, 13))
    assert refs.entries("runs/log") == list(enumerate(values, start=1))
    assert refs.entries("runs/log", after=0) == list(enumerate(values, start=1))
    assert refs.entries("runs/log", after=9) == [(10, values[9]), (11, values[10]), (12, values[11])]
    assert refs.entries("runs/log", after=12) == []
    assert refs.entries("runs/log", after=100) == []
    assert type(refs.entries("runs/log", after=11)[0][1]["blob"]) is BlobId
    assert refs.head("runs/log") == (12, values[11])
    # entry names are 20 zero-padded digits, so byte order is position order
    assert refs.backend.list("refs/runs/log") == [str(i).zfill(20) for i in range(1, 13)]


def test_entries_are_token_value_pairs(refs):
    refs.append("fmt/log", "value")
    raw = refs.backend.read("refs/fmt/log/00000000000000000001")
    assert raw[:3] == b"\x92\xc4\x10"
    token, value = msgpack.unpackb(raw)
    assert len(token) == 16 and value == "value"


def test_update_applies_a_function_to_the_head(refs):
    seen = []

    def bump(value):
        seen.append(value)
        return {"n": (value or {"n": 0})["n"] + 1}

    assert refs.update("task/head", bump) == (1, {"n": 1})
    assert refs.update("task/head", bump) == (2, {"n": 2})
    assert refs.head("task/head") == (2, {"n": 2})
    assert seen == [None, {"n": 1}]
    assert [v for _, v in refs.entries("task/head")] == [{"n": 1}, {"n": 2}]


def test_separate_sequences_do_not_interfere(refs):
    refs.append("a/log", 1)
    refs.append("a/log2", 2)
    refs.append("a/log/sub", 3)  # a sequence below another sequence's directory
    assert refs.entries("a/log") == [(1, 1)]
    assert refs.entries("a/log2") == [(1, 2)]
    assert refs.entries("a/log/sub") == [(1, 3)]
    assert refs.keys("a") == ["log", "log2"]


def test_cached_head_update_after_another_writer_moved_on(store_location):
    """A Refs instance caches the head it wrote; another writer (another instance, another process
    in real life) advances the head; the stale-cached update must still land on top, not be lost."""
    first = Refs(open_store(store_location.url, **store_location.storage_options))
    second = Refs(open_store(store_location.url, **store_location.storage_options))
    increment = lambda v: (v or 0) + 1  # noqa: E731

    assert first.update("cas/counter", increment) == (1, 1)  # first caches head 1
    assert second.update("cas/counter", increment) == (2, 2)
    assert second.update("cas/counter", increment) == (3, 3)
    calls = []

    def tracked(value):
        calls.append(value)
        return increment(value)

    assert first.update("cas/counter", tracked) == (4, 4)
    assert calls == [1, 3], "the update must be recomputed from the fresh head after losing to the stale cache"
    assert second.update("cas/counter", increment) == (5, 5)  # second's cache (3) is stale too
    assert [v for _, v in first.entries("cas/counter")] == [1, 2, 3, 4, 5]
    assert first.head("cas/counter") == second.head("cas/counter") == (5, 5)


@pytest.mark.parametrize("moved", [2, 4, 9])
def test_lost_race_catches_up_by_reading_not_listing(store_location, moved):
    """After losing a race a writer reads the positions after the winner's entry one by one (a few reads)
    instead of listing the sequence; when many entries were added meanwhile it lists."""
    store = open_store(store_location.url, **store_location.storage_options)
    stale, other = Refs(store), Refs(open_store(store_location.url, **store_location.storage_options))
    increment = lambda v: (v or 0) + 1  # noqa: E731
    assert stale.update("cas/counter", increment) == (1, 1)
    for _ in range(moved):
        other.update("cas/counter", increment)
    listed = []
    original_list = store.backend.list
    store.backend.list = lambda *args, **kwargs: listed.append(args) or original_list(*args, **kwargs)
    assert stale.update("cas/counter", increment) == (moved + 2, moved + 2)
    assert len(listed) == (0 if moved < 5 else 1), listed
    assert [v for _, v in other.entries("cas/counter")] == list(range(1, moved + 3))


def test_try_append_needs_positions_from_one(refs):
    with pytest.raises(ValueError):
        refs.try_append("x/log", 0, "v")
    assert refs.try_append("x/log", 1, "v1") is True
    assert refs.try_append("x/log", 1, "other") is False
    assert refs.entries("x/log") == [(1, "v1")]


@pytest.mark.parametrize("key", ["", "../escape", "Upper/case", "a//b", "x/00000000000000000001", "a/./b"])
def test_refs_refuse_invalid_keys_before_writing(refs, key):
    for call in (
        lambda: refs.append(key, 1),
        lambda: refs.head(key),
        lambda: refs.entries(key),
        lambda: refs.update(key, lambda v: 1),
    ):
        with pytest.raises(InvalidNameError):
            call()
    assert refs.backend.list("refs") == []


def test_update_whose_function_raises_writes_nothing(refs):
    refs.append("fail/head", 1)

    def boom(value):
        raise RuntimeError(f"refusing to change {value}")

    with pytest.raises(RuntimeError, match="refusing to change 1"):
        refs.update("fail/head", boom)
    assert refs.entries("fail/head") == [(1, 1)]
    assert refs.update("fail/head", lambda v: v + 1) == (2, 2)
