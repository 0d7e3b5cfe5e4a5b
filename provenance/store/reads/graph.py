"""Nodes and edges: by id, by endpoint and kind, as of a time.

Also the open edges a reader asks for as a whole: running deployments, a registry host's
current tags and stored artifacts (what reconciliation compares a registry with).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, literal, or_, select
from sqlalchemy.orm import Session

from provenance.model import nodes as N
from provenance.model.kinds import EdgeKind
from provenance.store.models import Artifact, Edge, Node

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
    kinds: Iterable[EdgeKind],
    *,
    as_of: datetime | None = None,
) -> list[EdgeRow]:
    return _edges(session, Edge.src, srcs, kinds, as_of)


def edges_to(
    session: Session,
    dsts: Sequence[str],
    kinds: Iterable[EdgeKind],
    *,
    as_of: datetime | None = None,
) -> list[EdgeRow]:
    return _edges(session, Edge.dst, dsts, kinds, as_of)


def _edges(
    session: Session,
    column: Any,
    ids: Sequence[str],
    kinds: Iterable[EdgeKind],
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
        .where(Edge.dst == tag_node, Edge.kind == EdgeKind.TAGGED)
        .order_by(Edge.since, Edge.id)
    )
    return _edge_rows(session.execute(stmt).scalars())


def deployed_edges(session: Session, *, as_of: datetime | None = None) -> list[EdgeRow]:
    """Deployment edges valid at `as_of` (default: the open ones, i.e. now)."""
    stmt = select(Edge).where(Edge.kind == EdgeKind.DEPLOYED)
    stmt = stmt.where(Edge.until.is_(None)) if as_of is None else stmt.where(_valid_at(as_of))
    return _edge_rows(session.execute(stmt.order_by(Edge.id)).scalars())


def current_tags(session: Session, repository_prefix: str) -> dict[tuple[str, str], str]:
    """(repository, tag) -> digest for every open tag edge under a registry host."""
    rows = session.execute(
        select(Edge.src, Node.attrs)
        .join(Node, Node.id == Edge.dst)
        .where(
            Edge.kind == EdgeKind.TAGGED,
            Edge.until.is_(None),
            Edge.dst.startswith(f"tag:{repository_prefix}"),
        )
    )
    return {
        (str(attrs["repository"]), str(attrs["tag"])): str(src).removeprefix("artifact:")
        for src, attrs in rows
    }


def stored_artifacts(session: Session, repository_prefix: str) -> list[tuple[str, str]]:
    """(repository, digest) of artifacts not deleted, stored under a registry host."""
    rows = session.execute(
        select(Edge.dst, Artifact.digest)
        .join(Artifact, Edge.src == literal("artifact:").concat(Artifact.digest))
        .where(
            Edge.kind == EdgeKind.STORED_IN,
            Edge.dst.startswith(N.repository(repository_prefix)),
            Artifact.deleted.is_(False),
        )
    )
    return sorted((str(dst).removeprefix("repository:"), str(d)) for dst, d in rows)


__all__ = [
    "EdgeRow",
    "artifact",
    "current_tags",
    "deployed_edges",
    "edges_from",
    "edges_to",
    "node_exists",
    "nodes",
    "stored_artifacts",
    "tag_history",
]
