"""Alerts stored, superseded and read back: the rows of what `provenance.model.alerts` decides.

`reconcile` is given, for a set of scopes (a tag, a workload, a digest's deletes, a
puller), every finding those histories imply now, reads the scopes' stored alerts and
carries out `provenance.model.alerts.supersede.plan` on them: new ones inserted (the
notifier and the alerts topic read this table as their outbox), ones that no longer hold
marked superseded (kept), ones that hold again revived. Ids, keys and rows of findings
that still hold are left as they are: nothing is sent twice.

Entry points: `reconcile`, `list_alerts`, `due_for_delivery`, `record_attempt`,
`delivery_state` (and `stored_key`, `Raised` from the model, for callers of `reconcile`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from provenance.model.alerts.kinds import Raised
from provenance.model.alerts.supersede import Stored, plan, stored_key
from provenance.model.timeutil import utcnow
from provenance.store.alert_models import AlertDelivery, AlertRow

_CHUNK = 500
# The stored alerts of some scopes (from a time on): built once, run once per batch of the
# projection with the scopes bound (a statement built per call cost more than its run).
_STORED = select(AlertRow.id, AlertRow.key, AlertRow.scope, AlertRow.superseded_at).where(
    AlertRow.scope.in_(bindparam("scopes", expanding=True))
)
_STORED_SINCE = _STORED.where(AlertRow.time >= bindparam("bound", type_=AlertRow.time.type))


def reconcile(
    session: Session,
    insert: Callable[[Any], Any],
    scopes: set[str],
    raised: Sequence[Raised],
    *,
    since: Mapping[str, datetime] | None = None,
) -> None:
    """Make the stored alerts of `scopes` the findings `raised` (`supersede.plan`).
    A scope in `since` was derived again only from that time on: its stored findings
    before it stand as they are."""
    if not scopes:
        return
    bounds: dict[datetime | None, list[str]] = {}
    for scope in sorted(scopes):
        bounds.setdefault((since or {}).get(scope), []).append(scope)
    existing: list[Stored] = []
    for bound, scope_list in bounds.items():
        for start in range(0, len(scope_list), _CHUNK):
            chunk = scope_list[start : start + _CHUNK]
            stmt = _STORED if bound is None else _STORED_SINCE
            existing.extend(
                Stored(i, key, scope, gone is not None)
                for i, key, scope, gone in session.execute(stmt, {"scopes": chunk, "bound": bound})
            )
    todo = plan(existing, raised)
    if todo.revived:
        session.execute(
            update(AlertRow)
            .where(AlertRow.id.in_(todo.revived))
            .values(superseded_at=None, superseded_by=None)
        )
    if todo.stale:
        now = utcnow()
        stale = [{"id": i, "superseded_at": now, "superseded_by": by} for i, by in todo.stale]
        session.execute(update(AlertRow), stale)  # bulk UPDATE by primary key
    rows = [
        {
            "key": key,
            "kind": r.finding.kind.value,
            "time": r.finding.time,
            "digest": r.finding.digest,
            "repository": r.finding.repository,
            "details": r.finding.details,
            "events": list(r.events),
            "seq": max(r.events, default=0),
            "scope": r.scope,
            "superseded_at": None,
            "superseded_by": None,
        }
        for key, r in todo.new.items()
    ]
    if rows:
        # A key may already be stored under another scope (one event, several containers).
        stmt = insert(AlertRow).on_conflict_do_nothing(index_elements=["key"])
        session.execute(stmt, rows)


def list_alerts(
    session: Session,
    *,
    since: datetime | None = None,
    kind: str | None = None,
    after: int = 0,
    limit: int = 100,
    superseded: bool = True,
) -> list[AlertRow]:
    """Alerts in the order they were raised; `superseded=False`: only those that still hold."""
    stmt = select(AlertRow).where(AlertRow.id > after)
    if not superseded:
        stmt = stmt.where(AlertRow.superseded_at.is_(None))
    if since is not None:
        stmt = stmt.where(AlertRow.time >= since)
    if kind is not None:
        stmt = stmt.where(AlertRow.kind == kind)
    return list(session.execute(stmt.order_by(AlertRow.id).limit(limit)).scalars())


def due_for_delivery(session: Session, now: datetime, *, limit: int = 50) -> list[AlertRow]:
    """Alerts not yet delivered whose next attempt is due (never tried counts as due)."""
    stmt = (
        select(AlertRow)
        .outerjoin(AlertDelivery, AlertDelivery.key == AlertRow.key)
        .where(
            AlertDelivery.delivered_at.is_(None),
            (AlertDelivery.key.is_(None)) | (AlertDelivery.next_attempt_at <= now),
            AlertRow.superseded_at.is_(None),  # no longer holds: nothing to tell
        )
        .order_by(AlertRow.id)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


def record_attempt(
    session: Session,
    key: str,
    *,
    now: datetime,
    ok: bool,
    error: str | None,
    retry_in: Callable[[int], timedelta],
) -> int:
    """Count one attempt; the next is due `retry_in(attempts)` later. Returns attempts."""
    row = session.get(AlertDelivery, key)
    if row is None:
        row = AlertDelivery(key=key, attempts=0, next_attempt_at=now, delivered_at=None)
        session.add(row)
    row.attempts += 1
    row.delivered_at = now if ok else None
    row.last_error = error
    row.next_attempt_at = now + retry_in(row.attempts)
    session.flush()
    return row.attempts


def delivery_state(session: Session, key: str) -> AlertDelivery | None:
    return session.get(AlertDelivery, key)


__all__ = [
    "Raised",
    "delivery_state",
    "due_for_delivery",
    "list_alerts",
    "reconcile",
    "record_attempt",
    "stored_key",
]
