"""The downstream reach of one node, computed in SQL: what a blast radius counts and pages.

`walk` fills three temporary tables of the session's connection (created on first use,
emptied by each walk; on PostgreSQL also at commit):

* `blast_reach`: every node reached, breadth first, with its depth, the edge it was first
  reached by (`edge`: its source is the node's parent; none for the root and the seeds,
  whose parent is the root), how many artifacts its path holds (`arts`: more than one makes
  an artifact `derived`), and for a tag its repository (`k1`);
* `blast_deploys`: every deployment edge out of a reached node, with its sort key;
* `blast_pullers`: pulls of the reached digests per (actor, client).

Counts are aggregates over them and a page is a keyset scan, the walk one INSERT ... SELECT
per level, in SQL. A wide reach (a CI actor: 79,000 nodes at 1 M events) is bound by the
rows the walk writes and what it computes per row, so `blast_reach` keeps as few B-trees
and columns as it can: on SQLite no rowid beside its key; no parent, which its edge gives
for a page's items only (stored, the parent's id made each row half as large again and a
45,000-tag level 15-25% slower); no index by list (maintained per row, it cost more than
the one scan and top-N sort of a page that it saved: each page request walks again
anyway); and no list or key column but a tag's. A node's list is its kind (the prefix of
its id) and, for an artifact, whether its path holds another; builds, artifacts and
derived run in node order (the same as by build id or digest), so on SQLite their counts
and pages are ranges of the key. Tags run by (repository, tag), which is by (repository,
node): only the repository is stored (splitting a tag's id is the most costly term of a
wide walk after its index probes and inserts).

The parent of a node is the source of the lowest-id edge into it from the level before, so
paths are shortest and the same on both backends whatever the query plan. Sort keys are
compared in code point order (`COLLATE "C"` on PostgreSQL, SQLite's BINARY), as Python
sorts strings.

    walk(session, root, kinds, as_of=, max_reach=) -> truncated
    counts(session) -> {list: n}
    page(session, list, after, limit) -> rows      keyset: strictly after `after`
    parents(session, root, nodes) -> {node: parent}  every ancestor of the nodes, too
    release(session)                               free the rows once the answer is built
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateIndex, CreateTable

from provenance.model.kinds import EdgeKind
from provenance.store.models import DEPLOYED_EDGES, Edge, Node, Pull, TimelineEvent, UTCDateTime

# Lists of items kept in `blast_reach`, and the two with tables of their own.
NODE_LISTS = ("builds", "artifacts", "derived", "tags")
LISTS = (*NODE_LISTS, "deployments", "pullers")

_meta = MetaData()
_Ordered = Text().with_variant(Text(collation="C"), "postgresql")  # code point order

reach_t = Table(
    "blast_reach",
    _meta,
    Column("node", Text, primary_key=True),
    Column("depth", Integer, nullable=False),
    Column("edge", BigInteger),  # the edge it was first reached by: its source is the parent
    Column("arts", Integer, nullable=False),
    Column("k1", _Ordered),  # a tag's repository: with the node, its list's order
    # A level in node order (edges read in order), with what the next level reads of it.
    Index("blast_reach_depth", "depth", "node", "arts"),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
    sqlite_with_rowid=False,  # the key is the table: one B-tree less to write per node
)
deploys_t = Table(
    "blast_deploys",
    _meta,
    Column("edge", BigInteger, primary_key=True),
    Column("src", Text, nullable=False),
    Column("dst", Text, nullable=False),
    Column("since", UTCDateTime, nullable=False),
    Column("until", UTCDateTime),
    Column("ended", Integer, nullable=False),
    Column("environment", _Ordered, nullable=False),
    Column("cluster", _Ordered, nullable=False),
    Column("namespace", _Ordered, nullable=False),
    Column("workload", _Ordered, nullable=False),
    Column("digest", _Ordered, nullable=False),
    Index(
        "blast_deploys_order",
        "ended",
        "environment",
        "cluster",
        "namespace",
        "workload",
        "digest",
        "edge",
    ),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)
pullers_t = Table(
    "blast_pullers",
    _meta,
    Column("actor", _Ordered, nullable=False),
    Column("client", _Ordered, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("neg", BigInteger, nullable=False),  # -count: the list runs by count descending
    Column("last", UTCDateTime),
    Column("first", Text, nullable=False),  # the least digest pulled: its path is shown
    Column("digests", Text, nullable=False),  # a JSON array of the digests pulled
    Index("blast_pullers_order", "neg", "actor", "client"),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)
_TABLES = (reach_t, deploys_t, pullers_t)

# The node id prefix of each list of nodes; artifacts and derived differ by `arts`.
_PREFIX = {"builds": "build:", "artifacts": "artifact:", "derived": "artifact:", "tags": "tag:"}

# The sort key of each list, in order: a page is strictly after the previous page's last.
# For builds, artifacts and derived it is (the id after the prefix, ""), in node order; for
# tags (repository, tag), in (repository, node) order.
_ORDER: dict[str, tuple[Any, ...]] = {
    **{name: (reach_t.c.k1, reach_t.c.node) for name in NODE_LISTS},
    "deployments": tuple(
        deploys_t.c[k]
        for k in ("ended", "environment", "cluster", "namespace", "workload", "digest", "edge")
    ),
    "pullers": (pullers_t.c.neg, pullers_t.c.actor, pullers_t.c.client),
}
_CHUNK = 500


_READY = "blast_reach_ready"  # in the DBAPI connection's info: its temp tables exist
_DIRTY = "blast_reach_dirty"  # a walk's rows may still be there (SQLite: until `release`)


def _prepare(session: Session) -> None:
    """Make the temp tables once per connection, and empty them if a walk left rows.

    A narrow reach runs a dozen statements: ten more of DDL and deletes on each request
    were most of its time, so they run once per pooled connection."""
    info = session.connection().info
    if not info.get(_READY):
        # SQLite: in memory, not a temp file (the default), whose small cache makes a big
        # reach pay disk writes. Setting it drops the connection's temp tables: made below.
        sqlite_db = session.get_bind().dialect.name == "sqlite"
        if sqlite_db and session.execute(text("PRAGMA temp_store")).scalar_one() != 2:
            session.execute(text("PRAGMA temp_store = MEMORY"))
        for ddl in _ddl(session.get_bind().dialect):
            session.execute(text(ddl))
        info[_READY] = True
        info[_DIRTY] = True  # tables made by an earlier code path may hold rows
    if info.get(_DIRTY, True):
        clear(session)
    # PostgreSQL empties the tables at commit, SQLite in `release`: a walk later in the same
    # transaction, or one whose `release` an error skipped, finds rows and clears them.
    info[_DIRTY] = True


@functools.cache
def _ddl(dialect: Any) -> list[str]:
    """CREATE ... IF NOT EXISTS of the tables and their indexes, compiled once."""
    out = []
    for table in _TABLES:
        out.append(str(CreateTable(table, if_not_exists=True).compile(dialect=dialect)))
        out += [
            str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect))
            for index in table.indexes
        ]
    return out


def clear(session: Session) -> None:
    for table in _TABLES:
        session.execute(delete(table))


def release(session: Session) -> None:
    """Free what a walk stored. PostgreSQL empties the tables at commit by itself (a
    truncation; a DELETE would leave dead rows that no autovacuum visits in temp tables)."""
    if session.get_bind().dialect.name != "postgresql":
        clear(session)
        session.connection().info[_DIRTY] = False


def _is(node: ColumnElement[str], prefix: str) -> ColumnElement[bool]:
    return func.substr(node, 1, len(prefix)) == prefix


def _is_sqlite(node: ColumnElement[str], prefix: str) -> ColumnElement[bool]:
    """`_is` as a range: SQLite compares strings by code point (BINARY), so it is exact,
    and it builds no substring per row (a wide walk classifies 80,000 nodes)."""
    return and_(node >= prefix, node < prefix[:-1] + chr(ord(prefix[-1]) + 1))


def _member(dialect: str, rows: Any, name: str) -> ColumnElement[bool]:
    """Whether a row of `blast_reach` (or an alias of it) is an item of list `name`. On
    SQLite, a range of the key (builds and tags are counted without reading a row)."""
    kind_is = _is_sqlite if dialect == "sqlite" else _is
    member = kind_is(rows.c.node, _PREFIX[name])
    if name == "artifacts":
        return and_(member, rows.c.arts == 1)
    if name == "derived":
        return and_(member, rows.c.arts > 1)
    return member


_AS_OF = bindparam("as_of", type_=UTCDateTime)


def _valid(edges: Any, as_of: datetime | None) -> ColumnElement[bool]:
    """Valid at the `as_of` parameter (bound at execution: statements are built once)."""
    if as_of is None:
        # A tag that moved on no longer points at the affected digest.
        return or_(edges.c.kind != EdgeKind.TAGGED, edges.c.until.is_(None))
    return and_(edges.c.since <= _AS_OF, or_(edges.c.until.is_(None), edges.c.until > _AS_OF))


def _root_row(root: str) -> dict[str, Any]:
    """The root's row, classified as the level query classifies the nodes it adds."""
    arts = int(root.startswith("artifact:"))
    row: dict[str, Any] = {"node": root, "depth": 0, "edge": None}
    row |= {"arts": arts, "k1": None}
    if root.startswith("tag:"):
        row["k1"] = root.removeprefix("tag:").rpartition(":")[0]
    return row


