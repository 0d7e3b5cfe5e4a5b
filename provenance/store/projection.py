"""The provenance graph as a projection of the log.

`project_pending` reads log entries after the global cursor (`graph`), projects them with
`apply_entries` and moves the cursor, all in the caller's transaction: an entry is
projected exactly once however often the process dies. In distributed mode each entry
also has a lane (the Kafka partition it came from) and each worker projects its own
partitions' lanes with `project_lane`, behind one cursor per lane (`graph:<lane>`); an
entry is projected when the global cursor or its lane's cursor covers it, and `lag`
counts the others. `rebuild` drops the projection and replays the whole log, which must
give the same graph.

Every answer is a function of the set of events ordered by event time (then log seq), not
of their arrival: nodes and once-only edges keep the earliest time anything said about
them, an artifact's `deleted` is decided by its latest push or delete, and the histories
that change over time (what a tag points to, what a workload runs) are derived from facts
by `provenance.store.history` for just the tags and workloads a batch touched.

Edges point downstream (commit -> build -> artifact -> tag / deployment) and carry
`since`/`until`, so the past stays queryable.

Entry points: `apply_entries`, `project_pending`, `project_lane`, `rebuild`, `lag`,
`oldest_pending`, `Projector`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import orjson
from sqlalchemy import (
    Table,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from provenance.model import nodes as N
from provenance.model.alerts import DEFAULT_MIN_SEVERITY
from provenance.model.errors import ProvenanceError
from provenance.model.events import BLOB_TYPES, Event, EventType, is_digest
from provenance.model.timeutil import format_time
from provenance.store import cursors, evidence, history, quarantine, scans
from provenance.store.alert_models import ALERT_PROJECTION_TABLES, PullerSeen
from provenance.store.db import blames_the_input
from provenance.store.models import (
    ONCE_EDGES,
    PROJECTION_TABLES,
    Artifact,
    ArtifactDelete,
    DeployFact,
    Edge,
    LogEntry,
    Node,
    ProjectionCursor,
    Pull,
    QuarantineItem,
    TagFact,
    TimelineEvent,
    order_key,
)

logger = logging.getLogger(__name__)

# Written with Core statements on the tables: the ORM's bulk path costs more per row.
_TIMELINE = cast("Table", TimelineEvent.__table__)
_EVIDENCE = cast("Table", evidence.Evidence.__table__)
_EDGES = cast("Table", Edge.__table__)
_NODES = cast("Table", Node.__table__)


CURSOR = "graph"  # the global cursor: every entry up to it is projected
LANE_CURSOR = "graph:"  # + lane: every entry of that lane up to it is projected

# Concurrent projectors (one per worker, each on its own partitions) apply their batches
# side by side on PostgreSQL. What makes that correct without a global lock:
# - rows shared between lanes (hub nodes, artifacts, pulls, facts) are written in key order,
#   so two transactions take their row locks in the same order and cannot deadlock on them;
# - nodes and once-only edges go in with INSERT ... ON CONFLICT DO NOTHING (a unique index
#   for the once-only kinds) and an UPDATE only where a stored row learns an earlier time:
#   a hub (an actor, a repository) is locked only by a batch that changes it;
# - attribute merges happen inside the UPDATE (a JSON merge), not read-modify-write;
# - `history.recompute` takes per-key advisory locks (tag, workload, digest) before it
#   reads the facts it derives from, so lanes touching one tag serialize on it alone.
# A deadlock or serialization failure left over is retried by the caller (LaneProjector).


def lane_cursor(lane: str) -> str:
    """The cursor of one lane (distributed mode: `<topic>:<partition>`)."""
    return f"{LANE_CURSOR}{lane}"


def project_pending(
    session: Session,
    *,
    limit: int = 500,
    lanes: bool = True,
    min_severity: str = DEFAULT_MIN_SEVERITY,
) -> int:
    """Move the global cursor over up to `limit` log entries; return how many it passed.

    Entries a lane's cursor already covers are passed without applying them again. With
    `lanes` (embedded mode, the CLI, a rebuild) an entry of a lane not projected yet is
    applied here, under that lane's cursor lock, and the lane's cursor moves with it;
    without (a worker's sweep) the cursor stops before it: its partition's owner takes it.
    A sweep never waits: when another process holds the global cursor it passes nothing.

    The batch is applied in a savepoint. Should it fail for anything but the database
    being unreachable, it is applied again entry by entry, and an entry that still fails
    is set aside (quarantine, kind `projection`, with the reason) while the cursor moves
    past it: one entry the projection cannot take must never stop the graph."""
    locked = cursors.lock(session, [CURSOR], skip_locked=not lanes)
    if CURSOR not in locked:
        return 0
    cursor = locked[CURSOR]
    heads = session.execute(
        select(LogEntry.seq, LogEntry.lane)
        .where(LogEntry.seq > cursor.seq)
        .order_by(LogEntry.seq)
        .limit(limit)
    ).all()
    if not heads:
        return 0
    names = sorted({lane_cursor(lane) for _, lane in heads if lane is not None})
    lane_rows: dict[str, ProjectionCursor] = {}
    if lanes:  # locked: a lane's projector may be applying its entries right now
        lane_rows = cursors.lock(session, names)
        covered = {name: row.seq for name, row in lane_rows.items()}
    else:  # read only: a sweep applies no lane's entries, it only passes projected ones
        covered = cursors.get_many(session, names)
    todo: list[int] = []
    upto = cursor.seq
    for seq, lane in heads:
        if lane is not None and seq <= covered.get(lane_cursor(lane), 0):
            upto = seq  # its lane projected it
            continue
        if lane is not None and not lanes:
            break
        todo.append(seq)
        upto = seq
    if todo:
        rows = list(
            session.execute(select(LogEntry).where(LogEntry.seq.in_(todo)).order_by(LogEntry.seq))
            .scalars()
            .all()
        )
        _apply_or_set_aside(session, rows, min_severity)
    for row in lane_rows.values():
        row.seq = max(row.seq, upto)  # every entry up to `upto` is projected now
    passed = sum(1 for seq, _ in heads if seq <= upto)
    cursor.seq = upto
    session.flush()
    return passed


def project_lane(
    session: Session, lane: str, *, limit: int = 500, min_severity: str = DEFAULT_MIN_SEVERITY
) -> int:
    """Project up to `limit` entries of one lane after its cursor; return how many.

    The lane's cursor row is locked first (FOR UPDATE), so a lane is projected by one
    transaction at a time, whichever worker owns the partition now or owned it before a
    rebalance; the entries and the cursor move commit together. Entries up to the global
    cursor are projected already (a rebuild, the CLI)."""
    name = lane_cursor(lane)
    cursor = cursors.lock(session, [name])[name]
    after = max(cursor.seq, cursors.get(session, CURSOR))  # read after the lock: current
    rows = list(
        session.execute(
            select(LogEntry)
            .where(LogEntry.lane == lane, LogEntry.seq > after)
            .order_by(LogEntry.seq)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    if not rows:
        return 0
    _apply_or_set_aside(session, rows, min_severity)
    cursor.seq = rows[-1].seq
    session.flush()
    return len(rows)


def _apply_or_set_aside(session: Session, rows: Sequence[LogEntry], min_severity: str) -> None:
    try:
        with session.begin_nested():
            apply_entries(session, rows, min_severity=min_severity)
    except Exception as exc:
        if _transient(exc) or len(rows) == 1:
            _set_aside_or_raise(session, rows[0], exc)
        else:
            for row in rows:
                try:
                    with session.begin_nested():
                        apply_entries(session, [row], min_severity=min_severity)
                except Exception as one:
                    _set_aside_or_raise(session, row, one)


def apply_entries(
    session: Session, rows: Sequence[LogEntry], *, min_severity: str = DEFAULT_MIN_SEVERITY
) -> None:
    """Project a batch of log entries (raises on failure; the caller moves the cursor).
    `min_severity`: the alert threshold (`Settings.alert_min_severity`), passed down."""
    projector = Projector(session, min_severity)
    for row in rows:
        projector.apply_entry(row)
    projector.flush()


def _transient(exc: BaseException) -> bool:
    """The database is gone, busy or broken: retry later, never blame the entry."""
    return not blames_the_input(exc)


def _set_aside_or_raise(session: Session, row: LogEntry, exc: Exception) -> None:
    if _transient(exc):
        raise exc
    reason = f"log entry {row.seq} failed to project: {type(exc).__name__}: {exc}"
    logger.error(
        "log entry set aside by the projection",
        extra={"seq": row.seq, "source": row.source, "error": type(exc).__name__},
        exc_info=exc,
    )
    quarantine.put_projection(session, row, error=type(exc).__name__, reason=reason)


def set_aside(session: Session) -> int:
    """How many log entries the projection had to set aside."""
    return quarantine.count(session, quarantine.Kind.PROJECTION)


def lag(session: Session) -> int:
    """How many log entries no cursor has projected yet: those after the global cursor,
    less those their lane's cursor covers. A count over the entries after the global
    cursor, which the workers' sweep keeps close to the head, not over the log."""
    done = cursors.get(session, CURSOR)
    last = session.execute(select(LogEntry.seq).order_by(LogEntry.seq.desc()).limit(1)).scalar()
    pending = int(last or 0) - done
    lane_rows = session.execute(
        select(ProjectionCursor.name, ProjectionCursor.seq).where(
            ProjectionCursor.name.like(f"{LANE_CURSOR}%"), ProjectionCursor.seq > done
        )
    ).all()
    for name, upto in lane_rows:
        pending -= session.execute(
            select(func.count())
            .select_from(LogEntry)
            .where(
                LogEntry.lane == name.removeprefix(LANE_CURSOR),
                LogEntry.seq > done,
                LogEntry.seq <= upto,
            )
        ).scalar_one()
    return max(pending, 0)


def oldest_pending(session: Session, *, scan: int = 20_000) -> LogEntry | None:
    """The oldest log entry no cursor has projected (None when the graph is caught up).

    Scans from the global cursor, at most `scan` entries; beyond that it answers the
    entry right after the global cursor, which is no younger than the true one."""
    done = cursors.get(session, CURSOR)
    covered = {
        name.removeprefix(LANE_CURSOR): seq
        for name, seq in session.execute(
            select(ProjectionCursor.name, ProjectionCursor.seq).where(
                ProjectionCursor.name.like(f"{LANE_CURSOR}%")
            )
        ).all()
    }
    found: int | None = None
    after = done
    while found is None and after - done < scan:
        heads = session.execute(
            select(LogEntry.seq, LogEntry.lane)
            .where(LogEntry.seq > after)
            .order_by(LogEntry.seq)
            .limit(1000)
        ).all()
        if not heads:
            return None
        for seq, lane in heads:
            if lane is None or seq > covered.get(lane, 0):
                found = seq
                break
        after = heads[-1].seq
    seq = found if found is not None else done + 1
    return session.get(LogEntry, seq)


def rebuild(session: Session) -> None:
    """Forget the projection; the next `project_pending` calls replay the log from 1."""
    for table in (*PROJECTION_TABLES, *ALERT_PROJECTION_TABLES, *scans.SCAN_PROJECTION_TABLES):
        session.execute(delete(table))
    evidence.forget_arrivals(session)
    # Entries set aside are tried again by the replay (a fixed bug projects them now).
    session.execute(delete(QuarantineItem).where(QuarantineItem.kind == "projection"))
    session.flush()


@dataclass
class Projector:
    """Applies events to the graph tables of one session, caching what it has created."""

    session: Session
    min_severity: str = (
        DEFAULT_MIN_SEVERITY  # of `vulnerable_deployed` (`Settings.alert_min_severity`)
    )
    # Earliest time seen in this batch per node and once-only edge: an event about it
    # with an earlier time (it arrived late) moves its `first_seen` / `since` back.
    _nodes: dict[str, datetime] = field(default_factory=dict)
    _edges: dict[tuple[str, str, str], datetime] = field(default_factory=dict)
    _timeline: list[dict[str, Any]] = field(default_factory=list)
    # Write-behind buffers: rows that nothing reads back within the batch are written with
    # one executemany each at `sync()`, instead of one statement per event. `sync()` runs
    # before any read of those tables and at the end of the batch.
    _new_nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _new_edges: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    _artifact_rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    _pull_rows: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    _evidence_rows: list[dict[str, Any]] = field(default_factory=list)
    # Attributes learnt about nodes written by earlier batches (a build that finished):
    # merged with one read and one bulk UPDATE per batch, at `sync()`.
    _attr_merges: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Facts, as stated; written at `flush`, then the histories they touch are derived again.
    _tag_facts: list[dict[str, Any]] = field(default_factory=list)
    _deploy_facts: list[dict[str, Any]] = field(default_factory=list)
    _deletes: list[dict[str, Any]] = field(default_factory=list)
    _first_pulls: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _touched: history.Touched = field(default_factory=history.Touched)
    _entry_source: str | None = None
    _ord: int = 0
    # The canonical JSON form of the event being applied (`Event.to_dict`), built once.
    _data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        dialect = self.session.get_bind().dialect.name
        self._insert: Callable[[Any], Any] = (
            sqlite.insert if dialect == "sqlite" else postgresql.insert
        )
        # PostgreSQL: other lanes' projectors write at the same time (SQLite: one writer).
        self._concurrent = dialect == "postgresql"

    # --- entry points ---------------------------------------------------------------

    def apply_entry(self, row: LogEntry) -> None:
        self._entry_source = row.source  # whose verdicts signed/attested events carry
        for index, raw in enumerate(row.events):
            self._ord = index
            try:
                event = Event.from_dict(raw)
                self.apply(row.seq, event)
            except ProvenanceError as exc:
                # Validated on append, so this means a rule changed; keep the reason, go on.
                logger.warning("projection skipped an event", extra={"seq": row.seq})
                self.session.add(
                    QuarantineItem(
                        kind="projection",
                        seq=row.seq,
                        received_at=row.received_at,
                        source=row.source,
                        error="ProjectionError",
                        reason=f"projection of log entry {row.seq}: {exc.detail}",
                        content_type="application/json",
                        params={},
                        headers={},
                        body=repr(raw).encode(),
                    )
                )

    def apply(self, seq: int, event: Event) -> None:
        handler = _HANDLERS.get(event.type)
        self._data = event.to_dict()
        if event.type not in BLOB_TYPES:
            self._record(seq, event)
        if handler is not None:
            handler(self, seq, event)

    def flush(self) -> None:
        if not self._concurrent:
            self.sync()
        else:  # what the histories read first; the rows lanes share last (`_sync_shared`)
            self._sync_nodes(late=False)
            self._write_evidence()
            early = {k: r for k, r in self._new_edges.items() if k[2] in _EDGES_READ_BY_HISTORY}
            if early:  # one signature's or attestation's own: no other lane writes them
                for k in early:
                    del self._new_edges[k]
                self._write_once_edges_concurrently(early)
        self._write_timeline()
        self._write_facts()
        if self._touched:
            history.recompute(
                self.session, self._insert, self._touched, min_severity=self.min_severity
            )
            self._touched = history.Touched()
        if self._concurrent:
            self._sync_shared()
        self.session.flush()

    def _write_timeline(self) -> None:
        if self._timeline:
            # render_nulls: one executemany even when rows leave different columns empty
            self.session.execute(insert(_TIMELINE), self._timeline)
            self._timeline.clear()

    def _write_facts(self) -> None:
        """Facts are idempotent on their identity: stated twice, stored once."""
        for model, rows, keys in (
            (TagFact, self._tag_facts, ["tag", "source", "event_id"]),
            (DeployFact, self._deploy_facts, ["workload", "source", "event_id"]),
            (ArtifactDelete, self._deletes, ["source", "event_id"]),
        ):
            if rows:
                stmt = self._insert(model.__table__).on_conflict_do_nothing(index_elements=keys)
                self.session.execute(stmt, _in_key_order(rows, keys))
                rows.clear()
        if self._first_pulls:
            stmt = self._insert(PullerSeen.__table__)
            ex = stmt.excluded
            stmt = stmt.on_conflict_do_update(
                index_elements=["repository", "actor"],
                set_={"okey": ex.okey, "time": ex.time, "seq": ex.seq, "data": ex.data},
                where=ex.okey < PullerSeen.okey,
            )
            # RETURNING names the pullers whose first pull this batch moved (or made): only
            # their findings can change.
            stmt = stmt.returning(PullerSeen.repository, PullerSeen.actor, PullerSeen.seq)
            firsts = [self._first_pulls[k] for k in sorted(self._first_pulls)]
            if self._concurrent:
                changed = self._first_pulls_concurrently(firsts)
            else:
                changed = list(self.session.execute(stmt, firsts).all())
            for repository, actor, seq in changed:
                row = self._first_pulls[(repository, actor)]
                self._touched.first_pulls[(repository, actor)] = (seq, row["data"])
            self._first_pulls.clear()

    def _first_pulls_concurrently(self, firsts: list[dict[str, Any]]) -> list[Any]:
        """Concurrent projectors: insert-or-nothing, then move back only the first pulls
        this batch heard earlier (an upsert would lock every puller's row it meets until
        the commit, and the lanes would queue on them)."""
        seen = cast("Table", PullerSeen.__table__)
        stmt = self._insert(seen).on_conflict_do_nothing(index_elements=["repository", "actor"])
        cols = (seen.c.repository, seen.c.actor, seen.c.seq)
        changed: list[Any] = list(self.session.execute(stmt.returning(*cols), firsts).all())
        made = {(r, a) for r, a, _ in changed}
        rest = [r for r in firsts if (r["repository"], r["actor"]) not in made]
        stored: dict[tuple[str, str], str] = {}
        for start in range(0, len(rest), 500):  # a plain read: it locks nothing
            keys = [(r["repository"], r["actor"]) for r in rest[start : start + 500]]
            found = self.session.execute(
                select(seen.c.repository, seen.c.actor, seen.c.okey).where(
                    tuple_(seen.c.repository, seen.c.actor).in_(keys)
                )
            )
            stored.update({(r, a): k for r, a, k in found})
        for row in rest:
            if stored.get((row["repository"], row["actor"]), "") <= row["okey"]:
                continue  # heard of earlier already (the usual case): nothing to lock
            moved = self.session.execute(
                update(seen)
                .where(
                    seen.c.repository == row["repository"],
                    seen.c.actor == row["actor"],
                    seen.c.okey > row["okey"],
                )
                .values(okey=row["okey"], time=row["time"], seq=row["seq"], data=row["data"])
                .returning(*cols)
            ).all()
            changed.extend(moved)
        return changed

    def sync(self) -> None:
        """Write the buffered rows (nodes, once-only edges, artifacts, pulls, evidence)."""
        self._sync_nodes(late=False)
        if self._attr_merges:
            self._merge_stored_attrs()
        self._write_evidence()
        if self._artifact_rows:
            self._write_artifacts()
        if self._new_edges:
            self._write_once_edges()
        self._write_pulls()

    def _sync_shared(self) -> None:
        """Concurrent projectors: the rows other lanes write too, last. A row new to the
        graph is inserted by one lane, and another lane inserting it waits until that
        transaction commits (an upsert also locks a row it updates until then): written
        just before the commit, the wait is short. (An actor, a repository, a base image,
        its edges are new to the graph in many batches while it grows.) Each table in key
        order, the tables in one order; the attributes stored nodes learn go last, once
        their rows exist whoever inserted them."""
        if self._new_edges:
            self._write_once_edges()
        self._write_pulls()
        if self._artifact_rows:
            self._write_artifacts()
        self._sync_nodes(late=True)
        if self._attr_merges:
            self._merge_stored_attrs()

    def _write_evidence(self) -> None:
        if self._evidence_rows:
            # In event order, as the ORM would have: readers take the latest id per event.
            self.session.execute(insert(_EVIDENCE), self._evidence_rows)
            self._evidence_rows = []

    def _write_pulls(self) -> None:
        if self._pull_rows:
            stmt = self._insert(Pull.__table__)
            ex = stmt.excluded
            stmt = stmt.on_conflict_do_update(
                index_elements=["digest", "actor", "client"],
                set_={
                    "count": Pull.count + ex.count,
                    "first": case((ex.first < Pull.first, ex.first), else_=Pull.first),
                    "last": case((ex.last > Pull.last, ex.last), else_=Pull.last),
                },
            )
            self.session.execute(stmt, [self._pull_rows[k] for k in sorted(self._pull_rows)])
            self._pull_rows.clear()

    def _sync_nodes(self, *, late: bool) -> None:
        if not self._new_nodes:
            return
        if self._concurrent and not late:
            ids = sorted(k for k, r in self._new_nodes.items() if r["kind"] in _READ_BY_HISTORY)
        else:
            ids = sorted(self._new_nodes)  # lock order: by id
        rows = [self._new_nodes.pop(k) for k in ids]
        if not rows:
            return
        if not self._concurrent:
            stmt = self._insert(Node.__table__)
            stmt = stmt.on_conflict_do_update(
                index_elements=["id"],
                set_={"first_seen": stmt.excluded.first_seen},
                where=stmt.excluded.first_seen < Node.first_seen,
            )
            self.session.execute(stmt, rows)
            return
        # An upsert locks every row it meets, even one it leaves as it is: every batch
        # would lock the hubs (an actor, a repository) until it commits, and lanes would
        # queue on them. Insert what is new; update only a stored row heard of earlier.
        stmt = self._insert(_NODES).on_conflict_do_nothing(index_elements=["id"])
        made = set(self.session.execute(stmt.returning(_NODES.c.id), rows).scalars())
        earlier = [
            {"b_id": r["id"], "b_first": r["first_seen"]} for r in rows if r["id"] not in made
        ]
        if earlier:
            first = bindparam("b_first", type_=_NODES.c.first_seen.type)
            self.session.execute(
                update(_NODES)
                .where(_NODES.c.id == bindparam("b_id"), _NODES.c.first_seen > first)
                .values(first_seen=first),
                earlier,
            )

    def _merge_stored_attrs(self) -> None:
        merges = self._attr_merges
        self._attr_merges = {}
        ids = sorted(merges)
        if self._concurrent:
            # Merged inside the UPDATE, so a concurrent merge into the same node (its row
            # lock) is never lost; a node that already says all of it is left unlocked.
            self.session.execute(
                _MERGE_ATTRS, [{"id": i, "patch": orjson.dumps(merges[i]).decode()} for i in ids]
            )
            return
        changed: list[dict[str, Any]] = []
        for start in range(0, len(ids), 500):
            rows = self.session.execute(
                select(Node.id, Node.attrs).where(Node.id.in_(ids[start : start + 500]))
            )
            for node_id, stored in rows:
                attrs = merges[node_id]
                if any(stored.get(k) != v for k, v in attrs.items()):
                    changed.append({"id": node_id, "attrs": {**stored, **attrs}})
        if changed:
            self.session.execute(update(Node), changed)  # bulk UPDATE by primary key

    def _write_artifacts(self) -> None:
        rows = list(self._artifact_rows.values())
        self._artifact_rows.clear()
        stmt = self._insert(Artifact.__table__)
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
        self.session.execute(upsert, sorted(rows, key=lambda r: str(r["digest"])))

    def _write_once_edges(self) -> None:
        """New once-only edges go in with one executemany; one said earlier than stored
        moves `since` back (a conditional UPDATE by id)."""
        pending = self._new_edges
        self._new_edges = {}
        if self._concurrent:
            self._write_once_edges_concurrently(pending)
            return
        keys = list(pending)
        mark = "?" if self.session.get_bind().dialect.paramstyle == "qmark" else "%s"
        term = f"(src = {mark} AND kind = {mark} AND dst = {mark})"
        earlier: list[dict[str, Any]] = []
        conn = self.session.connection()
        for start in range(0, len(keys), 300):
            chunk = keys[start : start + 300]
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
            self.session.execute(insert(_EDGES), list(pending.values()))
        if earlier:
            since = bindparam("b_since", type_=_EDGES.c.since.type)
            stmt = (
                update(_EDGES)
                .where(_EDGES.c.id == bindparam("b_id"), _EDGES.c.since > since)
                .values(since=since, seq=bindparam("b_seq"))
            )
            self.session.execute(stmt, earlier)  # said earlier, heard later

    def _write_once_edges_concurrently(
        self, pending: dict[tuple[str, str, str], dict[str, Any]]
    ) -> None:
        """PostgreSQL, projectors side by side: insert-or-nothing on `ux_edges_once` (no
        probe first, which a concurrent insert would race), in key order; then move back
        the `since` of the ones already stored that this batch heard of earlier."""
        keys = sorted(pending, key=lambda k: (k[0], k[2], k[1]))  # (src, kind, dst) order
        rows = [pending[k] for k in keys]
        stmt = self._insert(_EDGES).on_conflict_do_nothing(
            index_elements=["src", "kind", "dst"], index_where=text(ONCE_EDGES)
        )
        made = {
            (src, dst, kind)
            for src, dst, kind in self.session.execute(
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
            self.session.execute(
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

    def _okey(self, seq: int, e: Event) -> str:
        return order_key(e.time, seq, self._ord)

    # --- handlers -------------------------------------------------------------------

    def pushed(self, seq: int, e: Event) -> None:
        if e.digest is None:
            # Docker Hub / Quay: a tag was pushed, digest unknown until another source or
            # reconciliation names it. Keep the tag known; it points nowhere yet.
            assert e.repository and e.tag
            self.node(N.repository(e.repository), "repository", e.time, name=e.repository)
            self.node(N.tag(e.repository, e.tag), "tag", e.time, repository=e.repository, tag=e.tag)
            return
        art = self.artifact(
            e.digest,
            e.time,
            media_type=e.media_type,
            size=e.size,
            life=(self._okey(seq, e), False),
        )
        if e.repository:
            repo = self.node(N.repository(e.repository), "repository", e.time, name=e.repository)
            self.edge_once(art, repo, "stored_in", e.time, seq)
        if e.actor:
            self.edge_once(self.actor(e.actor, e.time), art, "pushed", e.time, seq)
        if e.commit:
            commit = self.commit(e.commit, e.time, vcs_url=e.vcs_url)
            # A label or annotation is a claim by whoever built the image, not a build record.
            self.edge_once(commit, art, "claims", e.time, seq, evidence="label")
        if e.build:
            build = self.node(N.build(e.build), "build", e.time, id=e.build)
            self.edge_once(build, art, "produced", e.time, seq)
        if e.repository and e.tag:
            self.tag_fact(seq, e, kind="point")

    def tag_fact(self, seq: int, e: Event, *, kind: str) -> None:
        """This tag pointed at this digest (or was deleted) at `e.time`: a fact of its history."""
        assert e.repository and e.tag
        tag_id = self.node(
            N.tag(e.repository, e.tag), "tag", e.time, repository=e.repository, tag=e.tag
        )
        self._tag_facts.append(
            {
                "tag": tag_id,
                "repository": e.repository,
                "source": e.source,
                "event_id": e.id,
                "okey": self._okey(seq, e),
                "time": e.time,
                "seq": seq,
                "ord": self._ord,
                "kind": kind,
                "digest": e.digest if kind == "point" else None,
                "explicit": e.type is EventType.TAG_UPDATED,
                "data": self._data if kind == "point" else {},
            }
        )
        self._touched.tags.add(tag_id)
        if kind == "point" and e.digest is not None:
            self._touched.digests.add(e.digest)
        self._touched.saw(e.time)

    def tag_updated(self, seq: int, e: Event) -> None:
        assert e.digest is not None
        self.artifact(e.digest, e.time)
        self.tag_fact(seq, e, kind="point")

    def pulled(self, seq: int, e: Event) -> None:
        assert e.digest is not None
        # A pull names what it fetched and from where: an artifact known only by its pulls
        # still has its media type and its repository.
        art = self.artifact(e.digest, e.time, media_type=e.media_type, size=e.size)
        if e.repository:
            repo = self.node(N.repository(e.repository), "repository", e.time, name=e.repository)
            self.edge_once(art, repo, "stored_in", e.time, seq)
        actor = e.actor or "anonymous"
        client = e.client or ""
        key = (e.digest, actor, client)
        row = self._pull_rows.get(key)
        if row is None:
            self._pull_rows[key] = {
                "digest": e.digest,
                "actor": actor,
                "client": client,
                "count": 1,
                "first": e.time,
                "last": e.time,
            }
        else:
            row["count"] += 1
            row["first"] = min(row["first"], e.time)
            row["last"] = max(row["last"], e.time)
        self.edge_once(art, self.actor(actor, e.time), "pulled_by", e.time, seq)
        if e.repository is not None:
            okey = self._okey(seq, e)
            first = self._first_pulls.get((e.repository, actor))
            if first is None or okey < first["okey"]:
                self._first_pulls[(e.repository, actor)] = {
                    "repository": e.repository,
                    "actor": actor,
                    "seq": seq,
                    "okey": okey,
                    "time": e.time,
                    "data": self._data,
                }

    def deleted(self, seq: int, e: Event) -> None:
        okey = self._okey(seq, e)
        tag_ref = None
        if e.digest is None:
            # By tag (a Harbor retention run's `repo:tag`): the tag goes, and the digest it
            # held at `e.time` is derived with its history (`history._tag_histories`).
            assert e.repository and e.tag
            self.tag_fact(seq, e, kind="delete")
            tag_ref = N.tag(e.repository, e.tag)
        else:
            self.artifact(e.digest, e.time, life=(okey, True))
            self._touched.deleted.add(e.digest)
        self._deletes.append(
            {
                "source": e.source,
                "event_id": e.id,
                "digest": e.digest,
                "tag_ref": tag_ref,
                "repository": e.repository,
                "okey": okey,
                "time": e.time,
                "seq": seq,
                "data": self._data,
            }
        )
        self._touched.saw(e.time)

    def tag_deleted(self, seq: int, e: Event) -> None:
        assert e.repository and e.tag
        self.tag_fact(seq, e, kind="delete")

    def build_event(self, seq: int, e: Event) -> None:
        assert e.build is not None or e.type is not EventType.BUILD_FINISHED
        if e.build is None:
            return
        attrs: dict[str, Any] = {"id": e.build}
        stage = {
            EventType.BUILD_QUEUED: "queued",
            EventType.BUILD_STARTED: "started",
            EventType.BUILD_FINISHED: "finished",
        }[e.type]
        attrs[stage] = format_time(e.time)
        if e.builder:
            attrs["builder"] = e.builder
        build = self.node(N.build(e.build), "build", e.time, **attrs)
        self.merge_attrs(build, attrs)  # started, then finished: the build learns as it goes
        if e.builder:
            builder = self.node(N.builder(e.builder), "builder", e.time, id=e.builder)
            self.edge_once(builder, build, "ran", e.time, seq)
        if e.commit:
            self.edge_once(
                self.commit(e.commit, e.time, vcs_url=e.vcs_url), build, "built", e.time, seq
            )
        if e.digest:
            art = self.artifact(e.digest, e.time)
            self.edge_once(build, art, "produced", e.time, seq)

    def change_merged(self, seq: int, e: Event) -> None:
        assert e.commit is not None
        self.commit(e.commit, e.time, vcs_url=e.vcs_url)

    def signed(self, seq: int, e: Event) -> None:
        assert e.digest is not None
        art = self.artifact(e.digest, e.time)
        kind = "signature" if e.type is EventType.ARTIFACT_SIGNED else "attestation"
        about = {k: e.attributes[k] for k in _SIGNED_ATTRS if k in e.attributes}
        ref = self.node(f"{kind}:{e.id}", kind, e.time, event=e.id, source=e.source, **about)
        self.edge_once(ref, art, "signs" if kind == "signature" else "attests", e.time, seq)
        key = e.attributes.get("key")
        if isinstance(key, str) and key:
            self.edge_once(
                self.node(N.key(key), "key", e.time, id=key), ref, "signed_with", e.time, seq
            )
        # Only this service's own verdicts count: those of entries from its verifying source.
        trusted = self._entry_source == evidence.VERIFYING_SOURCE == e.source
        row = evidence.values_for(seq, e, origin="arrival", trusted_source=trusted)
        self._evidence_rows.append(row)
        self._touched.evidenced.add(e.digest)
        if e.build or e.builder or e.attributes.get("dependencies"):
            self.attested_build(seq, e, art, verified=bool(row["verified"]))

    def attested_build(self, seq: int, e: Event, art: str, *, verified: bool) -> None:
        """The build side of SLSA provenance: commit -built-> build <-ran- builder,
        build -produced-> artifact, and base image -base_of-> artifact for each resolved
        dependency that is an OCI image. Edges say they come from an attestation and
        whether it was trusted on arrival."""
        how = {"evidence": "attestation", "verified": verified}
        a = e.attributes
        if e.build:
            attrs = {"id": e.build} | {
                name: a[k]
                for name, k in (
                    ("builder", "builder_id"),
                    ("build_type", "build_type"),
                    ("invocation_id", "invocation_id"),
                    ("started", "started_on"),
                    ("finished", "finished_on"),
                )
                if isinstance(a.get(k), str)
            }
            build = self.node(N.build(e.build), "build", e.time, **attrs)
            self.merge_attrs(build, attrs)
            self.edge_once(build, art, "produced", e.time, seq, **how)
            if e.builder:
                builder = self.node(N.builder(e.builder), "builder", e.time, id=e.builder)
                self.edge_once(builder, build, "ran", e.time, seq, **how)
            if e.commit:
                commit = self.commit(e.commit, e.time, vcs_url=e.vcs_url)
                self.edge_once(commit, build, "built", e.time, seq, **how)
        for dep in a.get("dependencies") or []:
            base = dep.get("digest") if isinstance(dep, dict) else None
            if isinstance(base, str) and is_digest(base) and base != e.digest:
                self.edge_once(self.artifact(base, e.time), art, "base_of", e.time, seq, **how)

    def scanned(self, seq: int, e: Event) -> None:
        """A scan replaces its scanner's earlier one by event time (`store.scans`)."""
        assert e.digest is not None
        self.artifact(e.digest, e.time)
        row = scans.fact_row(seq, self._okey(seq, e), e)
        if scans.record(self.session, self._insert, row):
            self._touched.scanned.add(e.digest)

    def deployed(self, seq: int, e: Event) -> None:
        self.deploy_fact(seq, e, kind="applied")

    def undeployed(self, seq: int, e: Event) -> None:
        self.deploy_fact(seq, e, kind="removed")

    def deploy_fact(self, seq: int, e: Event, *, kind: str) -> None:
        """What a workload was given (or that it was removed) at `e.time`. An event naming
        cluster, namespace and container speaks of that container; one naming less (CDEvents
        often name a service and an environment) of every matching container of the
        workload, whenever they become known: the history decides, not the arrival."""
        assert e.workload is not None
        exact = bool(e.cluster and e.namespace and e.container)
        target = self.deployment(e) if exact else None
        tag_ref = None
        if kind == "applied" and e.digest is None and e.repository and e.tag:
            tag_ref = N.tag(e.repository, e.tag)  # runs what the tag held at that moment
        if e.digest is not None and kind == "applied":
            self.artifact(e.digest, e.time)
        self._deploy_facts.append(
            {
                "workload": e.workload,
                "target": target,
                "source": e.source,
                "event_id": e.id,
                "okey": self._okey(seq, e),
                "time": e.time,
                "seq": seq,
                "kind": kind,
                "digest": e.digest if kind == "applied" else None,
                "tag_ref": tag_ref,
                "data": self._data,
            }
        )
        self._touched.workloads.add(e.workload)
        self._touched.saw_deploy(e.time)
        if e.digest is not None:
            self._touched.digests.add(e.digest)
        if tag_ref is not None:
            self._touched.tag_refs.add(tag_ref)

    # --- building blocks ------------------------------------------------------------

    def node(self, node_id: str, kind: str, time: datetime, **attrs: Any) -> str:
        known = self._nodes.get(node_id)
        if known is not None and known <= time:
            return node_id
        self._nodes[node_id] = time
        pending = self._new_nodes.get(node_id)
        if pending is not None:
            pending["first_seen"] = time
        else:  # new, or heard of earlier than this batch knew: the upsert keeps the earliest
            self._new_nodes[node_id] = {
                "id": node_id,
                "kind": kind,
                "attrs": attrs,
                "first_seen": time,
            }
        return node_id

    def merge_attrs(self, node_id: str, attrs: dict[str, Any]) -> None:
        pending = self._new_nodes.get(node_id)
        if pending is not None:  # not written yet: a new node is written with them
            pending["attrs"] = {**pending["attrs"], **attrs}
        # ...and one already stored (the upsert keeps its attributes) learns them at sync.
        known = self._attr_merges.get(node_id)
        self._attr_merges[node_id] = attrs if known is None else {**known, **attrs}

    def artifact(
        self,
        digest: str,
        time: datetime,
        *,
        media_type: str | None = None,
        size: int | None = None,
        life: tuple[str, bool] | None = None,
    ) -> str:
        """`life`: (order key, deleted) of a push or a delete; the latest one decides."""
        node_id = N.artifact(digest)
        known = self._nodes.get(node_id)
        if known is not None and known <= time and (media_type, size, life) == (None, None, None):
            return node_id
        row = self._artifact_rows.get(digest)
        if row is None:
            row = self._artifact_rows[digest] = {
                "digest": digest,
                "media_type": media_type,
                "size": size,
                "first_seen": time,
                "deleted": False,
                "deleted_at": None,
                "life_key": None,
            }
        else:  # one row per digest and statement; the latest word on media type and size
            row["media_type"] = media_type if media_type is not None else row["media_type"]
            row["size"] = size if size is not None else row["size"]
            row["first_seen"] = min(row["first_seen"], time)
        if life is not None and (row["life_key"] is None or life[0] > row["life_key"]):
            row["life_key"], row["deleted"] = life
            row["deleted_at"] = time if life[1] else None
        return self.node(node_id, "artifact", time, digest=digest)

    def actor(self, name: str, time: datetime) -> str:
        return self.node(N.actor(name), "actor", time, name=name)

    def commit(self, sha: str, time: datetime, *, vcs_url: str | None) -> str:
        attrs = {"sha": sha} | ({"vcs_url": vcs_url} if vcs_url else {})
        return self.node(N.commit(sha), "commit", time, **attrs)

    def deployment(self, e: Event) -> str:
        assert e.workload is not None
        node_id = N.deployment(e.cluster, e.namespace, e.workload, e.container or "")
        return self.node(
            node_id,
            "deployment",
            e.time,
            environment=e.environment,
            cluster=e.cluster,
            namespace=e.namespace,
            workload=e.workload,
            container=e.container,
        )

    def edge_once(
        self, src: str, dst: str, kind: str, time: datetime, seq: int, **attrs: Any
    ) -> None:
        """An edge that, once true, stays true; `since` is the earliest time it was said."""
        key = (src, dst, kind)
        known = self._edges.get(key)
        if known is not None and known <= time:
            return
        self._edges[key] = time
        pending = self._new_edges.get(key)
        if pending is not None:
            pending.update(since=time, seq=seq)
            return
        self._new_edges[key] = {
            "src": src,
            "dst": dst,
            "kind": kind,
            "since": time,
            "until": None,
            "seq": seq,
            "attrs": attrs,
        }

    def _record(self, seq: int, e: Event) -> None:
        self._timeline.append(
            history.timeline_row(e, seq=seq, order=2 * self._ord, data=self._data)
        )
        if len(self._timeline) >= 500:
            self._write_timeline()


# Nodes and once-only edges `history.recompute` reads (a workload's containers, what
# signs or attests a digest): written before it.
_READ_BY_HISTORY = frozenset({"deployment"})
_EDGES_READ_BY_HISTORY = frozenset({"signs", "attests"})


def _in_key_order(rows: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
    """Rows sorted by their identity: concurrent writers take row locks in one order."""
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in keys))


# PostgreSQL: a node's stored attributes learn `patch` (its keys win) in the UPDATE itself.
_MERGE_ATTRS = text(
    "UPDATE nodes SET attrs = CAST(CAST(attrs AS jsonb) || CAST(:patch AS jsonb) AS json) "
    "WHERE id = :id AND NOT CAST(attrs AS jsonb) @> CAST(:patch AS jsonb)"
)

# What a signature/attestation node keeps about itself; verdicts live in `evidence`.
_SIGNED_ATTRS = ("format", "predicate_type", "media_type", "key_hint", "subject_name", "keyless")

_HANDLERS: dict[EventType, Callable[[Projector, int, Event], None]] = {
    EventType.ARTIFACT_PUSHED: Projector.pushed,
    EventType.ARTIFACT_PULLED: Projector.pulled,
    EventType.ARTIFACT_DELETED: Projector.deleted,
    EventType.TAG_UPDATED: Projector.tag_updated,
    EventType.TAG_DELETED: Projector.tag_deleted,
    EventType.BUILD_QUEUED: Projector.build_event,
    EventType.BUILD_STARTED: Projector.build_event,
    EventType.BUILD_FINISHED: Projector.build_event,
    EventType.CHANGE_MERGED: Projector.change_merged,
    EventType.ARTIFACT_SIGNED: Projector.signed,
    EventType.ARTIFACT_ATTESTED: Projector.signed,
    EventType.DEPLOYMENT_APPLIED: Projector.deployed,
    EventType.DEPLOYMENT_REMOVED: Projector.undeployed,
    EventType.ARTIFACT_SCANNED: Projector.scanned,
}

__all__ = [
    "CURSOR",
    "Projector",
    "apply_entries",
    "lag",
    "lane_cursor",
    "oldest_pending",
    "project_lane",
    "project_pending",
    "rebuild",
]
