"""ClearML's task query language, evaluated over in-memory task records (no store access).

A *record* is a dict of task fields (``id``, ``name``, ``project``, ``status``, ``tags``,
``system_tags``, ``script``, ``last_metrics``, ...); nested fields are addressed with dots
(``script.repository``, ``last_metrics.loss.total.last``). The Task layer loads records and calls
:func:`filter_records`; :func:`fields_referenced` tells it which fields a ``task_filter`` reads, so
it loads full manifests only when a filter needs a field the records lack.

Semantics follow ClearML (SDK ``Task.get_tasks``/``query_tasks``/``get_task`` and the server's
``tasks.get_all``); where ClearML's documentation and its server disagree, the documentation wins
(see :func:`tags_matcher`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, TypeVar

TASK_STATUSES = (
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
)
TASK_TYPES = (
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
)
FILTER_KEYS = (
    "parent",
    "search_text",
    "status",
    "type",
    "user",
    "order_by",
    "_all_",
    "_any_",
    "tags",
    "system_tags",
    "id",
    "search_hidden",
)
SEARCH_TEXT_FIELDS = ("name", "comment", "id")
HIDDEN_TAG = "hidden"

_AND_OPS = ("__$all", "__$and")
_OR_OPS = ("__$or", "__$any")
_NOT_OP = "__$not"
_OP_PREFIX = "__$"
TAG_SYNTAX = (
    "a list of strings: 'tag' matches tasks with the tag, '-tag' tasks without it; "
    "'__$all'/'__$and' or '__$or'/'__$any' set how the tags that follow are joined; "
    "'__$not' negates the next tag, e.g. ['__$all', 'best', '__$not', 'debug']"
)

Record = Mapping[str, Any]
#: Any kind of record (a task summary, a manifest): the filters hand back what they were given.
RecordT = TypeVar("RecordT", bound=Record)
Predicate = Callable[[Record], bool]


def get_field(record: Record, dotted: str) -> Any:
    """The value at a dotted path (``script.repository``) of a record; None when any part is missing."""
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _string_list(value: Any, what: str) -> list[str]:
    """``value`` as a list of strings: a string, or a list/tuple of them (enum members give ``.value``)."""
    items = [value] if isinstance(value, str) or hasattr(value, "value") else value
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise ValueError(f"{what} must be a string or a list of strings, got {value!r}")
    items = [getattr(item, "value", item) for item in items]
    bad = [item for item in items if not isinstance(item, str) or not item]
    if bad:
        raise ValueError(f"{what} must hold non-empty strings, got {bad!r} in {value!r}")
    return items


def _tag_list(tags: Any, what: str = "tags") -> list[Any]:
    if not isinstance(tags, (list, tuple)):
        raise ValueError(f"{what} must be {TAG_SYNTAX}; got {tags!r}")
    return list(tags)


def _parse_tags(tags: list[Any]) -> tuple[bool, list[tuple[bool, list[tuple[str, bool]]]]]:
    """(groups joined with AND?, [(terms joined with AND?, [(tag, wanted present?)])])."""
    groups: list[tuple[bool, list[tuple[str, bool]]]] = [(False, [])]
    negate = False
    for position, item in enumerate(tags):
        if not isinstance(item, str) or not item:
            raise ValueError(f"invalid tag {item!r} in {tags!r}: tags must be {TAG_SYNTAX}")
        if item.startswith(_OP_PREFIX):
            if item not in (_NOT_OP, *_AND_OPS, *_OR_OPS):
                raise ValueError(f"unknown tag operator {item!r} in {tags!r}: tags must be {TAG_SYNTAX}")
            if negate:
                raise ValueError(
                    f"'__$not' must be followed by a tag, not {item!r}, in {tags!r}: tags must be {TAG_SYNTAX}"
                )
            if position == len(tags) - 1:
                raise ValueError(
                    f"tag operator {item!r} ends {tags!r} but must be followed by a tag: tags must be {TAG_SYNTAX}"
                )
            if item == _NOT_OP:
                negate = True
            else:
                groups.append((item in _AND_OPS, []))
            continue
        if item.startswith("-") and not negate:
            item, negate = item[1:], True
            if not item:
                raise ValueError(f"invalid tag '-' in {tags!r}: '-' must prefix a tag name; tags must be {TAG_SYNTAX}")
        groups[-1][1].append((item, not negate))
        negate = False
    join_all = bool(tags) and tags[0] in _AND_OPS
    return join_all, [group for group in groups if group[1]]


def tags_matcher(tags: list[str] | None) -> Callable[[Collection[str]], bool]:
    """A predicate over a task's tag collection, for ClearML's documented tag language.

    * ``tag`` requires the tag, ``-tag`` (or ``'__$not', 'tag'``) requires its absence; ``'__$not'``
      negates only the next item, which is then taken literally (``'__$not', '-x'`` excludes the
      tag ``-x``).
    * ``'__$and'``/``'__$all'`` and ``'__$or'``/``'__$any'`` start a group: the tags after them, up to
      the next ``and``/``or`` operator, are joined with that operator. Tags before any operator
      form an OR group.
    * Groups are joined with AND when the list *starts* with ``'__$and'``/``'__$all'``, else with OR
      ("the default operator is or, unless and is placed at the beginning"). An operator directly
      followed by another one makes an empty group, which is dropped.

    So ``['__$all','a','b','c','__$or','d','__$not','e','__$and','__$or','f','g']`` is
    a AND b AND c AND (d OR NOT e) AND (f OR g); ``['a','b','__$and','c','d']`` is
    a OR b OR (c AND d); ``['best','-debug']`` is best OR NOT debug. ``None`` or ``[]`` matches all.

    Note: ClearML's *server* evaluates differently (buckets of "has any of", "has all of" and "has
    none of", joined with AND unless the first operator says otherwise; ``-tag`` is literal after an
    operator), so there ``['best','-debug']`` means best AND NOT debug. We follow the documentation.

    Raises ValueError for a non-list, a non-string or empty item, an unknown ``__$`` operator, an
    operator with no tag after it, or a bare ``-``.
    """
    if tags is None:
        return lambda present: True
    join_all, groups = _parse_tags(_tag_list(tags))
    if not groups:
        return lambda present: True

    def matches(present: Collection[str]) -> bool:
        have = set(present or ())
        results = (
            (all if group_all else any)((tag in have) is wanted for tag, wanted in terms) for group_all, terms in groups
        )
        return all(results) if join_all else any(results)

    return matches


def name_matcher(pattern: str | None) -> Callable[[str | None], bool]:
    """A predicate over task names: ``pattern`` is a case-sensitive regex searched anywhere in the
    name (partial match); anchor it (``^name$``) for an exact match, ``re.escape`` it for a literal.
    ``None`` or ``""`` matches every name. An invalid regex raises ValueError."""
    if pattern is None:
        return lambda name: True
    if not isinstance(pattern, str):
        raise ValueError(f"task name must be a regular expression string, got {pattern!r}")
    try:
        regex = re.compile(pattern)
    except re.error as error:
        raise ValueError(
            f"invalid task name regular expression {pattern!r}: {error}; use re.escape() to match "
            f"a name literally, or '^name$' for an exact match"
        ) from None
    return lambda name: isinstance(name, str) and regex.search(name) is not None


def project_matcher(
    project_name: str | Sequence[str] | None, *, include_subprojects: bool
) -> Callable[[str | None], bool]:
    """A predicate over a task's project path: true when it equals one of the given names (exactly,
    case-sensitively, as ClearML anchors and escapes project names), or with ``include_subprojects``
    also when it lies below one of them (``a`` matches ``a/b/c``). ``None``, ``""`` or ``[]`` match all."""
    if not project_name:
        return lambda project: True
    names = frozenset(_string_list(project_name, "project_name"))
    if not include_subprojects:
        return lambda project: project in names
    prefixes = tuple(name + "/" for name in names)
    return lambda project: isinstance(project, str) and (project in names or project.startswith(prefixes))


def _value_in(field: str, values: frozenset[str]) -> Predicate:
    return lambda record: get_field(record, field) in values


def _tags_in(field: str, tags: list[Any]) -> Predicate:
    matches = tags_matcher(tags)
    return lambda record: matches(get_field(record, field) or ())


def _regex_hit(regex: re.Pattern[str], value: Any) -> bool:
    """Like a MongoDB ``$regex``: strings match by search, lists when any string element does."""
    return any(
        isinstance(item, str) and regex.search(item)
        for item in (value if isinstance(value, (list, tuple)) else [value])
    )


def _multi_field(key: str, spec: Any, quantifier: Callable[[Iterable[bool]], bool]) -> tuple[list[str], Predicate]:
    if not isinstance(spec, Mapping) or set(spec) != {"fields", "pattern"}:
        raise ValueError(f"task_filter[{key!r}] must be dict(fields=[field, ...], pattern=regex), got {spec!r}")
    fields = _string_list(spec["fields"], f"task_filter[{key!r}]['fields']")
    if not fields or not isinstance(spec["pattern"], str):
        raise ValueError(f"task_filter[{key!r}] needs a non-empty fields list and a string pattern, got {spec!r}")
    try:
        regex = re.compile(spec["pattern"], re.IGNORECASE)
    except re.error as error:
        raise ValueError(f"invalid regular expression {spec['pattern']!r} in task_filter[{key!r}]: {error}") from None
    return fields, lambda record: quantifier(_regex_hit(regex, get_field(record, field)) for field in fields)


def _search_text(text: Any) -> Predicate | None:
    if not isinstance(text, str):
        raise ValueError(f"task_filter['search_text'] must be a string, got {text!r}")
    terms = text.casefold().split()
    if not terms:
        return None
    return lambda record: any(
        isinstance(value := get_field(record, field), str) and term in value.casefold()
        for field in SEARCH_TEXT_FIELDS
        for term in terms
    )


def _order_spec(order_by: Any, what: str) -> list[tuple[str, bool]]:
    """[(dotted field, descending?)] from ``'-field'`` / ``'field'`` strings."""
    order = [(field[1:], True) if field.startswith("-") else (field, False) for field in _string_list(order_by, what)]
    bad = [name for name, _ in order if not name or name.startswith("-")]
    if bad:
        raise ValueError(f"{what} must hold field names with an optional '-' prefix, got {order_by!r}")
    return order


def _as_filter(task_filter: Any) -> dict[str, Any]:
    if task_filter is not None and not isinstance(task_filter, Mapping):
        raise ValueError(f"task_filter must be a dict, got {task_filter!r}")
    return dict(task_filter or {})


def _compile(
    task_filter: Mapping[str, Any] | None, *, ids_given: bool
) -> tuple[list[Predicate], list[tuple[str, bool]] | None, set[str]]:
    """Validate a task_filter into (predicates, order or None, fields they read)."""
    task_filter = _as_filter(task_filter)
    unknown = sorted(map(str, set(task_filter) - set(FILTER_KEYS)))
    if unknown:
        raise ValueError(f"unsupported task_filter key(s) {unknown}; supported: {', '.join(FILTER_KEYS)}")
    predicates: list[Predicate] = []
    fields: set[str] = set()

    def add(predicate: Predicate | None, *read: str) -> None:
        if predicate is not None:
            predicates.append(predicate)
            fields.update(read)

    for key in ("tags", "system_tags"):
        if task_filter.get(key) is not None:
            add(_tags_in(key, _tag_list(task_filter[key], f"task_filter[{key!r}]")), key)
    for key, allowed in (
        ("status", TASK_STATUSES),
        ("type", TASK_TYPES),
        ("user", None),
        ("parent", None),
        ("id", None),
    ):
        if task_filter.get(key) is not None:
            values = _string_list(task_filter[key], f"task_filter[{key!r}]")
            bad = [value for value in values if allowed and value not in allowed]
            if bad and allowed:
                raise ValueError(f"invalid task_filter[{key!r}] value(s) {bad!r}; allowed: {', '.join(allowed)}")
            add(_value_in(key, frozenset(values)) if values else None, key)
    if task_filter.get("search_text") is not None:
        add(_search_text(task_filter["search_text"]), *SEARCH_TEXT_FIELDS)
    for key, quantifier in (("_all_", all), ("_any_", any)):
        if task_filter.get(key) is not None:
            read, predicate = _multi_field(key, task_filter[key], quantifier)
            add(predicate, *read)
    search_hidden = task_filter.get("search_hidden", False)
    if not isinstance(search_hidden, bool):
        raise ValueError(f"task_filter['search_hidden'] must be True or False, got {search_hidden!r}")
    if not (search_hidden or ids_given or task_filter.get("id")):
        add(lambda record: HIDDEN_TAG not in (record.get("system_tags") or ()), "system_tags")
    order = None
    if task_filter.get("order_by") is not None:
        order = _order_spec(task_filter["order_by"], "task_filter['order_by']") or None
        fields.update({"id", *(field for field, _ in order)} if order else ())
    return predicates, order, fields


def _sort_key(value: Any, descending: bool) -> tuple[Any, ...]:
    """Numbers, then strings, then anything else (by repr); None and NaN last in either direction."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (not descending, 0, 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (descending, 0, value)
    if isinstance(value, str):
        return (descending, 1, value)
    return (descending, 2, repr(value))


