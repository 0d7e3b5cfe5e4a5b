"""How far the log and the graph have come: what readiness and metrics report.

    log_head(session) -> (seq, hash)            the last entry of the hash-chained log
    projection_lag(session) -> int              entries no cursor has projected yet
    oldest_pending(session) -> LogEntry | None  the oldest of them (None: caught up)
    set_aside(session) -> int                   entries the projection could not take

Each reads in the caller's transaction, so one probe sees one state of the database.
"""

from __future__ import annotations

from provenance.store import Session, log, projection
from provenance.store.models import LogEntry


def log_head(session: Session) -> tuple[int, str]:
    return log.head(session)


def projection_lag(session: Session) -> int:
    return projection.lag(session)


def oldest_pending(session: Session) -> LogEntry | None:
    """In distributed mode each partition's cursor moves on its own: the oldest pending
    entry is not simply the one after the global cursor."""
    return projection.oldest_pending(session)


def set_aside(session: Session) -> int:
    """Listed by `GET /v1/quarantine?kind=projection`; replayed by a rebuild."""
    return projection.set_aside(session)


__all__ = ["log_head", "oldest_pending", "projection_lag", "set_aside"]
