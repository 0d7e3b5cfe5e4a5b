"""A projection transaction sized by events, not only by entries (`max_events`): a replay
of the log takes as many whole entries as fit in the budget, at least one however large,
and gives the same graph as entries projected one at a time; on both backends. On SQLite a
replay's writer has a page cache that holds what such a transaction dirties."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import text

from provenance.ingest.rebuild import rebuild
from provenance.ingest.service import LaneProjector, ProjectionRunner, ingest_batch
from provenance.ingest.sources import SourceSecrets
from provenance.store import Database, projection
from provenance.store.db import REPLAY_CACHE_KIB
from tests.factories import delivery, digest, event, sha
from tests.store.snapshot import snapshot

SECRETS = SourceSecrets()


def _merges(prefix: str, n: int) -> list[dict[str, Any]]:
    return [event("change.merged", id=f"{prefix}{i}", commit=sha(f"{prefix}{i}")) for i in range(n)]


def _log(db: Database, *sizes: int) -> None:
    """One log entry per size, of that many events."""
    deliveries = [delivery(*_merges(f"e{k}-", n)) for k, n in enumerate(sizes)]
    assert ingest_batch(db, deliveries, SECRETS).entries == len(sizes)


def _step(db: Database, **kwargs: Any) -> int:
    return projection.project_in(db, partial(projection.project_pending, **kwargs))


def test_a_batch_takes_the_entries_that_fit_in_its_events(db: Database) -> None:
    _log(db, 3, 3, 3, 1)
    assert _step(db, limit=10, max_events=7) == 2  # 3 + 3; a third would make 9
    assert _step(db, limit=10, max_events=4) == 2  # 3 + 1
    assert _step(db, limit=10, max_events=4) == 0
    with db.read() as session:
        assert projection.lag(session) == 0


def test_an_entry_larger_than_the_budget_is_taken_alone(db: Database) -> None:
    _log(db, 5, 1)
    assert _step(db, limit=10, max_events=2) == 1
    assert _step(db, limit=10, max_events=2) == 1


def test_the_entries_limit_still_holds_under_the_budget(db: Database) -> None:
    _log(db, 1, 1, 1)
    assert _step(db, limit=2, max_events=100) == 2


def test_a_runner_with_a_budget_catches_up_on_everything(db: Database) -> None:
    """A batch the budget cut short is not the end of what is pending."""
    _log(db, 2, 2, 2, 2, 2)
    assert ProjectionRunner(db, batch=10, max_events=3).catch_up() == 5
    with db.read() as session:
        assert projection.lag(session) == 0


def _transactions(db: Database) -> list[int]:
    """A counter of the write transactions begun from now on (one element each)."""
    begun: list[int] = []
    sa_event.listen(db.engine, "begin", lambda _conn: begun.append(1))
    return begun


def test_a_runner_takes_no_empty_round_unless_the_budget_cut_a_batch(db: Database) -> None:
    """The budget tells the runner when it cut a batch: a catch-up the budget did not cut
    ends with the batch that found fewer entries than asked (no empty round after it, which
    in `serve` would be one more write transaction per request)."""
    _log(db, 2, 2)
    begun = _transactions(db)
    assert ProjectionRunner(db, batch=10, max_events=100).catch_up() == 2
    assert len(begun) == 1
    more = [delivery(*_merges(f"m{k}-", 2)) for k in range(3)]
    assert ingest_batch(db, more, SECRETS).entries == 3
    begun.clear()
    assert ProjectionRunner(db, batch=10, max_events=3).catch_up() == 3
    assert len(begun) == 3  # each cut after one entry; the last found nothing more to take


def test_a_lane_projects_within_its_events_budget(db: Database) -> None:
    lane = "deliveries:0"
    deliveries = [delivery(*_merges(f"l{k}-", n)) for k, n in enumerate((3, 3, 1, 5))]
    assert ingest_batch(db, deliveries, SECRETS, lanes=[lane] * 4).entries == 4
    with db.write() as session:
        assert projection.project_lane(session, lane, limit=10, max_events=4) == 1  # 3; 3 more: 6
    with db.write() as session:
        assert projection.project_lane(session, lane, limit=10, max_events=4) == 2  # 3 + 1
    with db.write() as session:  # larger than the budget: alone
        assert projection.project_lane(session, lane, limit=10, max_events=4) == 1
    begun = _transactions(db)
    assert LaneProjector(db, max_events=4).catch_up([lane]) == 0
    assert len(begun) == 1
    with db.read() as session:
        assert projection.lag(session) == 0


def test_a_replay_in_small_transactions_gives_the_graph_of_one_large(db: Database) -> None:
    _log(db, 4, 1, 3, 2)
    ingest_batch(
        db,
        [delivery(event("artifact.pushed", digest=digest("img"), repository="r", tag="v1"))],
        SECRETS,
    )
    assert rebuild(db, max_events=1_000) == 5
    whole = snapshot(db)
    assert rebuild(db, max_events=2) == 5
    assert snapshot(db) == whole
    assert rebuild(db, batch=1, max_events=1) == 5
    assert snapshot(db) == whole


def test_a_replay_gives_the_writer_a_larger_page_cache_and_then_its_own(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'replay.sqlite'}")
    db.upgrade()

    def cache_kib() -> int:
        with db.write() as session:
            return -int(session.execute(text("PRAGMA cache_size")).scalar_one())

    usual = cache_kib()
    assert usual < REPLAY_CACHE_KIB
    with db.replaying():
        assert cache_kib() == REPLAY_CACHE_KIB
        with db.replaying(cache_kib=4096):
            assert cache_kib() == 4096
        assert cache_kib() == REPLAY_CACHE_KIB
    assert cache_kib() == usual
    with db.read() as session:  # readers keep theirs
        assert -int(session.execute(text("PRAGMA cache_size")).scalar_one()) < usual