def _tag_split_sqlite(dst: ColumnElement[str]) -> ColumnElement[int]:
    """Where the last colon of "tag:<repository>:<tag>" is, counted from after "tag:".

    The colons are counted first (one `replace`): with one after "tag:", the usual case, it
    is the first, found by `instr`; with two (a registry port), the second; more fall back
    to `rtrim` by every other character, which costs per character squared. (Finding the
    second colon to learn there is none, as before, made the split cost twice as much: 30
    ms of a 45,000-tag level.)"""
    rest = func.substr(dst, 5)
    colons = func.length(dst) - func.length(func.replace(dst, ":", ""))
    first = func.instr(rest, ":")
    second = func.instr(func.substr(rest, first + 1), ":")
    general = func.length(func.rtrim(dst, func.replace(dst, ":", ""))) - 4
    return case((colons == 2, first), (colons == 3, first + second), else_=general)


@functools.cache
def _level_statement(dialect: str, kinds: tuple[str, ...], now: bool, first: bool = False) -> Any:
    """INSERT the next level: every node one edge from the level before (`prev`) that is
    not there yet, at `depth`. Built once; depth and `as_of` are bound at execution.

    Each node comes from the lowest-id edge into it. On SQLite every row goes in, a node
    already at this depth keeping the lower edge and that edge's `arts` (an upsert; a node
    of an earlier level is left alone), in node order so that both B-trees are written in
    key order: sorting the rows costs less than inserting them at random places, and less
    than grouping them by node (`min(id)`, as before: 9% more instructions for the 45,000
    tags of a CI actor's second level, callgrind). On PostgreSQL, in edge id order, a node
    already there skipped (the first one wins).

    `first` (SQLite): the level after a lone root, whose edges the index gives in (kind,
    node) order, one kind mostly (a CI actor's 45,000 pushes): not sorted again. The rows
    changed count a node met twice more than once: the caller counts them (SQLite)."""
    e, f = Edge.__table__.alias("e"), reach_t.alias("f")
    dst = e.c.dst
    lite = dialect == "sqlite"
    kind_is = _is_sqlite if lite else _is
    is_art, is_tag = kind_is(dst, "artifact:"), kind_is(dst, "tag:")
    if lite:
        repo = func.substr(dst, 5, _tag_split_sqlite(dst) - 1)
    else:
        # "tag:<repository>:<tag>" up to its last colon: rtrim drops every other character.
        head = func.rtrim(dst, func.replace(dst, ":", ""))
        repo = func.substr(dst, 5, func.length(head) - 5)  # head starts dst
    rows = (
        select(
            dst,
            bindparam("depth", type_=Integer),
            e.c.id,
            f.c.arts + case((is_art, 1), else_=0),
            case((is_tag, repo), else_=None),
        )
        .select_from(f.join(e, e.c.src == f.c.node))
        .where(
            f.c.depth == bindparam("prev", type_=Integer),
            # Filtered, not probed kind by kind: one index range per node is cheaper.
            (e.c.kind + "").in_(kinds),
            _valid(e, None if now else datetime.min),
        )
    )
    columns = ["node", "depth", "edge", "arts", "k1"]
    if lite:
        # WHERE true: SQLite would read the ON of the upsert as the join's.
        rows = rows.where(literal_column("1")) if first else rows.order_by(dst)
        upsert = sqlite.insert(reach_t).from_select(columns, rows)
        lower = and_(
            upsert.excluded.edge < reach_t.c.edge, reach_t.c.depth == upsert.excluded.depth
        )
        return upsert.on_conflict_do_update(
            index_elements=[reach_t.c.node],
            set_={"edge": upsert.excluded.edge, "arts": upsert.excluded.arts},
            where=lower,
        )
    return (
        postgresql.insert(reach_t)
        .from_select(columns, rows.order_by(e.c.id))
        .on_conflict_do_nothing()
    )


