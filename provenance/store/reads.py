"""SQL lookups the query layer builds its answers from. Rows out, no interpretation."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, or_, select, tuple_
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


TimelinePosition = tuple[datetime, int, int, int]  # time, seq, ord, id: the timeline's order


def timeline(
    session: Session, digest: str, *, after: TimelinePosition | None = None, limit: int = 100
) -> list[TimelineEvent]:
    """A digest's events in event-time order (then log seq, then place in the entry)."""
    order = (TimelineEvent.time, TimelineEvent.seq, TimelineEvent.ord, TimelineEvent.id)
    stmt = select(TimelineEvent).where(
        or_(TimelineEvent.digest == digest, TimelineEvent.previous_digest == digest)
    )
    if after is not None:
        bound = (literal(v, c.type) for v, c in zip(after, order, strict=True))
        stmt = stmt.where(tuple_(*order) > tuple_(*bound))
    return list(session.execute(stmt.order_by(*order).limit(limit)).scalars())


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
    "TimelinePosition",
    "artifact",
    "current_tags",
    "deployed_edges",
    "edges_from",
    "edges_to",
    "event_times",
    "node_exists",
    "nodes",
    "pull_summary",
    "pulls",
    "pulls_as_of",
    "stored_artifacts",
    "tag_history",
    "timeline",
]


def deployed_edges(session: Session, *, as_of: datetime | None = None) -> list[EdgeRow]:
    """Deployment edges valid at `as_of` (default: the open ones, i.e. now)."""
    stmt = select(Edge).where(Edge.kind == "deployed")
    stmt = stmt.where(Edge.until.is_(None)) if as_of is None else stmt.where(_valid_at(as_of))
    return _edge_rows(session.execute(stmt.order_by(Edge.id)).scalars())


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


def event_times(
    session: Session, *, since: datetime | None, until: datetime | None
) -> Iterator[tuple[datetime, str]]:
    stmt = select(TimelineEvent.time, TimelineEvent.type)
    if since is not None:
        stmt = stmt.where(TimelineEvent.time >= since)
    if until is not None:
        stmt = stmt.where(TimelineEvent.time <= until)
    yield from session.execute(stmt.execution_options(yield_per=5000))


def deleted_at(session: Session, digest: str, as_of: datetime) -> datetime | None:
    """When the digest was deleted if, as of `as_of`, its latest push or delete was a delete."""
    row = session.execute(
        select(TimelineEvent.type, TimelineEvent.time)
        .where(
            TimelineEvent.digest == digest,
            TimelineEvent.type.in_(("artifact.pushed", "artifact.deleted")),
            TimelineEvent.time <= as_of,
        )
        .order_by(
            TimelineEvent.time.desc(),
            TimelineEvent.seq.desc(),
            TimelineEvent.ord.desc(),
            TimelineEvent.id.desc(),
        )
        .limit(1)
    ).first()
    return row.time if row is not None and row.type == "artifact.deleted" else None


def current_tags(session: Session, repository_prefix: str) -> dict[tuple[str, str], str]:
    """(repository, tag) -> digest for every open tag edge under a registry host."""
    rows = session.execute(
        select(Edge.src, Node.attrs)
        .join(Node, Node.id == Edge.dst)
        .where(
            Edge.kind == "tagged",
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
            Edge.kind == "stored_in",
            Edge.dst.startswith(f"repository:{repository_prefix}"),
            Artifact.deleted.is_(False),
        )
    )
    return sorted((str(dst).removeprefix("repository:"), str(d)) for dst, d in rows)
