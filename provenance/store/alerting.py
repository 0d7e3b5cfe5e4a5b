"""Feeds the alert rules (provenance.alerts) with graph facts during projection, and
reads alerts back. Findings are inserted with ON CONFLICT DO NOTHING on their key, so a
replay of the log never duplicates an alert."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from provenance import alerts as rules
from provenance.events import Event
from provenance.store import evidence
from provenance.store import nodes as N
from provenance.store.alert_models import AlertDelivery, AlertRow, PullerSeen
from provenance.store.models import Edge, Node


class AlertRecorder:
    def __init__(
        self,
        session: Session,
        insert: Callable[[Any], Any],
        *,
        sync_nodes: Callable[[], None],
        pending_edges: Callable[[str, tuple[str, ...]], dict[str, int]],
    ) -> None:
        self._session = session
        self._insert = insert
        # The projector buffers writes: nodes are synced before reading them, and edges it
        # has not written yet are counted from its buffer.
        self._sync_nodes = sync_nodes
        self._pending_edges = pending_edges
        self._seen: set[tuple[str, str]] = set()

    def record(self, seq: int, finding: rules.Finding | None) -> None:
        if finding is None:
            return
        stmt = self._insert(AlertRow).values(
            key=finding.key,
            kind=finding.kind.value,
            time=finding.time,
            digest=finding.digest,
            repository=finding.repository,
            details=finding.details,
            events=[seq],
            seq=seq,
        )
        self._session.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))

    def on_tag_moved(self, seq: int, moved: Event) -> None:
        self.record(seq, rules.tag_moved(moved))

    def on_deployed(self, seq: int, deployed: Event) -> None:
        assert deployed.digest is not None
        evidence = self._evidence(deployed.digest)
        for finding in rules.deployed_without_evidence(deployed, evidence):
            self.record(seq, finding)

    def on_deleted(self, seq: int, deleted: Event) -> None:
        assert deleted.digest is not None
        self._sync_nodes()
        rows = self._session.execute(
            select(Node.attrs)
            .join(Edge, Edge.dst == Node.id)
            .where(
                Edge.src == N.artifact(deleted.digest),
                Edge.kind == "deployed",
                Edge.until.is_(None),
            )
        ).scalars()
        running = [
            {
                k: attrs.get(k)
                for k in ("environment", "cluster", "namespace", "workload", "container")
            }
            for attrs in rows
        ]
        self.record(seq, rules.deleted_while_deployed(deleted, running))

    def on_pulled(self, seq: int, pulled: Event) -> None:
        if pulled.repository is None:
            return
        key = (pulled.repository, pulled.actor or "anonymous")
        if key in self._seen:
            return
        self._session.flush()
        seen = self._session.get(PullerSeen, key) is not None
        if not seen:
            self._session.add(PullerSeen(repository=key[0], actor=key[1], seq=seq))
            self._session.flush()
        self._seen.add(key)
        self.record(seq, rules.new_puller(pulled, seen_before=seen))

    def _evidence(self, digest: str) -> rules.Evidence:
        kinds = ("signs", "attests")
        counts = dict(
            self._session.execute(
                select(Edge.kind, func.count())
                .where(Edge.dst == N.artifact(digest), Edge.kind.in_(kinds))
                .group_by(Edge.kind)
            ).all()
        )
        for kind, n in self._pending_edges(N.artifact(digest), kinds).items():
            counts[kind] = counts.get(kind, 0) + n
        verified = evidence.verified_counts(self._session, digest)
        return rules.Evidence(
            signatures=int(counts.get("signs", 0)),
            attestations=int(counts.get("attests", 0)),
            verified_signatures=verified.get("signature", 0),
            verified_attestations=verified.get("attestation", 0),
        )


def list_alerts(
    session: Session,
    *,
    since: datetime | None = None,
    kind: str | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[AlertRow]:
    stmt = select(AlertRow).where(AlertRow.id > after)
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


__all__ = ["AlertRecorder", "delivery_state", "due_for_delivery", "list_alerts", "record_attempt"]
