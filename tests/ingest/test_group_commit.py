"""Group commit (`provenance.ingest.group_commit`): deliveries queued while a group commits
go in together, in one transaction, in the order they were queued, each with its own
answer; one the store refuses fails alone. Both backends, real threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select

from provenance.ingest.group_commit import GroupCommit
from provenance.ingest.service import ingest
from provenance.ingest.sources import Delivery, SourceSecrets, normalize_delivery
from provenance.store import Database, log
from provenance.store.models import LogEntry
from tests.factories import delivery, event, sha
from tests.store.test_batch_isolation import MESSAGE, _refuse

SECRETS = SourceSecrets()


def _merged(event_id: str) -> dict[str, Any]:
    return event("change.merged", id=event_id, commit=sha(event_id))


class _Held:
    """A `then` that holds the first turn until `others` deliveries are queued behind it:
    whatever the scheduler does, they are then one group."""

    def __init__(self, others: int) -> None:
        self.others = others
        self.group: GroupCommit | None = None
        self.holding = threading.Event()
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.calls > 1:
            return
        self.holding.set()
        assert self.group is not None
        deadline = time.monotonic() + 10
        while self.group.pending < self.others and time.monotonic() < deadline:
            time.sleep(0.002)


def _append_all(db: Database, deliveries: Sequence[Delivery]) -> tuple[list[Any], int, _Held]:
    """The first delivery alone, the rest queued while its turn is held; returns what each
    append answered (a result or the exception), and the transactions committed."""
    held = _Held(len(deliveries) - 1)
    group = GroupCommit(db, then=held)
    held.group = group
    commits = 0

    def count(_conn: Any) -> None:
        nonlocal commits
        commits += 1

    answers: list[Any] = [None] * len(deliveries)

    def run(index: int) -> None:
        d = deliveries[index]
        try:
            answers[index] = group.append(d, normalize_delivery(d, SECRETS))
        except Exception as exc:
            answers[index] = exc

    sa_event.listen(db.engine, "commit", count)
    try:
        first = threading.Thread(target=run, args=(0,))
        first.start()
        assert held.holding.wait(10)
        rest = [threading.Thread(target=run, args=(i,)) for i in range(1, len(deliveries))]
        for t in rest:
            t.start()
        for t in [first, *rest]:
            t.join(20)
    finally:
        sa_event.remove(db.engine, "commit", count)
    return answers, commits, held


def _logged(db: Database) -> list[list[str]]:
    with db.read() as session:
        rows = session.execute(select(LogEntry.events).order_by(LogEntry.seq)).scalars().all()
    return [[e["id"] for e in events] for events in rows]


def test_deliveries_queued_during_a_commit_are_the_next_group(db: Database) -> None:
    deliveries = [delivery(_merged(f"e{i}")) for i in range(5)]
    answers, commits, held = _append_all(db, deliveries)

    assert commits == 2  # the first alone, the four queued behind it together
    assert held.calls == 2  # `then` once per group, after its commit
    assert all(isinstance(a, log.AppendResult) for a in answers)
    assert sorted(a.seq for a in answers) == [1, 2, 3, 4, 5]
    assert answers[0].seq == 1
    # Each delivery is its own entry, in the order the group took them, the chain unbroken.
    by_seq = {a.seq: [e.id for e in a.accepted] for a in answers}
    assert _logged(db) == [by_seq[s] for s in range(1, 6)]
    with db.read() as session:
        assert log.verify(session).ok


def test_a_repeat_inside_a_group_is_a_duplicate(db: Database) -> None:
    again = _merged("same")
    deliveries = [delivery(_merged("first")), delivery(again), delivery(again)]
    answers, commits, _ = _append_all(db, deliveries)

    assert commits == 2
    accepted = sorted(len(a.accepted) for a in answers)
    assert accepted == [0, 1, 1]  # the second copy is a duplicate, whichever went first
    assert sum(len(a.duplicates) for a in answers) == 1
    assert [a.seq for a in answers].count(None) == 1
    assert len(_logged(db)) == 2


def test_a_delivery_the_store_refuses_fails_alone(db: Database) -> None:
    _refuse(db, "event_keys", "refused")
    deliveries = [delivery(_merged("a")), delivery(_merged("b")), delivery(_merged("refused"))]
    deliveries.append(delivery(_merged("c")))
    answers, _, _ = _append_all(db, deliveries)

    refused = answers[2]
    assert isinstance(refused, Exception) and MESSAGE in str(refused)
    assert [type(a) for i, a in enumerate(answers) if i != 2] == [log.AppendResult] * 3
    assert sorted(i for ids in _logged(db) for i in ids) == ["a", "b", "c"]
    with db.read() as session:
        assert log.verify(session).ok


def test_ingest_without_a_group_is_a_group_of_one(db: Database) -> None:
    outcome = ingest(db, delivery(_merged("x"), _merged("y")), SECRETS)
    assert (outcome.accepted, outcome.duplicates, outcome.seq) == (2, 0, 1)
    repeat = ingest(db, delivery(_merged("x")), SECRETS)
    assert (repeat.accepted, repeat.duplicates, repeat.seq) == (0, 1, None)


def test_a_then_that_fails_still_answers_the_stored_delivery(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise RuntimeError("the projection broke")

    group = GroupCommit(db, then=broken)
    d = delivery(_merged("z"))
    result = group.append(d, normalize_delivery(d, SECRETS))
    assert (result.seq, [e.id for e in result.accepted]) == (1, ["z"])
    assert group.pending == 0
    assert _logged(db) == [["z"]]  # committed before `then` ran: durable all the same
    assert "`then` failed" in caplog.text