def sort_records(records: Iterable[RecordT], order: list[tuple[str, bool]]) -> list[RecordT]:
    """Records sorted by [(dotted field, descending?)], ties broken by ``id`` ascending (as ClearML's
    server appends ``id`` to every ordering); None values sort last."""
    if not any(field == "id" for field, _ in order):
        order = [*order, ("id", False)]
    result = list(records)
    for field, descending in reversed(order):
        result.sort(key=lambda record: _sort_key(get_field(record, field), descending), reverse=descending)
    return result


def filter_records(
    records: Iterable[RecordT],
    *,
    task_ids: str | list[str] | None = None,
    project_name: str | list[str] | None = None,
    task_name: str | None = None,
    tags: list[str] | None = None,
    allow_archived: bool = True,
    task_filter: Mapping[str, Any] | None = None,
    default_order: str | list[str] | None = "-created",
    limit: int | None = None,
) -> list[RecordT]:
    """The records matching every given filter, ordered and truncated.

    ``task_ids``: only these ids; as ClearML documents, ``project_name`` and ``task_name`` are then
    ignored (tags, ``allow_archived`` and ``task_filter`` still apply) and hidden tasks are included.
    ``project_name``: exact project path(s), no subprojects (:func:`project_matcher`).
    ``task_name``: regex searched in the name (:func:`name_matcher`). ``tags``: the tag language
    (:func:`tags_matcher`), appended to ``task_filter['tags']`` as ClearML's SDK does.
    ``allow_archived=False`` drops records whose ``archived`` is true.
    ``task_filter`` keys (unknown keys raise ValueError):

    * ``status``, ``type``: a value or list of values from TASK_STATUSES / TASK_TYPES (enum members
      accepted); ``user``, ``parent``, ``id``: a value or list of values. The record's field must be
      one of them; an empty list filters nothing.
    * ``tags``, ``system_tags``: the tag language over the record's list.
    * ``search_text``: whitespace-separated terms; a record matches when any term occurs,
      case-insensitively, in its name, comment or id.
    * ``_all_`` / ``_any_``: ``dict(fields=[dotted, ...], pattern=regex)``: the case-insensitive
      regex is found in all / any of the fields (strings, or any string in a list field).
    * ``search_hidden``: include tasks with the ``hidden`` system tag (excluded by default, unless
      ids are given, as ClearML's server does).
    * ``order_by``: field names (dotted allowed), ``-`` prefix for descending; otherwise
      ``default_order`` (``None``: keep the input order). See :func:`sort_records`.

    ``limit``: keep at most this many records after ordering.
    """
    task_filter = _as_filter(task_filter)
    if tags is not None:
        task_filter["tags"] = _tag_list(task_filter.get("tags") or [], "task_filter['tags']") + _tag_list(tags)
    predicates, order, _ = _compile(task_filter, ids_given=bool(task_ids))
    if task_ids:
        predicates.append(_value_in("id", frozenset(_string_list(task_ids, "task_ids"))))
    else:
        in_project, name_matches = project_matcher(project_name, include_subprojects=False), name_matcher(task_name)
        predicates += [
            lambda record: in_project(record.get("project")),
            lambda record: name_matches(record.get("name")),
        ]
    if not allow_archived:
        predicates.append(lambda record: not record.get("archived"))
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise ValueError(f"limit must be a non-negative integer or None, got {limit!r}")
    if order is None and default_order:
        order = _order_spec(default_order, "default_order")
    result = [record for record in records if all(predicate(record) for predicate in predicates)]
    if order:
        result = sort_records(result, order)
    return result if limit is None else result[:limit]


def fields_referenced(task_filter: Mapping[str, Any] | None) -> set[str]:
    """The dotted fields evaluating ``task_filter`` reads (filters, ``order_by`` and its ``id``
    tie-break, the hidden-task check on ``system_tags``), so the caller can tell whether query records
    suffice. Raises ValueError for an invalid filter, like :func:`filter_records`."""
    return _compile(task_filter, ids_given=False)[2]
