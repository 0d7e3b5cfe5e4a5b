"""The set-based statements the projection's writer writes a batch with.

Each takes the rows of one table, already merged per key by the writer
(`provenance.store.projection.writer`), and writes them with one executemany (or a few):
Core statements on the tables, since the ORM's bulk path costs more per row. `pulls`,
`nodes`, `artifacts`, `once_edges` and `merge_attrs` are SQLite's, whose one writer runs
them as statements prepared once (`provenance.store.prepared`). The `*_concurrently`
variants are for PostgreSQL with writers of other lanes at work: they insert what is new
and update only what this batch heard of earlier, so a row another lane also writes is
locked only when it changes; they take their rows as one JSON document (`_unnest`), one
statement per table. `insert_` is the dialect's `insert`
(`sqlite.insert` or `postgresql.insert`), for ON CONFLICT.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Any, cast

import orjson
from sqlalchemy import String, Table, bindparam, case, func, insert, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from provenance.store import evidence
from provenance.store.alert_models import PullerSeen
from provenance.store.db import to_json
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
    UTCDateTime,
)
from provenance.store.prepared import Prepared, sqlite_time

Insert = Callable[[Any], Any]
Row = dict[str, Any]

_TIMELINE = cast("Table", TimelineEvent.__table__)
_EVIDENCE = cast("Table", evidence.Evidence.__table__)
_EDGES = cast("Table", Edge.__table__)
_NODES = cast("Table", Node.__table__)
_SEEN = cast("Table", PullerSeen.__table__)
_PULLS = cast("Table", Pull.__table__)
_ARTIFACTS = cast("Table", Artifact.__table__)
_CHUNK = 500  # rows per IN (...) read

# PostgreSQL: a node's stored attributes learn `patch` (its keys win) in the UPDATE itself.
_MERGE_ATTRS = text(
    "UPDATE nodes SET attrs = CAST(CAST(attrs AS jsonb) || CAST(:patch AS jsonb) AS json) "
    "WHERE id = :id AND NOT CAST(attrs AS jsonb) @> CAST(:patch AS jsonb)"
)


def _in_key_order(rows: list[Row], keys: list[str]) -> list[Row]:
    """Rows sorted by their identity: concurrent writers take row locks in one order."""
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in keys))


TIMELINE_KEYS = (
    *("seq", "ord", "derived_tag", "event_id", "type", "time", "source", "digest"),
    *("previous_digest", "repository", "tag", "actor", "data"),
)
_TIMELINE_SQLITE = Prepared(sqlite.insert(_TIMELINE), TIMELINE_KEYS)


def timeline(session: Session, rows: list[Row]) -> None:
    """Rows of `TIMELINE_KEYS`, one executemany (the ORM's bulk path would group rows by
    which columns they leave empty)."""
    if session.get_bind().dialect.name == "sqlite":
        _TIMELINE_SQLITE.run(session, rows)
    else:
        session.execute(insert(_TIMELINE), rows)


def evidence_rows(session: Session, rows: list[Row]) -> None:
    # In event order, as the ORM would have: readers take the latest id per event.
    session.execute(insert(_EVIDENCE), rows)


_FACTS: tuple[tuple[Any, list[str], tuple[str, ...]], ...] = (
    (
        TagFact,
        ["tag", "okey"],  # an event's one place in the log
        (
            *("tag", "repository", "source", "event_id", "okey", "time", "seq", "ord"),
            *("kind", "digest", "explicit", "actor"),
        ),
    ),
    (
        DeployFact,
        ["workload", "source", "event_id"],
        (
            *("workload", "target", "source", "event_id", "okey", "time", "seq", "kind"),
            *("digest", "tag_ref", "data"),
        ),
    ),
    (
        ArtifactDelete,
        ["source", "event_id"],
        ("source", "event_id", "digest", "tag_ref", "repository", "okey", "time", "seq", "data"),
    ),
)


def _fact_insert(insert_: Insert, model: Any, identity: list[str]) -> Any:
    return insert_(model.__table__).on_conflict_do_nothing(index_elements=identity)


_FACTS_SQLITE = [
    Prepared(_fact_insert(sqlite.insert, model, identity), keys) for model, identity, keys in _FACTS
]


def facts(
    session: Session, insert_: Insert, tags: list[Row], deploys: list[Row], deletes: list[Row]
) -> None:
    """Facts are idempotent on their identity: stated twice, stored once."""
    on_sqlite = insert_ is sqlite.insert
    for (model, identity, _), prepared, rows in zip(
        _FACTS, _FACTS_SQLITE, (tags, deploys, deletes), strict=True
    ):
        if not rows:
            continue
        ordered = _in_key_order(rows, identity)
        if on_sqlite:
            prepared.run(session, ordered)
        else:
            session.execute(_fact_insert(insert_, model, identity), ordered)


def first_pulls(
    session: Session, insert_: Insert, firsts: list[Row], concurrent: bool
) -> list[Any]:
    """Store each puller's first pull by event time (`firsts` in key order); answer the
    (repository, actor, seq) of those this batch moved or made: only their findings can
    change."""
    if concurrent:
        return _first_pulls_concurrently(session, firsts)
    return list(session.execute(_first_pulls_upsert(insert_), firsts).all())


@functools.cache
def _first_pulls_upsert(insert_: Insert) -> Any:
    """Built once per dialect: built per batch, it cost more than a few pullers' rows."""
    stmt = insert_(PullerSeen.__table__)
    ex = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["repository", "actor"],
        set_={"okey": ex.okey, "time": ex.time, "seq": ex.seq, "data": ex.data},
        where=ex.okey < PullerSeen.okey,
    )
    return stmt.returning(PullerSeen.repository, PullerSeen.actor, PullerSeen.seq)


