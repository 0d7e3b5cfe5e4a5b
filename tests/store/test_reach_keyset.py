"""A wide reach, paged by keyset cursors, is exactly the whole reach: on both backends.

An actor pushes a few hundred artifacts (some built on others: derived), each tagged (tag
names with a registry port, a colon, characters whose order differs between code points and
a locale), some deployed and pulled. Paging each list of `store.reach` with the key of the
last row given, and the blast radius with its cursors, gives every item once, in its
list's order, and the counts are the number of items.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete

from provenance.query import blast_radius as blast
from provenance.store import Database, reach
from provenance.store.models import Edge, Node, Pull

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACTOR = "actor:ci"
WIDE = 260  # artifacts pushed
REPOS = ["r.io/app", "r.io/app-x", "r.io:5000/app", "r.io/app2", "r.io/app/sub"]
TAGS = ["v1", "latest", "v:2", "Éa", "_z", "V1"]


def _art(i: int) -> str:
    return f"artifact:sha256:{(i * 7919) % 4096:064x}"  # digests not in push order


def _graph() -> dict[str, Any]:
    """Edges (src, dst, kind, until) in id order and the lists a walk from ACTOR must give."""
    edges: list[tuple[str, str, str, datetime | None]] = []
    derived = {_art(i) for i in range(WIDE) if i % 9 == 4}
    for i in range(WIDE):
        if _art(i) not in derived:
            edges.append((ACTOR, _art(i), "pushed", None))
    for i in range(WIDE):
        if _art(i) in derived:  # built on the artifact before it: one step further
            edges.append((_art(i - 1), _art(i), "base_of", None))
    tags = []
    for i in range(WIDE):
        tag = f"tag:{REPOS[i % len(REPOS)]}:{TAGS[i % len(TAGS)]}{i // 30}"  # one per artifact
        tags.append(tag)
        edges.append((_art(i), tag, "tagged", None))
        if i % 11 == 0:  # a tag that moved on is no longer downstream now
            edges.append((_art(i), f"tag:r.io/old:{i}", "tagged", T0))
    deployments = [(_art(i), f"deployment:eu/prod/app-{i % 4}/c{i}") for i in range(0, WIDE, 13)]
    edges += [(src, dst, "deployed", None) for src, dst in deployments]
    pulls = [(_art(i).removeprefix("artifact:"), f"node-{i % 3}", "") for i in range(0, WIDE, 5)]
    return {
        "edges": edges,
        "artifacts": sorted({_art(i) for i in range(WIDE)} - derived),
        "derived": sorted(derived),
        "tags": sorted(tags, key=lambda t: tuple(t.removeprefix("tag:").rpartition(":")[::2])),
        "deployments": deployments,
        "pulls": pulls,
    }


def _load(db: Database, g: dict[str, Any]) -> None:
    with db.write() as s:
        for table in (Edge, Node, Pull):
            s.execute(delete(table))
        s.add(Node(id=ACTOR, kind="actor", attrs={}, first_seen=T0))
        for i, (src, dst, kind, until) in enumerate(g["edges"]):
            since = T0 - timedelta(days=1)
            s.add(Edge(src=src, dst=dst, kind=kind, since=since, until=until, seq=i, attrs={}))
        for digest, actor, client in g["pulls"]:
            s.add(Pull(digest=digest, actor=actor, client=client, count=1, first=T0, last=T0))


def _paged(db: Database, name: str, limit: int) -> list[Any]:
    """Every row of list `name`, a page of `limit` at a time, each page after the key of
    the last row of the one before (each page in a walk of its own, as a request is)."""
    rows: list[Any] = []
    after: list[Any] | None = None
    while True:
        with db.read() as s:
            reach.walk(s, ACTOR, blast.DOWNSTREAM, as_of=None, max_reach=10_000)
            found = reach.page(s, name, after, limit)
            reach.release(s)
        rows += found
        if len(found) < limit:
            return rows
        after = reach.key(name, found[-1])


@pytest.mark.parametrize("limit", [13, 100])
def test_keyset_pages_of_a_wide_reach_are_the_whole_reach(db: Database, limit: int) -> None:
    g = _graph()
    _load(db, g)
    with db.read() as s:
        assert not reach.walk(s, ACTOR, blast.DOWNSTREAM, as_of=None, max_reach=10_000)
        counts = reach.counts(s)
        reach.release(s)
    for name in ("artifacts", "derived", "tags"):
        nodes = [r.node for r in _paged(db, name, limit)]
        assert len(nodes) == len(set(nodes))  # no duplicates across pages
        assert nodes == g[name]  # the whole list, in its order
        assert counts[name] == len(nodes)
    deployments = _paged(db, "deployments", limit)
    assert sorted((r.src, r.dst) for r in deployments) == sorted(g["deployments"])
    assert len({r.edge for r in deployments}) == counts["deployments"] == len(g["deployments"])
    pullers = _paged(db, "pullers", limit)
    assert {(r.actor, r.client) for r in pullers} == {(a, c) for _, a, c in g["pulls"]}
    assert counts["pullers"] == len(pullers) == 3
    assert counts["builds"] == 0


def test_blast_radius_cursors_give_a_wide_actor_whole(db: Database) -> None:
    g = _graph()
    _load(db, g)
    seen: dict[str, list[Any]] = {name: [] for name in reach.LISTS}
    cursor, counts = None, None
    for _ in range(100):
        with db.read() as s:
            answer = blast.blast_radius(s, "actor", "ci", limit=23, cursor=cursor)
        counts = counts or answer.counts
        assert answer.counts == counts  # the same counts on every page
        for name in reach.LISTS:
            seen[name] += getattr(answer, name)
        cursor = answer.next_cursor
        if cursor is None:
            break
    assert cursor is None and counts is not None
    assert {name: len(items) for name, items in seen.items()} == counts
    assert [f"artifact:{a.digest}" for a in seen["artifacts"]] == g["artifacts"]
    assert [f"tag:{t.repository}:{t.tag}" for t in seen["tags"]] == g["tags"]
    assert [f"artifact:{a.digest}" for a in seen["derived"]] == g["derived"]
    for t in seen["tags"]:  # a shortest path: through the artifact it was reached from
        assert t.path[0] == ACTOR
        assert t.path[-2:] == [f"artifact:{t.digest}", f"tag:{t.repository}:{t.tag}"]
    assert len(seen["deployments"]) == len(g["deployments"])
