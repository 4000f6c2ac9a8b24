"""The fingerprint type registry: every part a ``Fingerprint`` stores, by its stable name.

A fingerprint type is one class decorated with ``@algorithm``: it has a ``name`` (its key in
the stored document) and converts its part of a ``Fingerprint`` to and from that document
(``to_field`` / ``from_field``). ``Fingerprint.to_document`` and ``from_document`` iterate
``ALGORITHMS`` in registration order, so nothing else names the types. It is its own module
so that a type defined beside ``pipelines.engine.fingerprint`` can register without a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

if TYPE_CHECKING:
    from pipelines.engine.fingerprint import Fingerprint

RESERVED = ("version", "size")  # document keys that are not fingerprint types


class Algorithm(Protocol):
    """What a registered fingerprint type provides to ``Fingerprint``'s document form."""

    name: ClassVar[str]

    @classmethod
    def to_field(cls, fp: Fingerprint) -> Any:
        """This type's part of ``fp`` as stored under ``name``."""

    @classmethod
    def from_field(cls, value: Any) -> dict[str, Any]:
        """The ``Fingerprint`` fields rebuilt from the stored value."""


ALGORITHMS: dict[str, type[Algorithm]] = {}
_T = TypeVar("_T", bound=type)


def algorithm(cls: _T) -> _T:
    """Register a fingerprint type under its ``name``, which must be new."""
    name = cls.name  # type: ignore[attr-defined]
    if name in ALGORITHMS or name in RESERVED:
        raise ValueError(f"fingerprint name {name!r} is already taken")
    ALGORITHMS[name] = cls  # type: ignore[assignment]
    return cls
