"""Group commit: deliveries that arrive together are appended in one transaction.

Embedded mode stores each delivery from its request's thread. One transaction per delivery
costs a commit each (the WAL written and synced), and leaves the projection behind it a
delivery at a time. Here a request thread queues its normalized delivery and, once the log
is free, the first thread to take the turn appends everything queued by then (its own and
what other threads queued while the previous group was committing) in one transaction and
hands each delivery its result; the others find theirs done. Under load the groups grow
by themselves; a delivery that arrives alone is a group of one and waits for nothing.

`then` runs in the same turn, after the commit and before any delivery of the group is
answered (should it fail, they are answered all the same: they are stored). `provenance
serve` projects there, so a 202 is readable at once and the graph
takes the log a group at a time (the threads queued meanwhile form the next group).

What a group may not change is kept:
- order: deliveries are appended in the order they were queued, as one after the other;
- a delivery repeated inside a group is a duplicate of the first (`log.append_many`);
- one delivery the store refuses does not fail the others: the group is stored again one
  delivery per transaction, and only the one that still fails gets the error;
- the database being unavailable fails the whole group (nothing of it was committed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from provenance.ingest.quarantine import keep_items
from provenance.ingest.sources import Delivery, Normalized
from provenance.store import Database, blames_the_input, log

logger = logging.getLogger(__name__)

# Deliveries per transaction, at most: bounds the wait of the first of a long queue.
MAX_GROUP = 64


@dataclass(slots=True, eq=False)
class _Queued:
    delivery: Delivery
    normalized: Normalized
    result: log.AppendResult | None = None
    error: BaseException | None = None
    answered: bool = False  # result or error, and `then` has run: the caller may return


class GroupCommit:
    """Appends deliveries to the log, concurrent ones in one transaction (thread-safe)."""

    def __init__(
        self,
        db: Database,
        *,
        then: Callable[[], None] | None = None,
        max_group: int = MAX_GROUP,
    ) -> None:
        self._db = db
        self._then = then
        self._max = max_group
        self._queue: list[_Queued] = []
        self._queue_lock = threading.Lock()
        self._turn = threading.Lock()  # held by the thread committing a group

    def append(self, delivery: Delivery, normalized: Normalized) -> log.AppendResult:
        """Append one normalized delivery (its refused events quarantined alongside);
        returns once the transaction holding it is committed."""
        queued = _Queued(delivery, normalized)
        with self._queue_lock:
            self._queue.append(queued)
        while not queued.answered:  # read again under the turn: set before it is released
            with self._turn:
                if queued.answered:
                    break  # another thread's turn took it
                with self._queue_lock:
                    group = self._queue[: self._max]
                    del self._queue[: self._max]
                try:
                    self._commit(group)
                    if any(q.result is not None for q in group):
                        self._after_commit()
                finally:
                    for q in group:
                        q.answered = True
        if queued.error is not None:
            raise queued.error
        assert queued.result is not None
        return queued.result

    @property
    def pending(self) -> int:
        """Deliveries queued and not yet taken by a turn."""
        with self._queue_lock:
            return len(self._queue)

    def _after_commit(self) -> None:
        if self._then is None:
            return
        try:
            self._then()
        except Exception:  # the group is stored: its deliveries are answered all the same
            logger.exception("after a group commit, `then` failed; the deliveries are stored")

    def _commit(self, group: Sequence[_Queued]) -> None:
        try:
            self._settle(group)
        except BaseException as exc:  # never leave a waiting thread without an answer
            for queued in group:
                if queued.result is None and queued.error is None:
                    queued.error = exc
            raise

    def _settle(self, group: Sequence[_Queued]) -> None:
        try:
            results = self._store(group)
        except Exception as exc:
            if len(group) == 1 or not blames_the_input(exc):
                for queued in group:
                    queued.error = exc
                return
            for queued in group:  # find the one the store refuses; keep the others
                try:
                    queued.result = self._store([queued])[0]
                except Exception as one:
                    queued.error = one
            return
        for queued, result in zip(group, results, strict=True):
            queued.result = result

    def _store(self, group: Sequence[_Queued]) -> list[log.AppendResult]:
        with self._db.write() as session:
            for queued in group:
                keep_items(session, queued.delivery, queued.normalized.rejected)
            return log.append_many(session, [(q.delivery, q.normalized.events) for q in group])


__all__ = ["MAX_GROUP", "GroupCommit"]
