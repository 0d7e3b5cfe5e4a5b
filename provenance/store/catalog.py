"""SQL for the catalog (search, repositories, artifact lists): plain Core selects over the
projection tables (`nodes`, `edges`, `artifacts`, `timeline`), rows out, no interpretation.

Entry points: `artifact_digests_with_prefix`, `node_ids_with_prefix`, `nodes_matching`,
`current_digest_of_tag`, `repositories_page`, `repository_counts`, `artifacts_page`,
`artifact_flags`, `current_tags`.

Kept apart from the projection so its history model can change without touching these:
each function names the one relation it reads.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    String,
    and_,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from provenance.model import nodes as N
from provenance.model.kinds import EdgeKind, NodeKind
from provenance.store import scans
from provenance.store.models import Artifact, Edge, Node, TimelineEvent

_CHUNK = 500


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _starts_with(session: Session, column: Any, prefix: str) -> Any:
    """`column` starts with `prefix`, as a range of the column's index where that is exact.

    SQLite's LIKE is case-insensitive, so it never ranges a BINARY index: a prefix LIKE read
    every commit node (70,000 at 1 M events) or every artifact. Its `>=`/`<` compare code
    points, as the prefix's characters are: the range is exact, the LIKE only restates it.
    PostgreSQL ranges a prefix LIKE itself under the C collation; under another one, a
    range could miss strings that collate apart, so it keeps the LIKE alone."""
    like = column.like(_like_escape(prefix) + "%", escape="\\")
    if session.get_bind().dialect.name != "sqlite" or not prefix or prefix[-1] == chr(0x10FFFF):
        return like
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(column >= prefix, column < upper, like)


def artifact_digests_with_prefix(session: Session, prefix: str, *, limit: int) -> list[str]:
    """Digests starting with `prefix` (`sha256:` + some hex), in order."""
    stmt = (
        select(Artifact.digest)
        .where(_starts_with(session, Artifact.digest, prefix))
        .order_by(Artifact.digest)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


def node_ids_with_prefix(
    session: Session, kind: NodeKind, prefix: str, *, limit: int, exact: bool = False
) -> list[str]:
    """Ids of `kind` nodes starting with `prefix` (`commit:37ab75a`); `exact`: the id
    `prefix` itself, if it is a `kind` node (a primary key probe)."""
    if exact:
        found = select(Node.id).where(Node.id == prefix, Node.kind == kind)
        return list(session.execute(found).scalars())
    # SQLite ranges the ids (see `_starts_with`): the kind then only filters that range (an
    # id starts with its kind), not an index of its own that the planner would prefer.
    sqlite_db = session.get_bind().dialect.name == "sqlite"
    kind_is = (Node.kind + "") if sqlite_db else Node.kind
    stmt = (
        select(Node.id)
        .where(kind_is == kind, _starts_with(session, Node.id, prefix))
        .order_by(Node.id)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


@dataclass(frozen=True, slots=True)
class NodeRow:
    id: str
    kind: str
    attrs: dict[str, Any]


def nodes_matching(
    session: Session, kinds: Sequence[NodeKind], text: str, *, limit: int
) -> list[NodeRow]:
    """Nodes of `kinds` whose id contains `text` (case-insensitive), exact ids first."""
    needle = "%" + _like_escape(text.lower()) + "%"
    stmt = (
        select(Node.id, Node.kind, Node.attrs)
        .where(Node.kind.in_(list(kinds)), func.lower(Node.id).like(needle, escape="\\"))
        .order_by(func.length(Node.id), Node.id)
        .limit(limit)
    )
    return [NodeRow(r.id, r.kind, dict(r.attrs or {})) for r in session.execute(stmt)]


def current_digest_of_tag(session: Session, tag_node: str) -> str | None:
    """The artifact a tag points at now (its open `tagged` edge), else the latest it did."""
    stmt = (
        select(Edge.src)
        .where(Edge.dst == tag_node, Edge.kind == EdgeKind.TAGGED)
        .order_by(Edge.until.is_not(None), Edge.since.desc(), Edge.id.desc())
        .limit(1)
    )
    src = session.execute(stmt).scalar_one_or_none()
    return src.removeprefix("artifact:") if src else None


def repositories_page(session: Session, *, after: str | None, limit: int) -> list[NodeRow]:
    """Repository nodes in id order, after the keyset cursor `after` (a node id)."""
    stmt = select(Node.id, Node.kind, Node.attrs).where(Node.kind == NodeKind.REPOSITORY)
    if after is not None:
        stmt = stmt.where(Node.id > after)
    stmt = stmt.order_by(Node.id).limit(limit)
    return [NodeRow(r.id, r.kind, dict(r.attrs or {})) for r in session.execute(stmt)]


def tag_repository(session: Session) -> Any:
    """A tag node's `repository`, written as the index of migration 0009 names it."""
    if session.get_bind().dialect.name == "postgresql":
        return literal_column("(nodes.attrs ->> 'repository')", String)
    return literal_column("json_extract(nodes.attrs, '$.repository')", String)


