"""The ingest use case, shared by `provenance serve` (embedded) and the stream workers.

    ingest(db, delivery, secrets)   normalize -> quarantine or append to the log (committed;
                                    concurrent deliveries in one transaction: GroupCommit)
    ProjectionRunner                keeps the graph caught up with the log, in-process
    LaneProjector                   distributed: projects the partitions a worker owns

Distributed mode (`provenance api` in front of Kafka, `provenance worker` behind it):

    Publisher                       where the API hands a validated delivery (Kafka, a fake)
    prepare(db, delivery, secrets)  API side: validate (refusals quarantined), count known
                                    duplicates read-only, say whether to publish and its key
    ingest_batch(db, deliveries, secrets)
                                    worker side: many deliveries, ONE transaction: refusals
                                    quarantined and returned (for the dead-letter topic),
                                    the rest appended to the log
    unpublished / mark_published    the log as an outbox for the canonical-events topic

The order is the durability promise: a delivery is committed to the hash-chained log
before anyone is told it was accepted, and projected afterwards. A crash in between
loses nothing: the runner catches up from the projection cursor when it starts.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from provenance.ingest import wire
from provenance.ingest.group_commit import GroupCommit
from provenance.ingest.quarantine import keep_items
from provenance.ingest.sources import (
    Delivery,
    Normalized,
    Rejection,
    SourceSecrets,
    normalize_delivery,
)
from provenance.model.alerts import DEFAULT_MIN_SEVERITY
from provenance.model.errors import RejectedInput, UnknownSource
from provenance.model.events import Event
from provenance.store import Database, blames_the_input, cursors, log, projection, quarantine
from provenance.store.alert_models import AlertRow
from provenance.store.alerting import list_alerts

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    accepted: int
    duplicates: int
    ids: list[str]
    seq: int | None
    # Signatures and attestations: the verdict per subject, duplicates included.
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    # Events of the delivery refused one by one (quarantined) while the others were kept.
    rejected: list[Rejection] = field(default_factory=list)


def ingest(
    db: Database, delivery: Delivery, secrets: SourceSecrets, *, group: GroupCommit | None = None
) -> IngestOutcome:
    """Store one delivery durably, or quarantine it and re-raise why it was refused.
    Events refused one by one are quarantined in the same transaction as the append.
    `group`: the appender shared by concurrent callers (`GroupCommit`, `provenance serve`),
    whose deliveries then share transactions; without it, the delivery has its own."""
    normalized = _normalize_or_quarantine(db, delivery, secrets)
    result = (group or GroupCommit(db)).append(delivery, normalized)
    return IngestOutcome(
        accepted=len(result.accepted),
        duplicates=len(result.duplicates),
        ids=[e.id for e in result.accepted],
        seq=result.seq,
        verdicts=_verdicts(delivery, normalized.events),
        rejected=normalized.rejected,
    )


def _normalize_or_quarantine(
    db: Database, delivery: Delivery, secrets: SourceSecrets
) -> Normalized:
    try:
        return normalize_delivery(delivery, secrets)
    except (RejectedInput, UnknownSource) as exc:
        _quarantine(db, delivery, exc)
        raise


# Events per projection transaction of a live runner, at most (a replay's are larger:
# `rebuild.REPLAY_EVENTS`). A body of 10 MiB holds ~50,000 small events: without a budget, a
# backlog of 200 such entries (after a restart, or behind a burst) was one transaction of
# ten million events, its buffers in memory at once: the process died, and restarted
# into the same transaction.
LIVE_EVENTS = 20_000


class ProjectionRunner:
    """Projects the log into the graph: on demand after each ingest, and in a background
    thread that catches up after a crash and retries after a failure. `min_severity`: the
    alert threshold of the shell's `Settings.alert_min_severity`. A transaction takes at
    most `batch` entries and `max_events` events (None: no budget)."""

    def __init__(
        self,
        db: Database,
        *,
        batch: int = 200,
        max_events: int | None = LIVE_EVENTS,
        interval: float = 2.0,
        min_severity: str = DEFAULT_MIN_SEVERITY,
    ) -> None:
        self._db = db
        self._min_severity = min_severity
        self._batch = batch
        self._max_events = max_events  # and at most this many events per transaction
        self._interval = interval
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def catch_up(self) -> int:
        """Project everything pending; returns the number of log entries projected."""
        total = 0
        cut = False

        def was_cut() -> None:
            nonlocal cut
            cut = True

        step = partial(
            projection.project_pending,
            limit=self._batch,
            max_events=self._max_events,
            min_severity=self._min_severity,
            on_cut=was_cut,
        )
        with self._lock:
            while True:
                cut = False
                done = projection.project_in(self._db, step)
                total += done
                # Fewer than asked: nothing more was pending when it looked, unless the
                # events' budget cut the batch short.
                if not done or (done < self._batch and not cut):
                    return total

    def try_catch_up(self) -> None:
        """Like catch_up, but a failure is logged for the background thread to retry:
        the caller's delivery is already durable and must still get its 202."""
        try:
            self.catch_up()
        except Exception:
            logger.exception("projection failed; will retry in the background")
            self._wake.set()

    def wake(self) -> None:
        """Catch up now, in the background thread (the worker calls it after each batch)."""
        self._wake.set()

    def start(self) -> None:
        self._db.checkpoint_beside_writers()  # this loop checkpoints the WAL (SQLite)
        self._thread = threading.Thread(target=self._run, name="projection", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            # Cleared before catching up: a wake during it means another round, not a
            # wait. Whatever was appended meanwhile is projected together, in one batch.
            self._wake.clear()
            try:
                self.catch_up()
            except Exception:
                logger.exception("background projection failed; retrying")
            try:
                self._db.checkpoint()
            except Exception:
                logger.exception("WAL checkpoint failed; retrying")
            self._wake.wait(self._interval)


class LaneProjector:
    """Distributed mode: projects the lanes (partitions) this worker owns, one cursor
    each, so that workers project side by side; and sweeps the global cursor over what
    the lanes projected, taking the entries that have no lane (the CLI's). A conflict
    with another worker's transaction (a deadlock, a serialization failure) is retried
    here, never raised to crash the worker; the database being down is raised."""

    def __init__(
        self,
        db: Database,
        *,
        batch: int = 20,
        max_events: int | None = LIVE_EVENTS,
        retries: int = 20,
        min_severity: str = DEFAULT_MIN_SEVERITY,
    ) -> None:
        self._db = db
        self._min_severity = min_severity
        self._batch = batch
        self._max_events = max_events  # per transaction, as ProjectionRunner's
        self._retries = retries

    @property
    def batch(self) -> int:
        return self._batch

    def catch_up(self, lanes: Iterable[str], *, rounds: int | None = None) -> int:
        """Project what is pending in `lanes` (at most `rounds` transactions per lane);
        returns the number of entries projected."""
        total = 0
        for lane in sorted(set(lanes)):
            step = partial(
                projection.project_lane,
                lane=lane,
                limit=self._batch,
                max_events=self._max_events,
                min_severity=self._min_severity,
            )
            left = rounds
            while (left is None or left > 0) and (done := self._retrying(step)):
                total += done
                left = None if left is None else left - 1
        return total

    def sweep(self) -> int:
        """Move the global cursor over what the lanes projected; returns entries passed."""
        total = 0
        step = partial(
            projection.project_pending,
            limit=500,
            max_events=self._max_events,
            lanes=False,
            min_severity=self._min_severity,
        )
        while done := self._retrying(step):
            total += done
        return total

    def _retrying(self, step: Callable[[Any], int]) -> int:
        for attempt in range(self._retries):
            try:
                return projection.project_in(self._db, step)
            except Exception as exc:
                if not _conflict(exc) or attempt == self._retries - 1:
                    raise
                logger.info("projection conflicted with another worker; retrying")
                time.sleep(min(0.01 * 2**attempt, 1.0) * random.random())  # noqa: S311
        return 0


def _conflict(exc: BaseException) -> bool:
    """A transaction that lost against a concurrent one: retrying it will succeed."""
    seen: BaseException | None = exc
    while seen is not None:
        code = getattr(getattr(seen, "orig", seen), "sqlstate", None)
        if code in ("40001", "40P01"):  # serialization failure, deadlock detected
            return True
        seen = seen.__cause__
    return False


# --- distributed mode -------------------------------------------------------------------


class Publisher(Protocol):
    """Where `provenance api` hands validated deliveries: Kafka in production
    (`api.publisher.KafkaPublisher`), an in-memory fake in tests.

    `publish` returns only once the delivery is durably accepted downstream (Kafka:
    acknowledged by all in-sync replicas) and raises `Unavailable` otherwise; the API
    answers 202 or 503 accordingly, never 202 for something that could be lost."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, delivery: Delivery, *, key: str) -> None: ...

    async def check(self) -> dict[str, Any]:
        """Readiness details; raises `Unavailable` when the downstream cannot be reached."""
        ...


def _verdicts(delivery: Delivery, events: Sequence[Event]) -> list[dict[str, Any]]:
    """What `POST /v1/attestations` answers: the verdict reached for each subject."""
    if delivery.source != "attestations":
        return []
    return [dict(e.attributes["verdict"]) for e in events if "verdict" in e.attributes]


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the API learnt about a delivery before publishing it."""

    outcome: IngestOutcome  # seq is None: the worker appends it later
    key: str  # partition key: keeps one repository's deliveries in order
    publish: bool  # False when every event is already in the log


def prepare(db: Database, delivery: Delivery, secrets: SourceSecrets) -> Prepared:
    """Distributed mode, API side: validate the delivery by normalizing it (a refusal is
    quarantined and raised, as in `ingest`, so 400/415/422 stay synchronous) and count
    the events the log already has (read-only). A delivery whose events are all known is
    a registry retry: it is answered as duplicates and not published. Events refused
    one by one are quarantined here; the worker, normalizing the same bytes, skips them."""
    normalized = _normalize_or_quarantine(db, delivery, secrets)
    events = normalized.events
    if normalized.rejected:
        with db.write() as session:
            keep_items(session, delivery, normalized.rejected)
    with db.read() as session:
        fresh, dupes = log.split_duplicates(session, events)
    return Prepared(
        outcome=IngestOutcome(
            accepted=len(fresh),
            duplicates=len(dupes),
            ids=[e.id for e in fresh],
            seq=None,
            verdicts=_verdicts(delivery, events),
            rejected=normalized.rejected,
        ),
        key=wire.partition_key(delivery, events),
        publish=bool(fresh) or not events,
    )


@dataclass(frozen=True, slots=True)
class Rejected:
    """A delivery the worker refused: quarantined, and dead-lettered with this reason."""

    delivery: Delivery
    error: str  # the domain error's class name, e.g. InvalidPayload
    reason: str


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    deliveries: int
    entries: int  # log entries appended
    accepted: int  # events appended
    duplicates: int  # events already in the log (a redelivery, or a registry retry)
    rejected: list[Rejected]
    last_seq: int | None  # the highest seq this batch appended


def ingest_batch(
    db: Database,
    deliveries: Sequence[Delivery],
    secrets: SourceSecrets,
    *,
    lanes: Sequence[str | None] | None = None,
) -> BatchOutcome:
    """Distributed mode, worker side: normalize every delivery, then in ONE transaction
    quarantine the refused ones and append the rest to the hash-chained log.

    Returns once committed; only then may the caller acknowledge the Kafka offsets.
    Redelivery is harmless: `log.append` drops events already in the log, keyed by
    (source, event id). `lanes` (one per delivery: the partition it came from) is kept
    with each entry, so that the worker owning the partition projects it (`LaneProjector`).

    The database being unreachable propagates: nothing is committed and the caller must
    not acknowledge (Kafka delivers again). Any other failure of the batch's transaction
    is one delivery the store cannot take: the batch is stored again one delivery per
    transaction, and the one that still fails is refused like bad content (quarantined,
    dead-lettered) so that the worker never crash-loops on it."""
    normalized: list[tuple[Delivery, list[Event]]] = []
    kept_lanes: list[str | None] = []
    rejected: list[Rejected] = []
    for index, delivery in enumerate(deliveries):
        try:
            # Events refused one by one were quarantined by the API that published them.
            normalized.append((delivery, normalize_delivery(delivery, secrets).events))
            kept_lanes.append(lanes[index] if lanes is not None else None)
        except (RejectedInput, UnknownSource) as exc:
            rejected.append(Rejected(delivery, type(exc).__name__, exc.detail))
    try:
        results = _store_batch(db, normalized, rejected, kept_lanes)
    except Exception as exc:
        if _transient(exc):
            raise
        logger.warning(
            "batch refused by the store; storing it delivery by delivery",
            extra={"error": type(exc).__name__},
        )
        results = []
        refused_now: list[Rejected] = []
        for item, lane in zip(normalized, kept_lanes, strict=True):
            try:
                results.extend(_store_batch(db, [item], [], [lane]))
            except Exception as one:
                if _transient(one):
                    raise
                reason = f"the store refused it: {type(one).__name__}: {one}"[:2000]
                refused_now.append(Rejected(item[0], "StoreError", reason))
        rejected.extend(refused_now)
        _store_batch(db, [], rejected, [])
    entries = accepted = duplicates = 0
    last_seq: int | None = None
    for result in results:
        accepted += len(result.accepted)
        duplicates += len(result.duplicates)
        if result.seq is not None:
            entries += 1
            last_seq = result.seq
    for refusal in rejected:
        logger.warning(
            "delivery refused by the worker",
            extra={
                "source": refusal.delivery.source,
                "error": refusal.error,
                "reason": refusal.reason,
            },
        )
    return BatchOutcome(len(deliveries), entries, accepted, duplicates, rejected, last_seq)


def _store_batch(
    db: Database,
    items: Sequence[tuple[Delivery, list[Event]]],
    rejected: Sequence[Rejected],
    lanes: Sequence[str | None],
) -> list[log.AppendResult]:
    with db.write() as session:
        for item in rejected:
            quarantine.put(session, item.delivery, error=item.error, reason=item.reason)
        return log.append_many(session, items, lanes=lanes)


def _transient(exc: BaseException) -> bool:
    """The database is gone, busy or broken: the batch must come again, not be refused."""
    return not blames_the_input(exc)


def unpublished(db: Database, cursor: str, *, limit: int = 200) -> list[wire.LoggedEntry]:
    """Log entries with events after `cursor`: the log is the outbox of the events topic,
    so a canonical event is published at least once even if a worker dies right after
    committing it."""
    with db.read() as session:
        rows = cursors.entries_after(session, cursor, limit=limit)
    return [wire.LoggedEntry(r.seq, r.source, r.received_at, r.hash, list(r.events)) for r in rows]


def unpublished_alerts(db: Database, cursor: str, *, limit: int = 200) -> list[AlertRow]:
    """Alerts raised after `cursor` (an alert id): the alerts table is the outbox of the
    alerts topic, as the log is of the events topic."""
    with db.read() as session:
        return list_alerts(session, after=cursors.get(session, cursor), limit=limit)


def mark_published(db: Database, cursor: str, seq: int) -> None:
    """Move `cursor` forward to `seq` (never back)."""
    with db.write() as session:
        cursors.advance(session, cursor, seq)


def _quarantine(db: Database, delivery: Delivery, exc: RejectedInput | UnknownSource) -> None:
    with db.write() as session:
        quarantine.put(session, delivery, error=type(exc).__name__, reason=exc.detail)
    logger.info(
        "delivery quarantined",
        extra={"source": delivery.source, "error": type(exc).__name__, "reason": exc.detail},
    )


__all__ = [
    "LIVE_EVENTS",
    "BatchOutcome",
    "IngestOutcome",
    "LaneProjector",
    "Prepared",
    "ProjectionRunner",
    "Publisher",
    "Rejected",
    "ingest",
    "ingest_batch",
    "mark_published",
    "prepare",
    "unpublished",
]
