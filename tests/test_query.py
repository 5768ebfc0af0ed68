"""fstrack.records.query: ClearML's task query language over in-memory records."""

from __future__ import annotations

import enum
import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fstrack.records.query import (
    FILTER_KEYS,
    TASK_STATUSES,
    TASK_TYPES,
    fields_referenced,
    filter_records,
    get_field,
    name_matcher,
    project_matcher,
    sort_records,
    tags_matcher,
)

AND, ALL, OR, ANY, NOT = "__$and", "__$all", "__$or", "__$any", "__$not"


def record(n: int, **fields) -> dict:
    base = {
        "id": f"{n:032x}",
        "name": f"task {n}",
        "project": "proj",
        "type": "training",
        "status": "created",
        "status_message": "",
        "status_reason": "",
        "tags": [],
        "system_tags": [],
        "user": "alice",
        "parent": None,
        "comment": "",
        "created": float(n),
        "started": None,
        "completed": None,
        "last_update": float(n),
        "last_iteration": 0,
        "archived": False,
        "script": {"repository": "", "branch": "", "version_num": "", "entry_point": "", "working_dir": ""},
        "last_metrics": {},
    }
    base.update(fields)
    return base


def ids(records) -> list[int]:
    return [int(r["id"], 16) for r in records]


# -- get_field ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("name", "task 1"),
        ("script.repository", "git@x:y.git"),
        ("last_metrics.loss.total.last", 0.5),
        ("last_metrics.loss.total.nope", None),
        ("last_metrics.acc.total.last", None),
        ("name.length", None),  # a string has no fields
        ("nope", None),
        ("nope.deeper", None),
    ],
)
def test_get_field(path, expected):
    rec = record(
        1, script={"repository": "git@x:y.git"}, last_metrics={"loss": {"total": {"last": 0.5, "min": 0.1, "max": 1.0}}}
    )
    assert get_field(rec, path) == expected


# -- tags_matcher: the documented examples -----------------------------------------------------------

UNIVERSE = ("a", "b", "c", "d", "e", "f", "g")
DOC_EXAMPLES = [
    # Task.get_tasks docstring
    (
        [ALL, "a", "b", "c", OR, "d", NOT, "e", AND, OR, "f", "g"],
        lambda t: {"a", "b", "c"} <= t and ("d" in t or "e" not in t) and ("f" in t or "g" in t),
    ),
    ([ALL, "a", "b", "c", NOT, "d", NOT, "e"], lambda t: {"a", "b", "c"} <= t and not {"d", "e"} & t),
    # docs/clearml_sdk/task_sdk.md "Tag Filters"
    (["a", "b", "c"], lambda t: bool({"a", "b", "c"} & t)),
    ([AND, "a", "b", "c"], lambda t: {"a", "b", "c"} <= t),
    (["a", "b", AND, "c", "d"], lambda t: "a" in t or "b" in t or {"c", "d"} <= t),
    ([AND, OR, "a", "b", AND, "c", "d"], lambda t: ("a" in t or "b" in t) and {"c", "d"} <= t),
    # task_sdk.md: "tasks with tag `included_tag` or without tag `excluded_tag`"
    (["a", "-b"], lambda t: "a" in t or "b" not in t),
    # task_sdk.md claims NOT a AND b AND NOT c, contradicting its own "default operator is or" rule;
    # we follow the rule (its example is also missing a comma, making "__$notc" an unknown operator).
    ([NOT, "a", "b", NOT, "c"], lambda t: "a" not in t or "b" in t or "c" not in t),
    # more, by the same rules
    ([OR, "a", "b"], lambda t: "a" in t or "b" in t),
    ([ANY, "a", ALL, "b", "c"], lambda t: "a" in t or {"b", "c"} <= t),
    ([ALL, "-a", "-b"], lambda t: not {"a", "b"} & t),
    (["-a", "-b"], lambda t: "a" not in t or "b" not in t),
    ([AND, "a", OR, "-b", "c"], lambda t: "a" in t and ("b" not in t or "c" in t)),
    ([AND, "a", OR, OR, "b", "c"], lambda t: "a" in t and ("b" in t or "c" in t)),
]


@pytest.mark.parametrize(("tags", "meaning"), DOC_EXAMPLES)
def test_tags_documented_examples(tags, meaning):
    matches = tags_matcher(tags)
    for size in range(len(UNIVERSE) + 1):
        for present in itertools.combinations(UNIVERSE, size):
            assert matches(present) == meaning(set(present)), present