def _first_pulls_concurrently(session: Session, firsts: list[Row]) -> list[Any]:
    """Insert-or-nothing, then move back only the first pulls this batch heard earlier (an
    upsert would lock every puller's row it meets until the commit, and the lanes would
    queue on them); one statement each, whatever the number of pullers."""
    names = ["repository", "actor", "seq", "okey", "time", "data"]
    rows, params = _unnest(session, _SEEN, names, firsts)
    made = _INSERT_FIRST_PULLS.format(rows=rows)
    changed: list[Any] = list(session.execute(_typed(made, _SEEN, names), params).all())
    new = {(r, a) for r, a, _ in changed}
    rest = [r for r in firsts if (r["repository"], r["actor"]) not in new]
    if rest:  # locks only the rows it moves: a puller heard of earlier is left alone
        rows, params = _unnest(session, _SEEN, names, rest)
        moved = _MOVE_FIRST_PULLS.format(rows=rows)
        changed.extend(session.execute(_typed(moved, _SEEN, names), params).all())
    return changed


def _pulls_upsert(insert_: Insert) -> Any:
    stmt = insert_(Pull.__table__)
    ex = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["digest", "actor", "client"],
        set_={
            "count": Pull.count + ex.count,
            "first": case((ex.first < Pull.first, ex.first), else_=Pull.first),
            "last": case((ex.last > Pull.last, ex.last), else_=Pull.last),
        },
    )


_PULLS_SQLITE = Prepared(
    _pulls_upsert(sqlite.insert), ("digest", "actor", "client", "count", "first", "last")
)


def pulls(session: Session, rows: list[Row]) -> None:
    """One writer: pull counts per (digest, actor, client), added to what is stored."""
    _PULLS_SQLITE.run(session, rows)


def _nodes_upsert(insert_: Insert) -> Any:
    stmt = insert_(Node.__table__)
    return stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={"first_seen": stmt.excluded.first_seen},
        where=stmt.excluded.first_seen < Node.first_seen,
    )


_NODES_SQLITE = Prepared(_nodes_upsert(sqlite.insert), ("id", "kind", "attrs", "first_seen"))


