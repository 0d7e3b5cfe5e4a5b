"""The ingest use case, shared by `provenance serve` (embedded) and the stream workers.

    ingest(db, delivery, secrets)   normalize -> quarantine or append to the log (committed)
    ProjectionRunner                keeps the graph caught up with the log, in-process

The order is the durability promise: a delivery is committed to the hash-chained log
before anyone is told it was accepted, and projected afterwards. A crash in between
loses nothing: the runner catches up from the projection cursor when it starts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from provenance.errors import RejectedInput
from provenance.events import Event
from provenance.sources import Delivery, SourceSecrets, normalize
from provenance.store import Database, log, projection, quarantine

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    accepted: int
    duplicates: int
    ids: list[str]
    seq: int | None
    # Signatures and attestations: the verdict per subject, duplicates included.
    verdicts: list[dict[str, Any]] = field(default_factory=list)


def ingest(db: Database, delivery: Delivery, secrets: SourceSecrets) -> IngestOutcome:
    """Store one delivery durably, or quarantine it and re-raise why it was refused."""
    try:
        events = normalize(delivery, secrets)
    except RejectedInput as exc:
        with db.write() as session:
            quarantine.put(session, delivery, error=type(exc).__name__, reason=exc.detail)
        logger.info(
            "delivery quarantined",
            extra={"source": delivery.source, "error": type(exc).__name__, "reason": exc.detail},
        )
        raise
    with db.write() as session:
        result = log.append(session, delivery, events)
    return IngestOutcome(
        accepted=len(result.accepted),
        duplicates=len(result.duplicates),
        ids=[e.id for e in result.accepted],
        seq=result.seq,
        verdicts=_verdicts(delivery, events),
    )


def _verdicts(delivery: Delivery, events: Sequence[Event]) -> list[dict[str, Any]]:
    """What `POST /v1/attestations` answers: the verdict reached for each subject."""
    if delivery.source != "attestations":
        return []
    return [dict(e.attributes["verdict"]) for e in events if "verdict" in e.attributes]


class ProjectionRunner:
    """Projects the log into the graph: on demand after each ingest, and in a background
    thread that catches up after a crash and retries after a failure."""

    def __init__(self, db: Database, *, batch: int = 200, interval: float = 2.0) -> None:
        self._db = db
        self._batch = batch
        self._interval = interval
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def catch_up(self) -> int:
        """Project everything pending; returns the number of log entries projected."""
        total = 0
        with self._lock:
            while True:
                with self._db.write() as session:
                    done = projection.project_pending(session, limit=self._batch)
                if not done:
                    return total
                total += done

    def try_catch_up(self) -> None:
        """Like catch_up, but a failure is logged for the background thread to retry:
        the caller's delivery is already durable and must still get its 202."""
        try:
            self.catch_up()
        except Exception:
            logger.exception("projection failed; will retry in the background")
            self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="projection", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.catch_up()
            except Exception:
                logger.exception("background projection failed; retrying")
            self._wake.wait(self._interval)
            self._wake.clear()


__all__ = ["IngestOutcome", "ProjectionRunner", "ingest"]