@pytest.mark.parametrize("tags", [None, [], ()])
def test_tags_empty_matches_all(tags):
    matches = tags_matcher(tags)
    assert matches([]) and matches(["x"]) and matches(None)


def test_tags_not_takes_next_item_literally():
    matches = tags_matcher([ALL, "a", NOT, "-x"])  # excludes the tag "-x" itself
    assert matches(["a", "x"]) and not matches(["a", "-x"])
    assert tags_matcher(["--x"])(["x"]) and not tags_matcher(["--x"])(["-x"])  # "--x" excludes "-x"


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ("a", "must be a list"),
        ({"a"}, "must be a list"),
        ([1], "invalid tag 1"),
        ([None], "invalid tag None"),
        ([""], "invalid tag ''"),
        (["-"], "invalid tag '-'"),
        ([ALL, "-"], "invalid tag '-'"),
        (["a", AND], "'__$and' ends"),
        ([ALL], "'__$all' ends"),
        (["a", NOT], "'__$not' ends"),
        ([NOT, OR, "a"], "'__$not' must be followed by a tag, not '__$or'"),
        ([NOT, NOT, "a"], "'__$not' must be followed by a tag, not '__$not'"),
        (["__$xyz", "a"], "unknown tag operator '__$xyz'"),
        (["__$nop", "a"], "unknown tag operator '__$nop'"),
        (["a", "__$notc"], "unknown tag operator '__$notc'"),
    ],
)
def test_tags_invalid(tags, message):
    with pytest.raises(ValueError, match="tags must be|tag operator|invalid tag") as info:
        tags_matcher(tags)
    assert message in str(info.value)
    assert "__$all" in str(info.value)  # names the allowed syntax


# -- tags_matcher against a reference evaluator ------------------------------------------------------


def reference_tags(tags: list[str], present: set[str]) -> bool | None:
    """Evaluate by building a Python boolean expression from the documented prose; None if invalid."""
    operators = {ALL: " and ", AND: " and ", OR: " or ", ANY: " or "}
    if tags and tags[-1] in (*operators, NOT):
        return None
    groups: list[tuple[str, list[str]]] = [(" or ", [])]
    pending_not = False
    for item in tags:
        if pending_not:
            if item in (*operators, NOT):
                return None
            groups[-1][1].append(f"({item!r} not in T)")
            pending_not = False
        elif item == NOT:
            pending_not = True
        elif item in operators:
            groups.append((operators[item], []))
        elif item.startswith("-"):
            if item == "-":
                return None
            groups[-1][1].append(f"({item[1:]!r} not in T)")
        else:
            groups[-1][1].append(f"({item!r} in T)")
    parts = [f"({joiner.join(terms)})" for joiner, terms in groups if terms]
    if not parts:
        return True
    outer = " and " if tags[0] in (ALL, AND) else " or "
    return eval(outer.join(parts), {"T": present})  # noqa: S307 - test-built expression


TOKENS = st.sampled_from(["a", "b", "c", "-a", "-b", "--a", "-", ALL, AND, OR, ANY, NOT])
PRESENT = st.sets(st.sampled_from(["a", "b", "c", "-a"]))


@settings(max_examples=600, deadline=None)
@given(st.lists(TOKENS, max_size=10), PRESENT)
def test_tags_match_reference(tags, present):
    expected = reference_tags(tags, present)
    if expected is None:
        with pytest.raises(ValueError):
            tags_matcher(tags)
    else:
        assert tags_matcher(tags)(present) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from("abc"), min_size=1, max_size=5), PRESENT)
def test_tags_exclusion_prefix_equals_not(names, present):
    for lead in ([], [ALL], [OR]):
        assert tags_matcher([*lead, *("-" + n for n in names)])(present) == tags_matcher(
            [*lead, *itertools.chain.from_iterable((NOT, n) for n in names)]
        )(present)


# -- name_matcher -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        (None, "anything", True),
        ("", "anything", True),
        ("train", "my training run", True),  # partial
        ("^train", "my training run", False),
        ("^my training run$", "my training run", True),  # exact
        ("^my training$", "my training run", False),
        ("Train", "my training run", False),  # case-sensitive, like ClearML's server
        ("run[0-9]+$", "run42", True),
        ("a.c", "abc", True),  # regex, not literal
        (r"a\.c", "abc", False),
        ("train", None, False),
    ],
)
def test_name_matcher(pattern, name, expected):
    assert name_matcher(pattern)(name) is expected


