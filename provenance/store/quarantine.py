"""Deliveries refused for their content, kept with the reason; never silently dropped."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from provenance.sources import Delivery
from provenance.store.log import kept_headers
from provenance.store.models import QuarantineItem


def put(session: Session, delivery: Delivery, *, error: str, reason: str) -> int:
    item = QuarantineItem(
        received_at=delivery.received_at,
        source=delivery.source,
        error=error,
        reason=reason,
        content_type=delivery.content_type,
        params=dict(delivery.params),
        headers=kept_headers(delivery.headers),
        body=delivery.body,
    )
    session.add(item)
    session.flush()
    return item.id


def items(session: Session, *, after: int = 0, limit: int = 100) -> list[QuarantineItem]:
    stmt = (
        select(QuarantineItem)
        .where(QuarantineItem.id > after)
        .order_by(QuarantineItem.id)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


__all__ = ["items", "put"]
