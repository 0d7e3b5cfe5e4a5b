"""`provenance db rebuild`: `rebuild(db, batch=) -> entries replayed`.

The graph is a projection of the log, so it can always be dropped and replayed: the
projection tables are emptied in one transaction (entries set aside are tried again), then
the log is projected from its first entry in transactions of `batch` entries and at most
`max_events` events.

Large transactions on purpose: once the indexes outgrow what a transaction touches, every
index entry with a random key (a digest, an event id) dirties a page of its own, and each
dirtied page is written at commit (to the WAL, then by the checkpoint). The more events a
transaction holds, the more of them share a page, provided the page cache holds them until
the commit (`Database.replaying`). A million events replayed in 176 s this way, against
295 s in transactions of 10,000 events with the writer's usual cache (bench/README, "Sized
by events"). A transaction then holds the writer for up to ~10 s: a `serve` on the same
database waits that long to append (its busy timeout is 30 s).
"""

from __future__ import annotations

from provenance.ingest.service import ProjectionRunner
from provenance.store import Database, projection

# Events per transaction of a replay: ~10 s of projection each at a million events, its
# buffers and the pages it dirties held in memory until its commit.
REPLAY_EVENTS = 50_000


def rebuild(
    db: Database,
    *,
    batch: int = 500,
    max_events: int = REPLAY_EVENTS,
    min_severity: str = "critical",
) -> int:
    with db.write() as session:
        projection.rebuild(session)
    runner = ProjectionRunner(db, batch=batch, max_events=max_events, min_severity=min_severity)
    with db.replaying():  # a cache that holds what such a transaction dirties
        return runner.catch_up()


__all__ = ["REPLAY_EVENTS", "rebuild"]