@pytest.mark.parametrize("pattern", ["(unclosed", "*x", "[a-"])
def test_name_matcher_invalid_regex(pattern):
    with pytest.raises(ValueError, match="invalid task name regular expression") as info:
        name_matcher(pattern)
    assert repr(pattern) in str(info.value) and "re.escape" in str(info.value)


def test_name_matcher_non_string():
    with pytest.raises(ValueError, match="got 3"):
        name_matcher(3)


# -- project_matcher ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sub", "project", "expected"),
    [
        (None, False, "a/b", True),
        ("", False, "a/b", True),
        ([], False, "a/b", True),
        ("a", False, "a", True),
        ("a", False, "a/b", False),  # ClearML: exact name, no subprojects
        ("a", False, "ab", False),  # not partial
        ("a", False, "A", False),  # case-sensitive
        ("a/b", False, "a/b", True),
        ("a/b", False, "a", False),
        (["x", "a/b"], False, "a/b", True),
        (("x", "y"), False, "a/b", False),
        ("a", True, "a", True),
        ("a", True, "a/b/c", True),
        ("a", True, "ab/c", False),
        ("a/b", True, "a", False),
        ("a", True, None, False),
        ("a", False, None, False),
        ("a.b", False, "axb", False),  # not a regex
    ],
)
def test_project_matcher(name, sub, project, expected):
    assert project_matcher(name, include_subprojects=sub)(project) is expected


@pytest.mark.parametrize("name", [3, ["a", 3], ["a", ""], {"a": 1}])
def test_project_matcher_invalid(name):
    with pytest.raises(ValueError, match="project_name"):
        project_matcher(name, include_subprojects=False)


# -- filter_records -----------------------------------------------------------------------------------

RECORDS = [
    record(
        1,
        name="train resnet",
        project="vision",
        tags=["best", "gpu"],
        status="completed",
        comment="Baseline run",
        script={"repository": "https://github.com/user/repo"},
        last_metrics={"loss": {"total": {"last": 0.3, "min": 0.2, "max": 0.9}}},
    ),
    record(
        2,
        name="train vit",
        project="vision/big",
        tags=["gpu"],
        status="failed",
        type="testing",
        user="bob",
        parent=f"{1:032x}",
        last_metrics={"loss": {"total": {"last": 0.1, "min": 0.1, "max": 0.8}}},
    ),
    record(
        3,
        name="eval resnet",
        project="vision",
        tags=["debug"],
        status="in_progress",
        archived=True,
        type="inference",
        comment="uses ResNet-50",
    ),
    record(
        4, name="data prep", project="data", tags=[], system_tags=["hidden"], status="completed", type="data_processing"
    ),
    record(
        5,
        name="train resnet",
        project="vision",
        tags=["best"],
        status="stopped",
        user="bob",
        script={"repository": "https://gitlab.com/other/repo"},
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, [5, 3, 2, 1]),  # newest first; hidden task 4 excluded
        ({"project_name": "vision"}, [5, 3, 1]),
        ({"project_name": ["vision", "data"]}, [5, 3, 1]),  # 4 is hidden
        ({"project_name": "vision/big"}, [2]),
        ({"project_name": "nope"}, []),
        ({"task_name": "resnet"}, [5, 3, 1]),
        ({"task_name": "^train resnet$"}, [5, 1]),
        ({"task_name": "^train"}, [5, 2, 1]),
        ({"tags": ["best"]}, [5, 1]),
        ({"tags": ["-gpu"]}, [5, 3]),
        ({"tags": [ALL, "best", "gpu"]}, [1]),
        ({"tags": [ALL, "gpu", NOT, "best"]}, [2]),
        ({"allow_archived": False}, [5, 2, 1]),
        ({"project_name": "vision", "task_name": "train", "tags": ["best"], "allow_archived": False}, [5, 1]),
        ({"task_ids": [f"{n:032x}" for n in (1, 4, 9)]}, [4, 1]),  # ids include hidden tasks
        ({"task_ids": f"{3:032x}"}, [3]),
        ({"task_ids": [f"{3:032x}"], "project_name": "data", "task_name": "zzz"}, [3]),  # ignored with ids
        ({"task_ids": [f"{3:032x}"], "allow_archived": False}, []),
        ({"task_ids": [f"{3:032x}"], "tags": ["gpu"]}, []),
        ({"task_ids": []}, [5, 3, 2, 1]),  # empty: no id filter, as in ClearML
        ({"limit": 2}, [5, 3]),
        ({"limit": 0}, []),
        ({"default_order": "created"}, [1, 2, 3, 5]),
        ({"default_order": None}, [1, 2, 3, 5]),  # input order
        ({"default_order": ["-status", "name"]}, [5, 3, 2, 1]),
    ],
)
def test_filter_records_arguments(kwargs, expected):
    assert ids(filter_records(RECORDS, **kwargs)) == expected


