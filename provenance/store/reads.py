"""SQL lookups the query layer builds its answers from. Rows out, no interpretation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from provenance.store.models import Artifact, Edge, Node, Pull, TimelineEvent

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class EdgeRow:
    id: int
    src: str
    dst: str
    kind: str
    since: datetime
    until: datetime | None
    seq: int
    attrs: dict[str, Any]


def _edge_rows(rows: Iterable[Edge]) -> list[EdgeRow]:
    return [
        EdgeRow(r.id, r.src, r.dst, r.kind, r.since, r.until, r.seq, dict(r.attrs)) for r in rows
    ]


def _valid_at(as_of: datetime | None) -> ColumnElement[bool]:
    if as_of is None:
        return Edge.id.is_not(None)
    return and_(Edge.since <= as_of, or_(Edge.until.is_(None), Edge.until > as_of))


def artifact(session: Session, digest: str) -> Artifact | None:
    return session.get(Artifact, digest)


def node_exists(session: Session, node_id: str) -> bool:
    return session.get(Node, node_id) is not None


def nodes(session: Session, ids: Iterable[str]) -> dict[str, Node]:
    out: dict[str, Node] = {}
    id_list = list(ids)
    for start in range(0, len(id_list), _CHUNK):
        chunk = id_list[start : start + _CHUNK]
        out.update(
            (n.id, n) for n in session.execute(select(Node).where(Node.id.in_(chunk))).scalars()
        )
    return out


def edges_from(
    session: Session,
    srcs: Sequence[str],
    kinds: Iterable[str],
    *,
    as_of: datetime | None = None,
) -> list[EdgeRow]:
    return _edges(session, Edge.src, srcs, kinds, as_of)


def edges_to(
    session: Session,
    dsts: Sequence[str],
    kinds: Iterable[str],
    *,
    as_of: datetime | None = None,
) -> list[EdgeRow]:
    return _edges(session, Edge.dst, dsts, kinds, as_of)


def _edges(
    session: Session,
    column: Any,
    ids: Sequence[str],
    kinds: Iterable[str],
    as_of: datetime | None,
) -> list[EdgeRow]:
    kind_list = list(kinds)
    out: list[EdgeRow] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        stmt = (
            select(Edge)
            .where(column.in_(chunk), Edge.kind.in_(kind_list), _valid_at(as_of))
            .order_by(Edge.id)
        )
        out.extend(_edge_rows(session.execute(stmt).scalars()))
    return out


def tag_history(session: Session, tag_node: str) -> list[EdgeRow]:
    stmt = (
        select(Edge)
        .where(Edge.dst == tag_node, Edge.kind == "tagged")
        .order_by(Edge.since, Edge.id)
    )
    return _edge_rows(session.execute(stmt).scalars())


def timeline(
    session: Session, digest: str, *, after: int = 0, limit: int = 100
) -> list[TimelineEvent]:
    stmt = (
        select(TimelineEvent)
        .where(
            or_(TimelineEvent.digest == digest, TimelineEvent.previous_digest == digest),
            TimelineEvent.id > after,
        )
        .order_by(TimelineEvent.seq, TimelineEvent.id)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


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


__all__ = [
    "EdgeRow",
    "artifact",
    "edges_from",
    "edges_to",
    "node_exists",
    "nodes",
    "pull_summary",
    "pulls",
    "tag_history",
    "timeline",
]