def nodes(session: Session, rows: list[Row]) -> None:
    """One writer: an upsert that keeps the stored attributes and the earliest first_seen."""
    _NODES_SQLITE.run(session, rows)


def nodes_concurrently(session: Session, rows: list[Row]) -> None:
    """An upsert locks every row it meets, even one it leaves as it is: every batch would
    lock the hubs (an actor, a repository) until it commits, and lanes would queue on
    them. Insert what is new; update only a stored row heard of earlier. One statement
    each: the rows go in as arrays (`_unnest`)."""
    names = ["id", "kind", "attrs", "first_seen"]
    values, params = _unnest(session, _NODES, names, rows)
    stmt = _typed(_INSERT_NODES.format(rows=values), _NODES, names)
    made = set(session.execute(stmt, params).scalars())
    earlier = [r for r in rows if r["id"] not in made]
    if earlier:
        names = ["id", "first_seen"]
        values, params = _unnest(session, _NODES, names, earlier)
        session.execute(_typed(_MOVE_NODES.format(rows=values), _NODES, names), params)


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


def artifacts(session: Session, rows: list[Row]) -> None:
    """One writer: one row per digest, in digest order."""
    _ARTIFACTS_SQLITE.run(session, rows)


def _artifacts_upsert(insert_: Insert) -> Any:
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
    return stmt.on_conflict_do_update(index_elements=["digest"], set_=changes)


_ARTIFACTS_SQLITE = Prepared(
    _artifacts_upsert(sqlite.insert),
    ("digest", "media_type", "size", "first_seen", "deleted", "deleted_at", "life_key"),
)


# SQLite's one writer: said earlier than stored moves `since` (and the seq that said it)
# back; absent goes in. Each row is one seek of `ix_edges_src_kind_dst_until` (its key
# starts with src, kind, dst), no unique index needed; the statements are prepared once.
# `CAST(? AS TEXT)`, not a bare `?`: SQLite weighs a bare parameter compared with `kind`
# against the partial index `ix_edges_deployed` (`kind = 'deployed'`) by its value, and
# then prepares the statement again at every row's new binding: 3-4x each statement's
# time, 12% of the projection's (bench/README, "Prepared once").
_EARLIER_EDGE = (
    "UPDATE edges SET since = ?, seq = ? "
    "WHERE src = ? AND kind = CAST(? AS TEXT) AND dst = ? AND since > ?"
)
_NEW_EDGE = (
    "INSERT INTO edges (src, dst, kind, since, until, seq, attrs) SELECT ?, ?, ?, ?, NULL, ?, ? "
    "WHERE NOT EXISTS (SELECT 1 FROM edges WHERE src = ? AND kind = CAST(? AS TEXT) AND dst = ?)"
)


def once_edges(session: Session, pending: dict[tuple[str, str, str], Row]) -> None:
    """One writer: a new once-only edge goes in, a stored one said earlier than stored
    moves `since` back, any other is left as it is; two executemanys for the batch."""
    if not pending:
        return
    earlier, new = [], []
    for (src, dst, kind), row in pending.items():
        since = sqlite_time(row["since"])
        earlier.append((since, row["seq"], src, kind, dst, since))
        new.append((src, dst, kind, since, row["seq"], to_json(row["attrs"]), src, kind, dst))
    conn = session.connection()
    conn.exec_driver_sql(_EARLIER_EDGE, earlier)
    conn.exec_driver_sql(_NEW_EDGE, new)