_PUSH_CHUNK = 100


@functools.cache
def _latest_pushes(n: int) -> Any:
    """(name, latest push) of `n` repositories `name_0`.. : one max() each, an index lookup
    (a GROUP BY would read every push). Built once per size; the names are bound."""

    def one(i: int) -> Any:
        name = bindparam(f"name_{i}", type_=String)
        return select(name.label("name"), func.max(TimelineEvent.time)).where(
            TimelineEvent.type == literal_column("'artifact.pushed'"),
            TimelineEvent.repository == name,
        )

    return union_all(*(one(i) for i in range(n)))


@dataclass(frozen=True, slots=True)
class RepositoryCounts:
    artifacts: int
    tags: int
    last_push: datetime | None


def repository_counts(session: Session, names: Sequence[str]) -> dict[str, RepositoryCounts]:
    """Per repository name: artifacts stored in it, tags it has now, its last push."""
    if not names:
        return {}
    ids = [N.repository(n) for n in names]
    stored = dict(
        session.execute(
            # count(*), not count(DISTINCT src): `stored_in` is a once-only edge (one per
            # artifact and repository), and the count then reads the (dst, kind) index only.
            select(Edge.dst, func.count())
            .where(Edge.kind == EdgeKind.STORED_IN, Edge.dst.in_(ids))
            .group_by(Edge.dst)
        ).all()
    )
    # Both by index (migration 0009): tag nodes by their own `repository`, and each
    # repository's latest push (inline literals, so the partial indexes apply).
    repo_of_tag = tag_repository(session)
    tags: dict[str, int] = {
        str(name): int(n)
        for name, n in session.execute(
            select(repo_of_tag, func.count())
            .where(
                Node.kind == literal_column(f"'{NodeKind.TAG.value}'"), repo_of_tag.in_(list(names))
            )
            .group_by(repo_of_tag)
        ).all()
    }
    pushes: dict[str, datetime] = {}
    for start in range(0, len(names), _PUSH_CHUNK):
        chunk = names[start : start + _PUSH_CHUNK]
        params = {f"name_{i}": name for i, name in enumerate(chunk)}
        for name, when in session.execute(_latest_pushes(len(chunk)), params):
            if when is not None:
                pushes[str(name)] = when
    return {
        n: RepositoryCounts(
            artifacts=int(stored.get(N.repository(n), 0)),
            tags=tags.get(n, 0),
            last_push=pushes.get(n),
        )
        for n in names
    }


@dataclass(frozen=True, slots=True)
class ArtifactRow:
    digest: str
    media_type: str | None
    first_seen: datetime
    deleted: bool


def _edge_exists(kind: EdgeKind, *, outgoing: bool, extra: Any = None) -> Any:
    node_id = literal("artifact:").concat(Artifact.digest)
    end = Edge.src if outgoing else Edge.dst
    cond = and_(Edge.kind == kind, end == node_id)
    if extra is not None:
        cond = and_(cond, extra)
    return exists(select(Edge.id).where(cond))


