"""The read side: what incident responders, auditors and dashboards ask.

Each function takes a session and returns plain dataclasses; `api/` and the CLI render
them. Traversals walk the edge table level by level, so they only ever touch the
subgraph that the question reaches. The blast radius walks in SQL (`store.reach`) and
stops at `MAX_REACH` nodes (reported as `truncated`); it pages every list by keyset, so
only the page's items are ever loaded.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson

from provenance.model import nodes as N
from provenance.model.errors import InvalidQuery, NotFound
from provenance.model.events import COMMIT_RE, is_digest
from provenance.model.kinds import EdgeKind, NodeKind
from provenance.model.timeutil import format_time
from provenance.query import graph
from provenance.query.deployments import clip
from provenance.store import Session, evidence, reach, reads, scans
from provenance.store.reads.graph import EdgeRow

MAX_REACH = 250_000

# Edge kinds that carry "affected" downstream, from a compromised thing to what it made.
DOWNSTREAM = (
    EdgeKind.BUILT,
    EdgeKind.RAN,
    EdgeKind.PRODUCED,
    EdgeKind.CLAIMS,
    EdgeKind.TAGGED,
    EdgeKind.DEPLOYED,
    EdgeKind.BASE_OF,
    EdgeKind.PUSHED,
    EdgeKind.SIGNS,
    EdgeKind.ATTESTS,
    EdgeKind.SIGNED_WITH,
)
# Lineage shows everything around an artifact except pull edges (those are summarized).
LINEAGE = (*DOWNSTREAM, EdgeKind.STORED_IN)

BLAST_KINDS = ("digest", "commit", "build", "actor", "builder", "key", "vulnerability")


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
class ArtifactView:
    digest: str
    media_type: str | None
    size: int | None
    first_seen: datetime
    deleted: bool
    deleted_at: datetime | None
    repositories: list[str]
    tags: list[TagRef]
    signatures: list[dict[str, Any]]
    attestations: list[dict[str, Any]]
    builds: list[str]
    commits: list[CommitRef]
    base_images: list[str]
    deployments: list[DeploymentRef]
    pulls: PullSummary
    # The latest scan of each scanner (at `as_of`): `scanner`, `time`, `summary`, `worst`,
    # `ids_known` and the `vulnerabilities` it lists.
    vulnerabilities: list[dict[str, Any]] = field(default_factory=list)


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
            session, [node], (EdgeKind.TAGGED, EdgeKind.STORED_IN, EdgeKind.DEPLOYED)
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
            _deployment_ref(e, related, as_of=as_of)
            for e in out_edges
            if e.kind == EdgeKind.DEPLOYED
        ],
        pulls=PullSummary(count, last, actors),
        vulnerabilities=[
            {
                "scanner": scan.scanner,
                "time": format_time(scan.time),
                "summary": scan.summary,
                "worst": scan.worst(),
                "ids_known": scan.ids_known,
                "vulnerabilities": [dict(v) for v in scan.vulnerabilities],
            }
            for scan in scans.latest_scans(session, [digest], as_of=as_of).get(digest, [])
        ],
    )


def _tag_ref(e: EdgeRow, related: dict[str, Any]) -> TagRef:
    attrs = related[e.dst].attrs
    return TagRef(attrs["repository"], attrs["tag"], e.until is None, e.since, e.until)


def _deployment_ref(
    e: EdgeRow, related: dict[str, Any], *, as_of: datetime | None = None
) -> DeploymentRef:
    return _deployment_of(e, related[e.dst].attrs, as_of=as_of)


def _deployment_of(
    e: EdgeRow, attrs: dict[str, Any], *, as_of: datetime | None = None
) -> DeploymentRef:
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


def _evidence(e: EdgeRow, related: dict[str, Any]) -> dict[str, Any]:
    return {"id": e.src, "since": e.since, **related[e.src].attrs}


def _with_verdicts(
    session: Session,
    edges: list[EdgeRow],
    related: dict[str, Any],
    kind: EdgeKind,
    as_of: datetime | None,
) -> list[dict[str, Any]]:
    """Signatures or attestations with their latest verdict (`verified`, `key`, `reason`,
    `policy_sha256`, `evaluated_at`, `origin`: arrival or reverify)."""
    items = [_evidence(e, related) for e in edges if e.kind == kind]
    verdicts = evidence.latest_by_event(session, [str(i.get("event")) for i in items], as_of=as_of)
    for item in items:
        found = verdicts.get(str(item.get("event")))
        item.update(found.to_dict() if found else {"verified": False, "reason": "no verdict"})
    return items


def _unique_commits(commits: list[CommitRef]) -> list[CommitRef]:
    seen: set[tuple[str, str]] = set()
    out = []
    for c in commits:
        if (c.sha, c.evidence) not in seen:
            seen.add((c.sha, c.evidence))
            out.append(c)
    return out


# --- timeline and tags -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def timeline(session: Session, digest: str, *, limit: int = 100, cursor: str | None = None) -> Page:
    check_digest(digest)
    if reads.graph.artifact(session, digest) is None:
        raise NotFound(f"artifact {digest} has never been seen")
    after = _decode_position(cursor)
    rows = reads.timeline.timeline(session, digest, after=after, limit=limit + 1)
    items = [{"seq": r.seq, **r.data} for r in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    nxt = _encode_position((last.time, last.seq, last.ord, last.id)) if last else None
    return Page(items, nxt)


@dataclass(frozen=True, slots=True)
class TagPosition:
    digest: str
    since: datetime
    until: datetime | None
    actor: str | None


def tag_history(
    session: Session, repository: str, tag: str, *, as_of: datetime | None = None
) -> list[TagPosition]:
    edges = clip(reads.graph.tag_history(session, N.tag(repository, tag)), as_of)
    if not edges:
        raise NotFound(f"tag {repository}:{tag} has never been seen")
    return [
        TagPosition(e.src.removeprefix("artifact:"), e.since, e.until, e.attrs.get("actor"))
        for e in edges
    ]


# --- commits -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommitView:
    sha: str
    vcs_url: str | None
    builds: list[dict[str, Any]]
    artifacts: list[dict[str, Any]]
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
    artifacts: dict[str, dict[str, Any]] = {}
    for e in produced:
        artifacts.setdefault(
            e.dst,
            {
                "digest": e.dst.removeprefix("artifact:"),
                "evidence": "build",
                "build": e.src.removeprefix("build:"),
            },
        )
    for e in claim_edges:
        artifacts.setdefault(
            e.dst, {"digest": e.dst.removeprefix("artifact:"), "evidence": "label"}
        )
    deployed = reads.graph.edges_from(session, sorted(artifacts), (EdgeKind.DEPLOYED,))
    dep_nodes = reads.graph.nodes(session, [e.dst for e in deployed])
    return CommitView(
        sha=sha,
        vcs_url=found[node_id].attrs.get("vcs_url"),
        builds=[
            {"id": b.removeprefix("build:"), **build_nodes[b].attrs} for b in sorted(build_nodes)
        ],
        artifacts=[artifacts[k] for k in sorted(artifacts)],
        deployments=[_deployment_ref(e, dep_nodes) for e in deployed],
    )


# --- lineage -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lineage:
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    truncated: bool

    def graph(self) -> Any:
        return graph.build(
            {n["id"]: {k: v for k, v in n.items() if k != "id"} for n in self.nodes},
            [
                (
                    e["source"],
                    e["target"],
                    {k: v for k, v in e.items() if k not in ("source", "target")},
                )
                for e in self.edges
            ],
        )


def lineage(
    session: Session,
    digest: str,
    *,
    direction: Literal["up", "down", "both"] = "both",
    depth: int = 3,
    max_nodes: int = 5000,
) -> Lineage:
    check_digest(digest)
    root = N.artifact(digest)
    if not reads.graph.node_exists(session, root):
        raise NotFound(f"artifact {digest} has never been seen")
    seen: set[str] = {root}
    found: dict[int, EdgeRow] = {}
    truncated = False
    for step_dir in ("up", "down"):
        if direction not in (step_dir, "both"):
            continue
        frontier = [root]
        for _ in range(depth):
            if not frontier:
                break
            if step_dir == "down":
                edges = reads.graph.edges_from(session, frontier, LINEAGE)
                nxt = [e.dst for e in edges]
            else:
                edges = reads.graph.edges_to(session, frontier, LINEAGE)
                nxt = [e.src for e in edges]
            for e in edges:
                found[e.id] = e
            frontier = [n for n in dict.fromkeys(nxt) if n not in seen]
            seen.update(frontier)
            if len(seen) > max_nodes:
                truncated = True
                break
    edge_list = sorted(found.values(), key=lambda x: x.id)
    # Whole: every endpoint of every edge is a node of the answer, with a kind and a label,
    # even one the projection has no row for (an edge may name a build before its record).
    seen.update(x for e in edge_list for x in (e.src, e.dst))
    node_rows = reads.graph.nodes(session, seen)
    nodes = [_lineage_node(n, node_rows.get(n)) for n in sorted(seen)]
    edge_dicts = [
        {
            **e.attrs,
            "source": e.src,
            "target": e.dst,
            "kind": e.kind,
            "since": e.since,
            "until": e.until,
        }
        for e in edge_list
    ]
    return Lineage(nodes, edge_dicts, truncated)


def _lineage_node(node_id: str, row: Any) -> dict[str, Any]:
    attrs = dict(row.attrs) if row is not None else {}
    kind = row.kind if row is not None else N.kind_of(node_id)
    return {**attrs, "id": node_id, "kind": kind, "label": node_label(node_id, attrs)}


def node_label(node_id: str, attrs: dict[str, Any]) -> str:
    """A short human name for a node: what a graph draws in its box."""
    kind, _, rest = node_id.partition(":")
    if kind == NodeKind.ARTIFACT:
        return rest[:19]
    if kind == NodeKind.COMMIT:
        return rest[:12]
    if kind == NodeKind.TAG:  # the host tells two registries' copies apart
        host, _, path = rest.partition("/")
        return f"{host}/.../{path.rsplit('/', 1)[-1]}" if "/" in path else rest
    if kind == NodeKind.DEPLOYMENT:
        env = attrs.get("environment")
        workload = attrs.get("workload") or rest
        return f"{workload} ({env})" if env else str(workload)
    return rest if len(rest) <= 40 else "..." + rest[-37:]  # a URL's end names it best


# --- blast radius --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlastRadius:
    query: dict[str, str]
    as_of: datetime | None
    counts: dict[str, int]
    artifacts: list[dict[str, Any]]
    derived: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    deployments: list[dict[str, Any]]
    pullers: list[dict[str, Any]]
    next_cursor: str | None
    truncated: bool = False
    builds: list[dict[str, Any]] = field(default_factory=list)


def blast_root(kind: str, value: str) -> str:
    if kind not in BLAST_KINDS:
        raise InvalidQuery(f"blast radius takes one of: {', '.join(BLAST_KINDS)}")
    if kind == "digest":
        return N.artifact(check_digest(value))
    if kind == "commit":
        if not COMMIT_RE.match(value.lower()):
            raise InvalidQuery(f"{value!r} is not a hex commit sha")
        return N.commit(value)
    if kind == "build":
        return N.build(value)
    if kind == "builder":
        return N.builder(value)
    if kind == "key":
        return N.key(value)  # a trust policy key id, or a keyless signer's identity
    if kind == "vulnerability":
        return f"vulnerability:{value}"  # no node: the walk starts at the digests listing it
    return N.actor(value)


def blast_radius(
    session: Session,
    kind: str,
    value: str,
    *,
    as_of: datetime | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> BlastRadius:
    """What is downstream of the key: counts per list, and one page of each list.

    The reach is walked in SQL (`store.reach`), breadth first so each path is a shortest
    one; counts are aggregates and each list pages by keyset on its order, so a page costs
    the same however far the key reaches. Paths are built for the page's items only.
    The cursor holds, per list, the sort key of the last item given (or that it is done)."""
    root = blast_root(kind, value)
    seeds: list[str] = []
    if kind == "vulnerability":  # "where does CVE-X run now": none listing it is an answer
        seeds = sorted(N.artifact(d) for d in scans.digests_listing(session, value, as_of=as_of))
    elif not reads.graph.node_exists(session, root):
        raise NotFound(f"{kind} {value} has never been seen")
    after = _decode_blast_cursor(cursor)
    truncated = reach.walk(session, root, DOWNSTREAM, as_of=as_of, max_reach=MAX_REACH, seeds=seeds)
    counts = reach.counts(session)
    rows: dict[str, list[Any]] = {}
    positions: dict[str, list[Any] | None] = {}
    for name in reach.LISTS:
        if (after is not None and after[name] is None) or not counts[name]:
            rows[name], positions[name] = [], None  # finished on an earlier page, or empty
            continue
        found = reach.page(session, name, after[name] if after else None, limit + 1)
        rows[name] = found[:limit]
        positions[name] = reach.key(name, found[limit - 1]) if len(found) > limit else None

    tips = [r.node for name in reach.NODE_LISTS for r in rows[name]]
    tips += [r.src for r in rows["deployments"]]
    tips += [N.artifact(r.first) for r in rows["pullers"]]
    parent = reach.parents(session, tips)

    def path(node: str) -> list[str]:
        out = [node]
        while out[-1] != root:
            out.append(parent[out[-1]])
        return out[::-1]

    items: dict[str, list[dict[str, Any]]] = {
        "builds": [
            {"build": r.node.removeprefix("build:"), "path": path(r.node)} for r in rows["builds"]
        ],
        **{
            name: [
                {"digest": r.node.removeprefix("artifact:"), "path": path(r.node)}
                for r in rows[name]
            ]
            for name in ("artifacts", "derived")
        },
        "tags": [_blast_tag(r.node, r.parent, path(r.node)) for r in rows["tags"]],
    }
    dep_nodes = reads.graph.nodes(session, {r.dst for r in rows["deployments"]})
    items["deployments"] = [
        {
            **_asdict(
                _deployment_of(
                    EdgeRow(r.edge, r.src, r.dst, EdgeKind.DEPLOYED, r.since, r.until, 0, {}),
                    dep_nodes[r.dst].attrs if r.dst in dep_nodes else {},
                    as_of=as_of,
                )
            ),
            "path": [*path(r.src), r.dst],
        }
        for r in rows["deployments"]
    ]
    items["pullers"] = [
        {
            "actor": r.actor,
            "client": r.client or None,
            "count": int(r.count),
            "last": r.last,
            "digests": sorted(str(d) for d in orjson.loads(r.digests)),
            "path": [*path(N.artifact(r.first)), N.actor(r.actor)],
        }
        for r in rows["pullers"]
    ]
    reach.release(session)
    more = any(p is not None for p in positions.values())
    return BlastRadius(
        query={kind: value},
        as_of=as_of,
        counts=counts,
        next_cursor=_encode_blast_cursor(positions) if more else None,
        truncated=truncated,
        **items,
    )


def _blast_tag(node: str, parent: str, path: list[str]) -> dict[str, Any]:
    repo, _, tag = node.removeprefix("tag:").rpartition(":")
    return {
        "repository": repo,
        "tag": tag,
        "digest": parent.removeprefix("artifact:"),  # the digest it was reached from
        "path": path,
    }


def _asdict(ref: DeploymentRef) -> dict[str, Any]:
    return {f: getattr(ref, f) for f in ref.__slots__}


# --- cursors -------------------------------------------------------------------------


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


def _encode_blast_cursor(positions: dict[str, list[Any] | None]) -> str:
    data = {"v": 2, "after": positions}
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


def _decode_blast_cursor(cursor: str | None) -> dict[str, list[Any] | None] | None:
    """A blast radius cursor: per list, the sort key of the last item given, or None
    when the list has been given whole."""
    if not cursor:
        return None
    refused = InvalidQuery("cursor is not one this service issued")
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        after = data["after"]
        ok = data["v"] == 2 and isinstance(after, dict) and set(after) == set(reach.LISTS)
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise refused from exc
    if not ok:
        raise refused
    for name, position in after.items():
        types = reach.key_types(name)
        if position is not None and not (
            isinstance(position, list)
            and len(position) == len(types)
            and all(type(v) is t for v, t in zip(position, types, strict=True))
        ):
            raise refused
    return dict(after)


__all__ = [
    "BLAST_KINDS",
    "ArtifactView",
    "BlastRadius",
    "CommitView",
    "Lineage",
    "Page",
    "TagPosition",
    "artifact",
    "blast_radius",
    "commit",
    "lineage",
    "tag_history",
    "timeline",
]
