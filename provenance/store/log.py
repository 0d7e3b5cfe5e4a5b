"""The append-only, hash-chained log of everything accepted, and its verification.

`append` is the first thing that happens to a delivery: deduplicate its events against
every event ever accepted, store the exact bytes with the new events, extend the chain.
The caller commits; only then may it answer 202.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from provenance.events import Event
from provenance.hashchain import GENESIS, EntryContent, entry_hash
from provenance.sources import Delivery
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
    head = session.execute(select(LogHead).where(LogHead.id == 1).with_for_update()).scalar_one()
    fresh, dupes = _split_duplicates(session, events)
    if events and not fresh:
        return AppendResult(seq=None, accepted=[], duplicates=dupes)
    seq = head.seq + 1
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
    digest = entry_hash(head.hash, content)
    session.add(
        LogEntry(
            seq=seq,
            received_at=content.received_at,
            source=content.source,
            content_type=content.content_type,
            params=dict(content.params),
            headers=dict(content.headers),
            body=content.body,
            events=list(content.events),
            prev_hash=head.hash,
            hash=digest,
        )
    )
    if fresh:
        session.execute(
            insert(EventKey),
            [{"source": e.source, "event_id": e.id, "seq": seq} for e in fresh],
        )
    head.seq, head.hash = seq, digest
    session.flush()
    return AppendResult(seq=seq, accepted=fresh, duplicates=dupes)


def _split_duplicates(session: Session, events: Sequence[Event]) -> tuple[list[Event], list[Event]]:
    seen: set[tuple[str, str]] = set()
    by_source: dict[str, set[str]] = {}
    for e in events:
        by_source.setdefault(e.source, set()).add(e.id)
    for source, ids in by_source.items():
        id_list = sorted(ids)
        for start in range(0, len(id_list), 500):
            chunk = id_list[start : start + 500]
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
    entries: int
    head: str
    first_bad_seq: int | None = None
    reason: str | None = None


def verify(session: Session, *, batch: int = 2000) -> Verification:
    """Recompute every hash from the stored bytes; report the first entry that disagrees."""
    prev, expected_seq, count = GENESIS, 1, 0
    for row in _iter_entries(session, batch):
        problem = _check(row, prev, expected_seq)
        if problem is not None:
            return Verification(False, count, prev, row.seq, problem)
        prev, expected_seq, count = row.hash, row.seq + 1, count + 1
    head_seq, head_hash = head(session)
    if head_seq != count or head_hash != prev:
        return Verification(
            False, count, prev, count + 1, f"log head says seq {head_seq}; chain ends at {count}"
        )
    return Verification(True, count, prev)


def _check(row: LogEntry, prev: str, expected_seq: int) -> str | None:
    if row.seq != expected_seq:
        return f"expected entry {expected_seq}, found {row.seq} (an entry is missing)"
    if row.prev_hash != prev:
        return "prev_hash does not match the previous entry's hash"
    content = EntryContent(
        seq=row.seq,
        received_at=row.received_at,
        source=row.source,
        content_type=row.content_type,
        params=row.params,
        headers=row.headers,
        body=row.body,
        events=row.events,
    )
    if entry_hash(prev, content) != row.hash:
        return "stored content does not match the entry hash (altered after it was written)"
    return None


def _iter_entries(session: Session, batch: int) -> Iterator[LogEntry]:
    after = 0
    while True:
        rows = entries(session, after=after, limit=batch)
        if not rows:
            return
        yield from rows
        after = rows[-1].seq
        session.expunge_all()  # keep memory flat on long logs


__all__ = ["AppendResult", "Verification", "append", "entries", "head", "kept_headers", "verify"]
