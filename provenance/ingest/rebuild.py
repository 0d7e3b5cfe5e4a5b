"""`provenance db rebuild`: `rebuild(db, batch=) -> entries replayed`.

The graph is a projection of the log, so it can always be dropped and replayed: the
projection tables are emptied in one transaction (entries set aside are tried again), then
the log is projected from its first entry in transactions of `batch` entries.
"""

from __future__ import annotations

from provenance.ingest.service import ProjectionRunner
from provenance.store import Database, projection


def rebuild(db: Database, *, batch: int = 500, min_severity: str = "critical") -> int:
    with db.write() as session:
        projection.rebuild(session)
    return ProjectionRunner(db, batch=batch, min_severity=min_severity).catch_up()


__all__ = ["rebuild"]
