"""The audit of the chain: its entries, their verification, and what was set aside.

    ChainVerifier(db).verify(full=False) -> Verification
    entries(session, after=, limit=) -> list[LogEntry]        the log, oldest first
    verify(session) -> Verification                           the whole chain, recomputed
    quarantined(session, after=, limit=, kind=) -> list[QuarantineItem]
                                                              what was set aside, oldest first
    LogEntry, QuarantineItem, QuarantineKind, Verification    the types of these answers

`GET /v1/audit/verify` is open to every reader, and recomputing the whole chain for each
call would let a few readers starve ingest. So one verification runs at a time, and each
recomputes only the entries appended since the last intact answer, after checking that
the last entry it verified still has the hash it had (`log.verify(since=...)`). The
answer says what was recomputed (`checked_from`, `checked`); `full=True` (admin, and
`provenance audit verify`) recomputes everything.
"""

from __future__ import annotations

import threading

from provenance.store import Database, Session, log, quarantine
from provenance.store.log import Verification
from provenance.store.models import LogEntry, QuarantineItem
from provenance.store.quarantine import Kind as QuarantineKind


class ChainVerifier:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._verified: tuple[int, str] | None = None  # (seq, hash) of the last intact run

    def verify(self, *, full: bool = False) -> log.Verification:
        with self._lock:
            since = None if full else self._verified
            with self._db.read() as session:
                result = log.verify(session, since=since)
            self._verified = (result.entries, result.head) if result.ok else None
            return result


def entries(session: Session, *, after: int = 0, limit: int = 100) -> list[LogEntry]:
    """Log entries after `after`, oldest first, as stored (an auditor sees what they hold)."""
    return log.entries(session, after=after, limit=limit)


def verify(session: Session) -> Verification:
    """The whole chain recomputed from the stored bytes, in the caller's transaction."""
    return log.verify(session)


def quarantined(
    session: Session, *, after: int = 0, limit: int = 100, kind: QuarantineKind | None = None
) -> list[QuarantineItem]:
    """What was set aside after id `after`, oldest first; `kind`: only deliveries, events
    or log entries the projection could not take."""
    return quarantine.items(session, after=after, limit=limit, kind=kind)


__all__ = [
    "ChainVerifier",
    "LogEntry",
    "QuarantineItem",
    "QuarantineKind",
    "Verification",
    "entries",
    "quarantined",
    "verify",
]
