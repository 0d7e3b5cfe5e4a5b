"""Lineage is whole: on any graph, every endpoint of every edge in the answer is one of its
nodes, with a kind and a label, and GraphML and DOT draw exactly those nodes and edges."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from provenance.query import graph
from provenance.query import lineage as lineages
from provenance.store import Database
from provenance.store.models import HISTORY_EDGE_KINDS, Edge, Node

T0 = datetime(2026, 1, 1, tzinfo=UTC)
KINDS = {
    "artifact": "artifact:sha256:%064x",
    "build": "build:b%d",
    "commit": "commit:%040x",
    "tag": "tag:r.io/app:t%d",
    "deployment": "deployment:c/n/deployment/w%d/app",
}
EDGE_KINDS = ["built", "produced", "claims", "tagged", "deployed", "base_of", "stored_in"]

node_ids = st.sampled_from(sorted(KINDS)).flatmap(
    lambda k: st.integers(1, 6).map(lambda i: KINDS[k] % i)
)
edges = st.lists(
    st.tuples(node_ids, node_ids, st.sampled_from(EDGE_KINDS), st.booleans()), max_size=25
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edges=edges,
    with_rows=st.sets(node_ids),
    direction=st.sampled_from(["up", "down", "both"]),
    depth=st.integers(1, 4),
)
def test_every_edge_endpoint_is_a_node_of_the_answer(
    tmp_path: Path, edges, with_rows, direction, depth
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'lineage.db'}")
    db.upgrade()
    root = KINDS["artifact"] % 1
    try:
        with db.write() as session:
            session.execute(delete(Edge))
            session.execute(delete(Node))
            # Some endpoints have no node row (an edge may name a thing before its record).
            for node_id in {*with_rows, root}:
                session.add(Node(id=node_id, kind=node_id.split(":")[0], attrs={}, first_seen=T0))
            # A once-only edge is one row (a unique index); a history's intervals repeat.
            once = {(s, d, k) for s, d, k, _ in edges if k not in HISTORY_EDGE_KINDS}
            for i, (src, dst, kind, closed) in enumerate(edges):
                if kind not in HISTORY_EDGE_KINDS:
                    if (src, dst, kind) not in once:
                        continue  # stored already
                    once.discard((src, dst, kind))
                session.add(
                    Edge(
                        src=src,
                        dst=dst,
                        kind=kind,
                        since=T0,
                        seq=i,
                        attrs={},
                        until=T0 + timedelta(hours=1) if closed else None,
                    )
                )
        with db.read() as session:
            answer = lineages.lineage(
                session, root.removeprefix("artifact:"), direction=direction, depth=depth
            )
    finally:
        db.dispose()
    ids = {n.id for n in answer.nodes}
    assert root in ids
    for n in answer.nodes:
        assert n.kind == n.id.split(":")[0] and n.label
    for e in answer.edges:
        assert e.source in ids and e.target in ids, e

    # Nothing is dropped to make it whole: the root's own edges are all there.
    wanted = {"up": ("dst",), "down": ("src",), "both": ("src", "dst")}[direction]
    around = {
        (src, dst, kind)
        for src, dst, kind, _ in edges
        if kind in lineages.LINEAGE and root in [{"src": src, "dst": dst}[w] for w in wanted]
    }
    assert around <= {(e.source, e.target, e.kind) for e in answer.edges}

    g = answer.graph()
    assert set(g.nodes) == ids and g.number_of_edges() == len(answer.edges)
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    doc = ET.fromstring(graph.to_graphml(g))
    assert {n.get("id") for n in doc.iterfind(".//g:node", ns)} == ids
    assert len(doc.findall(".//g:edge", ns)) == len(answer.edges)
    dot = graph.to_dot(g)
    drawn = [line for line in dot.splitlines() if "->" not in line and "[label=" in line]
    assert len(drawn) == len(ids)
    assert sum(1 for line in dot.splitlines() if " -> " in line) == len(answer.edges)
