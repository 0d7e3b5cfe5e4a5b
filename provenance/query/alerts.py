"""Alerts as an answer: policy findings in the order they were raised, a page at a time.

    alerts(session, since, kind, after, limit, superseded) -> AlertPage

The store keeps findings as rows (`provenance.store.alerting`); this is their domain view,
with `superseded` said outright rather than left to a nullable time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from provenance.model.alerts import AlertKind
from provenance.model.errors import InvalidQuery
from provenance.store import Session
from provenance.store.alerting import list_alerts

KINDS: tuple[str, ...] = tuple(k.value for k in AlertKind)


@dataclass(frozen=True, slots=True)
class Alert:
    """A policy finding. A field's `doc` is what the API says of it."""

    id: int
    kind: str
    time: datetime
    digest: str | None
    repository: str | None
    details: dict[str, Any]
    events: list[int] = field(metadata={"doc": "seq numbers of the log entries that caused it"})
    key: str = field(metadata={"doc": "stable identity of the finding (what the webhook sends)"})
    superseded: bool = field(
        default=False,
        metadata={"doc": "a later-arriving event changed the history: no longer holds"},
    )
    superseded_at: datetime | None = None
    superseded_by: list[str] = field(
        default_factory=list, metadata={"doc": "keys of the findings that replaced it"}
    )


@dataclass(frozen=True, slots=True)
class AlertPage:
    items: list[Alert]
    next_after: int | None  # the `after` of the next page; None on the last one


def alerts(
    session: Session,
    *,
    since: datetime | None = None,
    kind: str | None = None,
    after: int = 0,
    limit: int = 100,
    superseded: bool = False,
) -> AlertPage:
    """One page of findings; `superseded` also lists those that no longer hold."""
    if kind is not None and kind not in KINDS:
        raise InvalidQuery(f"kind must be one of: {', '.join(KINDS)}")
    rows = list_alerts(
        session, since=since, kind=kind, after=after, limit=limit, superseded=superseded
    )
    items = [
        Alert(
            id=r.id,
            kind=r.kind,
            time=r.time,
            digest=r.digest,
            repository=r.repository,
            details=r.details,
            events=[int(e) for e in r.events],
            key=r.key,
            superseded=r.superseded_at is not None,
            superseded_at=r.superseded_at,
            superseded_by=[str(k) for k in r.superseded_by or []],
        )
        for r in rows
    ]
    return AlertPage(items, items[-1].id if len(items) == limit else None)


__all__ = ["KINDS", "Alert", "AlertPage", "alerts"]