_LEVEL_COUNT = (
    select(func.count())
    .select_from(reach_t)
    .where(reach_t.c.depth == bindparam("depth", type_=Integer))
)


def walk(
    session: Session,
    root: str,
    kinds: Sequence[str],
    *,
    as_of: datetime | None,
    max_reach: int,
    seeds: Sequence[str] = (),
) -> bool:
    """Fill the reach tables from `root` along edges of `kinds` valid at `as_of` (now:
    open tags only). Stops at `max_reach` nodes; returns whether it stopped there.
    `seeds`: artifact nodes one step from a root that is no node (a vulnerability: the
    digests whose latest scan lists it); the walk goes on from them."""
    _prepare(session)
    session.execute(reach_t.insert().values(**_root_row(root)))
    total, depth = 1, 0
    if seeds:  # the first level is given: the walk goes on from it
        rows = [_root_row(s) | {"depth": 1} for s in seeds[: max_reach - 1]]
        session.execute(reach_t.insert(), rows)
        total, depth = 1 + len(rows), 1
    dialect = session.get_bind().dialect.name
    level, count = _level_statement(dialect, tuple(kinds), as_of is None), _LEVEL_COUNT
    # From a lone root on SQLite, the first level has a statement of its own (see there).
    first = dialect == "sqlite" and depth == 0
    while total < max_reach:
        depth += 1
        statement = _level_statement(dialect, tuple(kinds), as_of is None, True) if first else level
        done = session.execute(statement, {"depth": depth, "prev": depth - 1, "as_of": as_of})
        # The rows inserted (ON CONFLICT skips are not counted); counted where a driver
        # reports -1 for an INSERT ... SELECT, or an upsert counts a row twice.
        added = -1 if dialect == "sqlite" else getattr(done, "rowcount", -1)
        first = False
        if added < 0:
            added = session.execute(count, {"depth": depth}).scalar_one()
        if not added:
            break
        room = max_reach - total
        if added > room:  # keep the nodes reached by the lowest edge ids, as a walk would
            beyond = select(reach_t.c.node).where(reach_t.c.depth == depth)
            beyond = beyond.order_by(reach_t.c.edge).offset(room)
            session.execute(delete(reach_t).where(reach_t.c.node.in_(beyond)))
            added = room
        total += added
    if dialect == "postgresql":
        # Its planner sizes a never-analyzed temp table from its pages: a 12-node reach
        # looked big enough to hash every deployment edge and pull row against it.
        session.execute(text("ANALYZE blast_reach"))
    _fill_deploys(session, as_of, total)
    _fill_pullers(session, as_of)
    return total >= max_reach


