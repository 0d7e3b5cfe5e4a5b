"""Alerts as what the event-time histories imply, and reading them back.

`reconcile` is given, for a set of scopes (a tag, a workload, a digest's deletes, a
puller), every finding those histories imply now. A finding already stored stays as it is
(same row, same id: nothing is sent twice); a new one is inserted (the notifier and the
alerts topic read this table as their outbox); a stored one that no longer holds is kept,
marked superseded, with the keys of the findings of its scope that replaced it. A finding's
stored key is its rule key plus a fingerprint of what it asserts, so a rebuild or any
arrival order stores the same keys.

Entry points: `reconcile`, `stored_key`, `list_alerts`, `due_for_delivery`,
`record_attempt`, `delivery_state`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from provenance.model import alerts as rules
from provenance.model.timeutil import format_time, utcnow
from provenance.store.alert_models import AlertDelivery, AlertRow

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Raised:
    """A finding, the scope whose history implies it, and the log entries behind it."""

    scope: str
    finding: rules.Finding
    events: tuple[int, ...]


def stored_key(finding: rules.Finding) -> str:
    what = orjson.dumps(
        [
            finding.kind.value,
            format_time(finding.time),
            finding.digest,
            finding.repository,
            finding.details,
        ],
        option=orjson.OPT_SORT_KEYS,
    )
    return f"{finding.key}@{hashlib.sha256(what).hexdigest()[:12]}"


def reconcile(
    session: Session,
    insert: Callable[[Any], Any],
    scopes: set[str],
    raised: Sequence[Raised],
    *,
    since: Mapping[str, datetime] | None = None,
) -> None:
    """Make the stored alerts of `scopes` the findings `raised` (see the module docstring).
    A scope in `since` was derived again only from that time on: its stored findings
    before it stand as they are."""
    if not scopes:
        return
    desired: dict[str, Raised] = {}
    for r in sorted(raised, key=lambda r: r.finding.time):  # stable: rule order on ties
        desired.setdefault(stored_key(r.finding), r)
    bounds: dict[datetime | None, list[str]] = {}
    for scope in sorted(scopes):
        bounds.setdefault((since or {}).get(scope), []).append(scope)
    existing: list[Any] = []
    for bound, scope_list in bounds.items():
        for start in range(0, len(scope_list), _CHUNK):
            chunk = scope_list[start : start + _CHUNK]
            stmt = select(AlertRow.id, AlertRow.key, AlertRow.scope, AlertRow.superseded_at).where(
                AlertRow.scope.in_(chunk)
            )
            if bound is not None:
                stmt = stmt.where(AlertRow.time >= bound)
            existing.extend(session.execute(stmt))
    stored = {key for _, key, _, _ in existing}
    fresh_by_scope: dict[str, list[str]] = {}
    for key, r in desired.items():
        if key not in stored:
            fresh_by_scope.setdefault(r.scope, []).append(key)
    now = utcnow()
    revived = [i for i, key, _, gone in existing if key in desired and gone is not None]
    if revived:
        session.execute(
            update(AlertRow)
            .where(AlertRow.id.in_(revived))
            .values(superseded_at=None, superseded_by=None)
        )
    stale = [
        {"id": row_id, "superseded_at": now, "superseded_by": sorted(fresh_by_scope.get(scope, []))}
        for row_id, key, scope, gone in existing
        if key not in desired and gone is None
    ]
    if stale:
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
        for key, r in desired.items()
        if key not in stored
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
