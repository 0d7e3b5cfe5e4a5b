"""Builders for canonical events and deliveries used across the tests."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from provenance.ingest.sources import Delivery

T0 = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
_ids = itertools.count(1)


def digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def sha(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def event(type_: str, minutes: float = 0, **fields: Any) -> dict[str, Any]:
    base = {"id": f"ev-{next(_ids)}", "type": type_, "time": at(minutes), "source": "test"}
    return base | fields


def delivery(*events: dict[str, Any], source: str = "events") -> Delivery:
    return Delivery(
        source=source,
        body=orjson.dumps(list(events)),
        received_at=datetime.now(UTC),
        content_type="application/json",
    )
