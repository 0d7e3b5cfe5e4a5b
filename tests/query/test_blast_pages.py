"""The blast radius in pages is the whole blast radius: on any graph, on both backends.

The reference below is the algorithm the service had before it paged in SQL: a breadth
first walk in Python over every edge (one level at a time, edges in id order, the first
edge into a node making its path), every item built with its path, the lists sorted, the
pullers aggregated from the pull rows. The property: the pages of the service, with any page
size, concatenated, equal its lists exactly (items, order, paths); the counts are their
lengths; and so as of any moment.
"""

from __future__ import annotations

import base64
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from provenance.model.errors import InvalidQuery
from provenance.query import blast_radius as blast
from provenance.store import Database, reach
from provenance.store.models import HISTORY_EDGE_KINDS, Edge, Node, Pull, TimelineEvent

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LISTS = ("builds", "artifacts", "derived", "tags", "deployments", "pullers")


def _art(i: int) -> str:
    return f"artifact:sha256:{i:064x}"


# Node ids by kind. Tags include a registry port, a colon in the tag itself and characters
# whose order differs between code points and a locale, to hold the sort to code points.
NODES: dict[str, list[str]] = {
    "artifact": [_art(i) for i in range(1, 8)],
    "build": ["build:b1", "build:b2", "build:B3"],
    "commit": [f"commit:{i:040x}" for i in (1, 2)],
    "actor": ["actor:ci", "actor:bob"],
    "builder": ["builder:https://ci.example/runner"],
    "key": ["key:k1"],
    "signature": ["signature:s1", "signature:s2"],
    "tag": [
        "tag:r.io/app:v1",
        "tag:r.io/app:latest",
        "tag:r.io/app-x:v1",
        "tag:r.io:5000/app:v1",
        "tag:r.io/app:v:2",
        "tag:r.io/app:Éa",
        "tag:r.io/app:_z",
    ],
    "deployment": [
        "deployment:eu/prod/app/app",
        "deployment:eu/prod/app/sidecar",
        "deployment:us/prod/api/api",
        "deployment:-/-/app/app",
    ],
}
EDGE_KINDS = ["built", "ran", "produced", "claims", "tagged", "deployed", "base_of", "pushed"]
EDGE_KINDS += ["signs", "attests", "signed_with", "stored_in", "pulled_by"]
# Plausible (src kind, dst kind) per edge kind, plus any pair now and then.
SHAPES = {
    "built": ("commit", "build"),
    "ran": ("builder", "build"),
    "produced": ("build", "artifact"),
    "claims": ("commit", "artifact"),
    "tagged": ("artifact", "tag"),
    "deployed": ("artifact", "deployment"),
    "base_of": ("artifact", "artifact"),
    "pushed": ("actor", "artifact"),
    "signs": ("signature", "artifact"),
    "attests": ("signature", "artifact"),
    "signed_with": ("key", "signature"),
    "stored_in": ("artifact", "tag"),
    "pulled_by": ("artifact", "actor"),
}
ALL_NODES = [n for ids in NODES.values() for n in ids]
# (src kind, mid kind, edge kind) above and (mid kind, dst kind, edge kind) below a diamond.
DIAMONDS = [
    (("commit", "build", "built"), ("build", "artifact", "produced")),
    (("actor", "artifact", "pushed"), ("artifact", "artifact", "base_of")),
    (("actor", "artifact", "pushed"), ("artifact", "tag", "tagged")),
    (("actor", "artifact", "pushed"), ("artifact", "deployment", "deployed")),
]


