"""Who pulled a digest: the aggregate rows of today, a summary, or counted as of a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from provenance.store.models import Pull, TimelineEvent

_CHUNK = 500


def pulls(session: Session, digests: Sequence[str]) -> list[Pull]:
    out: list[Pull] = []
    for start in range(0, len(digests), _CHUNK):
        chunk = list(digests[start : start + _CHUNK])
        stmt = (
            select(Pull)
            .where(Pull.digest.in_(chunk))
            .order_by(Pull.digest, Pull.actor, Pull.client)
        )
        out.extend(session.execute(stmt).scalars())
    return out


def pull_summary(session: Session, digest: str) -> tuple[int, datetime | None, list[str]]:
    total, last = session.execute(
        select(func.coalesce(func.sum(Pull.count), 0), func.max(Pull.last)).where(
            Pull.digest == digest
        )
    ).one()
    actors = session.execute(
        select(Pull.actor).where(Pull.digest == digest).distinct().order_by(Pull.actor).limit(100)
    ).scalars()
    return int(total), last, list(actors)


def pulls_as_of(session: Session, digests: Sequence[str], as_of: datetime) -> list[dict[str, Any]]:
    """Pulls per (digest, actor, client) counted from the timeline up to `as_of`: exact
    where the aggregate table only knows the totals of today."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for start in range(0, len(digests), _CHUNK):
        chunk = list(digests[start : start + _CHUNK])
        rows = session.execute(
            select(
                TimelineEvent.digest, TimelineEvent.actor, TimelineEvent.time, TimelineEvent.data
            ).where(
                TimelineEvent.type == "artifact.pulled",
                TimelineEvent.digest.in_(chunk),
                TimelineEvent.time <= as_of,
            )
        )
        for digest, actor, time, data in rows:
            key = (str(digest), actor or "anonymous", str(data.get("client") or ""))
            item = out.setdefault(
                key,
                {
                    "digest": key[0],
                    "actor": key[1],
                    "client": key[2],
                    "count": 0,
                    "first": time,
                    "last": time,
                },
            )
            item["count"] += 1
            item["first"] = min(item["first"], time)
            item["last"] = max(item["last"], time)
    return sorted(out.values(), key=lambda p: (p["digest"], p["actor"], p["client"]))


__all__ = ["pull_summary", "pulls", "pulls_as_of"]
