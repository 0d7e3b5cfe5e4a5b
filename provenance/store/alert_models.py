"""Rows for policy alerts. `alerts` and `puller_seen` are projection (rebuilt from the log);
`alert_deliveries` is outbound state and survives a rebuild, so nothing is sent twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from provenance.store.models import Base, BigId


class AlertRow(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_time", "time"),
        Index("ix_alerts_kind_time", "kind", "time"),
        # A scope's findings from a time on (a workload re-derived from there).
        Index("ix_alerts_scope_time", "scope", "time"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Up to `new_puller:<repository>:<actor>`, 612 characters (migration 0006).
    key: Mapped[str] = mapped_column(String(640), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    time: Mapped[datetime]
    digest: Mapped[str | None] = mapped_column(String(71))
    repository: Mapped[str | None] = mapped_column(String(500))
    details: Mapped[dict[str, Any]]
    events: Mapped[list[Any]]
    seq: Mapped[int] = mapped_column(BigInteger)
    # The history the finding was derived from (a tag, a workload, a digest's deletes, a
    # puller): recomputed with it. A finding that no longer holds is kept, superseded.
    # `puller:<repository>|<actor>` is the longest: up to 608 characters.
    scope: Mapped[str] = mapped_column(String(640), default="")
    superseded_at: Mapped[datetime | None]
    superseded_by: Mapped[list[Any] | None]


class PullerSeen(Base):
    """Who has pulled from which repository, and their first pull by event time (`okey`):
    what makes a puller new."""

    __tablename__ = "puller_seen"

    repository: Mapped[str] = mapped_column(String(500), primary_key=True)
    actor: Mapped[str] = mapped_column(String(300), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    okey: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime]
    data: Mapped[dict[str, Any]]


class AlertDelivery(Base):
    """Outbound webhook state per alert key: attempts, backoff, success."""

    __tablename__ = "alert_deliveries"

    key: Mapped[str] = mapped_column(String(640), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


ALERT_PROJECTION_TABLES = (AlertRow, PullerSeen)

__all__ = ["ALERT_PROJECTION_TABLES", "AlertDelivery", "AlertRow", "PullerSeen"]
