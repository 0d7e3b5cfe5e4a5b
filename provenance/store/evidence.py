"""Evidence: every verdict ever reached about a signature or attestation, append-only.

A row is one verification of one signed/attested event (one subject digest): the verdict
taken on arrival (`origin="arrival"`, written by the projection from the event, so a
rebuild reproduces it exactly) and each later `provenance trust reverify`
(`origin="reverify"`, appended, never updated). Which of an event's rows holds is the one
rule of `provenance.model.verdicts` (latest by the time reached, then seq; never by row id),
applied here in SQL once (`holding_ids`) and read through it by every reader.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    BindParameter,
    Boolean,
    ColumnElement,
    Index,
    Select,
    String,
    Text,
    case,
    delete,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from provenance.model.events import Event, EventType
from provenance.model.kinds import NodeKind
from provenance.model.timeutil import parse_time
from provenance.model.verdicts import ORIGIN_RANK, Origin
from provenance.store.models import Base, BigId

#: The log source whose events carry verdicts this service reached itself.
VERIFYING_SOURCE = "attestations"
_CHUNK = 500


class Evidence(Base):
    """One verification result. Rows are never updated."""

    __tablename__ = "evidence"
    __table_args__ = (
        Index("ix_evidence_digest_id", "digest", "id"),
        Index("ix_evidence_event_id", "event_id"),
        Index("ix_evidence_seq", "seq"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(71))
    kind: Mapped[str] = mapped_column(String(20))  # signature | attestation
    seq: Mapped[int] = mapped_column(BigInteger)  # the log entry holding the bytes
    event_id: Mapped[str] = mapped_column(String(300))
    verified: Mapped[bool] = mapped_column(Boolean)
    key_id: Mapped[str | None] = mapped_column(String(300))
    policy_sha256: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    evaluated_at: Mapped[datetime]
    origin: Mapped[str] = mapped_column(String(10))  # arrival | reverify
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


@dataclass(frozen=True, slots=True)
class EvidenceRow:
    id: int
    digest: str
    kind: str
    seq: int
    event_id: str
    verified: bool
    key_id: str | None
    policy_sha256: str | None
    reason: str | None
    evaluated_at: datetime
    origin: str
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verified": self.verified,
            "key": self.key_id,
            "policy_sha256": self.policy_sha256,
            "reason": self.reason,
            "evaluated_at": self.evaluated_at,
            "origin": self.origin,
            "seq": self.seq,
            "event_id": self.event_id,
            "kind": self.kind,
            "predicate_type": self.details.get("predicate_type"),
            "builder_id": self.details.get("builder_id"),
            "builder_trusted": self.details.get("builder_trusted"),
            "signature_verified": self.details.get("signature_verified"),
        }


def _row(r: Evidence) -> EvidenceRow:
    return EvidenceRow(
        r.id,
        r.digest,
        r.kind,
        r.seq,
        r.event_id,
        r.verified,
        r.key_id,
        r.policy_sha256,
        r.reason,
        r.evaluated_at,
        r.origin,
        dict(r.details),
    )


def values_for(
    seq: int, e: Event, *, origin: str, trusted_source: bool, evaluated_at: datetime | None = None
) -> dict[str, Any]:
    """The evidence row for a signed/attested event. Only events of the verifying source
    carry a verdict this service reached; any other source's claim stays unverified."""
    kind = NodeKind.SIGNATURE if e.type is EventType.ARTIFACT_SIGNED else NodeKind.ATTESTATION
    attrs: Mapping[str, Any] = e.attributes
    verdict = attrs.get("verdict") if trusted_source else None
    details: dict[str, Any] = {
        k: attrs[k]
        for k in ("format", "predicate_type", "builder_id", "body_sha256", "key_hint")
        if k in attrs
    }
    if isinstance(verdict, Mapping):
        details |= {
            "signature_verified": verdict.get("signature_verified"),
            "builder_trusted": verdict.get("builder_trusted"),
            "signatures": verdict.get("signatures"),
        }
        stated = verdict.get("evaluated_at")
        when = evaluated_at or (parse_time(stated) if isinstance(stated, str) else e.time)
        return {
            "digest": e.digest,
            "kind": kind,
            "seq": seq,
            "event_id": e.id,
            "verified": bool(verdict.get("verified")),
            "key_id": _text(verdict.get("key")),
            "policy_sha256": _text(verdict.get("policy_sha256")),
            "reason": _text(verdict.get("reason")),
            "evaluated_at": when,
            "origin": origin,
            "details": details,
        }
    return {
        "digest": e.digest,
        "kind": kind,
        "seq": seq,
        "event_id": e.id,
        "verified": False,
        "key_id": _text(attrs.get("key")),
        "policy_sha256": None,
        "reason": f"reported by {e.source}; not verified by this service",
        "evaluated_at": evaluated_at or e.time,
        "origin": origin,
        "details": details,
    }


