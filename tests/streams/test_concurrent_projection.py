"""Two `project_lane` calls at once, on PostgreSQL, on lanes that share everything: the
same tags, workloads, pullers, actors, repositories and digests. Nothing serializes the
two projectors but the rows and keys they touch (no global lock), so this is where a lost
attribute merge, a duplicated once-only edge, a history derived without the other lane's
facts, or a deadlock would show. The graph must be the one a single projector builds from
the same log, and the one the embedded service builds from the events in time order; a
deadlock or serialization failure must be retried, never raised, and stay rare."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select, text

from provenance.ingest.service import LaneProjector, ProjectionRunner, ingest, ingest_batch
from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.model.timeutil import utcnow
from provenance.store import Database, projection
from provenance.store.models import HISTORY_EDGE_KINDS, Edge, Node
from tests.factories import delivery, event
from tests.streams import story

pytestmark = pytest.mark.integration

LANES = ["hammer:0", "hammer:1"]
BATCH = 2  # log entries per transaction


@pytest.fixture
def pg(pg_url: str) -> Iterator[Database]:
    db = Database(pg_url)
    db.upgrade()
    yield db
    db.dispose()


def in_time_order(tmp_path: Path, events: list[dict[str, Any]]) -> dict[str, Any]:
    db = Database(f"sqlite:///{tmp_path / 'embedded.db'}")
    db.upgrade()
    for e in events:
        ingest(db, delivery(e), SourceSecrets())
    ProjectionRunner(db).catch_up()
    try:
        return story.answers(db)
    finally:
        db.dispose()


def append(db: Database, events: list[dict[str, Any]], seed: int, *, shuffle: bool) -> None:
    """Deliveries of 1-3 events, each in a lane drawn at random: both lanes name every
    tag, workload, puller and node. Shuffled (with retried duplicates), or in time order:
    then no later batch re-derives a history from an earlier time, which would mend a
    history derived without the other lane's facts."""
    rng = random.Random(seed)
    arrival = events[:]
    if shuffle:
        arrival += rng.sample(events, 10)
        rng.shuffle(arrival)
    while arrival:
        size = rng.randint(1, 3)
        group, arrival = arrival[:size], arrival[size:]
        body = orjson.dumps(group)
        d = Delivery("events", body, utcnow(), "application/json")
        ingest_batch(db, [d], SourceSecrets(), lanes=[rng.choice(LANES)])


def graph_shape(db: Database) -> dict[str, Any]:
    with db.read() as s:
        once = s.execute(
            select(
                func.count(), func.count(func.distinct(Edge.src + "|" + Edge.kind + "|" + Edge.dst))
            ).where(Edge.kind.not_in(HISTORY_EDGE_KINDS))
        ).one()
        return {"once edges": once[0], "distinct once edges": once[1]}


def in_step(pg: Database, *, batch: int) -> tuple[list[int], list[BaseException]]:
    """Project both lanes to the end in two threads, in step: both projectors start a
    transaction at the same moment, every round. Returns the transactions of each and
    what escaped them."""
    step = threading.Barrier(len(LANES), timeout=120)
    failures: list[BaseException] = []
    transactions = [0] * len(LANES)
    done = [False] * len(LANES)

    def project(i: int) -> None:
        projector = LaneProjector(pg, batch=batch)
        try:
            while not all(done):
                step.wait()
                if not done[i] and projector.catch_up([LANES[i]], rounds=1):
                    transactions[i] += 1
                else:
                    done[i] = True
                step.wait()  # both have read `done` before either changes it again
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)
            step.abort()

    threads = [threading.Thread(target=project, args=(i,)) for i in range(len(LANES))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    return transactions, failures


@pytest.mark.parametrize(("seed", "shuffle"), [(21, True), (22, False), (23, False)])
def test_two_projectors_on_shared_keys_build_the_single_projector_graph(
    pg: Database, tmp_path: Path, seed: int, shuffle: bool, caplog: pytest.LogCaptureFixture
) -> None:
    events = story.events(seed, 220)
    expected = in_time_order(tmp_path, events)
    append(pg, events, seed, shuffle=shuffle)

    caplog.set_level(logging.INFO, logger="provenance.ingest.service")
    transactions, failures = in_step(pg, batch=BATCH)
    assert not failures, failures  # no deadlock escaped the projector
    assert all(n > 20 for n in transactions), transactions  # side by side, many times
    retried = sum("conflicted" in r.getMessage() for r in caplog.records)
    assert retried <= sum(transactions) // 4, (retried, transactions)  # and rarely

    with pg.read() as s:
        assert projection.lag(s) == 0
        assert projection.set_aside(s) == 0
    shape = graph_shape(pg)
    assert shape["once edges"] == shape["distinct once edges"] > 0
    concurrent = story.answers(pg)
    assert story.differences(concurrent, expected) == []

    # the same log, projected again by one projector alone
    with pg.write() as s:
        projection.rebuild(s)
    ProjectionRunner(pg, batch=2).catch_up()
    assert story.answers(pg) == concurrent
    assert graph_shape(pg) == shape


def test_the_advisory_locks_are_transaction_scoped(pg: Database) -> None:
    """A projection that commits holds no history key lock afterwards (they would pile up
    in a long-lived connection and block every other lane)."""
    events = story.events(5, 40)
    append(pg, events, 5, shuffle=True)
    LaneProjector(pg, batch=5).catch_up(LANES)
    with pg.read() as s:
        held = s.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid = :space AND objsubid = 2 AND database ="
                " (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"space": 0x68697374},  # history's key lock space
        ).scalar_one()
        assert projection.lag(s) == 0
    assert held == 0


def test_a_build_learns_from_both_lanes_at_once(pg: Database) -> None:
    """Builds known already (queued) learn `started` in one lane and `finished` with its
    builder in the other, the two projectors in step: no merge of attributes is lost."""
    builds = [f"run-{n}" for n in range(40)]
    queued = [event("build.queued", n, build=b) for n, b in enumerate(builds)]
    ingest(pg, delivery(*queued), SourceSecrets())
    ProjectionRunner(pg).catch_up()
    for n, b in enumerate(builds):
        started = event("build.started", n + 1, build=b)
        finished = event("build.finished", n + 2, build=b, builder=f"ci-{n % 3}")
        for e, lane in ((started, LANES[0]), (finished, LANES[1])):
            d = Delivery("events", orjson.dumps([e]), utcnow(), "application/json")
            ingest_batch(pg, [d], SourceSecrets(), lanes=[lane])
    transactions, failures = in_step(pg, batch=1)
    assert not failures, failures
    assert min(transactions) == len(builds)
    with pg.read() as s:
        attrs = {n.id: n.attrs for n in s.scalars(select(Node).where(Node.kind == "build"))}
    assert len(attrs) == len(builds)
    for n, b in enumerate(builds):
        got = attrs[f"build:{b}"]
        assert {"queued", "started", "finished"} <= got.keys(), got
        assert got["builder"] == f"ci-{n % 3}"
