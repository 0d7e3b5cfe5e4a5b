"""`POST /v1/events`: canonical events as one object, a JSON array, or NDJSON."""

from __future__ import annotations

from provenance.errors import InvalidPayload, Unparseable
from provenance.events import Event
from provenance.sources import Delivery, SourceSecrets
from provenance.sources._common import load_json


def normalize(delivery: Delivery, secrets: SourceSecrets) -> list[Event]:
    body = delivery.body.strip()
    if not body:
        raise Unparseable("empty body")
    if delivery.content_type in ("application/x-ndjson", "application/jsonl") or (
        body[:1] == b"{" and b"\n" in body and not _is_single_json(body)
    ):
        items = [load_json(line) for line in body.splitlines() if line.strip()]
    else:
        parsed = load_json(body)
        items = parsed if isinstance(parsed, list) else [parsed]
    if not items:
        raise InvalidPayload("no events in body")
    events: list[Event] = []
    for index, item in enumerate(items):
        try:
            events.append(Event.from_dict(item))
        except InvalidPayload as exc:
            raise InvalidPayload(f"event #{index}: {exc.detail}") from exc
    return events


def _is_single_json(body: bytes) -> bool:
    try:
        load_json(body)
    except Unparseable:
        return False
    return True
