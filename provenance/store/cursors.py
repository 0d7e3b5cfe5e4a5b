"""Named positions in the log, kept in the `projection_cursor` table.

The graph projection has the global one (`graph`, moved by `projection.project_pending`)
and, in distributed mode, one per lane (`graph:<topic>:<partition>`, moved by
`projection.project_lane`); the distributed mode keeps another for the canonical-events
topic, so the log doubles as the outbox of that topic.

    get(session, name) -> seq           0 when the cursor was never moved
    get_many(session, names)            {name: seq} of those that exist
    lock(session, names, skip_locked)   the rows, created at 0 if missing, FOR UPDATE
    advance(session, name, seq)         move forward, never back
    entries_after(session, name, limit) the entries after it, without their bodies
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from provenance.store.models import LogEntry, ProjectionCursor


def get(session: Session, name: str) -> int:
    seq = session.execute(
        select(ProjectionCursor.seq).where(ProjectionCursor.name == name)
    ).scalar_one_or_none()
    return int(seq or 0)


def get_many(session: Session, names: Sequence[str]) -> dict[str, int]:
    if not names:
        return {}
    rows = session.execute(
        select(ProjectionCursor.name, ProjectionCursor.seq).where(
            ProjectionCursor.name.in_(list(names))
        )
    )
    return {str(name): int(seq) for name, seq in rows}


def lock(
    session: Session, names: Sequence[str], *, skip_locked: bool = False
) -> dict[str, ProjectionCursor]:
    """Lock the cursors' rows until the transaction ends, creating missing ones at 0
    (`ON CONFLICT DO NOTHING`: two processes may create the same one at once). In name
    order, so two lockers of overlapping sets cannot deadlock. With `skip_locked`, a row
    another transaction holds is left out of the answer instead of waited for."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    dialect = session.get_bind().dialect.name
    insert_ = sqlite.insert if dialect == "sqlite" else postgresql.insert
    stmt = insert_(ProjectionCursor).on_conflict_do_nothing(index_elements=["name"])
    session.execute(stmt, [{"name": n, "seq": 0} for n in wanted])
    rows = session.execute(
        select(ProjectionCursor)
        .where(ProjectionCursor.name.in_(wanted))
        .order_by(ProjectionCursor.name)
        .with_for_update(skip_locked=skip_locked)
        .execution_options(populate_existing=True)  # the committed value, not a stale one
    ).scalars()
    return {row.name: row for row in rows}


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


__all__ = ["advance", "entries_after", "get", "get_many", "lock"]