@pytest.mark.parametrize(
    ("task_filter", "expected"),
    [
        ({"status": ["completed"]}, [1]),
        ({"status": "completed"}, [1]),
        ({"status": ["completed", "failed"]}, [2, 1]),
        ({"status": []}, [5, 3, 2, 1]),  # an empty list filters nothing, as in ClearML
        ({"type": ["testing", "inference"]}, [3, 2]),
        ({"type": "training"}, [5, 1]),
        ({"user": "bob"}, [5, 2]),
        ({"user": ["alice"]}, [3, 1]),
        ({"parent": f"{1:032x}"}, [2]),
        ({"parent": [f"{1:032x}", f"{7:032x}"]}, [2]),
        ({"id": [f"{1:032x}", f"{4:032x}"]}, [4, 1]),  # an id filter includes hidden tasks
        ({"search_hidden": True}, [5, 4, 3, 2, 1]),
        ({"search_hidden": False}, [5, 3, 2, 1]),
        ({"system_tags": ["hidden"], "search_hidden": True}, [4]),
        ({"system_tags": ["-hidden"], "search_hidden": True}, [5, 3, 2, 1]),
        ({"tags": [ALL, "best", "-gpu"]}, [5]),
        ({"search_text": "resnet"}, [5, 3, 1]),  # name or comment
        ({"search_text": "RESNET-50"}, [3]),  # case-insensitive, comment
        ({"search_text": "baseline vit"}, [2, 1]),  # any term
        ({"search_text": f"{2:032x}"}, [2]),  # id
        ({"search_text": "  "}, [5, 3, 2, 1]),
        ({"_all_": {"fields": ["script.repository"], "pattern": "github.com/user"}}, [1]),
        ({"_all_": {"fields": ["script.repository"], "pattern": "GITHUB"}}, [1]),  # case-insensitive
        ({"_all_": {"fields": ["name", "comment"], "pattern": "resnet"}}, [3]),
        ({"_any_": {"fields": ["comment", "name"], "pattern": "^eval|baseline"}}, [3, 1]),
        ({"_any_": {"fields": ["tags"], "pattern": "^gp"}}, [2, 1]),  # any string in a list field
        ({"_any_": {"fields": ["last_metrics.loss.total.last"], "pattern": "0"}}, []),  # numbers never match
        ({"_any_": {"fields": ["no.such.field"], "pattern": ""}}, []),
        ({"order_by": ["name"]}, [3, 1, 5, 2]),  # ties broken by id
        ({"order_by": ["-name"]}, [2, 1, 5, 3]),
        ({"order_by": ["name", "-id"]}, [3, 5, 1, 2]),
        ({"order_by": "-status"}, [5, 3, 2, 1]),
        ({"order_by": ["last_metrics.loss.total.min"]}, [2, 1, 3, 5]),  # None last
        ({"order_by": ["-last_metrics.loss.total.min"]}, [1, 2, 3, 5]),  # None last
        ({"order_by": ["parent", "-created"]}, [2, 5, 3, 1]),
        ({"status": "completed", "search_hidden": True, "order_by": ["created"]}, [1, 4]),
        ({"order_by": []}, [5, 3, 2, 1]),  # empty: the default order
    ],
)
def test_filter_records_task_filter(task_filter, expected):
    assert ids(filter_records(RECORDS, task_filter=task_filter)) == expected


class FakeTaskTypes(enum.Enum):
    training = "training"
    testing = "testing"


class FakeStatus(str, enum.Enum):
    failed = "failed"


def test_filter_accepts_enum_members():
    assert ids(filter_records(RECORDS, task_filter={"type": [FakeTaskTypes.testing]})) == [2]
    assert ids(filter_records(RECORDS, task_filter={"type": FakeTaskTypes.training})) == [5, 1]
    assert ids(filter_records(RECORDS, task_filter={"status": [FakeStatus.failed]})) == [2]


