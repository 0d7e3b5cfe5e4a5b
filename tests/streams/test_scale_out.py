"""Scale-out of the projection with real processes: `provenance api` -> Tansu ->
two `provenance worker`s in one group -> PostgreSQL. Each worker projects the entries of
the partitions it owns behind one cursor per partition; the graph they build from a
shuffled stream is the one the embedded service builds from the same events in time
order; a worker killed mid-stream leaves its partitions to the other, which projects what
they still lack, nothing twice."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from provenance.store import projection
from provenance.store.models import LogEntry, ProjectionCursor
from tests.streams import story
from tests.streams.conftest import Stack
from tests.streams.test_kafka import _deliveries, _exactly_once
from tests.streams.test_lanes import embedded_answers, exactly_once

pytestmark = pytest.mark.integration


def _lanes(stack: Stack) -> dict[str, tuple[int, int]]:
    """lane -> (its last entry's seq, its cursor)."""
    with stack.db.read() as s:
        last = dict(
            s.execute(
                select(LogEntry.lane, func.max(LogEntry.seq))
                .where(LogEntry.lane.is_not(None))
                .group_by(LogEntry.lane)
            ).all()
        )
        cursors = {
            name: seq
            for name, seq in s.execute(select(ProjectionCursor.name, ProjectionCursor.seq)).all()
        }
        done = cursors.get(projection.CURSOR, 0)
    return {
        lane: (int(seq), max(cursors.get(projection.lane_cursor(lane), 0), done))
        for lane, seq in last.items()
    }


def _processed(worker: Any) -> dict[str, Any]:
    ready = httpx.get(worker.base_url + "/readyz", trust_env=False).json()
    return dict(ready["checks"]["processed"])


def test_two_workers_project_a_shuffled_stream_into_the_graph_of_time_order(
    stack: Stack, tmp_path: Path
) -> None:
    events = story.events(21, 160)
    expected = embedded_answers(tmp_path, events)
    workers = [
        stack.worker("worker-1", PROVENANCE_WORKER_BATCH="3"),
        stack.worker("worker-2", PROVENANCE_WORKER_BATCH="3"),
    ]
    api = stack.api()
    stack.wait_assigned(*workers)

    rng = random.Random(21)
    arrival = events[:]
    rng.shuffle(arrival)
    arrival += rng.sample(events, 8)  # registry retries: duplicates
    with httpx.Client(base_url=api.base_url, trust_env=False, timeout=30) as http:
        i = 0
        while i < len(arrival):
            n = rng.randint(1, 3)
            group, i = arrival[i : i + n], i + n
            response = http.post("/v1/events", content=orjson.dumps(group))
            assert response.status_code == 202, response.text
    stack.wait_logged(len(events), timeout=240)

    lanes = _lanes(stack)
    assert len(lanes) >= 3, lanes  # the repositories spread over the partitions
    assert all(cursor >= last for last, cursor in lanes.values()), lanes
    assert all(_processed(w)["messages"] > 0 for w in workers)  # both took their share
    got = story.answers(stack.db)
    assert story.differences(got, expected) == []
    exactly_once(stack.db, events)
    assert stack.verify().ok


def test_a_worker_killed_mid_stream_leaves_no_entry_unprojected_and_none_twice(
    stack: Stack,
) -> None:
    first = stack.worker("worker-1", PROVENANCE_WORKER_BATCH="5")
    second = stack.worker("worker-2", PROVENANCE_WORKER_BATCH="5")
    stack.wait_assigned(first, second)
    mine = stack.assigned(first)
    stack.publish(_deliveries("scale", 3000, per_delivery=5))  # 600 messages, 40 keys

    deadline = time.monotonic() + 90
    while stack.events_logged() < 600 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(first.process.pid, signal.SIGKILL)  # the worker and its projection process
    first.process.wait(timeout=10)
    at_kill = stack.events_logged()
    assert 0 < at_kill < 3000, f"the kill did not land mid-stream ({at_kill})"

    stack.wait_logged(3000, timeout=240)  # the other worker took the partitions over
    assert stack.assigned(second) >= mine
    lanes = _lanes(stack)
    assert all(cursor >= last for last, cursor in lanes.values()), lanes
    _exactly_once(stack, 3000, entries=600)
    with stack.db.read() as s:
        assert projection.lag(s) == 0
        assert projection.oldest_pending(s) is None
    ready = httpx.get(second.base_url + "/readyz", trust_env=False).json()["checks"]
    assert ready["database"]["projection_lag"] == 0
    assert ready["database"]["log_entries"] == 600
