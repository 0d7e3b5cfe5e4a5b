"""Keeping what the edge refused: `keep(db, delivery, error) -> id`.

A request of an authenticated sender that the API refuses before any adapter reads it (an
unknown source, a body too large) is kept with its reason, like any refused delivery:
refused is never silently dropped (`GET /v1/quarantine` lists it). Committed here, before
the refusal is answered.
"""

from __future__ import annotations

from provenance.ingest.sources import Delivery
from provenance.model.errors import ProvenanceError
from provenance.store import Database, quarantine


def keep(db: Database, delivery: Delivery, error: ProvenanceError) -> int:
    """Quarantine `delivery` as refused whole, named by `error`'s class and detail."""
    with db.write() as session:
        return quarantine.put(session, delivery, error=type(error).__name__, reason=error.detail)


__all__ = ["keep"]
