"""Readers answer whatever was accepted, however deeply it nests (pydantic-core alone
refuses past ~250 levels: the audit log and timelines answered 500)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from api.responses import json_response
from api.schemas import AuditLogResponse, LogEntryModel, TimelineResponse


def _nested(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth):
        node["a"] = {}
        node = node["a"]
    return root


def _depth(value: Any) -> int:
    n = 0
    while isinstance(value, dict) and "a" in value:
        value, n = value["a"], n + 1
    return n


@pytest.mark.parametrize("depth", [10, 300, 600])
def test_a_page_of_the_audit_log_with_a_deep_event(depth: int) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    event = {"id": "deep", "type": "artifact.pushed", "attributes": _nested(depth)}
    entry = LogEntryModel(
        seq=1,
        received_at=at,
        source="events",
        content_type="application/json",
        params={},
        headers={},
        body_sha256="0" * 64,
        body="{}",
        events=[event],
        prev_hash="0" * 64,
        hash="1" * 64,
    )
    response = json_response(AuditLogResponse(entries=[entry], next_after=None))
    doc = json.loads(response.body)
    (got,) = doc["entries"]
    assert got["received_at"] == "2026-01-01T00:00:00Z"  # the format of the fast path
    assert _depth(got["events"][0]["attributes"]) == depth


def test_a_timeline_with_a_deep_event() -> None:
    page = TimelineResponse(
        digest="sha256:" + "a" * 64,
        events=[{"seq": 1, "type": "artifact.pushed", "attributes": _nested(400)}],
        next_cursor=None,
    )
    doc = json.loads(json_response(page).body)
    assert _depth(doc["events"][0]["attributes"]) == 400