def once_edges_concurrently(session: Session, pending: dict[tuple[str, str, str], Row]) -> None:
    """PostgreSQL, writers side by side: insert-or-nothing on `ux_edges_once` (no probe
    first, which a concurrent insert would race), in key order; then move back the
    `since` of the ones already stored that this batch heard of earlier. One statement
    each: the rows go in as arrays (`_unnest`)."""
    keys = sorted(pending, key=lambda k: (k[0], k[2], k[1]))  # (src, kind, dst) order
    rows = [pending[k] for k in keys]
    names = ["src", "dst", "kind", "since", "seq", "attrs"]
    values, params = _unnest(session, _EDGES, names, rows)
    stmt = _typed(_INSERT_ONCE_EDGES.format(rows=values, once=ONCE_EDGES), _EDGES, names)
    made = {(src, dst, kind) for src, dst, kind in session.execute(stmt, params)}
    earlier = [r for k, r in zip(keys, rows, strict=True) if k not in made]
    if earlier:
        names = ["src", "dst", "kind", "since", "seq"]
        values, params = _unnest(session, _EDGES, names, earlier)
        move = _MOVE_ONCE_EDGES.format(rows=values, once=ONCE_EDGES)
        session.execute(_typed(move, _EDGES, names), params)


def pulls_concurrently(session: Session, rows: list[Row]) -> None:
    """`pulls` in one statement (`rows` in key order): the counts added to what is stored."""
    names = ["digest", "actor", "client", "count", "first", "last"]
    values, params = _unnest(session, _PULLS, names, rows)
    session.execute(_typed(_ADD_PULLS.format(rows=values), _PULLS, names), params)


def artifacts_concurrently(session: Session, rows: list[Row]) -> None:
    """`artifacts` for writers side by side (`rows` in digest order): insert what is new,
    then update only a stored artifact this batch tells something new (an earlier first
    sight, a later push or delete, its media type or size). An upsert would lock every
    digest the batch pulled until it commits, and lanes pull the same popular digests."""
    names = ["digest", "media_type", "size", "first_seen", "deleted", "deleted_at", "life_key"]
    values, params = _unnest(session, _ARTIFACTS, names, rows)
    stmt = _typed(_INSERT_ARTIFACTS.format(rows=values), _ARTIFACTS, names)
    made = set(session.execute(stmt, params).scalars())
    stored = [r for r in rows if r["digest"] not in made]
    if stored:
        values, params = _unnest(session, _ARTIFACTS, names, stored)
        tell = _TELL_ARTIFACTS.format(rows=values, later=_LATER)
        session.execute(_typed(tell, _ARTIFACTS, names), params)


# --- rows as one JSON document (PostgreSQL) -----------------------------------------------
# An executemany costs a statement per row (or a VALUES list per page, whose SQL text the
# driver parses again each time): for thousands of rows that was most of a batch's time in
# the shared writes, which run while the batch holds its history locks. Instead the rows go
# in as one JSON document, written by orjson, that `json_to_recordset` turns back into rows
# of the columns' types, in the order given. (One array per column, the way before, had
# psycopg quote every element of every array in Python, with a regular expression: 23% of
# the server's time on the ingest benchmark, most of it the JSON of the first pulls.)


def _unnest(
    session: Session, table: Table, names: list[str], rows: list[Row]
) -> tuple[str, dict[str, Any]]:
    """`json_to_recordset(...) AS v(b_<name> <type>, ...)` over the rows, and its document."""
    dialect = session.get_bind().dialect
    types = ", ".join(f"b_{n} {table.c[n].type.compile(dialect)}" for n in names)
    times = [n for n in names if isinstance(table.c[n].type, UTCDateTime)]
    keys = [(n, f"b_{n}") for n in names]
    records = []
    for row in rows:
        record = {key: row[n] for n, key in keys}
        for n in times:  # as the column stores them: naive UTC
            if (value := record[f"b_{n}"]) is not None:
                record[f"b_{n}"] = value.astimezone(UTC).replace(tzinfo=None)
        records.append(record)
    return f"json_to_recordset(CAST(:b_rows AS json)) AS v({types})", {"b_rows": _document(records)}


def _document(records: list[Row]) -> str:
    """orjson, or `json` for what orjson refuses (as `to_json` does)."""
    try:
        return orjson.dumps(records).decode()
    except orjson.JSONEncodeError:
        return json.dumps(records, default=lambda v: v.isoformat())


