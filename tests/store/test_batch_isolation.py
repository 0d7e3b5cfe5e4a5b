"""One delivery or log entry the store cannot take never stops the others (issue 8, item 4),
on both backends and without Kafka: `ingest_batch` stores a refused batch again delivery by
delivery and refuses the one that still fails (`StoreError`); `project_pending` sets a
failing log entry aside and moves on. The runner applies a batch whole, with no savepoint
(`project_in`), and only a batch that fails again entry by entry. A broken database is
never blamed on the input.

A database trigger stands in for whatever the store may refuse that validation did not
foresee (a constraint, a column limit, a bug in a statement)."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from provenance.ingest.service import ProjectionRunner, ingest_batch
from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.model.errors import Unavailable
from provenance.store import Database, blames_the_input, log, projection
from provenance.store.models import EventKey, LogEntry, QuarantineItem, TimelineEvent
from tests.factories import delivery, event, sha

SECRETS = SourceSecrets()
REFUSED = "refused-by-the-store"
MESSAGE = "refused by a check of the test"


def _merged(event_id: str) -> dict[str, Any]:
    return event("change.merged", id=event_id, commit=sha(event_id))


def _refuse(db: Database, table: str, event_id: str) -> None:
    """A check of `table` that refuses one event id, as a constraint of the store would."""
    with db.engine.begin() as conn:
        if db.is_sqlite:
            conn.exec_driver_sql(
                f"CREATE TRIGGER refuse_on_{table} BEFORE INSERT ON {table} "
                f"WHEN NEW.event_id = '{event_id}' "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )
            return
        conn.exec_driver_sql(
            f"""
            CREATE FUNCTION refuse_on_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.event_id = '{event_id}' THEN
                    RAISE EXCEPTION USING MESSAGE = '{MESSAGE}', ERRCODE = 'check_violation';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER refuse_on_{table} BEFORE INSERT ON {table}
                FOR EACH ROW EXECUTE FUNCTION refuse_on_{table}();
            """
        )


def _rename(db: Database, table: str, to: str) -> None:
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {to}")


def _count(db: Database, model: type, *where: Any) -> int:
    with db.read() as session:
        stmt = select(func.count()).select_from(model).where(*where)
        return int(session.execute(stmt).scalar_one())


def _logged(db: Database) -> list[str]:
    with db.read() as session:
        rows = session.execute(select(LogEntry.events).order_by(LogEntry.seq)).scalars().all()
    return [e["id"] for events in rows for e in events]


def test_a_delivery_the_store_refuses_is_refused_alone(db: Database) -> None:
    _refuse(db, "event_keys", REFUSED)
    invalid = Delivery("events", b"{not json", delivery().received_at)
    refused = delivery(_merged(REFUSED))
    batch = [delivery(_merged("a")), refused, invalid, delivery(_merged("b"), _merged("c"))]

    outcome = ingest_batch(db, batch, SECRETS)

    assert (outcome.deliveries, outcome.entries, outcome.accepted) == (4, 2, 3)
    assert [(r.delivery, r.error) for r in outcome.rejected] == [
        (invalid, "Unparseable"),
        (refused, "StoreError"),
    ]
    reason = outcome.rejected[1].reason
    assert reason.startswith("the store refused it: IntegrityError") and MESSAGE in reason
    assert _logged(db) == ["a", "b", "c"]  # in order, the chain unbroken
    with db.read() as session:
        assert log.verify(session).ok
        quarantined = session.execute(
            select(QuarantineItem.kind, QuarantineItem.error, QuarantineItem.body).order_by(
                QuarantineItem.id
            )
        ).all()
    assert [tuple(q) for q in quarantined] == [
        ("delivery", "Unparseable", invalid.body),
        ("delivery", "StoreError", refused.body),
    ]

    # Kafka delivers the batch again (the worker died before acknowledging): nothing new
    # is logged, and the refused delivery is refused the same way.
    again = ingest_batch(db, batch, SECRETS)
    assert (again.entries, again.accepted, again.duplicates) == (0, 0, 3)
    assert [r.error for r in again.rejected] == ["Unparseable", "StoreError"]
    assert _count(db, EventKey) == 3


def test_a_broken_database_is_not_blamed_on_the_delivery(db: Database) -> None:
    ingest_batch(db, [delivery(_merged("before"))], SECRETS)
    _rename(db, "event_keys", "event_keys_away")
    with pytest.raises(Exception) as raised:
        ingest_batch(db, [delivery(_merged("during")), delivery(_merged("too"))], SECRETS)
    assert not blames_the_input(raised.value)  # the worker crashes; Kafka delivers again
    if db.is_sqlite:  # "no such table" is an OperationalError there
        assert isinstance(raised.value, Unavailable)
    assert _count(db, QuarantineItem) == 0  # nothing refused, nothing committed
    _rename(db, "event_keys_away", "event_keys")
    assert _logged(db) == ["before"]
    outcome = ingest_batch(db, [delivery(_merged("during")), delivery(_merged("too"))], SECRETS)
    assert (outcome.entries, outcome.rejected) == (2, [])


def test_an_entry_that_fails_to_project_is_set_aside_and_the_graph_goes_on(db: Database) -> None:
    _refuse(db, "timeline", REFUSED)
    refused = delivery(_merged(REFUSED))
    ingest_batch(db, [delivery(_merged("a")), refused, delivery(_merged("b"))], SECRETS)
    runner = ProjectionRunner(db)
    assert runner.catch_up() == 3  # all passed, in one batch that failed and was split
    ingest_batch(db, [delivery(_merged("later"))], SECRETS)
    assert runner.catch_up() == 1

    with db.read() as session:
        assert projection.lag(session) == 0
        assert projection.set_aside(session) == 1
        projected = set(session.execute(select(TimelineEvent.event_id)).scalars())
        (aside,) = session.execute(
            select(QuarantineItem).where(QuarantineItem.kind == "projection")
        ).scalars()
    assert projected == {"a", "b", "later"}
    assert (aside.seq, aside.error, aside.source) == (2, "IntegrityError", "events")
    assert aside.reason.startswith("log entry 2 failed to project") and MESSAGE in aside.reason
    assert aside.body == refused.body  # the entry's exact bytes, for whoever fixes the bug


def test_a_broken_graph_table_stops_the_projection_without_blaming_the_entry(
    db: Database,
) -> None:
    ingest_batch(db, [delivery(_merged("a")), delivery(_merged("b"))], SECRETS)
    _rename(db, "timeline", "timeline_away")
    with pytest.raises(Exception) as raised, db.write() as session:
        projection.project_pending(session)
    assert not blames_the_input(raised.value)
    with db.read() as session:
        assert projection.lag(session) == 2  # the cursor did not move past anything
        assert projection.set_aside(session) == 0
    _rename(db, "timeline_away", "timeline")
    assert ProjectionRunner(db).catch_up() == 2
    assert _count(db, TimelineEvent) == 2


def _statements(db: Database) -> list[str]:
    """Every statement the writing engine sends from now on."""
    sent: list[str] = []

    @sa_event.listens_for(db.engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    return sent


def test_a_batch_that_projects_takes_no_savepoint(db: Database) -> None:
    """A savepoint makes SQLite journal every page the batch changes to a temp file first:
    a batch that projects is applied whole, in one transaction, with none."""
    ingest_batch(db, [delivery(_merged(x)) for x in ("a", "b", "c")], SECRETS)
    sent = _statements(db)
    assert ProjectionRunner(db).catch_up() == 3
    assert _count(db, TimelineEvent) == 3
    assert not [s for s in sent if "SAVEPOINT" in s.upper()]


def test_a_failing_entry_rolls_the_batch_back_whole_before_it_is_retried(db: Database) -> None:
    _refuse(db, "timeline", REFUSED)
    ingest_batch(
        db, [delivery(_merged("a")), delivery(_merged(REFUSED)), delivery(_merged("b"))], SECRETS
    )
    with pytest.raises(projection.BatchFailed) as raised, db.write() as session:
        projection.project_pending(session, at_once=True)
    assert (raised.value.first, raised.value.last) == (1, 3)
    assert blames_the_input(raised.value.__cause__)  # the entry's, not the database's
    assert _count(db, TimelineEvent) == 0  # nothing of the batch was kept
    with db.read() as session:
        assert projection.lag(session) == 3

    sent = _statements(db)
    step = partial(projection.project_pending, limit=10)
    assert projection.project_in(db, step) == 3
    with db.read() as session:
        projected = set(session.execute(select(TimelineEvent.event_id)).scalars())
        assert (projection.lag(session), projection.set_aside(session)) == (0, 1)
    assert projected == {"a", "b"}
    assert [s for s in sent if "SAVEPOINT" in s.upper()]  # the retry: one entry at a time


def test_a_broken_database_fails_the_batch_at_once_without_a_retry(db: Database) -> None:
    ingest_batch(db, [delivery(_merged("a")), delivery(_merged("b"))], SECRETS)
    _rename(db, "timeline", "timeline_away")
    with pytest.raises(Exception) as raised:
        projection.project_in(db, partial(projection.project_pending, limit=10))
    assert not isinstance(raised.value, projection.BatchFailed)
    assert not blames_the_input(raised.value)
    with db.read() as session:
        assert (projection.lag(session), projection.set_aside(session)) == (2, 0)
