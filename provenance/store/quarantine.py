"""What was set aside, kept with the reason; never silently dropped.

    put(session, delivery, error=, reason=)         a refused delivery
    put_item(session, delivery, index, error=, reason=)
                                                    one refused event of an accepted delivery
    put_projection(session, entry, error=, reason=) an accepted log entry that failed to project
    items(session, after=, limit=, kind=)           oldest first
    count(session, kind)                            how many of a kind (readiness, metrics)

Whatever was refused may be exactly what the database cannot hold (a NUL byte, a
500-character content type): the body is kept as bytes, and the columns beside it are
made storable here, so that quarantining a hostile delivery can never fail in its turn.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from provenance.model.delivery import Delivery
from provenance.store.log import kept_headers
from provenance.store.models import LogEntry, QuarantineItem


class Kind(StrEnum):
    DELIVERY = "delivery"  # refused whole at the edge (400, 404, 413, 415, 422)
    EVENT = "event"  # one event of a delivery whose other events were accepted
    PROJECTION = "projection"  # accepted and logged, but failed to project: a bug to fix


def put(session: Session, delivery: Delivery, *, error: str, reason: str) -> int:
    return _add(session, delivery, Kind.DELIVERY, error=error, reason=reason)


def put_item(session: Session, delivery: Delivery, index: int, *, error: str, reason: str) -> int:
    return _add(session, delivery, Kind.EVENT, error=error, reason=reason, item_index=index)


def put_projection(session: Session, entry: LogEntry, *, error: str, reason: str) -> int:
    item = QuarantineItem(
        kind=Kind.PROJECTION,
        seq=entry.seq,
        received_at=entry.received_at,
        source=_text(entry.source, 64),
        error=_text(error, 40),
        reason=_text(reason, 4000),
        content_type=_text(entry.content_type, 200),
        params=_strings(entry.params),
        headers=_strings(entry.headers),
        body=entry.body if isinstance(entry.body, bytes) else b"",
    )
    session.add(item)
    session.flush()
    return item.id


def _add(
    session: Session,
    delivery: Delivery,
    kind: Kind,
    *,
    error: str,
    reason: str,
    item_index: int | None = None,
) -> int:
    item = QuarantineItem(
        kind=kind,
        item_index=item_index,
        received_at=delivery.received_at,
        source=_text(delivery.source, 64),
        error=_text(error, 40),
        reason=_text(reason, 4000),
        content_type=_text(delivery.content_type, 200),
        params=_strings(delivery.params),
        headers=_strings(kept_headers(delivery.headers)),
        body=delivery.body,
    )
    session.add(item)
    session.flush()
    return item.id


def items(
    session: Session, *, after: int = 0, limit: int = 100, kind: str | None = None
) -> list[QuarantineItem]:
    stmt = select(QuarantineItem).where(QuarantineItem.id > after)
    if kind is not None:
        stmt = stmt.where(QuarantineItem.kind == kind)
    return list(session.execute(stmt.order_by(QuarantineItem.id).limit(limit)).scalars())


def count(session: Session, kind: Kind) -> int:
    stmt = select(func.count()).select_from(QuarantineItem).where(QuarantineItem.kind == kind)
    return int(session.execute(stmt).scalar_one())


def _text(value: object, limit: int) -> str:
    """Storable text: no NUL (PostgreSQL refuses it), at most `limit` characters."""
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\x00", "\\x00")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _strings(values: Mapping[str, Any] | Any) -> dict[str, str]:
    if not isinstance(values, Mapping):
        return {}
    out: dict[str, str] = {}
    for key, value in list(values.items())[:50]:
        out[_text(key, 200)] = _text(value, 2000)
    return out


__all__ = ["Kind", "count", "items", "put", "put_item", "put_projection"]
