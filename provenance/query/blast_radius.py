"""The blast radius: what is downstream of a digest, commit, build, builder, actor, key or
vulnerability, as of a time.

Entry points: `blast_radius` (a `BlastRadius`: counts per list and one page of each list,
every item with the `path` of node ids that links it to the query), `blast_root`,
`BLAST_KINDS`, `DOWNSTREAM`. The reach is walked in SQL (`store.reach`) and stops at
`MAX_REACH` nodes (reported as `truncated`); every list pages by keyset, so only the page's
items are ever loaded.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from provenance.model import nodes as N
from provenance.model.errors import InvalidQuery, NotFound
from provenance.model.events import COMMIT_RE
from provenance.model.kinds import EdgeKind, NodeKind
from provenance.query import columns
from provenance.query.artifacts import DeploymentRef, check_digest, deployment_ref
from provenance.store import Session, reach, reads, scans
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

BLAST_KINDS = ("digest", "commit", "build", "actor", "builder", "key", "vulnerability")


@dataclass(frozen=True, slots=True)
class AffectedArtifact:
    digest: str
    path: list[str]  # node ids from the query to this item


@dataclass(frozen=True, slots=True)
class AffectedBuild:
    build: str
    path: list[str]


@dataclass(frozen=True, slots=True)
class AffectedTag:
    repository: str
    tag: str
    digest: str  # the digest it was reached from
    path: list[str]


@dataclass(frozen=True, slots=True)
class AffectedDeployment(DeploymentRef):
    path: list[str]


@dataclass(frozen=True, slots=True)
class AffectedPuller:
    actor: str
    client: str | None
    count: int
    last: datetime | None
    digests: list[str]  # the affected digests it pulled
    path: list[str]


@dataclass(frozen=True, slots=True)
class BlastRadius:
    query: Mapping[str, str]
    as_of: datetime | None
    counts: Mapping[str, int]
    artifacts: list[AffectedArtifact]
    derived: list[AffectedArtifact]
    tags: list[AffectedTag]
    deployments: list[AffectedDeployment]
    pullers: list[AffectedPuller]
    next_cursor: str | None
    truncated: bool = False
    builds: list[AffectedBuild] = field(default_factory=list)


def blast_root(kind: str, value: str) -> str:
    if kind not in BLAST_KINDS:
        raise InvalidQuery(f"blast radius takes one of: {', '.join(BLAST_KINDS)}")
    if kind == "digest":
        return N.artifact(check_digest(value))
    if kind == NodeKind.COMMIT:
        if not COMMIT_RE.match(value.lower()):
            raise InvalidQuery(f"{value!r} is not a hex commit sha")
        return N.commit(value)
    if kind == NodeKind.BUILD:
        return N.build(value)
    if kind == NodeKind.BUILDER:
        return N.builder(value)
    if kind == NodeKind.KEY:
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
    parent = reach.parents(session, root, tips)

    def path(node: str) -> list[str]:
        out = [node]
        while out[-1] != root:
            out.append(parent[out[-1]])
        return out[::-1]

    def artifacts(name: str) -> list[AffectedArtifact]:
        return [
            AffectedArtifact(r.node.removeprefix("artifact:"), path(r.node)) for r in rows[name]
        ]

    dep_nodes = reads.graph.nodes(session, {r.dst for r in rows["deployments"]})
    deployments = []
    for r in rows["deployments"]:
        edge = EdgeRow(r.edge, r.src, r.dst, EdgeKind.DEPLOYED, r.since, r.until, 0, {})
        ref = deployment_ref(
            edge, dep_nodes[r.dst].attrs if r.dst in dep_nodes else {}, as_of=as_of
        )
        deployments.append(AffectedDeployment(**columns.values(ref), path=[*path(r.src), r.dst]))
    radius = BlastRadius(
        query={kind: value},
        as_of=as_of,
        counts=counts,
        artifacts=artifacts("artifacts"),
        derived=artifacts("derived"),
        tags=[_affected_tag(r.node, parent[r.node], path(r.node)) for r in rows["tags"]],
        deployments=deployments,
        pullers=[
            AffectedPuller(
                actor=r.actor,
                client=r.client or None,
                count=int(r.count),
                last=r.last,
                digests=sorted(str(d) for d in orjson.loads(r.digests)),
                path=[*path(N.artifact(r.first)), N.actor(r.actor)],
            )
            for r in rows["pullers"]
        ],
        next_cursor=(
            _encode_blast_cursor(positions)
            if any(p is not None for p in positions.values())
            else None
        ),
        truncated=truncated,
        builds=[AffectedBuild(r.node.removeprefix("build:"), path(r.node)) for r in rows["builds"]],
    )
    reach.release(session)
    return radius


def _affected_tag(node: str, parent: str, path: list[str]) -> AffectedTag:
    repo, _, tag = node.removeprefix("tag:").rpartition(":")
    return AffectedTag(repo, tag, parent.removeprefix("artifact:"), path)


# --- the cursor ----------------------------------------------------------------------


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
    "DOWNSTREAM",
    "MAX_REACH",
    "AffectedArtifact",
    "AffectedBuild",
    "AffectedDeployment",
    "AffectedPuller",
    "AffectedTag",
    "BlastRadius",
    "blast_radius",
    "blast_root",
]
