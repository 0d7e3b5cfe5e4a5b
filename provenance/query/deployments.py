"""What ran where, at any moment: deployments, per-environment lineage, drift, activity.

Every answer takes `as_of` and is then the graph as it was at that moment: the
deployment edges valid then (`since <= as_of < until`), and the evidence recorded by then.

A workload deployed by a tag that pointed nowhere known yet runs an image known only by its
reference: it is listed with `digest` None, `pinned` false and that `image`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from provenance.model import scan_shape
from provenance.model.errors import InvalidQuery
from provenance.model.kinds import EdgeKind
from provenance.store import Session, evidence, reads, scans
from provenance.store.reads.graph import EdgeRow

_ARTIFACT = "artifact:"


@dataclass(frozen=True, slots=True)
class Deployment:
    """A workload container running a digest. A field's `doc` is what the API says of it."""

    environment: str | None
    cluster: str | None
    namespace: str | None
    workload: str | None
    container: str | None
    digest: str | None = field(
        metadata={"doc": "null when deployed by a tag that pointed to no known digest then"}
    )
    since: datetime
    until: datetime | None
    commit: str | None
    signed: bool
    attested: bool
    pinned: bool = field(metadata={"doc": "false when the image was given by tag"})
    image: str | None = field(
        default=None,
        metadata={"doc": "the image reference as deployed (`repo:tag`), if by tag"},
    )
    severity: str | None = field(
        default=None,
        metadata={
            "doc": "the worst severity the digest's latest scans report; null: clean or unscanned"
        },
    )


def deployments(
    session: Session,
    *,
    as_of: datetime | None = None,
    environment: str | None = None,
    cluster: str | None = None,
    namespace: str | None = None,
) -> list[Deployment]:
    edges = reads.graph.deployed_edges(session, as_of=as_of)
    nodes = reads.graph.nodes(session, {e.dst for e in edges})
    digests = sorted({e.src for e in edges if e.src.startswith(_ARTIFACT)})
    commits = _commits(session, digests)
    evidence = _evidence(session, digests, as_of)
    scanned = scans.latest_scans(session, [d.removeprefix(_ARTIFACT) for d in digests], as_of=as_of)
    out = []
    for e in edges:
        attrs = nodes[e.dst].attrs
        if environment is not None and attrs.get("environment") != environment:
            continue
        if cluster is not None and attrs.get("cluster") != cluster:
            continue
        if namespace is not None and attrs.get("namespace") != namespace:
            continue
        kinds = evidence.get(e.src, set())
        until = e.until if as_of is None or (e.until is not None and e.until <= as_of) else None
        out.append(
            Deployment(
                environment=attrs.get("environment"),
                cluster=attrs.get("cluster"),
                namespace=attrs.get("namespace"),
                workload=attrs.get("workload"),
                container=attrs.get("container"),
                digest=e.src.removeprefix(_ARTIFACT) if e.src.startswith(_ARTIFACT) else None,
                since=e.since,
                until=until,
                commit=commits.get(e.src),
                signed=EdgeKind.SIGNS in kinds,
                attested=EdgeKind.ATTESTS in kinds,
                pinned=bool(e.attrs.get("pinned", True)),
                image=e.attrs.get("image"),
                severity=_worst(scanned.get(e.src.removeprefix(_ARTIFACT), [])),
            )
        )
    out.sort(
        key=lambda d: (
            d.environment or "",
            d.cluster or "",
            d.namespace or "",
            d.workload or "",
            d.container or "",
        )
    )
    return out


def _worst(summaries: list[scans.ScanSummary]) -> str | None:
    found = [w for s in summaries if (w := s.worst()) is not None]
    return min(found, key=scan_shape.rank) if found else None


def _commits(session: Session, artifact_nodes: list[str]) -> dict[str, str]:
    """Commit of each artifact: a build record wins over a label claim. Should sources
    disagree, the earliest statement by event time wins (then the smaller id), never the
    first to arrive."""

    def by_time(edges: list[EdgeRow]) -> list[EdgeRow]:
        return sorted(edges, key=lambda e: (e.since, e.src))

    out: dict[str, str] = {}
    for e in by_time(reads.graph.edges_to(session, artifact_nodes, (EdgeKind.CLAIMS,))):
        out.setdefault(e.dst, e.src.removeprefix("commit:"))
    produced = reads.graph.edges_to(session, artifact_nodes, (EdgeKind.PRODUCED,))
    built = reads.graph.edges_to(session, sorted({e.src for e in produced}), (EdgeKind.BUILT,))
    commit_of_build: dict[str, str] = {}
    for e in by_time(built):
        commit_of_build.setdefault(e.dst, e.src.removeprefix("commit:"))
    from_builds: dict[str, str] = {}
    for e in by_time([e for e in produced if e.src in commit_of_build]):
        from_builds.setdefault(e.dst, commit_of_build[e.src])
    return out | from_builds


