"""Columns of a tabular answer, read off its dataclass: CSV exports and CLI tables use these,
so a field added to the answer's dataclass is a new column everywhere at once."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any


def names(answer_type: type) -> tuple[str, ...]:
    """The column names of a dataclass answer, in declaration order."""
    if not is_dataclass(answer_type):
        raise TypeError(f"{answer_type.__name__} is not a dataclass")
    return tuple(f.name for f in fields(answer_type))


def values(answer: Any) -> dict[str, Any]:
    """One answer as {column: value}, without copying nested dataclasses (unlike `asdict`)."""
    return {name: getattr(answer, name) for name in names(type(answer))}


__all__ = ["names", "values"]