def test_tags_argument_is_appended_to_task_filter_tags():
    # as ClearML's SDK does: task_filter["tags"] + tags form one expression
    got = filter_records(RECORDS, tags=["gpu"], task_filter={"tags": [ALL, "best"]})
    assert ids(got) == [1]
    got = filter_records(RECORDS, tags=["debug"], task_filter={"tags": [NOT]})
    assert ids(got) == [5, 2, 1]


def test_filter_does_not_mutate_task_filter():
    task_filter = {"tags": ["best"], "order_by": ["name"]}
    filter_records(RECORDS, tags=["gpu"], task_filter=task_filter)
    assert task_filter == {"tags": ["best"], "order_by": ["name"]}


def test_filter_accepts_any_iterable():
    assert ids(filter_records(iter(RECORDS), task_filter={"user": "bob"})) == [5, 2]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task_filter": {"bogus": 1}}, "unsupported task_filter key(s) ['bogus']; supported: parent, search_text"),
        ({"task_filter": {"page": 0, "page_size": 10}}, "['page', 'page_size']"),
        ({"task_filter": ["status"]}, "task_filter must be a dict"),
        ({"task_filter": {"status": ["done"]}}, "invalid task_filter['status'] value(s) ['done']; allowed: created"),
        ({"task_filter": {"status": ["completed", "Completed"]}}, "['Completed']"),
        ({"task_filter": {"status": 3}}, "task_filter['status'] must be a string or a list of strings, got 3"),
        ({"task_filter": {"type": ["train"]}}, "invalid task_filter['type'] value(s) ['train']; allowed: training"),
        ({"task_filter": {"type": [FakeStatus.failed]}}, "['failed']"),
        ({"task_filter": {"user": [None]}}, "must hold non-empty strings, got [None]"),
        ({"task_filter": {"parent": [""]}}, "must hold non-empty strings"),
        ({"task_filter": {"id": 5}}, "task_filter['id'] must be a string"),
        ({"task_filter": {"tags": "best"}}, "task_filter['tags'] must be a list"),
        ({"task_filter": {"system_tags": [ALL]}}, "'__$all' ends"),
        ({"task_filter": {"search_text": 5}}, "task_filter['search_text'] must be a string, got 5"),
        ({"task_filter": {"search_hidden": "yes"}}, "search_hidden'] must be True or False, got 'yes'"),
        ({"task_filter": {"_all_": "x"}}, "task_filter['_all_'] must be dict(fields=[field, ...], pattern=regex)"),
        ({"task_filter": {"_any_": {"fields": ["name"]}}}, "task_filter['_any_'] must be dict("),
        ({"task_filter": {"_any_": {"fields": ["name"], "pattern": "x", "datetime": "y"}}}, "must be dict("),
        ({"task_filter": {"_any_": {"fields": [], "pattern": "x"}}}, "needs a non-empty fields list"),
        ({"task_filter": {"_any_": {"fields": ["name"], "pattern": None}}}, "and a string pattern"),
        ({"task_filter": {"_any_": {"fields": [1], "pattern": "x"}}}, "['fields'] must hold non-empty strings"),
        ({"task_filter": {"_all_": {"fields": ["name"], "pattern": "("}}}, "invalid regular expression '(' in"),
        ({"task_filter": {"order_by": ["-"]}}, "task_filter['order_by'] must hold field names"),
        ({"task_filter": {"order_by": ["--name"]}}, "got ['--name']"),
        ({"task_filter": {"order_by": [""]}}, "must hold non-empty strings"),
        ({"task_filter": {"order_by": 1}}, "task_filter['order_by'] must be a string or a list"),
        ({"default_order": "-"}, "default_order must hold field names"),
        ({"tags": "best"}, "tags must be a list"),
        ({"tags": ["__$bogus"]}, "unknown tag operator '__$bogus'"),
        ({"task_name": "(("}, "invalid task name regular expression '(('"),
        ({"project_name": 7}, "project_name must be a string or a list of strings, got 7"),
        ({"task_ids": 7}, "task_ids must be a string or a list of strings, got 7"),
        ({"task_ids": ["a", None]}, "task_ids must hold non-empty strings"),
        ({"limit": -1}, "limit must be a non-negative integer or None, got -1"),
        ({"limit": 1.5}, "got 1.5"),
        ({"limit": True}, "got True"),
    ],
)
def test_filter_records_invalid(kwargs, message):
    with pytest.raises(ValueError) as info:
        filter_records(RECORDS, **kwargs)
    assert message in str(info.value)


