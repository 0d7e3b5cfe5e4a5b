"""What is known about one artifact, its timeline, a tag's history and a commit.

Entry points: `artifact`, `timeline`, `tag_history`, `commit` (and `check_digest`, the rule
every digest in a question obeys). Each returns a frozen dataclass; `api/` and the CLI render
that same dataclass. Where a source says more than the vocabulary (a node's attributes, a
build record's fields) the answer keeps it as `attrs`, and the wire form flattens it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson

from provenance.model import nodes as N
from provenance.model.errors import InvalidQuery, NotFound
from provenance.model.events import COMMIT_RE, Event, is_digest
from provenance.model.kinds import EdgeKind
from provenance.query.deployments import clip
from provenance.store import Session, evidence, reads, scans
from provenance.store.evidence import EvidenceRow
from provenance.store.reads.graph import EdgeRow

# --- artifact ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TagRef:
    repository: str
    tag: str
    current: bool
    since: datetime
    until: datetime | None


@dataclass(frozen=True, slots=True)
class DeploymentRef:
    environment: str | None
    cluster: str | None
    namespace: str | None
    workload: str | None
    container: str | None
    digest: str
    since: datetime
    until: datetime | None
    active: bool


@dataclass(frozen=True, slots=True)
class PullSummary:
    count: int
    last: datetime | None
    actors: list[str]


@dataclass(frozen=True, slots=True)
class CommitRef:
    sha: str
    vcs_url: str | None
    evidence: Literal["build", "label"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The latest judgement of one signature or attestation under the trust policy."""

    verified: bool
    key: str | None
    policy_sha256: str | None
    reason: str | None
    evaluated_at: datetime
    origin: str  # arrival | reverify
    seq: int
    event_id: str
    kind: str
    predicate_type: str | None
    builder_id: str | None
    builder_trusted: bool | None
    signature_verified: bool | None

    @classmethod
    def of(cls, row: EvidenceRow) -> Verdict:
        # The row names its verdict fields once (`EvidenceRow.to_dict`, the wire form);
        # this class, like `exports.ExportVerdict`, has exactly those keys.
        return cls(**row.to_dict())


@dataclass(frozen=True, slots=True)
class Evidence:
    """A signature or attestation of the artifact: its node, and its latest verdict."""

    id: str
    since: datetime
    # The node's attributes as projected (signer, predicate type, the event...): open-ended,
    # since each format says different things.
    attrs: Mapping[str, Any]
    verdict: Verdict | None  # None: never judged


@dataclass(frozen=True, slots=True)
class Scan:
    """The latest scan of one scanner: its counts per severity and the findings it lists."""

    scanner: str
    time: datetime
    summary: Mapping[str, int]
    worst: str | None
    ids_known: bool
    vulnerabilities: list[Mapping[str, Any]]  # `id`, `severity`, `package`?, `fixed_version`?


@dataclass(frozen=True, slots=True)
class ArtifactView:
    digest: str
    media_type: str | None
    size: int | None
    first_seen: datetime
    deleted: bool
    deleted_at: datetime | None
    repositories: list[str]
    tags: list[TagRef]
    signatures: list[Evidence]
    attestations: list[Evidence]
    builds: list[str]
    commits: list[CommitRef]
    base_images: list[str]
    deployments: list[DeploymentRef]
    pulls: PullSummary
    vulnerabilities: list[Scan] = field(default_factory=list)  # at `as_of`, per scanner
    # The images built on this one (SLSA dependencies), by digest: `base_images` seen from
    # the other end, which the console used to dig out of the lineage.
    derived_images: list[str] = field(default_factory=list)


def check_digest(digest: str) -> str:
    if not is_digest(digest):
        raise InvalidQuery(f"{digest!r} is not a digest of the form sha256:<64 hex>")
    return digest


