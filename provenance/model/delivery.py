"""One delivery: a request exactly as its source sent it, before anything reads it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    """One HTTP request as a source sent it. Header names are lower case."""

    source: str
    body: bytes
    received_at: datetime
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)


__all__ = ["Delivery"]
