"""Timeline rows: a digest's events in event-time order, the event times of a period, and
whether a digest stood deleted at a time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import literal, or_, select, tuple_
from sqlalchemy.orm import Session

from provenance.store.models import TimelineEvent

TimelinePosition = tuple[datetime, int, int, int]  # time, seq, ord, id: the timeline's order


def timeline(
    session: Session, digest: str, *, after: TimelinePosition | None = None, limit: int = 100
) -> list[TimelineEvent]:
    """A digest's events in event-time order (then log seq, then place in the entry)."""
    order = (TimelineEvent.time, TimelineEvent.seq, TimelineEvent.ord, TimelineEvent.id)
    stmt = select(TimelineEvent).where(
        or_(TimelineEvent.digest == digest, TimelineEvent.previous_digest == digest)
    )
    if after is not None:
        bound = (literal(v, c.type) for v, c in zip(after, order, strict=True))
        stmt = stmt.where(tuple_(*order) > tuple_(*bound))
    return list(session.execute(stmt.order_by(*order).limit(limit)).scalars())


def event_times(
    session: Session, *, since: datetime | None, until: datetime | None
) -> Iterator[tuple[datetime, str]]:
    stmt = select(TimelineEvent.time, TimelineEvent.type)
    if since is not None:
        stmt = stmt.where(TimelineEvent.time >= since)
    if until is not None:
        stmt = stmt.where(TimelineEvent.time <= until)
    yield from session.execute(stmt.execution_options(yield_per=5000))


def deleted_at(session: Session, digest: str, as_of: datetime) -> datetime | None:
    """When the digest was deleted if, as of `as_of`, its latest push or delete was a delete."""
    row = session.execute(
        select(TimelineEvent.type, TimelineEvent.time)
        .where(
            TimelineEvent.digest == digest,
            TimelineEvent.type.in_(("artifact.pushed", "artifact.deleted")),
            TimelineEvent.time <= as_of,
        )
        .order_by(
            TimelineEvent.time.desc(),
            TimelineEvent.seq.desc(),
            TimelineEvent.ord.desc(),
            TimelineEvent.id.desc(),
        )
        .limit(1)
    ).first()
    return row.time if row is not None and row.type == "artifact.deleted" else None


__all__ = ["TimelinePosition", "deleted_at", "event_times", "timeline"]