def artifact(session: Session, digest: str, *, as_of: datetime | None = None) -> ArtifactView:
    """What is known about a digest (as it was at `as_of`, when given)."""
    check_digest(digest)
    row = reads.graph.artifact(session, digest)
    if row is None or (as_of is not None and row.first_seen > as_of):
        raise NotFound(f"artifact {digest} has never been seen" + (f" by {as_of}" if as_of else ""))
    node = N.artifact(digest)
    out_edges = clip(
        reads.graph.edges_from(
            session,
            [node],
            (EdgeKind.TAGGED, EdgeKind.STORED_IN, EdgeKind.DEPLOYED, EdgeKind.BASE_OF),
        ),
        as_of,
    )
    in_edges = clip(
        reads.graph.edges_to(
            session,
            [node],
            (
                EdgeKind.SIGNS,
                EdgeKind.ATTESTS,
                EdgeKind.PRODUCED,
                EdgeKind.CLAIMS,
                EdgeKind.BASE_OF,
            ),
        ),
        as_of,
    )
    related = reads.graph.nodes(session, {e.dst for e in out_edges} | {e.src for e in in_edges})

    tags = [_tag_ref(e, related) for e in out_edges if e.kind == EdgeKind.TAGGED]
    repositories = sorted(
        {str(related[e.dst].attrs.get("name")) for e in out_edges if e.kind == EdgeKind.STORED_IN}
        | {t.repository for t in tags}
    )
    builds = sorted(e.src.removeprefix("build:") for e in in_edges if e.kind == EdgeKind.PRODUCED)
    # Build records first, then label claims; each by the time it was stated, never by
    # arrival (sources may disagree on a build's commit).
    claims = sorted(
        (e for e in in_edges if e.kind == EdgeKind.CLAIMS), key=lambda e: (e.since, e.src)
    )
    commits = [
        CommitRef(e.src.removeprefix("commit:"), related[e.src].attrs.get("vcs_url"), "label")
        for e in claims
    ]
    if builds:
        built = reads.graph.edges_to(session, [N.build(b) for b in builds], (EdgeKind.BUILT,))
        commit_nodes = reads.graph.nodes(session, {e.src for e in built})
        commits[:0] = [
            CommitRef(
                e.src.removeprefix("commit:"),
                commit_nodes[e.src].attrs.get("vcs_url") if e.src in commit_nodes else None,
                "build",
            )
            for e in sorted(built, key=lambda e: (e.since, e.src))
        ]
    if as_of is None:
        count, last, actors = reads.pulls.pull_summary(session, digest)
    else:
        pulls = reads.pulls.pulls_as_of(session, [digest], as_of)
        count = sum(p["count"] for p in pulls)
        last = max((p["last"] for p in pulls), default=None)
        actors = sorted({p["actor"] for p in pulls})
    # The row says how things are now; the past comes from the timeline (a delete can be
    # undone by a later push).
    when_deleted = (
        row.deleted_at if as_of is None else reads.timeline.deleted_at(session, digest, as_of)
    )
    deleted = row.deleted if as_of is None else when_deleted is not None
    return ArtifactView(
        digest=digest,
        media_type=row.media_type,
        size=row.size,
        first_seen=row.first_seen,
        deleted=deleted,
        deleted_at=when_deleted if deleted else None,
        repositories=repositories,
        tags=tags,
        signatures=_with_verdicts(session, in_edges, related, EdgeKind.SIGNS, as_of),
        attestations=_with_verdicts(session, in_edges, related, EdgeKind.ATTESTS, as_of),
        builds=builds,
        commits=_unique_commits(commits),
        base_images=sorted(
            e.src.removeprefix("artifact:") for e in in_edges if e.kind == EdgeKind.BASE_OF
        ),
        deployments=[
            deployment_ref(e, related[e.dst].attrs, as_of=as_of)
            for e in out_edges
            if e.kind == EdgeKind.DEPLOYED
        ],
        pulls=PullSummary(count, last, actors),
        vulnerabilities=[
            Scan(
                scanner=scan.scanner,
                time=scan.time,
                summary=scan.summary,
                worst=scan.worst(),
                ids_known=scan.ids_known,
                vulnerabilities=[dict(v) for v in scan.vulnerabilities],
            )
            for scan in scans.latest_scans(session, [digest], as_of=as_of).get(digest, [])
        ],
        derived_images=sorted(
            e.dst.removeprefix("artifact:") for e in out_edges if e.kind == EdgeKind.BASE_OF
        ),
    )


def _tag_ref(e: EdgeRow, related: dict[str, Any]) -> TagRef:
    attrs = related[e.dst].attrs
    return TagRef(attrs["repository"], attrs["tag"], e.until is None, e.since, e.until)


def deployment_ref(
    e: EdgeRow, attrs: Mapping[str, Any], *, as_of: datetime | None = None
) -> DeploymentRef:
    """A `deployed` edge and its deployment node's attributes, as seen at `as_of`."""
    active = (
        e.until is None
        if as_of is None
        else (e.since <= as_of and (e.until is None or e.until > as_of))
    )
    return DeploymentRef(
        environment=attrs.get("environment"),
        cluster=attrs.get("cluster"),
        namespace=attrs.get("namespace"),
        workload=attrs.get("workload"),
        container=attrs.get("container"),
        digest=e.src.removeprefix("artifact:"),
        since=e.since,
        until=e.until if as_of is None or (e.until is not None and e.until <= as_of) else None,
        active=active,
    )


def _with_verdicts(
    session: Session,
    edges: list[EdgeRow],
    related: dict[str, Any],
    kind: EdgeKind,
    as_of: datetime | None,
) -> list[Evidence]:
    """Signatures or attestations with their latest verdict (at `as_of`)."""
    found = [e for e in edges if e.kind == kind]
    events = [str(related[e.src].attrs.get("event")) for e in found]
    verdicts = evidence.latest_by_event(session, events, as_of=as_of)
    return [
        Evidence(
            id=e.src,
            since=e.since,
            attrs=dict(related[e.src].attrs),
            verdict=Verdict.of(verdicts[event]) if event in verdicts else None,
        )
        for e, event in zip(found, events, strict=True)
    ]


def _unique_commits(commits: list[CommitRef]) -> list[CommitRef]:
    """The first of each (sha, evidence), in order."""
    first: dict[tuple[str, str], CommitRef] = {}
    for c in commits:
        first.setdefault((c.sha, c.evidence), c)
    return list(first.values())


