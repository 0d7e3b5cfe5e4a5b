"""Projection by lanes (one cursor per partition), on PostgreSQL, in-process: two
projectors in two threads, each on its own partitions, while the log grows, give the graph
the embedded service gives the same events in time order; a lane handed to another
projector mid-way is finished by it, nothing applied twice; the lag counts what no cursor
has projected. The same with real workers and a broker is tests/streams/test_scale_out.py."""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from provenance.ingest.service import LaneProjector, ProjectionRunner, ingest, ingest_batch
from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.model.timeutil import utcnow
from provenance.store import Database, projection
from provenance.store.models import (
    ArtifactDelete,
    DeployFact,
    LogEntry,
    Pull,
    TagFact,
    TimelineEvent,
)
from tests.factories import delivery
from tests.streams import story

pytestmark = pytest.mark.integration

PARTITIONS = 4


def lane_of(e: dict[str, Any]) -> str:
    """As the API keys a delivery (its repository, else its source), hashed to a lane."""
    key = e.get("repository") or "events"
    return f"deliveries:{int(hashlib.sha1(key.encode()).hexdigest(), 16) % PARTITIONS}"


@pytest.fixture
def pg(pg_url: str) -> Iterator[Database]:
    db = Database(pg_url)
    db.upgrade()
    yield db
    db.dispose()