def minutes(m: int) -> datetime:
    return T0 + timedelta(minutes=m)


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, Any]:
    edges = []
    for _ in range(draw(st.integers(0, 30))):
        kind = draw(st.sampled_from(EDGE_KINDS))
        if draw(st.integers(0, 9)) == 0:
            src, dst = draw(st.sampled_from(ALL_NODES)), draw(st.sampled_from(ALL_NODES))
        else:
            src_kind, dst_kind = SHAPES[kind]
            src, dst = (
                draw(st.sampled_from(NODES[src_kind])),
                draw(st.sampled_from(NODES[dst_kind])),
            )
        since = draw(st.integers(0, 100))
        until = draw(st.one_of(st.none(), st.integers(since, 120)))
        edges.append((src, dst, kind, since, until))
    for _ in range(draw(st.integers(0, 3))):  # two shortest paths into one node
        top, bottom = draw(st.sampled_from(DIAMONDS))
        src = NODES[top[0]][0]  # a root the test asks about (ROOTS)
        dst = draw(st.sampled_from(NODES[bottom[1]]))
        a, b = draw(st.lists(st.sampled_from(NODES[top[1]]), min_size=2, max_size=2, unique=True))
        edges += [(src, a, top[2], 0, None), (src, b, top[2], 0, None)]
        edges += [(a, dst, bottom[2], 0, None), (b, dst, bottom[2], 0, None)]
    draw(st.randoms()).shuffle(edges)  # ids in any order relative to the shape
    # A once-only edge is one row (a unique index); a history's intervals repeat.
    seen: set[tuple[str, str, str]] = set()
    for e in list(edges):
        if e[2] not in HISTORY_EDGE_KINDS:
            if e[:3] in seen:
                edges.remove(e)
            seen.add(e[:3])
    text = st.sampled_from([None, "", "prod", "eu", "Z", "a", "é"])
    deployments = {
        d: {k: draw(text) for k in ("environment", "cluster", "namespace", "workload", "container")}
        for d in draw(st.sets(st.sampled_from(NODES["deployment"])))
    }
    digests = [a.removeprefix("artifact:") for a in NODES["artifact"]]
    pulls = draw(
        st.dictionaries(
            st.tuples(
                st.sampled_from(digests),
                st.sampled_from(["node-1", "node-2", "anonymous"]),
                st.sampled_from(["", "10.0.0.1", "10.0.0.2"]),
            ),
            st.tuples(st.integers(1, 5), st.integers(0, 100)),
            max_size=8,
        )
    )
    pulled_at = draw(
        st.lists(
            st.tuples(
                st.sampled_from(digests),
                st.sampled_from([None, "", "node-1", "node-2"]),
                st.sampled_from([None, "", "10.0.0.1"]),
                st.integers(0, 100),
            ),
            max_size=8,
        )
    )
    return {"edges": edges, "deployments": deployments, "pulls": pulls, "timeline": pulled_at}


def _load(db: Database, g: dict[str, Any]) -> None:
    with db.write() as s:
        for table in (Edge, Node, Pull, TimelineEvent):
            s.execute(delete(table))
        for node in ALL_NODES:
            if node.startswith("deployment:") and node not in g["deployments"]:
                continue  # an edge may name a node that has no row (yet)
            attrs = {k: v for k, v in g["deployments"].get(node, {}).items() if v is not None}
            s.add(Node(id=node, kind=node.split(":")[0], attrs=attrs, first_seen=T0))
        for i, (src, dst, kind, since, until) in enumerate(g["edges"]):
            until_t = None if until is None else minutes(until)
            s.add(
                Edge(
                    src=src,
                    dst=dst,
                    kind=kind,
                    since=minutes(since),
                    until=until_t,
                    seq=i,
                    attrs={},
                )
            )
        for (digest, actor, client), (count, last) in g["pulls"].items():
            s.add(
                Pull(
                    digest=digest,
                    actor=actor,
                    client=client,
                    count=count,
                    first=T0,
                    last=minutes(last),
                )
            )
        for i, (digest, actor, client, m) in enumerate(g["timeline"]):
            data = {"type": "artifact.pulled"} | ({"client": client} if client is not None else {})
            s.add(
                TimelineEvent(
                    seq=i + 1,
                    ord=0,
                    event_id=f"pull-{i}",
                    type="artifact.pulled",
                    time=minutes(m),
                    source="test",
                    digest=digest,
                    actor=actor,
                    data=data,
                )
            )


# --- the reference: the walk and the lists as they were built before paging ---------------