# Past this many nodes reached, the deployment edges may be fewer than the nodes: see below.
_SCAN_DEPLOYS_FROM = 2_000


def _fill_deploys(session: Session, as_of: datetime | None, reached: int) -> None:
    """Deployment edges out of the reached nodes, found from whichever side is smaller:
    per reached node, a probe of its edges (a narrow reach); or, when every deployment edge
    is fewer than the nodes reached (a CI actor: 79,000 nodes, 18,000 deployments at 1 M
    events), a scan of those (`ix_edges_deployed`) probing the reach. Same rows either way.
    SQLite's planner knows nothing of the temp table's size: the choice is made here.
    PostgreSQL's weighs both itself (it sizes the temp table from its pages; on a 10,000
    artifact graph it hashes the 500 deployment edges even for a 12-node reach, 2 ms)."""
    scan = _scan_deploys(session, reached)
    session.execute(_deploys_statement(as_of is None, scan), {"as_of": as_of})


def _scan_deploys(session: Session, reached: int) -> bool:
    if reached <= _SCAN_DEPLOYS_FROM or session.get_bind().dialect.name != "sqlite":
        return False
    return bool(session.execute(_DEPLOYED_EDGES).scalar_one() < reached)


# A literal, not a parameter: a partial index serves only a WHERE it can read.
_DEPLOYED: ColumnElement[str] = literal_column(f"'{EdgeKind.DEPLOYED.value}'")
# Named: left alone, SQLite counts the whole smallest index of `edges` instead.
_DEPLOYED_EDGES = text(
    f"SELECT count(*) FROM edges INDEXED BY ix_edges_deployed WHERE {DEPLOYED_EDGES}"  # noqa: S608
)