def embedded_answers(tmp_path: Path, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The embedded service fed the events one by one, in time order."""
    db = Database(f"sqlite:///{tmp_path / 'embedded.db'}")
    db.upgrade()
    runner = ProjectionRunner(db)
    for e in events:
        ingest(db, delivery(e), SourceSecrets())
        runner.catch_up()
    try:
        return story.answers(db)
    finally:
        db.dispose()


def batches(events: list[dict[str, Any]], seed: int) -> list[list[tuple[Delivery, str]]]:
    """The events shuffled, in deliveries of 1-3 events of one lane, in batches of 1-6."""
    rng = random.Random(seed)
    arrival = events[:]
    rng.shuffle(arrival)
    arrival += rng.sample(events, 10)  # retried deliveries: duplicates
    out: list[list[tuple[Delivery, str]]] = []
    current: list[tuple[Delivery, str]] = []
    i = 0
    while i < len(arrival):
        lane = lane_of(arrival[i])
        group = [arrival[i]]
        i += 1
        while i < len(arrival) and len(group) < rng.randint(1, 3) and lane_of(arrival[i]) == lane:
            group.append(arrival[i])
            i += 1
        body = orjson.dumps(group)
        current.append((Delivery("events", body, utcnow(), "application/json"), lane))
        if len(current) >= rng.randint(1, 6):
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def append(db: Database, batch: list[tuple[Delivery, str]]) -> None:
    ingest_batch(db, [d for d, _ in batch], SourceSecrets(), lanes=[lane for _, lane in batch])


def exactly_once(db: Database, events: list[dict[str, Any]]) -> None:
    """Every event on the timeline once, every pull counted once."""
    pulls = sum(1 for e in events if e["type"] == "artifact.pulled")
    with db.read() as s:
        rows = s.execute(
            select(TimelineEvent.event_id, func.count())
            .where(TimelineEvent.derived_tag.is_(None))
            .group_by(TimelineEvent.event_id)
        ).all()
        counted = s.execute(select(func.coalesce(func.sum(Pull.count), 0))).scalar_one()
    assert sorted(r[0] for r in rows) == sorted(e["id"] for e in events)
    assert {r[1] for r in rows} == {1}
    assert counted == pulls


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_projectors_on_their_own_lanes_give_the_graph_of_time_order(
    pg: Database, tmp_path: Path, seed: int
) -> None:
    events = story.events(seed, 160)
    expected = embedded_answers(tmp_path, events)
    lanes = sorted({lane_of(e) for e in events})
    assert len(lanes) >= 3, lanes  # the story spreads over the partitions
    halves = [lanes[0::2], lanes[1::2]]

    appending = threading.Event()
    appending.set()
    failures: list[BaseException] = []

    def project(mine: list[str]) -> None:
        projector = LaneProjector(pg, batch=3)
        try:
            while appending.is_set():
                projector.catch_up(mine, rounds=2)
            projector.catch_up(mine)
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    threads = [threading.Thread(target=project, args=(h,)) for h in halves]
    for t in threads:
        t.start()
    for batch in batches(events, seed):
        append(pg, batch)
    appending.clear()
    for t in threads:
        t.join(timeout=300)
    assert not failures, failures

    with pg.read() as s:
        assert projection.lag(s) == 0
        assert {r for (r,) in s.execute(select(LogEntry.lane).distinct())} == set(lanes)
    got = story.answers(pg)
    assert story.differences(got, expected) == []
    exactly_once(pg, events)

    # the sweep moves the global cursor over what the lanes did, applying nothing again
    LaneProjector(pg).sweep()
    with pg.read() as s:
        head = s.execute(select(func.max(LogEntry.seq))).scalar_one()
        assert s.get(projection.ProjectionCursor, projection.CURSOR).seq == head
        assert projection.lag(s) == 0
        assert projection.oldest_pending(s) is None
    assert story.answers(pg) == got
    exactly_once(pg, events)


def test_a_lane_handed_over_mid_way_is_finished_by_its_new_owner_once(pg: Database) -> None:
    events = story.events(7, 120)
    for batch in batches(events, 7):
        append(pg, batch)
    lanes = sorted({lane_of(e) for e in events})
    with pg.read() as s:
        total = s.execute(select(func.count()).select_from(LogEntry)).scalar_one()
        assert projection.lag(s) == total

    first = LaneProjector(pg, batch=2)
    assert first.catch_up(lanes, rounds=1) > 0  # a little of every lane
    # the first owner dies inside a transaction: what it applied there is rolled back
    with pytest.raises(RuntimeError), pg.write() as s:
        assert projection.project_lane(s, lanes[0], limit=5) > 0
        raise RuntimeError("killed")
    with pg.read() as s:
        left = projection.lag(s)
        assert 0 < left < total
        oldest = projection.oldest_pending(s)
        assert oldest is not None
        assert oldest.lane is not None
        behind = s.get(projection.ProjectionCursor, projection.lane_cursor(oldest.lane))
        assert behind is not None and oldest.seq > behind.seq

    second = LaneProjector(pg, batch=4)
    assert second.catch_up(lanes) == left
    assert second.catch_up(lanes) == 0  # nothing twice
    with pg.read() as s:
        assert projection.lag(s) == 0
    exactly_once(pg, events)


def test_entries_without_a_lane_are_taken_by_the_sweep(pg: Database) -> None:
    """The CLI (reconcile, reverify) appends entries with no lane: the workers' sweep
    projects them, and passes the lanes' entries only once their lane projected them."""
    events = story.events(11, 30)
    lane_events, plain = events[:20], events[20:]
    for e in lane_events:
        append(pg, [(delivery(e), lane_of(e))])
    for e in plain:
        ingest(pg, delivery(e), SourceSecrets())
    projector = LaneProjector(pg)
    assert projector.sweep() == 0  # the first entry is a lane's, not projected yet
    projector.catch_up({lane_of(e) for e in lane_events})
    with pg.read() as s:
        assert projection.lag(s) == len(plain)
    assert projector.sweep() == len(events)
    with pg.read() as s:
        assert projection.lag(s) == 0
    exactly_once(pg, events)


def test_the_global_cursor_takes_lanes_too_and_their_owners_then_skip_them(
    pg: Database,
) -> None:
    """`provenance db rebuild` and the CLI project with the global cursor: it applies
    the lanes' entries too, under their cursors, so a worker never applies them again."""
    events = story.events(13, 60)
    for batch in batches(events, 13):
        append(pg, batch)
    lanes = sorted({lane_of(e) for e in events})
    LaneProjector(pg, batch=2).catch_up(lanes[:1], rounds=2)  # a worker started
    ProjectionRunner(pg, batch=7).catch_up()  # then the CLI
    assert LaneProjector(pg).catch_up(lanes) == 0
    with pg.read() as s:
        assert projection.lag(s) == 0
    exactly_once(pg, events)


def test_facts_stated_twice_are_stored_once(pg: Database) -> None:
    """The cursors make application exactly once; the facts do not rely on it: applying
    an entry again adds no tag, deployment or delete fact."""
    events = story.events(17, 80)
    for e in events:
        ingest(pg, delivery(e), SourceSecrets())
    ProjectionRunner(pg).catch_up()

    def facts() -> tuple[int, int, int]:
        with pg.read() as s:
            return tuple(  # type: ignore[return-value]
                s.execute(select(func.count()).select_from(m)).scalar_one()
                for m in (TagFact, DeployFact, ArtifactDelete)
            )

    before = facts()
    assert all(before)
    with pg.write() as s:
        rows = list(s.execute(select(LogEntry).order_by(LogEntry.seq)).scalars())
        projection.apply_entries(s, rows)
    assert facts() == before
