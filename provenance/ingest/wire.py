"""Deliveries on the wire between `provenance api` and `provenance worker`.

    encode(deliveries) -> bytes      a batch of deliveries as one Kafka message value
    decode(value) -> list[Delivery]  and back; anything else is `Unparseable` (dead letter)
    partition_key(delivery, events)  what keeps one repository's deliveries in order
    encode_entry(entry) -> bytes     a log entry's canonical events, for the events topic
    Topics.named(prefix)             the four topic names
    bootstrap_servers(kafka_url)     `kafka://h1:9092;h2:9092` -> ["h1:9092", "h2:9092"]

A batch is framed, not re-encoded: a first line naming the format, one line of JSON
describing each delivery (source, time received, content type, kept headers, query
parameters, body length), then the bodies back to back, byte for byte. The body is never
parsed, escaped or base64-inflated, so what the worker appends to the log is exactly what
the source sent, and a 10 MiB body costs 10 MiB on the wire.

Only the headers the log keeps as evidence travel (`kept_headers`): credentials never
reach Kafka.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from provenance.ingest.sources import Delivery
from provenance.model.errors import InvalidPayload, ProvenanceError, Unparseable
from provenance.model.events import Event
from provenance.model.timeutil import format_time, parse_time
from provenance.store.log import kept_headers

MAGIC = b"provenance-deliveries/1\n"
CONTENT_TYPE = "application/vnd.provenance.deliveries.v1"


@dataclass(frozen=True, slots=True)
class Topics:
    """The topology's topic names, all under one prefix (PROVENANCE_KAFKA_TOPIC_PREFIX)."""

    deliveries: str  # what the API accepted, as batches of deliveries; key: repository
    events: str  # canonical events, one message per log entry, in log order
    dead_letters: str  # original bytes the worker refused; the reason in the headers
    alerts: str  # policy findings

    @classmethod
    def named(cls, prefix: str) -> Topics:
        return cls(
            deliveries=f"{prefix}.deliveries",
            events=f"{prefix}.events",
            dead_letters=f"{prefix}.dead-letters",
            alerts=f"{prefix}.alerts",
        )


def bootstrap_servers(kafka_url: str) -> list[str]:
    """faust's broker URL (`kafka://h1:9092;h2:9092`, commas work too) as host:port list."""
    servers = []
    for part in kafka_url.replace(",", ";").split(";"):
        server = part.strip().removeprefix("kafka://").rstrip("/")
        if server:
            servers.append(server if ":" in server else f"{server}:9092")
    return servers


def encode(deliveries: Sequence[Delivery]) -> bytes:
    """One message value holding `deliveries`, in order."""
    header = [
        {
            "source": d.source,
            "received_at": format_time(d.received_at),
            "content_type": d.content_type,
            "headers": kept_headers(d.headers),
            "params": dict(d.params),
            "size": len(d.body),
        }
        for d in deliveries
    ]
    return b"".join([MAGIC, orjson.dumps(header), b"\n", *(d.body for d in deliveries)])


def decode(value: bytes | None) -> list[Delivery]:
    """The deliveries of one message value; `Unparseable` says why it is not one."""
    if not value or not value.startswith(MAGIC):
        raise Unparseable(f"not a delivery batch: does not start with {MAGIC!r}")
    end = value.find(b"\n", len(MAGIC))
    if end < 0:
        raise Unparseable("not a delivery batch: the header line is not terminated")
    try:
        header = orjson.loads(value[len(MAGIC) : end])
    except orjson.JSONDecodeError as exc:
        raise Unparseable(f"not a delivery batch: header is not JSON ({exc})") from exc
    if not isinstance(header, list) or not header:
        raise Unparseable("not a delivery batch: the header must be a non-empty JSON array")
    out: list[Delivery] = []
    offset = end + 1
    for index, meta in enumerate(header):
        try:
            delivery, offset = _delivery(meta, value, offset)
        except ProvenanceError as exc:
            raise Unparseable(f"not a delivery batch: delivery #{index}: {exc.detail}") from exc
        out.append(delivery)
    if offset != len(value):
        raise Unparseable(f"not a delivery batch: {len(value) - offset} bytes after the bodies")
    return out


def _delivery(meta: object, value: bytes, offset: int) -> tuple[Delivery, int]:
    if not isinstance(meta, Mapping):
        raise InvalidPayload("description must be a JSON object")
    size = meta.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidPayload("size must be a non-negative integer")
    if offset + size > len(value):
        raise InvalidPayload(f"body of {size} bytes runs past the end of the message")
    source, content_type = meta.get("source"), meta.get("content_type")
    if not isinstance(source, str) or not source or not isinstance(content_type, str):
        raise InvalidPayload("source and content_type must be strings")
    delivery = Delivery(
        source=source,
        body=value[offset : offset + size],
        received_at=parse_time(meta.get("received_at"), field="received_at"),
        content_type=content_type,
        headers=_strings(meta.get("headers"), "headers"),
        params=_strings(meta.get("params"), "params"),
    )
    return delivery, offset + size


def _strings(value: object, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidPayload(f"{what} must map strings to strings")
    return dict(value)


def partition_key(delivery: Delivery, events: Sequence[Event]) -> str:
    """The repository the delivery is about (its first event's), else its source.

    Kafka keeps order within a partition, and equal keys share a partition: every delivery
    about one repository is applied in the order the API received it. (A delivery naming
    several repositories travels with its first one; registries send one event per
    request in practice.)
    """
    for event in events:
        if event.repository:
            return event.repository
    return delivery.source


@dataclass(frozen=True, slots=True)
class LoggedEntry:
    """A log entry as the events topic carries it: its place in the chain and its events."""

    seq: int
    source: str
    received_at: datetime
    hash: str
    events: Sequence[Mapping[str, Any]]

    @property
    def key(self) -> str:
        """Same keying as the deliveries topic: the first repository, else the source."""
        for event in self.events:
            repository = event.get("repository")
            if isinstance(repository, str) and repository:
                return repository
        return self.source


def encode_entry(entry: LoggedEntry) -> bytes:
    """`{"seq", "source", "received_at", "hash", "events": [canonical events]}` as JSON."""
    return orjson.dumps(
        {
            "seq": entry.seq,
            "source": entry.source,
            "received_at": format_time(entry.received_at),
            "hash": entry.hash,
            "events": list(entry.events),
        }
    )


__all__ = [
    "CONTENT_TYPE",
    "MAGIC",
    "LoggedEntry",
    "Topics",
    "bootstrap_servers",
    "decode",
    "encode",
    "encode_entry",
    "partition_key",
]