def add(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        session.add_all(Evidence(**dict(r)) for r in rows)
        session.flush()


def forget_arrivals(session: Session) -> None:
    """For `projection.rebuild`: arrival verdicts are re-derived from the log; reverify
    results are not derivable (they depend on the policy of their day) and stay."""
    session.execute(delete(Evidence).where(Evidence.origin == Origin.ARRIVAL))


# The rule's order (`provenance.model.verdicts.order`), newest first.
_ORIGIN_RANK = case(
    *((Evidence.origin == origin, rank) for origin, rank in ORIGIN_RANK.items()), else_=0
)
_NEWEST_FIRST = (
    Evidence.evaluated_at.desc(),
    Evidence.seq.desc(),
    _ORIGIN_RANK.desc(),
    Evidence.id.desc(),
)


def holding_ids(
    *where: ColumnElement[bool], as_of: datetime | BindParameter[datetime] | None = None
) -> Select[tuple[int]]:
    """The ids of the rows that hold, one per event among the rows `where` selects (reached
    by `as_of`, when given): the SQL of `provenance.model.verdicts.holding`."""
    reached = list(where)
    if as_of is not None:
        reached.append(Evidence.evaluated_at <= as_of)
    ranked = (
        select(
            Evidence.id,
            func.row_number()
            .over(partition_by=Evidence.event_id, order_by=_NEWEST_FIRST)
            .label("newness"),
        )
        .where(*reached)
        .subquery()
    )
    return select(ranked.c.id).where(ranked.c.newness == 1)


def latest_by_event(
    session: Session, event_ids: Iterable[str], *, as_of: datetime | None = None
) -> dict[str, EvidenceRow]:
    """The verdict that holds for each event (as of `as_of`, when given)."""
    ids = list(dict.fromkeys(event_ids))
    out: dict[str, EvidenceRow] = {}
    for start in range(0, len(ids), _CHUNK):
        newest = holding_ids(Evidence.event_id.in_(ids[start : start + _CHUNK]), as_of=as_of)
        rows = session.execute(select(Evidence).where(Evidence.id.in_(newest))).scalars()
        out.update((r.event_id, _row(r)) for r in rows)
    return out


def latest_by_digest(
    session: Session, digests: Iterable[str], *, as_of: datetime | None = None
) -> dict[str, list[EvidenceRow]]:
    """The verdict that holds for each event about each digest, oldest event first."""
    wanted = list(dict.fromkeys(digests))
    out: dict[str, list[EvidenceRow]] = {d: [] for d in wanted}
    for start in range(0, len(wanted), _CHUNK):
        newest = holding_ids(Evidence.digest.in_(wanted[start : start + _CHUNK]), as_of=as_of)
        stmt = select(Evidence).where(Evidence.id.in_(newest)).order_by(Evidence.seq, Evidence.id)
        for r in session.execute(stmt).scalars():
            out[r.digest].append(_row(r))
    return out


def history(session: Session, digest: str, *, limit: int = 1000) -> list[EvidenceRow]:
    """Every verdict about `digest`, oldest first (in the rule's order): arrival and each
    reverification."""
    stmt = (
        select(Evidence)
        .where(Evidence.digest == digest)
        .order_by(Evidence.evaluated_at, Evidence.seq, _ORIGIN_RANK, Evidence.id)
        .limit(limit)
    )
    return [_row(r) for r in session.execute(stmt).scalars()]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def verified_counts(session: Session, digest: str) -> dict[str, int]:
    """How many signatures / attestations of `digest` verified on arrival."""
    return verified_counts_of(session, [digest]).get(digest, {})


def verified_counts_of(session: Session, digests: Iterable[str]) -> dict[str, dict[str, int]]:
    """Per digest and kind, how many events' arrival verdicts say verified: the rule over
    the verdicts the log holds. The alert rules read this in the projection, and a
    reverification is no event of the log: counting it would make a rebuild raise other
    alerts than the live run did."""
    ids = sorted(set(digests))
    out: dict[str, dict[str, int]] = {}
    for start in range(0, len(ids), _CHUNK):
        newest = holding_ids(
            Evidence.digest.in_(ids[start : start + _CHUNK]), Evidence.origin == Origin.ARRIVAL
        )
        rows = session.execute(
            select(Evidence.digest, Evidence.kind, func.count())
            .where(Evidence.id.in_(newest), Evidence.verified)
            .group_by(Evidence.digest, Evidence.kind)
        )
        for digest, kind, n in rows:
            out.setdefault(str(digest), {})[str(kind)] = int(n)
    return out


def verified_events(
    session: Session, event_ids: Iterable[str], *, as_of: datetime | None = None
) -> set[str]:
    """The events whose verdict that holds (as of `as_of`, when given) says verified."""
    ids = list(dict.fromkeys(event_ids))
    out: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        newest = holding_ids(Evidence.event_id.in_(ids[start : start + _CHUNK]), as_of=as_of)
        stmt = select(Evidence.event_id).where(Evidence.id.in_(newest), Evidence.verified)
        out.update(session.execute(stmt).scalars())
    return out


__all__ = [
    "VERIFYING_SOURCE",
    "Evidence",
    "EvidenceRow",
    "add",
    "forget_arrivals",
    "history",
    "holding_ids",
    "latest_by_digest",
    "latest_by_event",
    "values_for",
    "verified_counts",
    "verified_counts_of",
    "verified_events",
]