# --- timeline and tags -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One canonical event about the digest (derived `tag.updated` included) and the log
    entry that holds it."""

    seq: int
    event: Event


@dataclass(frozen=True, slots=True)
class Timeline:
    digest: str
    events: list[TimelineEvent]
    next_cursor: str | None


def timeline(
    session: Session, digest: str, *, limit: int = 100, cursor: str | None = None
) -> Timeline:
    check_digest(digest)
    if reads.graph.artifact(session, digest) is None:
        raise NotFound(f"artifact {digest} has never been seen")
    after = _decode_position(cursor)
    rows = reads.timeline.timeline(session, digest, after=after, limit=limit + 1)
    events = [TimelineEvent(r.seq, Event.from_dict(r.data)) for r in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    nxt = _encode_position((last.time, last.seq, last.ord, last.id)) if last else None
    return Timeline(digest, events, nxt)


@dataclass(frozen=True, slots=True)
class TagPosition:
    digest: str
    since: datetime
    until: datetime | None
    actor: str | None


@dataclass(frozen=True, slots=True)
class TagHistory:
    repository: str
    tag: str
    history: list[TagPosition]  # oldest first


def tag_history(
    session: Session, repository: str, tag: str, *, as_of: datetime | None = None
) -> TagHistory:
    edges = clip(reads.graph.tag_history(session, N.tag(repository, tag)), as_of)
    if not edges:
        raise NotFound(f"tag {repository}:{tag} has never been seen")
    positions = [
        TagPosition(e.src.removeprefix("artifact:"), e.since, e.until, e.attrs.get("actor"))
        for e in edges
    ]
    return TagHistory(repository, tag, positions)


# --- commits -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuildRecord:
    id: str
    attrs: Mapping[str, Any]  # what the build record said (builder, invocation...)


@dataclass(frozen=True, slots=True)
class CommitArtifact:
    digest: str
    evidence: Literal["build", "label"]
    build: str | None = None  # the build that produced it (evidence `build`)


@dataclass(frozen=True, slots=True)
class CommitView:
    sha: str
    vcs_url: str | None
    builds: list[BuildRecord]
    artifacts: list[CommitArtifact]
    deployments: list[DeploymentRef]


def commit(session: Session, sha: str) -> CommitView:
    sha = sha.lower()
    if not COMMIT_RE.match(sha):
        raise InvalidQuery(f"{sha!r} is not a hex commit sha")
    node_id = N.commit(sha)
    found = reads.graph.nodes(session, [node_id])
    if node_id not in found:
        raise NotFound(f"commit {sha} has never been seen")
    build_edges = reads.graph.edges_from(session, [node_id], (EdgeKind.BUILT,))
    claim_edges = reads.graph.edges_from(session, [node_id], (EdgeKind.CLAIMS,))
    produced = reads.graph.edges_from(session, [e.dst for e in build_edges], (EdgeKind.PRODUCED,))
    build_nodes = reads.graph.nodes(session, [e.dst for e in build_edges])
    artifacts: dict[str, CommitArtifact] = {}
    for e in produced:
        artifacts.setdefault(
            e.dst,
            CommitArtifact(e.dst.removeprefix("artifact:"), "build", e.src.removeprefix("build:")),
        )
    for e in claim_edges:
        artifacts.setdefault(e.dst, CommitArtifact(e.dst.removeprefix("artifact:"), "label"))
    deployed = reads.graph.edges_from(session, sorted(artifacts), (EdgeKind.DEPLOYED,))
    dep_nodes = reads.graph.nodes(session, [e.dst for e in deployed])
    return CommitView(
        sha=sha,
        vcs_url=found[node_id].attrs.get("vcs_url"),
        builds=[
            BuildRecord(b.removeprefix("build:"), dict(build_nodes[b].attrs))
            for b in sorted(build_nodes)
        ],
        artifacts=[artifacts[k] for k in sorted(artifacts)],
        deployments=[deployment_ref(e, dep_nodes[e.dst].attrs) for e in deployed],
    )


# --- the timeline's cursor -------------------------------------------------------------


def _encode_position(position: reads.timeline.TimelinePosition) -> str:
    time, seq, ord_, row_id = position
    data = {"t": time.isoformat(), "s": seq, "r": ord_, "i": row_id}
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


def _decode_position(cursor: str | None) -> reads.timeline.TimelinePosition | None:
    """A timeline cursor: the (time, seq, ord, id) of the last item of the previous page."""
    if not cursor:
        return None
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        when = datetime.fromisoformat(data["t"])
        position = (when, int(data["s"]), int(data["r"]), int(data["i"]))
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidQuery("cursor is not one this service issued") from exc
    return position


__all__ = [
    "ArtifactView",
    "BuildRecord",
    "CommitArtifact",
    "CommitRef",
    "CommitView",
    "DeploymentRef",
    "Evidence",
    "PullSummary",
    "Scan",
    "TagHistory",
    "TagPosition",
    "TagRef",
    "Timeline",
    "TimelineEvent",
    "Verdict",
    "artifact",
    "check_digest",
    "commit",
    "deployment_ref",
    "tag_history",
    "timeline",
]