@functools.cache
def _deploys_statement(now: bool, scan: bool) -> Any:
    as_of = None if now else datetime.min  # only whether: the time is bound at execution
    e, r, n = Edge.__table__.alias("e"), reach_t.alias("r"), Node.__table__.alias("n")

    def attr(name: str) -> ColumnElement[str]:
        return func.coalesce(n.c.attrs[name].as_string(), "")

    # Now: a deployment still open ranks first. As of a time: every one valid then is active.
    ended = case((e.c.until.is_(None), 0), else_=1) if as_of is None else literal(0)
    digest = case((_is(e.c.src, "artifact:"), func.substr(e.c.src, 10)), else_=e.c.src)
    # `src IN (reached)`, not a join: the planner then probes the edges of each reached
    # node by index instead of scanning every edge (it knows nothing of the temp table).
    # To scan the deployment edges instead, `src || ''` hides the (src, ...) index.
    src = (e.c.src + "") if scan else e.c.src
    rows = (
        select(
            e.c.id,
            e.c.src,
            e.c.dst,
            e.c.since,
            e.c.until,
            ended,
            attr("environment"),
            attr("cluster"),
            attr("namespace"),
            attr("workload"),
            digest,
        )
        .select_from(e.outerjoin(n, n.c.id == e.c.dst))
        .where(src.in_(select(r.c.node)), e.c.kind == _DEPLOYED, _valid(e, as_of))
    )
    columns = [c.name for c in deploys_t.columns]
    return deploys_t.insert().from_select(columns, rows)


def _json_array(dialect: str, value: Any) -> Any:
    if dialect == "postgresql":
        return cast(func.json_agg(value), Text)
    return func.json_group_array(value)


def _fill_pullers(session: Session, as_of: datetime | None) -> None:
    dialect = session.get_bind().dialect.name
    session.execute(_pullers_statement(dialect, as_of is None), {"as_of": as_of})


