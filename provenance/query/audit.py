"""Verifying the hash chain on behalf of readers, at a bounded cost.

    ChainVerifier(db).verify(full=False) -> Verification

`GET /v1/audit/verify` is open to every reader, and recomputing the whole chain for each
call would let a few readers starve ingest. So one verification runs at a time, and each
recomputes only the entries appended since the last intact answer, after checking that
the last entry it verified still has the hash it had (`log.verify(since=...)`). The
answer says what was recomputed (`checked_from`, `checked`); `full=True` (admin, and
`provenance audit verify`) recomputes everything.
"""

from __future__ import annotations

import threading

from provenance.store import Database, log


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


__all__ = ["ChainVerifier"]
