"""The facts a retention report judges, read set-based for a whole repository.

    report(session, repository, window) -> retention.Report
    gather(session, repository, window) -> [retention.DigestFacts]

The digests of the repository are those stored in it (`stored_in`) or tagged in it, by
`as_of`. From them the read walks, level by level, to every digest whose being kept would
keep one of them: the digests built on them (`base_of`, in any repository) and the subjects
of their signatures and attestations. A digest is a referrer of a subject when it held one
of the tags cosign and the OCI referrers fallback give it, `sha256-<hex>` with or without
`.sig` / `.att` / `.sbom`: the only link a registry's events show (a referrer pushed by
digest names its subject only in the manifest body). Then one statement per kind of fact
(tags, deployments, pulls, deletes) over that set, in chunks: never a query per digest.

Everything is by event time: only what began by `as_of` is read, and the latest push or
delete by then says whether a digest is deleted (as the artifact view says).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from provenance.model import nodes as N
from provenance.model import retention
from provenance.model.kinds import EdgeKind
from provenance.model.retention import DigestFacts, Interval, Window
from provenance.store.models import Artifact, Edge, Pull, TimelineEvent

_CHUNK = 500
_ART = "artifact:"
# cosign's legacy `sha256-<hex>.sig` / `.att` / `.sbom`, and the referrers fallback index.
_REFERRER_TAG = re.compile(r"^sha256-(?P<hex>[0-9a-f]{64})(?:\.[A-Za-z0-9_-]+)?$")


def report(session: Session, repository: str, window: Window) -> retention.Report:
    return retention.judge(repository, gather(session, repository, window), window)


def _chunks(items: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield list(items[start : start + _CHUNK])


def _by(as_of: datetime | None, column: Any) -> Any:
    """Began by `as_of` (everything, now)."""
    return column.is_not(None) if as_of is None else column <= as_of


def _digest(node: str) -> str:
    return node.removeprefix(_ART)


def _tag_of(node: str) -> tuple[str, str]:
    """`tag:<repository>:<tag>` -> (repository, tag): a tag holds no colon."""
    repo, _, tag = node.removeprefix("tag:").rpartition(":")
    return repo, tag


def _members(session: Session, repository: str, as_of: datetime | None) -> set[str]:
    stored = select(Edge.src).where(
        Edge.dst == N.repository(repository),
        Edge.kind == EdgeKind.STORED_IN,
        _by(as_of, Edge.since),
    )
    out = {_digest(s) for s in session.scalars(stored) if s.startswith(_ART)}
    # A digest given a tag only by a `tag.updated` event has no `stored_in` edge.
    prefix = N.tag(repository, "")
    tagged = select(Edge.src, Edge.dst).where(
        Edge.kind == EdgeKind.TAGGED,
        Edge.dst.startswith(prefix, autoescape=True),
        _by(as_of, Edge.since),
    )
    for src, dst in session.execute(tagged):
        rest = dst[len(prefix) :]
        if src.startswith(_ART) and ":" not in rest and "/" not in rest:  # not a longer name
            out.add(_digest(src))
    return out


def _walk(
    session: Session, members: set[str], as_of: datetime | None
) -> tuple[dict[str, list[Interval]], dict[str, set[str]], dict[str, set[str]]]:
    """Tags, bases-of and evidence-of of the members and of every digest they lead to."""
    tags: dict[str, list[Interval]] = {}
    base_of: dict[str, set[str]] = {}
    evidence_of: dict[str, set[str]] = {}
    seen = set(members)
    frontier = sorted(members)
    while frontier:
        found: set[str] = set()
        for chunk in _chunks([N.artifact(d) for d in frontier]):
            rows = session.execute(
                select(Edge.src, Edge.dst, Edge.kind, Edge.since, Edge.until).where(
                    Edge.src.in_(chunk),
                    Edge.kind.in_((EdgeKind.TAGGED, EdgeKind.BASE_OF)),
                    _by(as_of, Edge.since),
                )
            )
            for src, dst, kind, since, until in rows:
                digest = _digest(src)
                if kind == EdgeKind.BASE_OF:
                    if dst.startswith(_ART):
                        base_of.setdefault(digest, set()).add(_digest(dst))
                        found.add(_digest(dst))
                    continue
                repo, name = _tag_of(dst)
                tags.setdefault(digest, []).append(Interval(since, until, repo, name))
                match = _REFERRER_TAG.match(name)
                if match and f"sha256:{match['hex']}" != digest:
                    subject = f"sha256:{match['hex']}"
                    evidence_of.setdefault(digest, set()).add(subject)
                    found.add(subject)
        frontier = sorted(found - seen)
        seen |= found
    return tags, base_of, evidence_of


def _deployments(
    session: Session, digests: Sequence[str], as_of: datetime | None
) -> dict[str, list[Interval]]:
    out: dict[str, list[Interval]] = {}
    for chunk in _chunks([N.artifact(d) for d in digests]):
        rows = session.execute(
            select(Edge.src, Edge.since, Edge.until).where(
                Edge.src.in_(chunk), Edge.kind == EdgeKind.DEPLOYED, _by(as_of, Edge.since)
            )
        )
        for src, since, until in rows:
            out.setdefault(_digest(src), []).append(Interval(since, until))
    return out


def _last_pulls(
    session: Session, digests: Sequence[str], as_of: datetime | None
) -> dict[str, datetime]:
    out: dict[str, datetime] = {}
    for chunk in _chunks(digests):
        rows: Sequence[Any]
        if as_of is None:  # the aggregate knows the latest pull of today
            rows = session.execute(
                select(Pull.digest, func.max(Pull.last))
                .where(Pull.digest.in_(chunk))
                .group_by(Pull.digest)
            ).all()
        else:  # as of a time, only the timeline knows
            t = TimelineEvent
            rows = session.execute(
                select(t.digest, func.max(t.time))
                .where(t.type == "artifact.pulled", t.digest.in_(chunk), t.time <= as_of)
                .group_by(t.digest)
            ).all()
        out.update((str(d), last) for d, last in rows if last is not None)
    return out


def _artifacts(
    session: Session, digests: Sequence[str], as_of: datetime | None
) -> dict[str, tuple[datetime, bool]]:
    """digest -> (first seen, deleted as of `as_of`)."""
    out: dict[str, tuple[datetime, bool]] = {}
    for chunk in _chunks(digests):
        rows = session.execute(
            select(Artifact.digest, Artifact.first_seen, Artifact.deleted).where(
                Artifact.digest.in_(chunk)
            )
        )
        out.update((str(d), (first, bool(deleted))) for d, first, deleted in rows)
    if as_of is None:
        return out
    # As of a time: the latest push or delete by then decides (a push undoes a delete).
    latest: dict[str, tuple[Any, ...]] = {}
    t = TimelineEvent
    for chunk in _chunks(digests):
        rows = session.execute(
            select(t.digest, t.time, t.seq, t.ord, t.id, t.type).where(
                t.digest.in_(chunk),
                or_(t.type == "artifact.pushed", t.type == "artifact.deleted"),
                t.time <= as_of,
            )
        )
        for row in rows:
            key = tuple(row[1:])  # time, seq, ord, id: the timeline's order; then the type
            if str(row[0]) not in latest or key > latest[str(row[0])]:
                latest[str(row[0])] = key
    return {
        d: (first, d in latest and latest[d][4] == "artifact.deleted")
        for d, (first, _) in out.items()
    }


def gather(session: Session, repository: str, window: Window) -> list[DigestFacts]:
    as_of = window.as_of
    members = _members(session, repository, as_of)
    tags, base_of, evidence_of = _walk(session, members, as_of)
    reached = sorted(members | set(base_of) | set(evidence_of) | _values(base_of, evidence_of))
    deployments = _deployments(session, reached, as_of)
    pulls = _last_pulls(session, reached, as_of)
    rows = _artifacts(session, sorted(members), as_of)
    out = []
    for digest in reached:
        first_seen, deleted = rows.get(digest, (None, False))
        out.append(
            DigestFacts(
                digest=digest,
                in_repository=digest in members,
                first_seen=first_seen,
                tags=tuple(tags.get(digest, ())),
                deployments=tuple(deployments.get(digest, ())),
                last_pull=pulls.get(digest),
                base_of=frozenset(base_of.get(digest, ())),
                evidence_of=frozenset(evidence_of.get(digest, ())),
                deleted=deleted,
            )
        )
    return out


def _values(*maps: dict[str, set[str]]) -> set[str]:
    return {v for m in maps for values in m.values() for v in values}


__all__ = ["gather", "report"]