def reference(db: Database, root: str, as_of: datetime | None) -> dict[str, Any]:
    with db.read() as s:
        edges = s.execute(
            select(Edge.id, Edge.src, Edge.dst, Edge.kind, Edge.since, Edge.until).order_by(Edge.id)
        ).all()
        attrs = {n.id: dict(n.attrs) for n in s.execute(select(Node)).scalars()}
        pull_rows = [
            (p.digest, p.actor, p.client, p.count, p.last)
            for p in s.execute(select(Pull)).scalars()
        ]
        timeline = s.execute(
            select(
                TimelineEvent.digest, TimelineEvent.actor, TimelineEvent.time, TimelineEvent.data
            )
        ).all()

    def valid(e: Any) -> bool:
        if as_of is None:
            return not (e.kind == "tagged" and e.until is not None)
        return e.since <= as_of and (e.until is None or e.until > as_of)

    downstream = [e for e in edges if e.kind in blast.DOWNSTREAM and valid(e)]
    parent, via, deployed = {root: root}, {}, []
    frontier = [root]
    while frontier:
        level = set(frontier)
        nxt = []
        for e in downstream:  # in id order
            if e.src not in level:
                continue
            if e.kind == "deployed":
                deployed.append(e)
            if e.dst not in parent:
                parent[e.dst], via[e.dst] = e.src, e
                nxt.append(e.dst)
        frontier = nxt

    def path(node: str) -> list[str]:
        out = [node]
        while out[-1] != root:
            out.append(parent[out[-1]])
        return out[::-1]

    lists: dict[str, list[dict[str, Any]]] = {name: [] for name in LISTS}
    for node in parent:
        kind = node.split(":", 1)[0]
        if kind == "build":
            lists["builds"].append({"build": node.removeprefix("build:"), "path": path(node)})
        elif kind == "artifact":
            p = path(node)
            derived = sum(1 for x in p if x.startswith("artifact:")) > 1
            lists["derived" if derived else "artifacts"].append(
                {"digest": node.removeprefix("artifact:"), "path": p}
            )
        elif kind == "tag":
            repo, _, tag = node.removeprefix("tag:").rpartition(":")
            digest = via[node].src.removeprefix("artifact:")
            lists["tags"].append(
                {"repository": repo, "tag": tag, "digest": digest, "path": path(node)}
            )
    for e in deployed:
        a = attrs.get(e.dst, {})
        active = e.until is None if as_of is None else True
        lists["deployments"].append(
            {
                "environment": a.get("environment"),
                "cluster": a.get("cluster"),
                "namespace": a.get("namespace"),
                "workload": a.get("workload"),
                "container": a.get("container"),
                "digest": e.src.removeprefix("artifact:"),
                "since": e.since,
                "until": e.until if as_of is None else None,
                "active": active,
                "path": [*path(e.src), e.dst],
            }
        )
    reached = {x["digest"] for x in (*lists["artifacts"], *lists["derived"])}
    per_digest: dict[tuple[str, str, str], list[Any]] = {}
    if as_of is None:
        for digest, actor, client, count, last in pull_rows:
            per_digest[(digest, actor, client)] = [count, last]
    else:
        for digest, actor, time, data in timeline:
            if time <= as_of:
                key = (digest, actor or "anonymous", str(data.get("client") or ""))
                item = per_digest.setdefault(key, [0, time])
                item[0] += 1
                item[1] = max(item[1], time)
    pullers: dict[tuple[str, str], dict[str, Any]] = {}
    for (digest, actor, client), (count, last) in sorted(per_digest.items()):
        if digest not in reached:
            continue
        item = pullers.get((actor, client))
        if item is None:
            pullers[(actor, client)] = {
                "actor": actor,
                "client": client or None,
                "count": count,
                "last": last,
                "digests": [digest],
                "path": [*path(f"artifact:{digest}"), f"actor:{actor}"],
            }
        else:
            item["count"] += count
            item["last"] = max(item["last"], last)
            item["digests"].append(digest)
    lists["pullers"] = sorted(
        pullers.values(), key=lambda x: (-x["count"], x["actor"], x["client"] or "")
    )
    for name in ("artifacts", "derived"):
        lists[name].sort(key=lambda x: x["digest"])
    lists["builds"].sort(key=lambda x: x["build"])
    lists["tags"].sort(key=lambda x: (x["repository"], x["tag"]))
    lists["deployments"].sort(
        key=lambda x: (
            not x["active"],
            x["environment"] or "",
            x["cluster"] or "",
            x["namespace"] or "",
            x["workload"] or "",
            x["digest"],
        )
    )  # stable: ties stay in walk order, which is edge id order for one source
    return lists


def paged(
    db: Database, kind: str, value: str, as_of: datetime | None, limit: int
) -> tuple[dict[str, int], dict[str, list[dict[str, Any]]], int]:
    lists: dict[str, list[dict[str, Any]]] = {name: [] for name in LISTS}
    cursor, pages, counts = None, 0, None
    while True:
        with db.read() as s:
            answer = blast.blast_radius(s, kind, value, as_of=as_of, limit=limit, cursor=cursor)
        pages += 1
        assert not answer.truncated
        counts = counts or answer.counts
        assert answer.counts == counts  # every page gives the same counts
        for name in LISTS:
            page = getattr(answer, name)
            assert len(page) <= limit
            lists[name].extend(asdict(item) for item in page)  # the reference's shape
        cursor = answer.next_cursor
        if cursor is None:
            return counts, lists, pages
        assert pages < 100