def _evidence(
    session: Session, artifact_nodes: list[str], as_of: datetime | None
) -> dict[str, set[str]]:
    """Per artifact: which of signs/attests it has that verified against the trust policy.
    As of a past moment, the verdict that held then counts (`provenance.model.verdicts`)."""
    edges = [
        e
        for e in reads.graph.edges_to(session, artifact_nodes, (EdgeKind.SIGNS, EdgeKind.ATTESTS))
        if as_of is None or e.since <= as_of
    ]
    event_of = {e.src: e.src.split(":", 1)[1] for e in edges}
    verified = evidence.verified_events(session, event_of.values(), as_of=as_of)
    out: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        if event_of[e.src] in verified:
            out[e.dst].add(e.kind)
    return out


# --- dashboards ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnvironmentLineage:
    environment: str  # "(unmapped)" for workloads no environment is configured for
    deployments: list[Deployment]


def by_environment(session: Session, *, as_of: datetime | None = None) -> list[EnvironmentLineage]:
    """Deployment lineage per environment: what runs, from which commit, signed or not."""
    grouped: dict[str, list[Deployment]] = defaultdict(list)
    for d in deployments(session, as_of=as_of):
        grouped[d.environment or "(unmapped)"].append(d)
    return [EnvironmentLineage(env, items) for env, items in sorted(grouped.items())]


@dataclass(frozen=True, slots=True)
class Drift:
    workload: str
    container: str | None
    digests: dict[str, list[str]]  # environment -> digests running there


def drift(session: Session, *, as_of: datetime | None = None) -> list[Drift]:
    """The same workload running different digests in different environments."""
    running: dict[tuple[str, str | None], dict[str, set[str]]] = defaultdict(
        lambda: defaultdict(set)
    )
    for d in deployments(session, as_of=as_of):
        if d.workload is None or d.digest is None:
            continue  # a digest not known cannot be compared
        running[(d.workload, d.container)][d.environment or "(unmapped)"].add(d.digest)
    out = []
    for (workload, container), envs in sorted(
        running.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
    ):
        distinct = set().union(*envs.values())
        if len(envs) > 1 and len(distinct) > 1:
            out.append(Drift(workload, container, {k: sorted(v) for k, v in sorted(envs.items())}))
    return out


@dataclass(frozen=True, slots=True)
class ActivityBucket:
    start: datetime
    counts: dict[str, int]  # event type -> events of that type in the bucket
    total: int


_BUCKETS: dict[str, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


def activity(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket: Literal["hour", "day"] = "day",
) -> list[ActivityBucket]:
    """Counts of events per type per time bucket (the timeline, summarized)."""
    if bucket not in _BUCKETS:
        raise InvalidQuery("bucket must be hour or day")
    counts: dict[datetime, Counter[str]] = defaultdict(Counter)
    for time, type_ in reads.timeline.event_times(session, since=since, until=until):
        start = time.replace(minute=0, second=0, microsecond=0)
        if bucket == "day":
            start = start.replace(hour=0)
        counts[start][type_] += 1
    return [
        ActivityBucket(start, dict(sorted(c.items())), sum(c.values()))
        for start, c in sorted(counts.items())
    ]


def clip(edges: Iterable[EdgeRow], as_of: datetime | None) -> list[EdgeRow]:
    """Edges as they were at `as_of`: not yet begun ones dropped, later closings undone."""
    if as_of is None:
        return list(edges)
    out = []
    for e in edges:
        if e.since > as_of:
            continue
        reopened = e.until is not None and e.until > as_of
        out.append(
            EdgeRow(e.id, e.src, e.dst, e.kind, e.since, None, e.seq, e.attrs) if reopened else e
        )
    return out


__all__ = [
    "ActivityBucket",
    "Deployment",
    "Drift",
    "EnvironmentLineage",
    "activity",
    "by_environment",
    "clip",
    "deployments",
    "drift",
]