def artifacts_page(
    session: Session,
    *,
    repository: str | None,
    tag: str | None,
    deployed: bool | None,
    signed: bool | None,
    after: tuple[datetime, str] | None,
    limit: int,
    vulnerable: bool | None = None,
) -> list[ArtifactRow]:
    """Artifacts newest first (`first_seen`, then digest), keyset-paginated after `after`."""
    stmt = select(Artifact.digest, Artifact.media_type, Artifact.first_seen, Artifact.deleted)
    if repository is not None:
        stmt = stmt.where(
            or_(
                _edge_exists(
                    EdgeKind.STORED_IN, outgoing=True, extra=Edge.dst == N.repository(repository)
                ),
                _edge_exists(
                    EdgeKind.TAGGED,
                    outgoing=True,
                    extra=Edge.dst.like(_like_escape(f"tag:{repository}:") + "%", escape="\\"),
                ),
            )
        )
    if tag is not None:
        # The tag now: an open `tagged` edge to a tag node of that name.
        target = (
            Edge.dst == f"tag:{repository}:{tag}"
            if repository is not None
            else Edge.dst.like("tag:%:" + _like_escape(tag), escape="\\")
        )
        stmt = stmt.where(
            _edge_exists(EdgeKind.TAGGED, outgoing=True, extra=and_(target, Edge.until.is_(None)))
        )
    if deployed is not None:
        running = _edge_exists(EdgeKind.DEPLOYED, outgoing=True, extra=Edge.until.is_(None))
        stmt = stmt.where(running if deployed else ~running)
    if signed is not None:
        has = _edge_exists(EdgeKind.SIGNS, outgoing=False)
        stmt = stmt.where(has if signed else ~has)
    if vulnerable is not None:
        found = scans.vulnerable_clause(Artifact.digest)
        stmt = stmt.where(found if vulnerable else ~found)
    if after is not None:
        when, digest = after
        stmt = stmt.where(
            or_(
                Artifact.first_seen < when,
                and_(Artifact.first_seen == when, Artifact.digest < digest),
            )
        )
    stmt = stmt.order_by(Artifact.first_seen.desc(), Artifact.digest.desc()).limit(limit)
    return [
        ArtifactRow(r.digest, r.media_type, r.first_seen, r.deleted) for r in session.execute(stmt)
    ]


@dataclass(frozen=True, slots=True)
class ArtifactFlags:
    repositories: list[str]
    tags: list[str]
    deployed: bool
    signed: bool
    attested: bool


def artifact_flags(session: Session, digests: Sequence[str]) -> dict[str, ArtifactFlags]:
    """What a list shows per digest: where it is stored, its current tags, markers."""
    ids = [N.artifact(d) for d in digests]
    out_edges: list[tuple[str, str, str, datetime | None]] = []
    in_edges: list[tuple[str, str]] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        out_edges.extend(
            session.execute(
                select(Edge.src, Edge.dst, Edge.kind, Edge.until).where(
                    Edge.src.in_(chunk),
                    Edge.kind.in_((EdgeKind.STORED_IN, EdgeKind.TAGGED, EdgeKind.DEPLOYED)),
                )
            ).all()
        )
        in_edges.extend(
            session.execute(
                select(Edge.dst, Edge.kind).where(
                    Edge.dst.in_(chunk), Edge.kind.in_((EdgeKind.SIGNS, EdgeKind.ATTESTS))
                )
            ).all()
        )
    tag_nodes = {
        dst for _, dst, kind, until in out_edges if kind == EdgeKind.TAGGED and until is None
    }
    tag_attrs: dict[str, dict[str, Any]] = {}
    tag_list = sorted(tag_nodes)
    for start in range(0, len(tag_list), _CHUNK):
        for r in session.execute(
            select(Node.id, Node.attrs).where(Node.id.in_(tag_list[start : start + _CHUNK]))
        ):
            tag_attrs[r.id] = dict(r.attrs or {})
    result: dict[str, ArtifactFlags] = {}
    for digest, node in zip(digests, ids, strict=True):
        mine = [e for e in out_edges if e[0] == node]
        kinds_in = {k for dst, k in in_edges if dst == node}
        repos = {e[1].removeprefix("repository:") for e in mine if e[2] == EdgeKind.STORED_IN}
        tags = []
        for _, dst, kind, until in mine:
            if kind == EdgeKind.TAGGED and until is None:
                attrs = tag_attrs.get(dst, {})
                repos.add(str(attrs.get("repository", "")))
                tags.append(f"{attrs.get('repository')}:{attrs.get('tag')}")
        result[digest] = ArtifactFlags(
            repositories=sorted(r for r in repos if r),
            tags=sorted(tags),
            deployed=any(k == EdgeKind.DEPLOYED and until is None for _, _, k, until in mine),
            signed=EdgeKind.SIGNS in kinds_in,
            attested=EdgeKind.ATTESTS in kinds_in,
        )
    return result


__all__ = [
    "ArtifactFlags",
    "ArtifactRow",
    "NodeRow",
    "RepositoryCounts",
    "artifact_digests_with_prefix",
    "artifact_flags",
    "artifacts_page",
    "current_digest_of_tag",
    "node_ids_with_prefix",
    "nodes_matching",
    "repositories_page",
    "repository_counts",
]