@functools.cache
def _pullers_statement(dialect: str, now: bool) -> Any:
    r = reach_t.alias("r")
    digest_of = func.substr(r.c.node, 10)
    reached = (_is_sqlite if dialect == "sqlite" else _is)(r.c.node, "artifact:")
    if now:
        p = Pull.__table__.alias("p")
        per_digest = (
            select(
                p.c.digest.label("digest"),
                p.c.actor.label("actor"),
                p.c.client.label("client"),
                p.c.count.label("count"),
                p.c.last.label("last"),
            )
            .select_from(r.join(p, p.c.digest == digest_of))
            .where(reached)
        ).subquery()
    else:
        # Counted from the timeline up to `as_of`: the aggregate table knows today only.
        t = TimelineEvent.__table__.alias("t")
        actor = case((or_(t.c.actor.is_(None), t.c.actor == ""), "anonymous"), else_=t.c.actor)
        pulled = (
            select(
                t.c.digest.label("digest"),
                actor.label("actor"),
                func.coalesce(t.c.data["client"].as_string(), "").label("client"),
                t.c.time.label("time"),
            )
            .select_from(r.join(t, t.c.digest == digest_of))
            .where(reached, t.c.type == "artifact.pulled", t.c.time <= _AS_OF)
        ).subquery()
        per_digest = (
            select(
                pulled.c.digest,
                pulled.c.actor,
                pulled.c.client,
                func.count().label("count"),
                func.max(pulled.c.time).label("last"),
            ).group_by(pulled.c.digest, pulled.c.actor, pulled.c.client)
        ).subquery()
    total = func.sum(per_digest.c.count)
    rows = select(
        per_digest.c.actor,
        per_digest.c.client,
        total,
        -total,
        func.max(per_digest.c.last),
        func.min(per_digest.c.digest),
        _json_array(dialect, per_digest.c.digest),
    ).group_by(per_digest.c.actor, per_digest.c.client)
    columns = [c.name for c in pullers_t.columns]
    return pullers_t.insert().from_select(columns, rows)


def counts(session: Session) -> dict[str, int]:
    row = session.execute(_counts_statement(session.get_bind().dialect.name)).one()
    return {name: int(n) for name, n in zip(LISTS, row, strict=True)}


@functools.cache
def _counts_statement(dialect: str) -> Any:
    """Every list's size in one statement: builds and tags a count each (on SQLite of a
    range of the key), artifacts and derived one scan of the artifacts' range (a GROUP BY
    would sort the 90,000 rows of a wide reach first), and two counts."""

    def size(name: str) -> Any:
        rows = select(func.count()).select_from(reach_t).where(_member(dialect, reach_t, name))
        return rows.scalar_subquery()

    def count(*tables: Any) -> Any:
        return select(func.count()).select_from(*tables).scalar_subquery()

    artifacts = (_is_sqlite if dialect == "sqlite" else _is)(reach_t.c.node, "artifact:")
    return (
        select(
            size("builds"),
            func.count().filter(reach_t.c.arts == 1),
            func.count().filter(reach_t.c.arts > 1),
            size("tags"),
            count(deploys_t),
            count(pullers_t),
        )
        .select_from(reach_t)
        .where(artifacts)
    )


def page(session: Session, name: str, after: Sequence[Any] | None, limit: int) -> list[Any]:
    """Up to `limit` rows of list `name` in its order, strictly after the key `after`.
    Each row ends with its sort key (`key(name, row)` gives it back)."""
    params: dict[str, Any] = {"limit": limit}
    if after is not None and name in _BY_NODE:
        # (id, "") > (after_0, after_1) is id > after_0: "" is greater than no string.
        params["after_node"] = _PREFIX[name] + str(after[0])
    elif after is not None and name == "tags":
        # (repository, tag) > (after_0, after_1) is (repository, node) > (after_0, its node).
        params |= {"after_0": after[0], "after_node": f"tag:{after[0]}:{after[1]}"}
    elif after is not None:
        params |= {f"after_{i}": v for i, v in enumerate(after)}
    dialect = session.get_bind().dialect.name
    return list(session.execute(_page_statement(dialect, name, after is not None), params).all())


_BY_NODE = ("builds", "artifacts", "derived")  # lists in node order


