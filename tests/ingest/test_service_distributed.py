"""The distributed-mode use cases: `prepare` (API side), `ingest_batch` (worker side),
and the log as the outbox of the events topic. Same functions, both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from provenance.ingest import service
from provenance.ingest.service import ProjectionRunner, ingest_batch, prepare
from provenance.ingest.sources import Delivery, SourceSecrets, normalize
from provenance.model.errors import InvalidPayload, Unavailable
from provenance.store import Database, log
from provenance.store.models import EventKey, QuarantineItem, TimelineEvent
from tests.factories import delivery, digest, event

SECRETS = SourceSecrets()


def _count(db: Database, model: type) -> int:
    with db.read() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def _push(n: int, repo: str = "r.io/acme/app") -> dict[str, object]:
    return event("artifact.pushed", n, digest=digest(f"d{n}"), repository=repo, tag=f"v{n}")


def test_a_batch_is_one_transaction_and_redelivery_changes_nothing(db: Database) -> None:
    p1 = _push(1)
    batch = [delivery(p1, _push(2)), delivery(_push(3)), delivery(p1)]  # p1 sent again
    first = ingest_batch(db, batch, SECRETS)
    assert (first.deliveries, first.entries, first.accepted, first.duplicates) == (3, 2, 3, 1)
    assert first.rejected == [] and first.last_seq == 2

    again = ingest_batch(db, batch, SECRETS)  # the worker died before acking: redelivered
    assert (again.entries, again.accepted, again.duplicates, again.last_seq) == (0, 0, 4, None)
    with db.read() as session:
        assert log.verify(session).ok
    assert _count(db, EventKey) == 3

    assert ProjectionRunner(db).catch_up() == 2  # the projection follows the log as embedded
    assert _count(db, TimelineEvent) == 3


def test_refused_deliveries_are_quarantined_and_returned_the_rest_goes_on(db: Database) -> None:
    bad = Delivery(source="events", body=b"{not json", received_at=delivery().received_at)
    odd = Delivery(source="nosuch", body=b"{}", received_at=bad.received_at)
    outcome = ingest_batch(db, [bad, delivery(_push(1)), odd], SECRETS)
    assert outcome.accepted == 1 and outcome.entries == 1
    assert [(r.delivery.source, r.error) for r in outcome.rejected] == [
        ("events", "Unparseable"),
        ("nosuch", "UnknownSource"),
    ]
    assert "not valid JSON" in outcome.rejected[0].reason
    assert _count(db, QuarantineItem) == 2


def test_nothing_is_committed_when_the_database_fails_under_the_batch(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure of the database (not of the input) after everything was appended and
    flushed: the batch is rolled back whole and raised, so Kafka delivers it again;
    nothing is blamed on the deliveries (no quarantine row)."""
    from sqlalchemy.exc import ProgrammingError

    original = log.append_many

    def append_then_fail(session, items, **options):  # type: ignore[no-untyped-def]
        original(session, items, **options)  # everything appended and flushed ...
        raise ProgrammingError("COMMIT", {}, Exception("relation vanished"))  # ... then this

    good = delivery(_push(1))
    monkeypatch.setattr(log, "append_many", append_then_fail)
    with pytest.raises(ProgrammingError):
        ingest_batch(db, [good, delivery(_push(2))], SECRETS)
    monkeypatch.undo()
    assert _count(db, EventKey) == 0  # rolled back as a whole
    assert _count(db, QuarantineItem) == 0  # and not blamed on the input
    with db.read() as session:
        assert log.head(session)[0] == 0
    assert ingest_batch(db, [good], SECRETS).accepted == 1


def test_prepare_validates_counts_known_events_and_keys_by_repository(db: Database) -> None:
    p1, p2 = _push(1), _push(2, repo="r.io/acme/other")
    ingest_batch(db, [delivery(p1)], SECRETS)
    prepared = prepare(db, delivery(p1, p2), SECRETS)
    assert prepared.publish  # p2 is new
    assert (prepared.outcome.accepted, prepared.outcome.duplicates) == (1, 1)
    assert prepared.outcome.ids == [p2["id"]] and prepared.outcome.seq is None
    assert prepared.key == "r.io/acme/app"  # the first repository named

    ingest_batch(db, [delivery(p2)], SECRETS)
    retry = prepare(db, delivery(p1, p2), SECRETS)
    assert not retry.publish  # a registry retry of what is already stored
    assert (retry.outcome.accepted, retry.outcome.duplicates) == (0, 2)


def test_prepare_quarantines_and_raises_what_it_refuses(db: Database) -> None:
    bad = delivery({"id": "x", "type": "artifact.pushed", "time": "2026-03-09T14:00:00Z"})
    with pytest.raises(InvalidPayload):
        prepare(db, bad, SECRETS)
    assert _count(db, QuarantineItem) == 1
    assert _count(db, EventKey) == 0  # validation only: nothing is appended by the API


def test_the_log_is_the_outbox_of_the_events_topic(db: Database) -> None:
    cursor = "kafka:test.events"
    ingest_batch(db, [delivery(_push(1)), delivery(_push(2), _push(3))], SECRETS)
    pending = service.unpublished(db, cursor)
    assert [(e.seq, len(e.events)) for e in pending] == [(1, 1), (2, 2)]
    assert pending[1].key == "r.io/acme/app"
    service.mark_published(db, cursor, 1)
    assert [e.seq for e in service.unpublished(db, cursor)] == [2]
    service.mark_published(db, cursor, 2)
    service.mark_published(db, cursor, 1)  # never backwards
    assert service.unpublished(db, cursor) == []
    assert ProjectionRunner(db).catch_up() == 2  # the graph cursor is its own


def test_a_database_that_is_down_is_unavailable() -> None:
    down = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(Unavailable):
        ingest_batch(down, [delivery(_push(1))], SECRETS)
    down.dispose()


def test_append_many_is_append_one_after_the_other(db: Database, tmp_path: Path) -> None:
    p1, p2 = _push(1), _push(2)
    batch = [delivery(p1), delivery(p1, p2), delivery(p2), delivery(_push(3))]
    with db.write() as session:
        together = log.append_many(session, [(d, normalize(d)) for d in batch])
    alone_db = Database(f"sqlite:///{tmp_path / 'alone.db'}")
    alone_db.upgrade()
    with alone_db.write() as session:
        alone = [log.append(session, d, normalize(d)) for d in batch]
    assert (
        [(r.seq, len(r.accepted), len(r.duplicates)) for r in together]
        == [(r.seq, len(r.accepted), len(r.duplicates)) for r in alone]
        == [(1, 1, 0), (2, 1, 1), (None, 0, 1), (3, 1, 0)]
    )
    with db.read() as a, alone_db.read() as b:
        assert log.head(a) == log.head(b)  # the same chain, hash for hash
        assert log.verify(a).ok
    alone_db.dispose()
