"""Keeping what the edge refused: `keep(db, delivery, error) -> id`, and the events of a
delivery refused one by one: `keep_items(session, delivery, rejected)`.

A request of an authenticated sender that the API refuses before any adapter reads it (an
unknown source, a body too large) is kept with its reason, like any refused delivery:
refused is never silently dropped (`GET /v1/quarantine` lists it). Committed here, before
the refusal is answered.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from provenance.ingest.sources import Delivery, Rejection
from provenance.model.errors import ProvenanceError
from provenance.store import Database, Session, quarantine

logger = logging.getLogger(__name__)


def keep(db: Database, delivery: Delivery, error: ProvenanceError) -> int:
    """Quarantine `delivery` as refused whole, named by `error`'s class and detail."""
    with db.write() as session:
        return quarantine.put(session, delivery, error=type(error).__name__, reason=error.detail)


def keep_items(session: Session, delivery: Delivery, rejected: Sequence[Rejection]) -> None:
    """Quarantine the events of `delivery` refused one by one, in the caller's transaction
    (the one that appends the others: kept and refused commit together)."""
    for item in rejected:
        quarantine.put_item(session, delivery, item.index, error=item.error, reason=item.reason)
    if rejected:
        logger.info(
            "events of a delivery quarantined",
            extra={"source": delivery.source, "refused": len(rejected)},
        )


__all__ = ["keep", "keep_items"]