def _typed(sql: str, table: Table, names: list[str]) -> Any:
    """`sql` with its document bound as text (the columns' types are the recordset's)."""
    return text(sql).bindparams(bindparam("b_rows", type_=String()))


_INSERT_ONCE_EDGES = (
    "INSERT INTO edges (src, dst, kind, since, until, seq, attrs)"
    " SELECT b_src, b_dst, b_kind, b_since, NULL, b_seq, b_attrs FROM {rows}"
    " ON CONFLICT (src, kind, dst) WHERE {once} DO NOTHING RETURNING src, dst, kind"
)
_MOVE_ONCE_EDGES = (
    "UPDATE edges SET since = b_since, seq = b_seq FROM {rows}"
    " WHERE src = b_src AND kind = b_kind AND dst = b_dst AND {once} AND since > b_since"
)
_INSERT_NODES = (
    "INSERT INTO nodes (id, kind, attrs, first_seen)"
    " SELECT b_id, b_kind, b_attrs, b_first_seen FROM {rows}"
    " ON CONFLICT (id) DO NOTHING RETURNING id"
)
_MOVE_NODES = (
    "UPDATE nodes SET first_seen = b_first_seen FROM {rows}"
    " WHERE id = b_id AND first_seen > b_first_seen"
)
_ADD_PULLS = (
    'INSERT INTO pulls (digest, actor, client, count, "first", "last")'
    " SELECT b_digest, b_actor, b_client, b_count, b_first, b_last FROM {rows}"
    " ON CONFLICT (digest, actor, client) DO UPDATE SET count = pulls.count + EXCLUDED.count,"
    ' "first" = least(pulls."first", EXCLUDED."first"),'
    ' "last" = greatest(pulls."last", EXCLUDED."last")'
)
_INSERT_ARTIFACTS = (
    "INSERT INTO artifacts (digest, media_type, size, first_seen, deleted, deleted_at, life_key)"
    " SELECT b_digest, b_media_type, b_size, b_first_seen, b_deleted, b_deleted_at, b_life_key"
    " FROM {rows} ON CONFLICT (digest) DO NOTHING RETURNING digest"
)
# What the upsert of `artifacts` does, for the rows it would change: the latest push or
# delete by event time (`life_key`) decides `deleted`; a pull (life_key NULL) says nothing.
_LATER = "(b_life_key IS NOT NULL AND (life_key IS NULL OR b_life_key > life_key))"
_TELL_ARTIFACTS = (
    "UPDATE artifacts SET media_type = coalesce(b_media_type, media_type),"
    " size = coalesce(b_size, size), first_seen = least(first_seen, b_first_seen),"
    " deleted = CASE WHEN {later} THEN b_deleted ELSE deleted END,"
    " deleted_at = CASE WHEN {later} THEN b_deleted_at ELSE deleted_at END,"
    " life_key = CASE WHEN {later} THEN b_life_key ELSE life_key END"
    " FROM {rows} WHERE digest = b_digest AND ("
    " media_type IS DISTINCT FROM coalesce(b_media_type, media_type)"
    " OR size IS DISTINCT FROM coalesce(b_size, size)"
    " OR b_first_seen < first_seen OR {later})"
)
_INSERT_FIRST_PULLS = (
    "INSERT INTO puller_seen (repository, actor, seq, okey, time, data)"
    " SELECT b_repository, b_actor, b_seq, b_okey, b_time, b_data FROM {rows}"
    " ON CONFLICT (repository, actor) DO NOTHING RETURNING repository, actor, seq"
)
_MOVE_FIRST_PULLS = (
    "UPDATE puller_seen SET seq = b_seq, okey = b_okey, time = b_time, data = b_data"
    " FROM {rows} WHERE repository = b_repository AND actor = b_actor AND okey > b_okey"
    " RETURNING repository, actor, seq"
)


__all__ = [
    "artifacts",
    "artifacts_concurrently",
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
    "pulls_concurrently",
    "timeline",
]
