"""The projection's runner: which log entries to project, under which cursor.

`project_pending` reads log entries after the global cursor (`graph`), projects them with
`apply_entries` and moves the cursor, all in the caller's transaction: an entry is
projected exactly once however often the process dies. In distributed mode each entry
also has a lane (the Kafka partition it came from) and each worker projects its own
partitions' lanes with `project_lane`, behind one cursor per lane (`graph:<lane>`); an
entry is projected when the global cursor or its lane's cursor covers it, and `lag`
counts the others. An entry that cannot be projected is set aside (`set_aside` counts
them). `rebuild` drops the projection and replays the whole log, which must give the
same graph.

A batch is first applied whole, with no savepoint (`at_once`): a savepoint makes SQLite copy
every page the batch changes into a statement journal on disk first, a write per changed
page: at a million events, half of the projection's page writes. Should an entry fail,
the transaction is rolled back and the same entries are applied again each in a savepoint of
its own, the failing one set aside: `project_in` runs a step that way, in transactions of
its own.

`apply_entries` is where the two halves meet: each event's facts come from the rules
(`provenance.model.graph_rules.facts_of`), and the writer (`projection.writer`) stores
them for the whole batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, func, literal, select
from sqlalchemy.orm import Session

from provenance.model.alerts import DEFAULT_MIN_SEVERITY
from provenance.model.errors import ProvenanceError
from provenance.model.events import Event
from provenance.model.graph_rules import Context, facts_of
from provenance.store import cursors, evidence, quarantine, scans
from provenance.store.alert_models import ALERT_PROJECTION_TABLES
from provenance.store.db import Database, blames_the_input
from provenance.store.models import (
    PROJECTION_TABLES,
    LogEntry,
    ProjectionCursor,
    QuarantineItem,
)
from provenance.store.projection.writer import GraphWriter

logger = logging.getLogger(__name__)

CURSOR = "graph"  # the global cursor: every entry up to it is projected
LANE_CURSOR = "graph:"  # + lane: every entry of that lane up to it is projected

_Head = tuple[int, str | None, int]  # a log entry's seq, lane and number of events


def lane_cursor(lane: str) -> str:
    """The cursor of one lane (distributed mode: `<topic>:<partition>`)."""
    return f"{LANE_CURSOR}{lane}"


class BatchFailed(Exception):
    """An entry of a batch applied `at_once` failed: the transaction holds part of the
    batch and must be rolled back; the entries are then applied one by one."""

    def __init__(self, first: int, last: int) -> None:
        super().__init__(f"log entries {first}..{last}: one failed to project")
        self.first, self.last = first, last


def project_in(db: Database, step: Callable[..., int]) -> int:
    """Run a projection step (`project_pending` or `project_lane`, its other arguments
    bound) in a transaction of its own: the batch at once, and should an entry of it fail,
    again in a new transaction, entry by entry. Not durable: the graph is derived from the
    log, whose commits are (`Database.write`)."""
    try:
        with db.write(durable=False) as session:
            return step(session, at_once=True)
    except BatchFailed as failed:
        logger.info(
            "projection batch failed; applying its entries one by one",
            extra={"first": failed.first, "last": failed.last},
        )
    with db.write(durable=False) as session:
        return step(session, at_once=False)


def project_pending(
    session: Session,
    *,
    limit: int = 500,
    max_events: int | None = None,
    lanes: bool = True,
    min_severity: str = DEFAULT_MIN_SEVERITY,
    at_once: bool = False,
    on_cut: Callable[[], None] | None = None,
) -> int:
    """Move the global cursor over up to `limit` log entries; return how many it passed.
    With `max_events`, it stops before the entry that would take the batch's events past
    it (the first entry is taken whatever its size): a batch's cost is its events'. When
    it stops there, `on_cut` is called: fewer than `limit` passed, and more are pending.

    Entries a lane's cursor already covers are passed without applying them again. With
    `lanes` (embedded mode, the CLI, a rebuild) an entry of a lane not projected yet is
    applied here, under that lane's cursor lock, and the lane's cursor moves with it;
    without (a worker's sweep) the cursor stops before it: its partition's owner takes it.
    A sweep never waits: when another process holds the global cursor it passes nothing.

    Each entry is applied in a savepoint of its own. One that fails for anything but the
    database being unreachable is set aside (quarantine, kind `projection`, with the
    reason) while the cursor moves past it: one entry the projection cannot take must
    never stop the graph. `at_once`: the batch whole, with no savepoint, and a failure
    raises `BatchFailed` for the caller to roll the transaction back and call again
    without it (`project_in` does both)."""
    locked = cursors.lock(session, [CURSOR], skip_locked=not lanes)
    if CURSOR not in locked:
        return 0
    cursor = locked[CURSOR]
    sizes = func.json_array_length(LogEntry.events) if max_events is not None else literal(0)
    heads: list[_Head] = [
        (seq, lane, int(size or 0))
        for seq, lane, size in session.execute(
            select(LogEntry.seq, LogEntry.lane, sizes)
            .where(LogEntry.seq > cursor.seq)
            .order_by(LogEntry.seq)
            .limit(limit)
        )
    ]
    if not heads:
        return 0
    if max_events is not None:
        taken = _within(heads, max_events)
        if len(taken) < len(heads) and on_cut is not None:
            on_cut()
        heads = taken
    names = sorted({lane_cursor(lane) for _, lane, _ in heads if lane is not None})
    lane_rows: dict[str, ProjectionCursor] = {}
    if lanes:  # locked: a lane's projector may be applying its entries right now
        lane_rows = cursors.lock(session, names)
        covered = {name: row.seq for name, row in lane_rows.items()}
    else:  # read only: a sweep applies no lane's entries, it only passes projected ones
        covered = cursors.get_many(session, names)
    todo: list[int] = []
    upto = cursor.seq
    for seq, lane, _ in heads:
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
        _apply_or_set_aside(session, rows, min_severity, at_once=at_once)
    for row in lane_rows.values():
        row.seq = max(row.seq, upto)  # every entry up to `upto` is projected now
    passed = sum(1 for seq, _, _ in heads if seq <= upto)
    cursor.seq = upto
    session.flush()
    return passed


def _within(heads: list[_Head], max_events: int) -> list[_Head]:
    """The first heads whose events add up to at most `max_events` (at least one)."""
    taken: list[_Head] = []
    events = 0
    for head in heads:
        events += head[2]
        if taken and events > max_events:
            break
        taken.append(head)
    return taken


def project_lane(
    session: Session,
    lane: str,
    *,
    limit: int = 500,
    max_events: int | None = None,
    min_severity: str = DEFAULT_MIN_SEVERITY,
    at_once: bool = False,
) -> int:
    """Project up to `limit` entries of one lane after its cursor, and with `max_events`
    only as many as fit in it (at least one), as `project_pending`; return how many.

    The lane's cursor row is locked first (FOR UPDATE), so a lane is projected by one
    transaction at a time, whichever worker owns the partition now or owned it before a
    rebalance; the entries and the cursor move commit together. Entries up to the global
    cursor are projected already (a rebuild, the CLI). `at_once`: as `project_pending`'s."""
    name = lane_cursor(lane)
    cursor = cursors.lock(session, [name])[name]
    after = max(cursor.seq, cursors.get(session, CURSOR))  # read after the lock: current
    pending = select(LogEntry).where(LogEntry.lane == lane, LogEntry.seq > after)
    if max_events is not None:  # the entries' sizes first: only what fits is loaded
        heads: list[_Head] = [
            (seq, lane, int(size or 0))
            for seq, size in session.execute(
                select(LogEntry.seq, func.json_array_length(LogEntry.events))
                .where(LogEntry.lane == lane, LogEntry.seq > after)
                .order_by(LogEntry.seq)
                .limit(limit)
            )
        ]
        if not heads:
            return 0
        pending = pending.where(LogEntry.seq <= _within(heads, max_events)[-1][0])
    rows = list(session.execute(pending.order_by(LogEntry.seq).limit(limit)).scalars().all())
    if not rows:
        return 0
    _apply_or_set_aside(session, rows, min_severity, at_once=at_once)
    cursor.seq = rows[-1].seq
    session.flush()
    return len(rows)


def _apply_or_set_aside(
    session: Session, rows: Sequence[LogEntry], min_severity: str, *, at_once: bool
) -> None:
    if at_once:
        try:
            apply_entries(session, rows, min_severity=min_severity)
        except Exception as exc:
            if _transient(exc):
                raise
            raise BatchFailed(rows[0].seq, rows[-1].seq) from exc
        return
    for row in rows:  # each alone: only the one that fails is set aside
        try:
            with session.begin_nested():
                apply_entries(session, [row], min_severity=min_severity)
        except Exception as exc:
            _set_aside_or_raise(session, row, exc)


def apply_entries(
    session: Session, rows: Sequence[LogEntry], *, min_severity: str = DEFAULT_MIN_SEVERITY
) -> None:
    """Project a batch of log entries (raises on failure; the caller moves the cursor).
    `min_severity`: the alert threshold (`Settings.alert_min_severity`), passed down."""
    writer = GraphWriter(session, min_severity)
    for row in rows:
        # whose verdicts signed/attested events carry
        context = Context(row.source, verifies=row.source == evidence.VERIFYING_SOURCE)
        for index, raw in enumerate(row.events):
            try:
                event = Event.from_dict(raw)
                # The log holds each event's canonical form (`Event.to_dict`): its JSON
                # is the timeline's, not built again (3% of the projection's instructions).
                data = raw if _canonical(raw, event) else None
                writer.write(row.seq, index, event, facts_of(row.seq, event, context), data)
            except ProvenanceError as exc:
                # Validated on append, so this means a rule changed; keep the reason, go on.
                logger.warning("projection skipped an event", extra={"seq": row.seq})
                session.add(
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
    writer.flush()


def _canonical(raw: dict[str, Any], event: Event) -> bool:
    """Whether a log entry's event is what `event.to_dict()` would give (every entry the
    log holds, unless written by an older form): no null, no empty attributes, the time
    as `format_time` writes it (microseconds only when there are some). Findings
    (`artifact.scanned`) are rare and normalized on the way in: built again."""
    if None in raw.values() or raw.get("attributes", True) == {}:
        return False
    if "vulnerabilities" in raw or "summary" in raw:
        return False
    written = raw["time"]
    size = 27 if event.time.microsecond else 20
    return len(written) == size and written[-1] == "Z" and written[10] == "T"


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


__all__ = [
    "CURSOR",
    "LANE_CURSOR",
    "BatchFailed",
    "apply_entries",
    "lag",
    "lane_cursor",
    "oldest_pending",
    "project_in",
    "project_lane",
    "project_pending",
    "rebuild",
    "set_aside",
]