ROOTS = [
    ("digest", NODES["artifact"][0]),
    ("digest", NODES["artifact"][1]),
    ("commit", NODES["commit"][0]),
    ("build", NODES["build"][0]),
    ("actor", NODES["actor"][0]),
    ("builder", NODES["builder"][0]),
    ("key", NODES["key"][0]),
]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    g=graphs(),
    root=st.sampled_from(ROOTS),
    as_of=st.one_of(st.none(), st.integers(0, 120).map(minutes)),
    limit=st.integers(1, 4),
    scan=st.booleans(),
)
def test_pages_concatenated_are_the_whole_answer(
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    g: dict[str, Any],
    root: tuple[str, str],
    as_of: datetime | None,
    limit: int,
    scan: bool,
) -> None:
    # Both ways of finding the deployment edges (a wide reach scans them all): same lists.
    monkeypatch.setattr(reach, "_scan_deploys", lambda _s, _n: scan)
    _load(db, g)
    kind, node = root
    value = node.split(":", 1)[1]
    expected = reference(db, node, as_of)
    counts, lists, pages = paged(db, kind, value, as_of, limit)
    assert counts == {name: len(expected[name]) for name in LISTS}
    assert lists == expected
    longest = max(len(v) for v in expected.values())
    assert pages == max(1, -(-longest // limit))  # a next cursor only while something is left


def test_a_limit_on_the_walk_is_reported(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    chain = [(NODES["artifact"][i], NODES["artifact"][i + 1], "base_of", 0, None) for i in range(6)]
    _load(db, {"edges": chain, "deployments": {}, "pulls": {}, "timeline": []})
    digest = NODES["artifact"][0].removeprefix("artifact:")
    with db.read() as s:
        whole = blast.blast_radius(s, "digest", digest)
    assert not whole.truncated and whole.counts["derived"] == 6
    monkeypatch.setattr(blast, "MAX_REACH", 3)
    with db.read() as s:
        cut = blast.blast_radius(s, "digest", digest)
    assert cut.truncated
    assert (cut.counts["artifacts"], cut.counts["derived"]) == (1, 2)  # the nearest ones
    assert [d.digest for d in cut.derived] == [
        n.removeprefix("artifact:") for n in NODES["artifact"][1:3]
    ]


def test_a_wide_reach_lists_deployments_from_the_deployment_edges(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past the threshold, SQLite counts every deployment edge and scans them if fewer.
    arts = NODES["artifact"]
    edges = [(arts[0], a, "base_of", 0, None) for a in arts[1:]]
    edges += [(a, d, "deployed", 0, None) for a, d in zip(arts, NODES["deployment"], strict=False)]
    edges += [(arts[6], "deployment:-/-/app/app", "deployed", 5, 9)]
    _load(db, {"edges": edges, "deployments": {}, "pulls": {}, "timeline": []})
    root = arts[0]
    expected = reference(db, root, None)
    monkeypatch.setattr(reach, "_SCAN_DEPLOYS_FROM", 0)
    counts, lists, _ = paged(db, "digest", root.removeprefix("artifact:"), None, 2)
    assert lists == expected and counts["deployments"] == len(expected["deployments"]) == 5
    with db.read() as s:
        assert reach._scan_deploys(s, 6) is (db.dialect == "sqlite")  # 5 edges < 6 nodes
        assert reach._scan_deploys(s, 5) is False


def test_two_answers_in_one_transaction_do_not_mix(db: Database) -> None:
    a, b = NODES["artifact"][:2]
    edges = [(a, "tag:r.io/app:v1", "tagged", 0, None), (b, "tag:r.io/app:v2", "tagged", 0, None)]
    _load(db, {"edges": edges, "deployments": {}, "pulls": {}, "timeline": []})
    with db.read() as s:
        first = blast.blast_radius(s, "digest", a.removeprefix("artifact:"))
        second = blast.blast_radius(s, "digest", b.removeprefix("artifact:"))
    assert [t.tag for t in first.tags] == ["v1"]
    assert [t.tag for t in second.tags] == ["v2"]


def _cursor(data: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        _cursor({"o": 100}),  # an offset cursor of the version before
        _cursor({"v": 2, "after": {"artifacts": None}}),
        _cursor({"v": 2, "after": dict.fromkeys(LISTS) | {"pullers": ["1", "a", "b"]}}),
        _cursor({"v": 2, "after": dict.fromkeys(LISTS) | {"tags": ["only one"]}}),
    ],
)
def test_a_cursor_not_issued_here_is_refused(db: Database, cursor: str) -> None:
    a = NODES["artifact"][0]
    _load(db, {"edges": [], "deployments": {}, "pulls": {}, "timeline": []})
    with db.read() as s, pytest.raises(InvalidQuery):
        blast.blast_radius(s, "digest", a.removeprefix("artifact:"), cursor=cursor)
