"""Typed parameter classes for ``Task.connect`` (ClearML's ``clearml.task_parameters``).

Scripts use it exactly as they do with ClearML::

    from fstrack.task_parameters import TaskParameters, param, percent_param

    class MyParams(TaskParameters):
        iterations = param(type=int, desc="Number of iterations to run", range=(0, 100000), default=10)
        target_accuracy = percent_param(desc="The target accuracy of the model", default=0.9)

    params = MyParams()               # or MyParams(iterations=5, target_accuracy=0.5)
    task.connect(params)              # locally: stored under section "General" (or ``name=``)
                                      # under an agent: the stored values are written into ``params``

Semantics (those of ClearML, which builds the classes with ``attrs``; fstrack needs no ``attrs``):

* every ``param(...)`` in a subclass's body (and in its base classes, bases first) becomes an
  ``__init__`` argument, in definition order; ``default=`` / ``factory=`` make it optional, and a
  parameter without a default after one with a default is a ``ValueError`` when the class is made;
  the class attribute itself is removed (as ``attrs`` does), instances carry the values;
* validators (``validator=``, ``type=``, ``range=``) run in ``__init__`` only, not on later
  assignment (``attr.s`` semantics); ``type=`` accepts ``None`` too; ``range=(lo, hi)`` is inclusive,
  either end ``None`` for no limit; validators are ``f(instance, attribute, value)`` callables, so the
  ones from ``attr.validators`` work as well;
* ``to_dict()`` is ``attr.asdict``: nested ``TaskParameters`` become dicts, lists/tuples/sets become
  lists; ``update_from_dict()`` raises ``ValueError`` on a key that is not a parameter;
* instances compare equal field by field and have a ``ClassName(a=1, b=2)`` repr.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

__all__ = ["range_validator", "param", "percent_param", "TaskParameters"]

_NOTHING = object()
_counter = itertools.count()


def _canonize_validator(current_validator: Any) -> list:
    if not current_validator:
        return []
    if isinstance(current_validator, (list, tuple)):
        return list(current_validator)
    return [current_validator]


def range_validator(min_value: Any, max_value: Any) -> Callable[[Any, Any, Any], None]:
    """A validator that checks ``min_value <= value <= max_value`` (``None``: no limit on that side)."""

    def _range_validator(instance: Any, attribute: Any, value: Any) -> None:
        if ((min_value is not None) and (value < min_value)) or ((max_value is not None) and (value > max_value)):
            raise ValueError(f"{attribute.name} must be in range [{min_value}, {max_value}]")

    return _range_validator


def _optional_instance_of(type_: Any) -> Callable[[Any, Any, Any], None]:
    def _instance_of(instance: Any, attribute: Any, value: Any) -> None:
        if value is not None and not isinstance(value, type_):
            raise TypeError(
                f"'{attribute.name}' must be {type_!r} (got {value!r} that is a {value.__class__!r}).",
                attribute,
                type_,
                value,
            )

    return _instance_of


class Attribute:
    """What validators receive as ``attribute`` (the fields ``attr.Attribute`` offers that matter here)."""

    __slots__ = (
        "name",
        "default",
        "factory",
        "validator",
        "type",
        "metadata",
        "converter",
        "init",
        "repr",
        "eq",
        "kw_only",
        "alias",
        "_order",
    )

    def __init__(
        self,
        default: Any = _NOTHING,
        factory: Any = None,
        validator: Any = None,
        type: Any = None,
        metadata: dict | None = None,
        converter: Any = None,
        init: bool = True,
        repr: bool = True,
        eq: bool = True,
        kw_only: bool = False,
        alias: str | None = None,
    ) -> None:
        if factory is not None and default is not _NOTHING:
            raise ValueError("The `default` and `factory` arguments are mutually exclusive.")
        # attr.Factory(...) given as a default
        if default is not _NOTHING and type_name_of(default) == "Factory" and hasattr(default, "factory"):
            factory, default = default, _NOTHING
        self.name = ""
        self.default = default
        self.factory = factory
        self.validator = validator
        self.type = type
        self.metadata = dict(metadata or {})
        self.converter = converter
        self.init = init
        self.repr = repr
        self.eq = eq
        self.kw_only = kw_only
        self.alias = alias
        self._order = next(_counter)

    @property
    def has_default(self) -> bool:
        return self.default is not _NOTHING or self.factory is not None

    def make_default(self, instance: Any) -> Any:
        if self.factory is not None:
            if type_name_of(self.factory) == "Factory":  # attr.Factory(callable, takes_self=...)
                func = self.factory.factory
                return func(instance) if getattr(self.factory, "takes_self", False) else func()
            return self.factory()
        return self.default

    def __repr__(self) -> str:
        return f"Attribute(name={self.name!r}, default={self.default!r}, type={self.type!r})"


def type_name_of(obj: Any) -> str:
    return type(obj).__name__


def param(
    validator: Any = None,
    range: Any = None,
    type: Any = None,
    desc: str | None = None,
    metadata: dict | None = None,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """A parameter inside a :class:`TaskParameters` class.

    :param validator: a validator or a list of them, each ``f(instance, attribute, value)``
    :param range: ``(min, max)``, inclusive, ``None`` for no limit
    :param type: the type of the parameter (``None`` values are always accepted)
    :param desc: a description of the parameter (kept in ``metadata["desc"]``)
    :param metadata: a dictionary of metadata
    :param kwargs: ``default``, ``factory``, ``converter``, ``init``, ``repr``, ``eq``, ``kw_only``, ``alias``
        (the ``attr.ib`` arguments fstrack supports)
    """
    if args:
        raise TypeError(
            "param() takes keyword arguments only after `metadata` (default=..., factory=..., ...), "
            f"got extra positional arguments {args!r}"
        )
    metadata = dict(metadata or {})
    metadata["desc"] = desc
    validators = _canonize_validator(validator)
    if type:
        validators.append(_optional_instance_of(type))
    if range:
        validators.append(range_validator(*range))
    unknown = set(kwargs) - {"default", "factory", "converter", "init", "repr", "eq", "kw_only", "alias"}
    if unknown:
        raise TypeError(
            f"param() got unsupported argument(s) {sorted(unknown)}; supported: default, factory, "
            "converter, init, repr, eq, kw_only, alias"
        )
    return Attribute(validator=validators, type=type, metadata=metadata, **kwargs)


def percent_param(validator: Any = None, **kwargs: Any) -> Any:
    """A :func:`param` of type float within ``[0, 1]``."""
    return param(validator, range=(0, 1), type=float, **kwargs)


class _ParamsMeta(type):
    __fstrack_params__: tuple[Attribute, ...]  # the parameters of a class made by this metaclass

    def __new__(mcs, name: str, bases: tuple, namespace: dict) -> Any:
        own = sorted(((k, v) for k, v in namespace.items() if isinstance(v, Attribute)), key=lambda kv: kv[1]._order)
        for key, _ in own:
            del namespace[key]
        cls = super().__new__(mcs, name, bases, namespace)
        fields: dict[str, Attribute] = {}
        for base in reversed(cls.__mro__[1:]):
            for attribute in getattr(base, "__fstrack_params__", ()):
                fields.pop(attribute.name, None)
                fields[attribute.name] = attribute
        for key, attribute in own:
            attribute.name = key
            fields.pop(key, None)
            fields[key] = attribute
        seen_default = None
        for attribute in fields.values():
            if not attribute.init or attribute.kw_only:
                continue
            if attribute.has_default:
                seen_default = attribute
            elif seen_default is not None:
                raise ValueError(
                    "No mandatory attributes allowed after an attribute with a default value or "
                    f"factory.  Attribute in question: {attribute!r}"
                )
        cls.__fstrack_params__ = tuple(fields.values())
        return cls


class TaskParameters(metaclass=_ParamsMeta):
    """Base class for task parameters: subclass it and declare fields with :func:`param`.

    Usage example::

        class MyParams(TaskParameters):
            iterations = param(type=int, desc="Number of iterations to run", range=(0, 100000), default=10)
            target_accuracy = percent_param(desc="The target accuracy of the model", default=0.9)
    """

    __fstrack_params__: tuple = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = type(self).__fstrack_params__
        positional = [a for a in fields if a.init and not a.kw_only]
        if len(args) > len(positional):
            raise TypeError(
                f"{type(self).__name__}() takes {len(positional)} positional argument(s) but {len(args)} were given"
            )
        values: dict[str, Any] = {}
        for attribute, value in zip(positional, args):
            values[attribute.name] = value
        by_alias = {(a.alias or a.name.lstrip("_")): a for a in fields if a.init}
        for key, value in kwargs.items():
            named = by_alias.get(key)
            if named is None:
                raise TypeError(
                    f"{type(self).__name__}() got an unexpected keyword argument {key!r}; "
                    f"parameters: {sorted(by_alias)}"
                )
            if named.name in values:
                raise TypeError(f"{type(self).__name__}() got multiple values for argument {key!r}")
            values[named.name] = value
        for attribute in fields:
            if attribute.name in values:
                value = values[attribute.name]
            elif attribute.has_default:
                value = attribute.make_default(self)
            else:
                raise TypeError(f"{type(self).__name__}() missing required argument {attribute.name!r}")
            if attribute.converter is not None:
                value = attribute.converter(value)
            object.__setattr__(self, attribute.name, value)
        for attribute in fields:
            for validator in _canonize_validator(attribute.validator):
                validator(self, attribute, getattr(self, attribute.name))

    def __repr__(self) -> str:
        parts = ", ".join(f"{a.name}={getattr(self, a.name, None)!r}" for a in type(self).__fstrack_params__ if a.repr)
        return f"{type(self).__name__}({parts})"

    def __eq__(self, other: Any) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, a.name) == getattr(other, a.name) for a in type(self).__fstrack_params__ if a.eq)

    def __ne__(self, other: Any) -> Any:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value, as attr.s(eq=True) makes it

    def to_dict(self) -> dict[str, Any]:
        """A new dictionary: parameter name -> value (nested parameter objects become dicts)."""
        return {a.name: _as_plain(getattr(self, a.name)) for a in type(self).__fstrack_params__}

    def update_from_dict(self, source_dict: dict) -> None:
        """Set the parameters named by ``source_dict``'s keys; an unknown key raises ``ValueError``."""
        for key, value in source_dict.items():
            if not hasattr(self, key):
                raise ValueError(f"Unknown key {key} in {type(self).__name__} object")
            setattr(self, key, value)

    def connect(self, task: Any) -> Any:
        """``task.connect(self)``: store the values (locally) or load them (under an agent)."""
        return task.connect(self)


def _as_plain(value: Any) -> Any:
    if isinstance(value, TaskParameters):
        return value.to_dict()
    if isinstance(value, dict):
        return {_as_plain(k): _as_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_as_plain(v) for v in value]
    return value
