"""Two lanes' projectors writing the first pull of one puller at once, on PostgreSQL.

Every lane's batch meets the same pullers (a repository, an actor), so their first-pull
rows are rows the lanes share: the writer stores them last in the transaction, after the
histories, and reconciles their new_puller findings right after. Here one lane's
transaction is held open right before its commit while the other lane projects a pull of
the same puller: the other must wait on that row (and only there, its histories derived
already), then end with the first pull by event time stored and exactly one new_puller
alert holding, whichever lane heard of the earlier pull."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from provenance.ingest.service import ProjectionRunner, ingest, ingest_batch
from provenance.ingest.sources import SourceSecrets
from provenance.store import Database, projection
from provenance.store.alert_models import PullerSeen
from provenance.store.alerting import list_alerts
from tests.conftest import _MigratedPostgres
from tests.factories import T0, delivery, digest, event

pytestmark = pytest.mark.integration

REPO = "shop/api"
HELD, OTHER = "pulls:0", "pulls:1"


@pytest.fixture
def pg(pg_migrated: _MigratedPostgres) -> Iterator[Database]:
    db = Database(pg_migrated.empty())
    yield db
    db.dispose()


def _append(db: Database, lane: str, *events: dict[str, object]) -> None:
    ingest_batch(db, [delivery(*events)], SourceSecrets(), lanes=[lane])


def _waiting_for_locks(db: Database) -> list[tuple[int, str]]:
    """(pid, statement) of the backends waiting for a lock."""
    with db.read() as s:
        rows = s.execute(
            text(
                "SELECT pid, query FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            )
        ).all()
    return [(int(pid), str(query)) for pid, query in rows]


def _history_locks_held(db: Database, pid: int) -> int:
    with db.read() as s:
        return int(
            s.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = :space AND pid = :pid"
                ),
                {"space": 0x68697374, "pid": pid},  # history's key lock space
            ).scalar_one()
        )


def _someone_waiting(db: Database, timeout: float = 30) -> list[tuple[int, str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := _waiting_for_locks(db):
            return found
        time.sleep(0.02)
    return []


@pytest.mark.parametrize(("held_at", "other_at"), [(4, 9), (9, 4)])
def test_two_lanes_writing_one_pullers_first_pull_leave_one_new_puller(
    pg: Database, held_at: int, other_at: int
) -> None:
    a, b = digest("a"), digest("b")
    known = [  # the nodes both lanes name, stored: only the first-pull row is new to both
        event("artifact.pushed", 0, digest=a, repository=REPO, tag="v0"),
        event("artifact.pushed", 0, digest=b, repository=REPO),
        event("artifact.pulled", 0, digest=a, repository="shop/web", actor="eve"),
    ]
    ingest(pg, delivery(*known), SourceSecrets())
    ProjectionRunner(pg).catch_up()
    _append(pg, HELD, event("artifact.pulled", held_at, digest=a, repository=REPO, actor="eve"))
    other = [
        event("artifact.pushed", 1, digest=b, repository=REPO, tag="v1"),  # a history too
        event("artifact.pulled", other_at, digest=b, repository=REPO, actor="eve"),
    ]
    _append(pg, OTHER, *other)

    projected = threading.Event()
    release = threading.Event()
    failures: list[BaseException] = []

    def held_open() -> None:
        try:
            with pg.write() as s:
                assert projection.project_lane(s, HELD) == 1
                projected.set()
                release.wait(60)  # committed on leaving the block
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)
            projected.set()

    def other_lane() -> None:
        try:
            with pg.write() as s:
                assert projection.project_lane(s, OTHER) == 1
        except BaseException as exc:
            failures.append(exc)

    first = threading.Thread(target=held_open)
    first.start()
    assert projected.wait(60)
    second = threading.Thread(target=other_lane)
    second.start()
    try:
        waiting = _someone_waiting(pg)
        assert len(waiting) == 1, waiting  # the other lane waits on the shared row...
        pid, statement = waiting[0]
        assert "puller_seen" in statement
        assert _history_locks_held(pg, pid) > 0  # ...with its histories derived already
    finally:
        release.set()
        first.join(60)
        second.join(60)
    assert not failures, failures

    with pg.read() as s:
        stored = s.execute(
            select(PullerSeen.time, PullerSeen.seq).where(PullerSeen.repository == REPO)
        ).all()
        holding = list_alerts(s, kind="new_puller", superseded=False)
        every = list_alerts(s, kind="new_puller")
        assert projection.lag(s) == 0
    earliest = T0 + timedelta(minutes=min(held_at, other_at))
    assert [t for t, _ in stored] == [earliest]
    (alert,) = [x for x in holding if x.repository == REPO]
    assert (alert.time, alert.digest) == (earliest, a if held_at < other_at else b)
    assert alert.events == [stored[0][1]]
    # the lane that heard of the earlier pull second superseded the other's finding
    assert len([x for x in every if x.repository == REPO]) == (1 if held_at < other_at else 2)
