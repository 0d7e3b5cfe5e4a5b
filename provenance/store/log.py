"""The append-only, hash-chained log of everything accepted, and its verification.

`append` is the first thing that happens to a delivery: deduplicate its events against
every event ever accepted, store the exact bytes with the new events, extend the chain.
The caller commits; only then may it answer 202.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from provenance.model.delivery import Delivery
from provenance.model.events import Event
from provenance.model.hashchain import GENESIS, EntryContent, entry_hash
from provenance.store.models import EventKey, LogEntry, LogHead

# Headers worth keeping as evidence. Everything else (Authorization, cookies, proxies'
# additions) is dropped so no credential ever lands in the log.
_KEPT_HEADERS = frozenset(
    {
        "content-type",
        "user-agent",
        "x-github-event",
        "x-github-delivery",
        "x-github-hook-id",
        "x-hub-signature-256",
        "x-request-id",
    }
)


def kept_headers(headers: dict[str, str] | Any) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k in _KEPT_HEADERS or k.startswith("ce-")}


@dataclass(frozen=True, slots=True)
class AppendResult:
    seq: int | None  # None when every event was a duplicate
    accepted: list[Event]
    duplicates: list[Event]


def append(session: Session, delivery: Delivery, events: Sequence[Event]) -> AppendResult:
    """Append one delivery with its not-yet-seen events; duplicates change nothing."""
    return append_many(session, [(delivery, events)])[0]


def append_many(
    session: Session,
    items: Sequence[tuple[Delivery, Sequence[Event]]],
    *,
    lanes: Sequence[str | None] | None = None,
) -> list[AppendResult]:
    """Append deliveries in order, exactly as `append` would one after the other, with one
    lock of the head and one write of the entries: a batch costs one round trip per
    delivery (claiming its event keys), not five. `lanes` (one per item; distributed
    mode) records the partition each delivery came from, outside the hash."""
    head = session.execute(select(LogHead).where(LogHead.id == 1).with_for_update()).scalar_one()
    seq, prev = head.seq, head.hash
    rows: list[dict[str, Any]] = []
    results: list[AppendResult] = []
    for index, (delivery, events) in enumerate(items):
        fresh, dupes = _claim(session, events, seq + 1)
        if events and not fresh:
            results.append(AppendResult(seq=None, accepted=[], duplicates=dupes))
            continue
        seq += 1
        content = EntryContent(
            seq=seq,
            received_at=delivery.received_at,
            source=delivery.source,
            content_type=delivery.content_type,
            params=dict(delivery.params),
            headers=kept_headers(delivery.headers),
            body=delivery.body,
            events=[e.to_dict() for e in fresh],
        )
        digest = entry_hash(prev, content)
        rows.append(
            {
                "seq": seq,
                "received_at": content.received_at,
                "source": content.source,
                "content_type": content.content_type,
                "params": dict(content.params),
                "headers": dict(content.headers),
                "body": content.body,
                "events": list(content.events),
                "prev_hash": prev,
                "hash": digest,
                "lane": lanes[index] if lanes is not None else None,
            }
        )
        prev = digest
        results.append(AppendResult(seq=seq, accepted=fresh, duplicates=dupes))
    if rows:
        session.execute(insert(LogEntry), rows)
        head.seq, head.hash = seq, prev
        session.flush()
    return results


def _claim(session: Session, events: Sequence[Event], seq: int) -> tuple[list[Event], list[Event]]:
    """Record under `seq` the keys of `events` never seen before; return (fresh, duplicates).
    A repeat inside `events` is a duplicate too."""
    keys = list(dict.fromkeys((e.source, e.id) for e in events))
    if not keys:
        return [], []
    if session.get_bind().dialect.name == "sqlite":
        claimed = _claim_alone(session, keys, seq)
    else:
        claimed = _claim_beside_others(session, keys, seq)
    fresh: list[Event] = []
    dupes: list[Event] = []
    for e in events:
        key = (e.source, e.id)
        if key in claimed:
            claimed.discard(key)
            fresh.append(e)
        else:
            dupes.append(e)
    return fresh, dupes


_KNOWN_SQLITE = "SELECT event_id FROM event_keys WHERE source = ? AND event_id IN ({})"
_CLAIM_SQLITE = "INSERT INTO event_keys (source, event_id, seq) VALUES (?, ?, ?)"


def _claim_alone(session: Session, keys: list[tuple[str, str]], seq: int) -> set[tuple[str, str]]:
    """SQLite: this transaction is the only writer (BEGIN IMMEDIATE), so the keys it does
    not find are its to claim: one indexed read per source and 500 keys, then one
    executemany of the new keys."""
    conn = session.connection()
    by_source: dict[str, list[str]] = {}
    for source, event_id in keys:
        by_source.setdefault(source, []).append(event_id)
    known: set[tuple[str, str]] = set()
    for source, ids in by_source.items():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            sql = _KNOWN_SQLITE.format(", ".join("?" * len(chunk)))
            known.update((source, r[0]) for r in conn.exec_driver_sql(sql, (source, *chunk)))
    claimed = {k for k in keys if k not in known}
    if claimed:
        conn.exec_driver_sql(_CLAIM_SQLITE, [(s, i, seq) for s, i in keys if (s, i) in claimed])
    return claimed


def _claim_beside_others(
    session: Session, keys: list[tuple[str, str]], seq: int
) -> set[tuple[str, str]]:
    """PostgreSQL, workers appending side by side: one INSERT ... ON CONFLICT DO NOTHING
    RETURNING per 1000 keys, so the unique index decides, whatever the planner's statistics
    say (a read-then-write lookup scans the table when they are stale)."""
    dialect_insert = pg_insert
    stmt = (  # one compiled statement, batched into multi-row VALUES by SQLAlchemy
        dialect_insert(EventKey)
        .on_conflict_do_nothing(index_elements=["source", "event_id"])
        .returning(EventKey.source, EventKey.event_id)
    )
    rows = session.execute(stmt, [{"source": s, "event_id": i, "seq": seq} for s, i in keys])
    return {(str(r[0]), str(r[1])) for r in rows}


def split_duplicates(session: Session, events: Sequence[Event]) -> tuple[list[Event], list[Event]]:
    """(fresh, duplicates): what `append` would add and drop. Read-only (the API's check
    in distributed mode); a repeat inside `events` counts as a duplicate too."""
    return _split_duplicates(session, events)


# `source = ? AND event_id IN (...)` is planned as a scan of the source's keys when the
# table's statistics are stale (a young table, autovacuum off): a lateral probe is not.
_KNOWN_PG = text(
    "SELECT k.event_id FROM unnest(CAST(:ids AS varchar[])) AS u(id) CROSS JOIN LATERAL "
    "(SELECT event_id FROM event_keys WHERE source = :source AND event_id = u.id LIMIT 1) AS k"
)


def _split_duplicates(session: Session, events: Sequence[Event]) -> tuple[list[Event], list[Event]]:
    seen: set[tuple[str, str]] = set()
    by_source: dict[str, set[str]] = {}
    for e in events:
        by_source.setdefault(e.source, set()).add(e.id)
    postgres = session.get_bind().dialect.name == "postgresql"
    for source, ids in by_source.items():
        id_list = sorted(ids)
        for start in range(0, len(id_list), 500):
            chunk = id_list[start : start + 500]
            if postgres:  # one index probe per id, whatever the planner's statistics say
                rows = session.execute(_KNOWN_PG, {"ids": chunk, "source": source})
            else:
                rows = session.execute(
                    select(EventKey.event_id).where(
                        EventKey.source == source, EventKey.event_id.in_(chunk)
                    )
                )
            seen.update((source, r) for r in rows.scalars())
    fresh: list[Event] = []
    dupes: list[Event] = []
    for e in events:
        key = (e.source, e.id)
        if key in seen:
            dupes.append(e)
        else:
            seen.add(key)  # a repeat inside the same delivery is a duplicate too
            fresh.append(e)
    return fresh, dupes


def entries(session: Session, *, after: int = 0, limit: int = 100) -> list[LogEntry]:
    stmt = select(LogEntry).where(LogEntry.seq > after).order_by(LogEntry.seq).limit(limit)
    return list(session.execute(stmt).scalars())


def head(session: Session) -> tuple[int, str]:
    row = session.execute(select(LogHead.seq, LogHead.hash).where(LogHead.id == 1)).one()
    return int(row.seq), str(row.hash)


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    entries: int  # entries in the chain up to `head` (all of them when ok)
    head: str
    first_bad_seq: int | None = None
    reason: str | None = None
    # What this run recomputed: entries `checked_from`..`entries`. A run that starts from
    # an entry verified before checks that entry's stored hash, then only what follows.
    checked_from: int = 1
    checked: int = 0


def verify(
    session: Session, *, batch: int = 2000, since: tuple[int, str] | None = None
) -> Verification:
    """Recompute the hashes from the stored bytes; report the first entry that disagrees.

    `since` = (seq, hash) of an entry an earlier run verified: the chain is taken as
    intact up to it (its stored hash must still be that one) and only later entries are
    recomputed. Without it, the whole chain is."""
    prev, expected_seq, count = GENESIS, 1, 0
    if since is not None and since[0] > 0:
        seq, digest = since
        stored = session.execute(select(LogEntry.hash).where(LogEntry.seq == seq)).scalar()
        if stored != digest:
            return Verification(
                False, seq - 1, "", seq, "entry verified earlier changed its hash", seq, 0
            )
        prev, expected_seq, count = digest, seq + 1, seq
    start, checked = expected_seq, 0
    for row in _iter_entries(session, batch, after=expected_seq - 1):
        problem = _check(row, prev, expected_seq)
        if problem is not None:
            return Verification(False, count, prev, row.seq, problem, start, checked)
        prev, expected_seq, count, checked = row.hash, row.seq + 1, count + 1, checked + 1
    head_seq, head_hash = head(session)
    if head_seq != count or head_hash != prev:
        reason = f"log head says seq {head_seq}; chain ends at {count}"
        return Verification(False, count, prev, count + 1, reason, start, checked)
    return Verification(True, count, prev, checked_from=start, checked=checked)


def _check(row: LogEntry, prev: str, expected_seq: int) -> str | None:
    if row.seq != expected_seq:
        return f"expected entry {expected_seq}, found {row.seq} (an entry is missing)"
    if row.prev_hash != prev:
        return "prev_hash does not match the previous entry's hash"
    try:
        content = EntryContent(
            seq=row.seq,
            received_at=row.received_at,
            source=row.source,
            content_type=row.content_type,
            params=dict(row.params),
            headers=dict(row.headers),
            body=_bytes(row.body),
            events=list(row.events),
        )
        recomputed = entry_hash(prev, content)
    except Exception as exc:  # a column rewritten with another type: name the entry
        return f"stored content is not what was written ({type(exc).__name__}: {exc})"
    if recomputed != row.hash:
        return "stored content does not match the entry hash (altered after it was written)"
    return None


def _bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    raise TypeError(f"the body is stored as {type(value).__name__}, not bytes")


def _iter_entries(session: Session, batch: int, *, after: int = 0) -> Iterator[LogEntry]:
    while True:
        rows = entries(session, after=after, limit=batch)
        if not rows:
            return
        yield from rows
        after = rows[-1].seq
        session.expunge_all()  # keep memory flat on long logs


__all__ = [
    "AppendResult",
    "Verification",
    "append",
    "append_many",
    "entries",
    "head",
    "kept_headers",
    "split_duplicates",
    "verify",
]
