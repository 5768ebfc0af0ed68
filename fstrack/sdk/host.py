"""What the SDK's mixins need of the class that hosts them: the host contract, written down for the type checker.

``Task`` is assembled from :class:`~fstrack.sdk.reporting.ReportingMixin`,
:class:`~fstrack.sdk.artifacts.ArtifactsMixin`, :class:`~fstrack.sdk.models.ModelsMixin` and
:class:`~fstrack.sdk.parameters.ParametersMixin`. Each mixin names here, as a :class:`~typing.Protocol`, what it uses of
its host, and inherits that protocol for the type checker only (``if TYPE_CHECKING``): mypy checks the mixin's uses
and the host's implementations (``Task``, a model's report host) against the same contract. At run time the mixins are
plain classes and this module defines nothing they inherit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from fstrack.records.taskdb import TaskDB


class TaskHost(Protocol):
    """A task-like record: its id, its database, its newest manifest, and an atomic edit of it."""

    @property
    def id(self) -> str: ...

    @property
    def _db(self) -> TaskDB: ...

    @property
    def _data(self) -> dict[str, Any]:
        """The newest manifest (read-only: change it through :meth:`_edit`)."""
        ...

    def _edit(self, fn: Callable[[dict[str, Any]], object], *, fields: Iterable[str] | None = None) -> None:
        """Apply the pure ``fn(manifest)`` to a fresh copy of the newest manifest, atomically; ``fields`` names
        the manifest fields ``fn`` changes. An exception inside ``fn`` stores nothing and propagates."""
        ...


class ReportingHost(TaskHost, Protocol):
    """The host of :class:`~fstrack.sdk.reporting.ReportingMixin` (a task, or a model's report host)."""

    def is_alive(self) -> bool: ...

    def flush(self, wait_for_uploads: bool = False) -> bool: ...


class ArtifactsHost(TaskHost, Protocol):
    """The host of :class:`~fstrack.sdk.artifacts.ArtifactsMixin`."""

    @property
    def output_uri(self) -> str | None: ...

    @output_uri.setter
    def output_uri(self, value: str | None) -> None: ...

    def reload(self) -> None: ...


class ParametersHost(TaskHost, Protocol):
    """The host of :class:`~fstrack.sdk.parameters.ParametersMixin`."""

    def _remote_overrides(self) -> bool:
        """True when the stored values override the code's (the task runs under an agent)."""
        ...

    def _connect_model(self, model: Any, name: str | None) -> Any:
        """Connect an object with a ``_fstrack_model`` attribute (a model) as the task's input or output."""
        ...


class ModelsHost(TaskHost, Protocol):
    """The host of :class:`~fstrack.sdk.models.ModelsMixin`: only ``Task`` (the mixin hands itself to models as the
    ``Task`` it is, through ``ModelsMixin._as_task``)."""


__all__ = ["ArtifactsHost", "ModelsHost", "ParametersHost", "ReportingHost", "TaskHost"]
