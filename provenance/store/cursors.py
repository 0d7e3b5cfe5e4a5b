"""Named positions in the log, kept in the `projection_cursor` table.

The graph projection has one (`graph`, moved by `projection.project_pending`); the
distributed mode keeps another for the canonical-events topic, so the log doubles as
the outbox of that topic.

    get(session, name) -> seq           0 when the cursor was never moved
    advance(session, name, seq)         move forward, never back
    entries_after(session, name, limit) the entries after it, without their bodies
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from provenance.store.models import LogEntry, ProjectionCursor


def get(session: Session, name: str) -> int:
    seq = session.execute(
        select(ProjectionCursor.seq).where(ProjectionCursor.name == name)
    ).scalar_one_or_none()
    return int(seq or 0)


def advance(session: Session, name: str, seq: int) -> None:
    row = session.execute(
        select(ProjectionCursor).where(ProjectionCursor.name == name).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        session.add(ProjectionCursor(name=name, seq=seq))
    elif seq > row.seq:
        row.seq = seq
    session.flush()


def entries_after(session: Session, name: str, *, limit: int) -> list[Any]:
    """(seq, source, received_at, hash, events) rows after the cursor, oldest first.
    Bodies stay in the database: the events topic carries canonical events only."""
    stmt = (
        select(LogEntry.seq, LogEntry.source, LogEntry.received_at, LogEntry.hash, LogEntry.events)
        .where(LogEntry.seq > get(session, name))
        .order_by(LogEntry.seq)
        .limit(limit)
    )
    return list(session.execute(stmt).all())


__all__ = ["advance", "entries_after", "get"]
