"""The graph's vocabulary is `provenance.model.kinds`: every kind the demo story writes is a
member, so a kind spelled as a new literal somewhere cannot creep into the tables."""

from __future__ import annotations

from sqlalchemy import select

from provenance.ingest import demo
from provenance.model import nodes as N
from provenance.model.kinds import HISTORY_EDGES, EdgeKind, NodeKind
from provenance.store import Database
from provenance.store.models import HISTORY_EDGE_KINDS, ONCE_EDGES, Edge, Node


def stored_kinds(db: Database) -> tuple[set[str], set[str], set[str]]:
    """(node kinds, edge kinds, prefixes of node ids) as the tables hold them."""
    with db.read() as session:
        nodes = set(session.execute(select(Node.kind).distinct()).scalars())
        edges = set(session.execute(select(Edge.kind).distinct()).scalars())
        ids = set(session.execute(select(Node.id)).scalars())
        ends = session.execute(select(Edge.src, Edge.dst)).all()
    prefixes = {N.kind_of(i) for i in ids} | {N.kind_of(e) for end in ends for e in end}
    return nodes, edges, prefixes


def test_every_kind_the_demo_writes_is_a_member(db: Database) -> None:
    demo.load(db)
    nodes, edges, prefixes = stored_kinds(db)
    assert nodes <= set(NodeKind), nodes - set(NodeKind)
    assert edges <= set(EdgeKind), edges - set(EdgeKind)
    assert prefixes <= set(NodeKind), prefixes - set(NodeKind)  # an id starts with its kind
    # The story is wide enough that the check means something: each kind of edge it tells.
    assert edges >= {
        EdgeKind.STORED_IN,
        EdgeKind.PUSHED,
        EdgeKind.PULLED_BY,
        EdgeKind.CLAIMS,
        EdgeKind.PRODUCED,
        EdgeKind.RAN,
        EdgeKind.BUILT,
        EdgeKind.TAGGED,
        EdgeKind.DEPLOYED,
    }


def test_rows_keep_plain_text(db: Database) -> None:
    """A member is bound as its text: what is read back is a plain `str`."""
    demo.load(db)
    with db.read() as session:
        kinds = session.execute(select(Edge.kind).where(Edge.kind == EdgeKind.TAGGED)).scalars()
        assert {type(k) for k in kinds} == {str}


def test_once_edges_predicate_is_the_indexes_text() -> None:
    """Migration 0014 made the partial indexes with this text, and SQLite matches an
    upsert's conflict target to its index by the text: built from the kinds, it stays it."""
    assert frozenset(HISTORY_EDGE_KINDS) == HISTORY_EDGES
    assert ONCE_EDGES == "kind NOT IN ('tagged', 'deployed')"
