"""What a compliance export reads: its cut of the log, pushes and deployments in a period,
page by page, and the build facts of the digests it names.

Every reader pages by keyset (time, id) so an export of any period runs in constant
memory, and takes `max_seq` (the log entry the export was cut at) so rows projected
while it runs do not slip in.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from provenance.model import nodes as N
from provenance.model.hashchain import GENESIS
from provenance.model.kinds import EdgeKind
from provenance.store.models import Edge, LogEntry, ProjectionCursor, TimelineEvent
from provenance.store.reads import graph

_PAGE = 500


def cut(session: Session) -> tuple[int, str]:
    """(entries, head): the last log entry reflected in the graph, and its hash."""
    cursor = session.get(ProjectionCursor, "graph")
    seq = cursor.seq if cursor else 0
    if seq == 0:
        return 0, GENESIS
    digest = session.execute(select(LogEntry.hash).where(LogEntry.seq == seq)).scalar_one()
    return seq, str(digest)


def pushes(
    session: Session,
    since: datetime,
    until: datetime,
    *,
    max_seq: int,
    repository: str | None = None,
    page: int = _PAGE,
) -> Iterator[list[dict[str, Any]]]:
    """`artifact.pushed` timeline rows with since <= time < until, oldest first."""
    after: tuple[datetime, int] | None = None
    while True:
        stmt = select(TimelineEvent).where(
            TimelineEvent.type == "artifact.pushed",
            TimelineEvent.digest.is_not(None),
            TimelineEvent.time >= since,
            TimelineEvent.time < until,
            TimelineEvent.seq <= max_seq,
        )
        if repository is not None:
            stmt = stmt.where(TimelineEvent.repository == repository)
        if after is not None:
            stmt = stmt.where(
                or_(
                    TimelineEvent.time > after[0],
                    and_(TimelineEvent.time == after[0], TimelineEvent.id > after[1]),
                )
            )
        rows = list(
            session.execute(stmt.order_by(TimelineEvent.time, TimelineEvent.id).limit(page))
            .scalars()
            .all()
        )
        if not rows:
            return
        yield [
            {
                "time": r.time,
                "seq": r.seq,
                "event_id": r.event_id,
                "digest": r.digest,
                "repository": r.repository,
                "tag": r.tag,
                "actor": r.actor,
                "source": r.source,
            }
            for r in rows
        ]
        after = (rows[-1].time, rows[-1].id)
        session.expunge_all()


def deployments(
    session: Session,
    since: datetime,
    until: datetime,
    *,
    max_seq: int,
    environment: str | None = None,
    repository: str | None = None,
    page: int = _PAGE,
) -> Iterator[list[dict[str, Any]]]:
    """Deployed edges that ran at some point of [since, until), by start, oldest first."""
    after: tuple[datetime, int] | None = None
    while True:
        stmt = select(Edge).where(
            Edge.kind == EdgeKind.DEPLOYED,
            Edge.src.startswith("artifact:"),  # records name digests; not by-tag-only images
            Edge.since < until,
            or_(Edge.until.is_(None), Edge.until > since),
            Edge.seq <= max_seq,
        )
        if repository is not None:
            stored = select(Edge.src).where(
                Edge.kind == EdgeKind.STORED_IN, Edge.dst == N.repository(repository)
            )
            stmt = stmt.where(Edge.src.in_(stored))
        if after is not None:
            stmt = stmt.where(
                or_(Edge.since > after[0], and_(Edge.since == after[0], Edge.id > after[1]))
            )
        rows = list(session.execute(stmt.order_by(Edge.since, Edge.id).limit(page)).scalars())
        if not rows:
            return
        targets = graph.nodes(session, {r.dst for r in rows})
        out = []
        for r in rows:
            attrs = targets[r.dst].attrs if r.dst in targets else {}
            if environment is not None and attrs.get("environment") != environment:
                continue
            out.append(
                {
                    "time": r.since,
                    "until": r.until,
                    "seq": r.seq,
                    "digest": r.src.removeprefix("artifact:"),
                    "actor": r.attrs.get("actor"),
                    "environment": attrs.get("environment"),
                    "cluster": attrs.get("cluster"),
                    "namespace": attrs.get("namespace"),
                    "workload": attrs.get("workload"),
                    "container": attrs.get("container"),
                }
            )
        after = (rows[-1].since, rows[-1].id)
        session.expunge_all()
        if out:
            yield out


def build_facts(session: Session, digests: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per digest: the build that produced it, its builder and commit (a label's claim
    when no build record names one)."""
    arts = [N.artifact(d) for d in dict.fromkeys(digests)]
    out: dict[str, dict[str, Any]] = {}
    produced = graph.edges_to(session, arts, (EdgeKind.PRODUCED,))
    builds = list(dict.fromkeys(e.src for e in produced))
    ran = {e.dst: e.src for e in graph.edges_to(session, builds, (EdgeKind.RAN,))}
    built = {e.dst: e.src for e in graph.edges_to(session, builds, (EdgeKind.BUILT,))}
    claims = {e.dst: e.src for e in graph.edges_to(session, arts, (EdgeKind.CLAIMS,))}
    commits = graph.nodes(session, set(built.values()) | set(claims.values()))
    for e in produced:
        digest = e.dst.removeprefix("artifact:")
        if digest in out:
            continue
        commit = built.get(e.src)
        out[digest] = {
            "build": e.src.removeprefix("build:"),
            "builder": ran[e.src].removeprefix("builder:") if e.src in ran else None,
            "commit": commit.removeprefix("commit:") if commit else None,
            "vcs_url": commits[commit].attrs.get("vcs_url") if commit in commits else None,
            "commit_evidence": "build" if commit else None,
        }
    for art, commit in claims.items():
        digest = art.removeprefix("artifact:")
        facts = out.setdefault(digest, {"build": None, "builder": None})
        if not facts.get("commit"):
            facts.update(
                commit=commit.removeprefix("commit:"),
                vcs_url=commits[commit].attrs.get("vcs_url") if commit in commits else None,
                commit_evidence="label",
            )
    return out


__all__ = ["build_facts", "cut", "deployments", "pushes"]
