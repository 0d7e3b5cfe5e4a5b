"""`POST /v1/events`: canonical events as one object, a JSON array, or NDJSON."""

from __future__ import annotations

from provenance.ingest.sources import Delivery, Normalized, SourceSecrets, each, strict
from provenance.ingest.sources._common import load_json
from provenance.model.errors import InvalidPayload, Unparseable, UnsupportedMedia
from provenance.model.events import Event, EventType

# Evidence the service writes itself (`POST /v1/admission` decisions, keyed by the review's
# uid): a sender who could post it could claim a future uid and make the real decision a
# duplicate, so neither the type nor the source is accepted here.
_SERVICE_WRITTEN_TYPES = frozenset({EventType.ADMISSION_DECIDED})
_SERVICE_WRITTEN_SOURCES = frozenset({"admission"})

# JSON (one object or an array) or NDJSON; a browser form or a picture is a 415.
CONTENT_TYPES = ("application/json", "application/x-ndjson", "application/jsonl")


def normalize(delivery: Delivery, secrets: SourceSecrets) -> list[Event]:
    """All or nothing (tests, replays); ingest takes the events one by one."""
    return strict(normalize_items(delivery, secrets), label="events")


def normalize_items(delivery: Delivery, secrets: SourceSecrets) -> Normalized:
    if delivery.content_type not in CONTENT_TYPES and not delivery.content_type.endswith("+json"):
        raise UnsupportedMedia(
            f"/v1/events takes {', '.join(CONTENT_TYPES)}; got {delivery.content_type!r}"
        )
    body = delivery.body.strip()
    if not body:
        raise Unparseable("empty body")
    if delivery.content_type in ("application/x-ndjson", "application/jsonl") or (
        body[:1] == b"{" and b"\n" in body and not _is_single_json(body)
    ):
        # Line by line: an unparseable line is refused alone, like an invalid event.
        lines = [line for line in body.splitlines() if line.strip()]
        return each(lines, lambda line: [_event(load_json(line))], label="lines")
    parsed = load_json(body)
    items = parsed if isinstance(parsed, list) else [parsed]
    if not items:
        raise InvalidPayload("no events in body")
    return each(items, lambda item: [_event(item)], label="events")


def _event(item: object) -> Event:
    event = Event.from_dict(item)
    if event.type in _SERVICE_WRITTEN_TYPES or event.source in _SERVICE_WRITTEN_SOURCES:
        raise InvalidPayload(
            f"event {event.id}: {event.type} from source {event.source!r} is written by the"
            " service itself (POST /v1/admission), never posted"
        )
    return event


def _is_single_json(body: bytes) -> bool:
    try:
        load_json(body)
    except Unparseable:
        return False
    return True
