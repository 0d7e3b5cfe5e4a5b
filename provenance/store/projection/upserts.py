"""The set-based statements the projection's writer writes a batch with.

Each takes the rows of one table, already merged per key by the writer
(`provenance.store.projection.writer`), and writes them with one executemany (or a few):
Core statements on the tables, since the ORM's bulk path costs more per row. The
`*_concurrently` variants are for PostgreSQL with writers of other lanes at work: they
insert what is new and update only what this batch heard of earlier, so a row another
lane also writes is locked only when it changes. `insert_` is the dialect's `insert`
(`sqlite.insert` or `postgresql.insert`), for ON CONFLICT.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import orjson
from sqlalchemy import Table, bindparam, case, func, insert, select, text, tuple_, update
from sqlalchemy.orm import Session

from provenance.store import evidence
from provenance.store.alert_models import PullerSeen
from provenance.store.models import (
    ONCE_EDGES,
    Artifact,
    ArtifactDelete,
    DeployFact,
    Edge,
    Node,
    Pull,
    TagFact,
    TimelineEvent,
)

Insert = Callable[[Any], Any]
Row = dict[str, Any]

_TIMELINE = cast("Table", TimelineEvent.__table__)
_EVIDENCE = cast("Table", evidence.Evidence.__table__)
_EDGES = cast("Table", Edge.__table__)
_NODES = cast("Table", Node.__table__)
_SEEN = cast("Table", PullerSeen.__table__)
_CHUNK = 500  # rows per IN (...) read
_PROBES = 300  # (src, kind, dst) probes per edge lookup

# PostgreSQL: a node's stored attributes learn `patch` (its keys win) in the UPDATE itself.
_MERGE_ATTRS = text(
    "UPDATE nodes SET attrs = CAST(CAST(attrs AS jsonb) || CAST(:patch AS jsonb) AS json) "
    "WHERE id = :id AND NOT CAST(attrs AS jsonb) @> CAST(:patch AS jsonb)"
)


def _in_key_order(rows: list[Row], keys: list[str]) -> list[Row]:
    """Rows sorted by their identity: concurrent writers take row locks in one order."""
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in keys))


def timeline(session: Session, rows: list[Row]) -> None:
    # render_nulls: one executemany even when rows leave different columns empty
    session.execute(insert(_TIMELINE), rows)


def evidence_rows(session: Session, rows: list[Row]) -> None:
    # In event order, as the ORM would have: readers take the latest id per event.
    session.execute(insert(_EVIDENCE), rows)


def facts(
    session: Session, insert_: Insert, tags: list[Row], deploys: list[Row], deletes: list[Row]
) -> None:
    """Facts are idempotent on their identity: stated twice, stored once."""
    for model, rows, keys in (
        (TagFact, tags, ["tag", "okey"]),  # an event's one place in the log
        (DeployFact, deploys, ["workload", "source", "event_id"]),
        (ArtifactDelete, deletes, ["source", "event_id"]),
    ):
        if rows:
            stmt = insert_(model.__table__).on_conflict_do_nothing(index_elements=keys)
            session.execute(stmt, _in_key_order(rows, keys))


def first_pulls(
    session: Session, insert_: Insert, firsts: list[Row], concurrent: bool
) -> list[Any]:
    """Store each puller's first pull by event time (`firsts` in key order); answer the
    (repository, actor, seq) of those this batch moved or made: only their findings can
    change."""
    if concurrent:
        return _first_pulls_concurrently(session, insert_, firsts)
    stmt = insert_(PullerSeen.__table__)
    ex = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["repository", "actor"],
        set_={"okey": ex.okey, "time": ex.time, "seq": ex.seq, "data": ex.data},
        where=ex.okey < PullerSeen.okey,
    )
    stmt = stmt.returning(PullerSeen.repository, PullerSeen.actor, PullerSeen.seq)
    return list(session.execute(stmt, firsts).all())


def _first_pulls_concurrently(session: Session, insert_: Insert, firsts: list[Row]) -> list[Any]:
    """Insert-or-nothing, then move back only the first pulls this batch heard earlier (an
    upsert would lock every puller's row it meets until the commit, and the lanes would
    queue on them)."""
    stmt = insert_(_SEEN).on_conflict_do_nothing(index_elements=["repository", "actor"])
    cols = (_SEEN.c.repository, _SEEN.c.actor, _SEEN.c.seq)
    changed: list[Any] = list(session.execute(stmt.returning(*cols), firsts).all())
    made = {(r, a) for r, a, _ in changed}
    rest = [r for r in firsts if (r["repository"], r["actor"]) not in made]
    stored: dict[tuple[str, str], str] = {}
    for start in range(0, len(rest), _CHUNK):  # a plain read: it locks nothing
        keys = [(r["repository"], r["actor"]) for r in rest[start : start + _CHUNK]]
        found = session.execute(
            select(_SEEN.c.repository, _SEEN.c.actor, _SEEN.c.okey).where(
                tuple_(_SEEN.c.repository, _SEEN.c.actor).in_(keys)
            )
        )
        stored.update({(r, a): k for r, a, k in found})
    for row in rest:
        if stored.get((row["repository"], row["actor"]), "") <= row["okey"]:
            continue  # heard of earlier already (the usual case): nothing to lock
        moved = session.execute(
            update(_SEEN)
            .where(
                _SEEN.c.repository == row["repository"],
                _SEEN.c.actor == row["actor"],
                _SEEN.c.okey > row["okey"],
            )
            .values(okey=row["okey"], time=row["time"], seq=row["seq"], data=row["data"])
            .returning(*cols)
        ).all()
        changed.extend(moved)
    return changed


def pulls(session: Session, insert_: Insert, rows: list[Row]) -> None:
    """Pull counts per (digest, actor, client), added to what is stored."""
    stmt = insert_(Pull.__table__)
    ex = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["digest", "actor", "client"],
        set_={
            "count": Pull.count + ex.count,
            "first": case((ex.first < Pull.first, ex.first), else_=Pull.first),
            "last": case((ex.last > Pull.last, ex.last), else_=Pull.last),
        },
    )
    session.execute(stmt, rows)


def nodes(session: Session, insert_: Insert, rows: list[Row]) -> None:
    """One writer: an upsert that keeps the stored attributes and the earliest first_seen."""
    stmt = insert_(Node.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={"first_seen": stmt.excluded.first_seen},
        where=stmt.excluded.first_seen < Node.first_seen,
    )
    session.execute(stmt, rows)


def nodes_concurrently(session: Session, insert_: Insert, rows: list[Row]) -> None:
    """An upsert locks every row it meets, even one it leaves as it is: every batch would
    lock the hubs (an actor, a repository) until it commits, and lanes would queue on
    them. Insert what is new; update only a stored row heard of earlier."""
    stmt = insert_(_NODES).on_conflict_do_nothing(index_elements=["id"])
    made = set(session.execute(stmt.returning(_NODES.c.id), rows).scalars())
    earlier = [{"b_id": r["id"], "b_first": r["first_seen"]} for r in rows if r["id"] not in made]
    if earlier:
        first = bindparam("b_first", type_=_NODES.c.first_seen.type)
        session.execute(
            update(_NODES)
            .where(_NODES.c.id == bindparam("b_id"), _NODES.c.first_seen > first)
            .values(first_seen=first),
            earlier,
        )


def merge_attrs(session: Session, merges: Mapping[str, Mapping[str, Any]]) -> None:
    """Stored nodes learn attributes (theirs merged under `merges`): one read per chunk,
    one bulk UPDATE by primary key of the nodes that change."""
    ids = sorted(merges)
    changed: list[Row] = []
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(Node.id, Node.attrs).where(Node.id.in_(ids[start : start + _CHUNK]))
        )
        for node_id, stored in rows:
            attrs = merges[node_id]
            if any(stored.get(k) != v for k, v in attrs.items()):
                changed.append({"id": node_id, "attrs": {**stored, **attrs}})
    if changed:
        session.execute(update(Node), changed)  # bulk UPDATE by primary key


def merge_attrs_concurrently(session: Session, merges: Mapping[str, Mapping[str, Any]]) -> None:
    """Merged inside the UPDATE, so a concurrent merge into the same node (its row lock)
    is never lost; a node that already says all of it is left unlocked."""
    params = [{"id": i, "patch": orjson.dumps(dict(merges[i])).decode()} for i in sorted(merges)]
    session.execute(_MERGE_ATTRS, params)


def artifacts(session: Session, insert_: Insert, rows: list[Row]) -> None:
    """One row per digest, in digest order."""
    stmt = insert_(Artifact.__table__)
    ex = stmt.excluded
    # The latest push or delete by event time decides `deleted`; a pull or a signature
    # (life_key NULL) says nothing about it.
    later = ex.life_key.is_not(None) & (
        Artifact.life_key.is_(None) | (ex.life_key > Artifact.life_key)
    )
    changes = {
        "media_type": func.coalesce(ex.media_type, Artifact.media_type),
        "size": func.coalesce(ex.size, Artifact.size),
        "first_seen": case(
            (ex.first_seen < Artifact.first_seen, ex.first_seen), else_=Artifact.first_seen
        ),
        "deleted": case((later, ex.deleted), else_=Artifact.deleted),
        "deleted_at": case((later, ex.deleted_at), else_=Artifact.deleted_at),
        "life_key": case((later, ex.life_key), else_=Artifact.life_key),
    }
    upsert = stmt.on_conflict_do_update(index_elements=["digest"], set_=changes)
    session.execute(upsert, rows)


def once_edges(session: Session, pending: dict[tuple[str, str, str], Row]) -> None:
    """One writer: new once-only edges go in with one executemany; one said earlier than
    stored moves `since` back (a conditional UPDATE by id). `pending` is emptied of the
    stored ones."""
    keys = list(pending)
    mark = "?" if session.get_bind().dialect.paramstyle == "qmark" else "%s"
    term = f"(src = {mark} AND kind = {mark} AND dst = {mark})"
    earlier: list[Row] = []
    conn = session.connection()
    for start in range(0, len(keys), _PROBES):
        chunk = keys[start : start + _PROBES]
        # Exact (src, kind, dst) probes, one index seek each (SQLite MULTI-INDEX OR,
        # PostgreSQL BitmapOr): an actor or a builder is a hub with many edges. Plain
        # SQL text: building 300 SQLAlchemy expressions cost more than the query.
        where = " OR ".join([term] * len(chunk))  # placeholders only: values are bound
        sql = "SELECT id, src, dst, kind FROM edges WHERE " + where  # noqa: S608
        params = tuple(v for src, dst, kind in chunk for v in (src, kind, dst))
        for edge_id, src, dst, kind in conn.exec_driver_sql(sql, params):
            row = pending.pop((src, dst, kind), None)
            if row is not None:
                earlier.append({"b_id": edge_id, "b_since": row["since"], "b_seq": row["seq"]})
    if pending:
        session.execute(insert(_EDGES), list(pending.values()))
    if earlier:
        since = bindparam("b_since", type_=_EDGES.c.since.type)
        stmt = (
            update(_EDGES)
            .where(_EDGES.c.id == bindparam("b_id"), _EDGES.c.since > since)
            .values(since=since, seq=bindparam("b_seq"))
        )
        session.execute(stmt, earlier)  # said earlier, heard later


def once_edges_concurrently(
    session: Session, insert_: Insert, pending: dict[tuple[str, str, str], Row]
) -> None:
    """PostgreSQL, writers side by side: insert-or-nothing on `ux_edges_once` (no probe
    first, which a concurrent insert would race), in key order; then move back the
    `since` of the ones already stored that this batch heard of earlier."""
    keys = sorted(pending, key=lambda k: (k[0], k[2], k[1]))  # (src, kind, dst) order
    rows = [pending[k] for k in keys]
    stmt = insert_(_EDGES).on_conflict_do_nothing(
        index_elements=["src", "kind", "dst"], index_where=text(ONCE_EDGES)
    )
    made = {
        (src, dst, kind)
        for src, dst, kind in session.execute(
            stmt.returning(_EDGES.c.src, _EDGES.c.dst, _EDGES.c.kind), rows
        )
    }
    earlier = [
        {"b_src": k[0], "b_dst": k[1], "b_kind": k[2], "b_since": r["since"], "b_seq": r["seq"]}
        for k, r in zip(keys, rows, strict=True)
        if k not in made
    ]
    if earlier:
        since = bindparam("b_since", type_=_EDGES.c.since.type)
        session.execute(
            update(_EDGES)
            .where(
                _EDGES.c.src == bindparam("b_src"),
                _EDGES.c.kind == bindparam("b_kind"),
                _EDGES.c.dst == bindparam("b_dst"),
                text(ONCE_EDGES),
                _EDGES.c.since > since,
            )
            .values(since=since, seq=bindparam("b_seq")),
            earlier,
        )


__all__ = [
    "artifacts",
    "evidence_rows",
    "facts",
    "first_pulls",
    "merge_attrs",
    "merge_attrs_concurrently",
    "nodes",
    "nodes_concurrently",
    "once_edges",
    "once_edges_concurrently",
    "pulls",
    "timeline",
]