@functools.cache
def _page_statement(dialect: str, name: str, keyset: bool) -> Any:
    limit = bindparam("limit", type_=Integer)
    if name in _BY_NODE:
        node: Any = reach_t.c.node
        if dialect == "postgresql":
            node = node.collate("C")  # code point order, as on SQLite
        stmt = select(
            reach_t.c.node,
            func.substr(reach_t.c.node, len(_PREFIX[name]) + 1).label("key_0"),
            literal_column("''").label("key_1"),
        ).where(_member(dialect, reach_t, name))
        if keyset:
            stmt = stmt.where(node > bindparam("after_node", type_=Text))
        return stmt.order_by(node).limit(limit)
    if name == "tags":
        node = reach_t.c.node.collate("C") if dialect == "postgresql" else reach_t.c.node
        order = (reach_t.c.k1, node)
        stmt = select(reach_t.c.node, reach_t.c.k1.label("key_0"))
        stmt = stmt.where(_member(dialect, reach_t, name))
        if keyset:
            after = (bindparam("after_0", type_=Text), bindparam("after_node", type_=Text))
            stmt = stmt.where(tuple_(*order) > tuple_(*after))
        return stmt.order_by(*order).limit(limit)
    order = _ORDER[name]
    if name == "deployments":
        stmt = select(
            deploys_t.c.edge, deploys_t.c.src, deploys_t.c.dst, deploys_t.c.since, deploys_t.c.until
        )
    else:
        stmt = select(
            pullers_t.c.actor,
            pullers_t.c.client,
            pullers_t.c.count,
            pullers_t.c.last,
            pullers_t.c.first,
            pullers_t.c.digests,
        )
    stmt = stmt.add_columns(*(c.label(f"key_{i}") for i, c in enumerate(order)))
    if keyset:
        bound = (bindparam(f"after_{i}", type_=c.type) for i, c in enumerate(order))
        stmt = stmt.where(tuple_(*order) > tuple_(*bound))
    return stmt.order_by(*order).limit(limit)


def key(name: str, row: Any) -> list[Any]:
    """The sort key of a row `page` returned: where the next page starts."""
    if name == "tags":  # (repository, tag): the tag is what the node has after both
        return [row.key_0, row.node[len("tag:") + len(row.key_0) + 1 :]]
    return list(row[-len(_ORDER[name]) :])


def key_types(name: str) -> tuple[type, ...]:
    """The Python type of each part of a list's sort key (to check a cursor)."""
    return tuple(int if c.name in ("ended", "edge", "neg") else str for c in _ORDER[name])


def parents(session: Session, root: str, nodes: Iterable[str]) -> dict[str, str]:
    """node -> parent for the nodes and all their ancestors up to the root (its own)."""
    out: dict[str, str] = {}
    todo = sorted(set(nodes))
    for start in range(0, len(todo), _CHUNK):
        params = {"nodes": todo[start : start + _CHUNK], "root": root}
        out.update((str(n), str(p)) for n, p in session.execute(_ANCESTORS, params))
    return out


def _ancestors() -> Any:
    """The nodes' (node, parent) rows and their ancestors', up a recursive CTE: one
    statement whatever the depth. A parent is its edge's source, or the root for a row
    reached by none (the root itself and the seeds): the root is its own parent, and
    UNION stops there."""
    root = bindparam("root", type_=Text)

    def with_parent(rows: Any, joined: Any) -> Any:
        e = Edge.__table__.alias()
        parent = func.coalesce(e.c.src, root).label("parent")
        return select(rows.c.node, parent).select_from(joined.outerjoin(e, e.c.id == rows.c.edge))

    start = with_parent(reach_t, reach_t)
    start = start.where(reach_t.c.node.in_(bindparam("nodes", expanding=True)))
    up = start.cte("up", recursive=True)
    r = reach_t.alias("r")
    # From the row found, up to its parent's row: one probe of each key.
    up = up.union(with_parent(r, up.join(r, r.c.node == up.c.parent)))
    return select(up.c.node, up.c.parent)


_ANCESTORS = _ancestors()


__all__ = [
    "LISTS",
    "NODE_LISTS",
    "clear",
    "counts",
    "key",
    "key_types",
    "page",
    "parents",
    "release",
    "walk",
]
