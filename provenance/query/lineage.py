"""An artifact's lineage: the graph around it, up (what it came from), down (what it led
to) or both, to a depth.

Entry points: `lineage` (a `Lineage` of `LineageNode`s and `LineageEdge`s; `.graph()` for
GraphML and DOT) and `node_label`. The walk goes level by level over the edge table, so it
touches only the subgraph the question reaches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from provenance.model import nodes as N
from provenance.model.errors import NotFound
from provenance.model.kinds import EdgeKind, NodeKind
from provenance.query import graph
from provenance.query.artifacts import check_digest
from provenance.query.blast_radius import DOWNSTREAM
from provenance.store import Session, reads
from provenance.store.reads.graph import EdgeRow

# Lineage shows everything around an artifact except pull edges (those are summarized).
LINEAGE = (*DOWNSTREAM, EdgeKind.STORED_IN)

Direction = Literal["up", "down", "both"]


@dataclass(frozen=True, slots=True)
class LineageNode:
    id: str
    kind: str
    label: str  # a short human name: what a drawing puts in the node's box
    attrs: Mapping[str, Any]  # the node's attributes as projected (none for a bare endpoint)


@dataclass(frozen=True, slots=True)
class LineageEdge:
    source: str
    target: str
    kind: str
    since: datetime
    until: datetime | None
    attrs: Mapping[str, Any]  # the edge's attributes (`evidence`, `verified`...)


@dataclass(frozen=True, slots=True)
class Lineage:
    digest: str
    direction: Direction
    depth: int
    nodes: list[LineageNode]
    edges: list[LineageEdge]
    truncated: bool

    def graph(self) -> Any:
        return graph.build(
            {
                n.id: {
                    **{k: v for k, v in n.attrs.items() if k != "id"},
                    "kind": n.kind,
                    "label": n.label,
                }
                for n in self.nodes
            },
            [
                (
                    e.source,
                    e.target,
                    {
                        **{k: v for k, v in e.attrs.items() if k not in ("source", "target")},
                        "kind": e.kind,
                        "since": e.since,
                        "until": e.until,
                    },
                )
                for e in self.edges
            ],
        )


def lineage(
    session: Session,
    digest: str,
    *,
    direction: Direction = "both",
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
    edges_out = [
        LineageEdge(e.src, e.dst, e.kind, e.since, e.until, dict(e.attrs)) for e in edge_list
    ]
    return Lineage(digest, direction, depth, nodes, edges_out, truncated)


def _lineage_node(node_id: str, row: Any) -> LineageNode:
    attrs = dict(row.attrs) if row is not None else {}
    kind = row.kind if row is not None else N.kind_of(node_id)
    return LineageNode(node_id, str(kind), node_label(node_id, attrs), attrs)


def node_label(node_id: str, attrs: Mapping[str, Any]) -> str:
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


__all__ = ["LINEAGE", "Lineage", "LineageEdge", "LineageNode", "lineage", "node_label"]
