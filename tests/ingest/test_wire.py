"""The wire framing of delivery batches: exact bodies, kept headers only, clear refusals."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from provenance.ingest import wire
from provenance.ingest.sources import Delivery
from provenance.model.errors import Unparseable
from provenance.model.events import Event

T = datetime(2026, 3, 9, 14, 0, 0, 123456, tzinfo=UTC)


def _delivery(body: bytes = b'{"events": []}', **changes: object) -> Delivery:
    fields: dict[str, object] = {
        "source": "distribution",
        "body": body,
        "received_at": T,
        "content_type": "application/vnd.docker.distribution.events.v1+json",
        "headers": {"user-agent": "Go-http-client/1.1", "authorization": "Bearer secret"},
        "params": {"registry": "registry.acme.io"},
    }
    return Delivery(**(fields | changes))  # type: ignore[arg-type]


def test_round_trip_keeps_everything_but_credentials() -> None:
    first = _delivery(b'{"events": [ ]}\n')
    second = _delivery(b"\x00\xff binary \n\n", source="events", headers={"x-request-id": "r1"})
    decoded = wire.decode(wire.encode([first, second]))
    assert [d.body for d in decoded] == [first.body, second.body]
    assert decoded[0].received_at == T and decoded[0].params == {"registry": "registry.acme.io"}
    assert decoded[0].headers == {"user-agent": "Go-http-client/1.1"}  # no Authorization
    assert decoded[1].source == "events" and decoded[1].headers == {"x-request-id": "r1"}


def test_an_empty_body_travels() -> None:
    (decoded,) = wire.decode(wire.encode([_delivery(b"")]))
    assert decoded.body == b""


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=5))
def test_any_bodies_round_trip_byte_for_byte(bodies: list[bytes]) -> None:
    value = wire.encode([_delivery(b) for b in bodies])
    assert [d.body for d in wire.decode(value)] == bodies


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "does not start with"),
        (b"garbage", "does not start with"),
        (wire.MAGIC + b"[{}", "not terminated"),
        (wire.MAGIC + b"{nope}\n", "not JSON"),
        (wire.MAGIC + b"[]\n", "non-empty JSON array"),
        (wire.MAGIC + b'[{"size": 0}]\n', "source and content_type"),
        (
            wire.MAGIC + b'[{"source":"events","content_type":"x","size":9,"received_at":"x"}]\nab',
            "runs past the end",
        ),
    ],
)
def test_what_is_not_a_batch_is_unparseable(value: bytes, reason: str) -> None:
    with pytest.raises(Unparseable, match=reason):
        wire.decode(value)


def test_trailing_bytes_and_bad_times_are_refused() -> None:
    with pytest.raises(Unparseable, match="after the bodies"):
        wire.decode(wire.encode([_delivery()]) + b"extra")
    header = [{"source": "events", "content_type": "x", "size": 0, "received_at": "yesterday"}]
    with pytest.raises(Unparseable, match="received_at"):
        wire.decode(wire.MAGIC + orjson.dumps(header) + b"\n")


@given(st.binary(max_size=200))
def test_random_bytes_never_crash_the_decoder(value: bytes) -> None:
    with contextlib.suppress(Unparseable):
        wire.decode(value)


def _event(repository: str | None) -> Event:
    return Event.from_dict(
        {"id": "e", "type": "artifact.pulled", "time": "2026-03-09T14:00:00Z", "source": "t"}
        | ({"repository": repository} if repository else {})
        | {"digest": "sha256:" + "a" * 64}
    )


def test_partition_key_is_the_repository_else_the_source() -> None:
    d = _delivery()
    assert wire.partition_key(d, [_event(None), _event("r.io/a/b"), _event("r.io/c")]) == "r.io/a/b"
    assert wire.partition_key(d, [_event(None)]) == "distribution"
    assert wire.partition_key(d, []) == "distribution"


def test_topics_and_bootstrap_servers() -> None:
    topics = wire.Topics.named("acme")
    assert (topics.deliveries, topics.events, topics.dead_letters, topics.alerts) == (
        "acme.deliveries",
        "acme.events",
        "acme.dead-letters",
        "acme.alerts",
    )
    assert wire.bootstrap_servers("kafka://k1:9092;kafka://k2:9093") == ["k1:9092", "k2:9093"]
    assert wire.bootstrap_servers("kafka://k1,k2:29092") == ["k1:9092", "k2:29092"]


def test_a_log_entry_on_the_events_topic() -> None:
    entry = wire.LoggedEntry(7, "distribution", T, "ab" * 32, [{"id": "x", "repository": "r/a"}])
    assert entry.key == "r/a"
    doc = orjson.loads(wire.encode_entry(entry))
    assert doc == {
        "seq": 7,
        "source": "distribution",
        "received_at": "2026-03-09T14:00:00.123456Z",
        "hash": "ab" * 32,
        "events": [{"id": "x", "repository": "r/a"}],
    }
    assert wire.LoggedEntry(8, "events", T, "cd" * 32, [{"id": "y"}]).key == "events"
