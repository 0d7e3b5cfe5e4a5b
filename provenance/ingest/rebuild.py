"""`provenance db rebuild`: `rebuild(db, batch=) -> entries replayed`.

The graph is a projection of the log, so it can always be dropped and replayed: the
projection tables are emptied in one transaction (entries set aside are tried again), then
the log is projected from its first entry in transactions of `batch` entries and at most
`max_events` events.

Large transactions on purpose: once the indexes outgrow what a transaction touches, every
index entry with a random key (a digest, an event id) dirties a page of its own, and each
dirtied page is written at commit (to the WAL, then by the checkpoint). The more events a
transaction holds, the more of them share a page: at a million events, transactions of
50,000 events project 1.4-1.7x faster than transactions of 10,000 (bench/README, "Sized by
events"). Nothing else writes while the log is replayed, so nobody waits on the writer.
"""

from __future__ import annotations

from provenance.ingest.service import ProjectionRunner
from provenance.store import Database, projection

# Events per transaction of a replay: ~12 s of projection each, and the writer's buffers and
# dirty pages of one (some hundreds of MiB at a million events; the page cache spills the
# rest to the WAL).
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
    return runner.catch_up()


__all__ = ["REPLAY_EVENTS", "rebuild"]