def test_unknown_key_message_lists_every_supported_key():
    with pytest.raises(ValueError) as info:
        filter_records([], task_filter={"nope": 1})
    assert all(key in str(info.value) for key in FILTER_KEYS)


def test_errors_raise_even_without_records():
    with pytest.raises(ValueError):
        filter_records([], task_filter={"status": ["bogus"]})


def test_enums_match_clearml():
    assert set(TASK_STATUSES) == {
        "created",
        "queued",
        "in_progress",
        "stopped",
        "published",
        "publishing",
        "closed",
        "failed",
        "completed",
        "unknown",
    }
    assert set(TASK_TYPES) == {
        "training",
        "testing",
        "inference",
        "data_processing",
        "application",
        "monitor",
        "controller",
        "optimizer",
        "service",
        "qc",
        "custom",
    }


# -- ordering -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "descending", "expected"),
    [
        ([3, None, 1, 2], False, [1, 2, 3, None]),
        ([3, None, 1, 2], True, [3, 2, 1, None]),
        ([2.5, math.nan, 1], False, [1, 2.5, "nan"]),
        ([2.5, math.nan, 1], True, [2.5, 1, "nan"]),
        (["b", 2, None, "a", 1], False, [1, 2, "a", "b", None]),  # numbers, then strings
        (["b", 2, None, "a", 1], True, ["b", "a", 2, 1, None]),
        ([True, 0, "x"], False, [0, "x", True]),  # other types (bool) after strings
    ],
)
def test_sort_mixed_values(values, descending, expected):
    recs = [record(i, v=v) for i, v in enumerate(values)]
    got = [r["v"] for r in sort_records(recs, [("v", descending)])]
    assert [("nan" if isinstance(v, float) and math.isnan(v) else v) for v in got] == expected


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.one_of(st.none(), st.integers(0, 3)), st.one_of(st.none(), st.sampled_from("xyz"))), max_size=12
    ),
    st.booleans(),
    st.booleans(),
)
def test_sort_is_a_total_order_with_none_last(rows, desc_a, desc_b):
    recs = [record(i, a=a, b=b) for i, (a, b) in enumerate(rows)]
    got = sort_records(reversed(recs), [("a", desc_a), ("b", desc_b)])
    assert sorted(ids(got)) == list(range(len(rows)))

    def key(r):
        def part(value, desc):
            if value is None:
                return (1, 0)
            return (
                (0, ord(value) if isinstance(value, str) else value)
                if not desc
                else (0, -(ord(value) if isinstance(value, str) else value))
            )

        return (part(r["a"], desc_a), part(r["b"], desc_b), r["id"])

    assert got == sorted(recs, key=key)


# -- fields_referenced --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task_filter", "expected"),
    [
        (None, {"system_tags"}),
        ({}, {"system_tags"}),
        ({"search_hidden": True}, set()),
        ({"id": ["x"]}, {"id"}),
        (
            {"status": ["completed"], "type": "training", "user": "u", "parent": "p", "search_hidden": True},
            {"status", "type", "user", "parent"},
        ),
        ({"status": [], "search_hidden": True}, set()),
        ({"tags": ["a"], "system_tags": ["-archived"]}, {"tags", "system_tags"}),
        ({"search_text": "x", "search_hidden": True}, {"name", "comment", "id"}),
        ({"search_text": " ", "search_hidden": True}, set()),
        (
            {
                "_all_": {"fields": ["script.repository"], "pattern": "x"},
                "_any_": {"fields": ["comment", "script.branch"], "pattern": "y"},
                "search_hidden": True,
            },
            {"script.repository", "comment", "script.branch"},
        ),
        (
            {"order_by": ["-last_metrics.loss.total.last", "created"], "search_hidden": True},
            {"last_metrics.loss.total.last", "created", "id"},
        ),
        ({"order_by": [], "search_hidden": True}, set()),
    ],
)
def test_fields_referenced(task_filter, expected):
    assert fields_referenced(task_filter) == expected


def test_fields_referenced_validates():
    with pytest.raises(ValueError, match="unsupported task_filter key"):
        fields_referenced({"colour": "red"})
