"""JSON encoding of breaker states for shared stores.

A state is a frozen dataclass registered with :func:`register_state`; its fields are JSON
scalars, ``StrEnum`` members, or (nested) tuples of those. Tuples come back as tuples and
enum fields come back as their enum (by the field's declared type), so a decoded state
compares equal to the one encoded.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")

_REGISTRY: dict[str, type] = {}
_ENUM_FIELDS: dict[type, dict[int, type[Enum]]] = {}


def register_state(cls: type[T]) -> type[T]:
    """Class decorator: make a frozen dataclass encodable by :func:`encode` / :func:`decode`."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} must be a dataclass")
    name = f"{cls.__module__}.{cls.__qualname__}"
    _REGISTRY[name] = cls
    hints = typing.get_type_hints(cls)
    enums: dict[int, type[Enum]] = {}
    for i, f in enumerate(dataclasses.fields(cls)):
        t = hints.get(f.name)
        if isinstance(t, type) and issubclass(t, Enum):
            enums[i] = t
    _ENUM_FIELDS[cls] = enums
    cls.__state_name__ = name  # type: ignore[attr-defined]
    return cls


def encode(state: Any) -> str:
    cls = type(state)
    name = getattr(cls, "__state_name__", None)
    if name is None:
        raise TypeError(f"{cls.__name__} is not a registered state class")
    values = [getattr(state, f.name) for f in dataclasses.fields(state)]
    return json.dumps([name, values], separators=(",", ":"))


def _tuples(v: Any) -> Any:
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


def decode(text: str | bytes) -> Any:
    name, values = json.loads(text)
    cls = _REGISTRY.get(name)
    if cls is None:
        raise ValueError(f"unknown state class {name!r}")
    enums = _ENUM_FIELDS[cls]
    args = [enums[i](v) if i in enums and v is not None else _tuples(v) for i, v in enumerate(values)]
    return cls(*args)
