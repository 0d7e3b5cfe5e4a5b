"""The stream topology of the distributed mode, in one screen.

Topics (PROVENANCE_KAFKA_TOPIC_PREFIX, default `provenance`; partitions and replication
from PROVENANCE_KAFKA_PARTITIONS / _REPLICATION):

    <prefix>.deliveries    what `provenance api` accepted: batches of deliveries in the
                           `provenance.ingest.wire` framing (exact bodies), keyed by repository
                           (else source) so one repository's deliveries stay in order
    <prefix>.events        canonical events, one JSON message per log entry, in log order,
                           keyed like the deliveries; published from the log (its outbox)
    <prefix>.dead-letters  what the worker refused: the original bytes as the value, the
                           `error` and `reason` (and `source`, `origin`) as headers
    <prefix>.alerts        policy findings, one JSON message per alert (the webhook's
                           payload), keyed by repository; published from the alerts table

Agents, timers and pages:

    apply_deliveries    take a batch of messages -> `ingest_batch` in a thread: ONE
                        transaction, committed, each entry marked with its partition (its
                        lane) -> dead-letter the refusals -> ack offsets -> wake the
                        projection for the partitions the batch came from
    (projection)        a child process runs a `LaneProjector`: it projects the entries of
                        the partitions this worker owns, one cursor per partition
                        (`graph:<topic>:<partition>`, locked while it moves, so a lane
                        has one projector at a time across a rebalance); every second it
                        catches up all its partitions (a new owner takes what the
                        previous one left) and sweeps the global cursor over what every
                        lane projected (taking entries with no lane, the CLI's). Workers
                        apply their batches side by side: rows shared between lanes are
                        written in key order and late in the transaction, histories under
                        per-key advisory locks (see `provenance.store.projection`)
    owned_partitions    every second: tell the projection which partitions this worker
                        owns now (after a rebalance they move with the deliveries)
    publish_events      leader only: log entries after the outbox cursor -> events topic
    publish_alerts      leader only: alerts after their cursor -> alerts topic (and, with
                        PROVENANCE_ALERT_WEBHOOK_URL, the leader's notifier POSTs them)
    GET /readyz         database and Kafka, on the worker's web port

A refused delivery is a domain error: quarantined, dead-lettered, and the stream goes on;
so is a delivery the store itself refuses (`ingest_batch` retries the batch delivery by
delivery and refuses the one that still fails). Only a database that is down or broken
(`store.blames_the_input` says it is not the input's fault) crashes the agent and with it
the worker, before the batch's offsets are acknowledged: the messages are delivered again
to whoever takes the partitions over, and the log drops the events it already has.

`create_app(settings)` builds the app; `app` (for `faust -A streams.app worker`) builds it
from the environment on first access, so importing this module wires nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from queue import Empty
from typing import Any

import faust
from aiokafka import AIOKafkaClient
from mode import CrashingSupervisor

from provenance.ingest import notify, service, wire
from provenance.ingest.opening import Database, connect
from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.logs import configure_logging
from provenance.model.errors import Unavailable, Unparseable
from provenance.query import health
from provenance.settings import Settings
from streams.metrics import WorkerMetrics

logger = logging.getLogger(__name__)

app: faust.App  # declared only: `__getattr__` below builds it on first access


def create_app(settings: Settings, *, db: Database | None = None) -> faust.App:  # noqa: PLR0915 - the topology, in one screen
    """The faust app: topics, the agent, the outbox timer, the readiness page."""
    if not settings.kafka_url:
        raise ValueError("the worker needs PROVENANCE_KAFKA_URL")
    database = db or connect(settings.database_url)
    names = wire.Topics.named(settings.kafka_topic_prefix)
    projector = _Projector(settings)
    notifier = (
        notify.AlertNotifier(database, settings.alert_webhook_url)
        if settings.alert_webhook_url
        else None
    )
    secrets = _secrets(settings)
    processed = _Processed()
    metrics = WorkerMetrics()
    max_message = settings.max_body_bytes + 1024 * 1024
    app = faust.App(
        settings.kafka_group,
        broker=settings.kafka_url,
        topic_partitions=settings.kafka_partitions,
        topic_replication_factor=settings.kafka_replication,
        broker_session_timeout=settings.kafka_session_timeout,
        broker_rebalance_timeout=settings.kafka_session_timeout,
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout / 6),
        broker_commit_interval=1.0,
        producer_acks=-1,
        producer_max_request_size=max_message,
        consumer_max_fetch_size=max(4 * 1024 * 1024, max_message),
        key_serializer="raw",
        value_serializer="raw",
        store="memory://",
        datadir=Path(tempfile.gettempdir()) / f"provenance-worker-{settings.kafka_group}",
        web_bind=settings.worker_host,
        web_port=settings.worker_port,
        web_in_thread=False,
    )

    def topic(name: str) -> Any:
        return app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            partitions=settings.kafka_partitions,
            replicas=settings.kafka_replication,
            internal=True,  # declared (created) by the worker with the settings above
            config={"max.message.bytes": str(max_message)},
        )

    deliveries = topic(names.deliveries)
    deliveries_name = names.deliveries
    events = topic(names.events)
    dead_letters = topic(names.dead_letters)
    alerts = topic(names.alerts)

    @app.task  # type: ignore[untyped-decorator]  # faust leaves task() unannotated
    async def start() -> None:
        for produced in (events, dead_letters, alerts):
            await produced.maybe_declare()  # the agent's own topic is declared by faust
        projector.start()  # follows the log, as in embedded mode; catches up first
        if notifier is not None:
            notifier.start()  # each worker may POST an alert; its stable key dedupes

    @app.agent(deliveries, name="apply_deliveries", supervisor_strategy=CrashingSupervisor)
    async def apply_deliveries(stream: Any) -> None:
        async for batch in stream.noack_take(
            settings.worker_batch, within=settings.worker_batch_seconds
        ):
            outcome, refused = await asyncio.to_thread(_apply, database, secrets, batch)
            await _send_all(dead_letters, [r.message() for r in refused])
            for event in batch:  # only now: committed, and every dead letter acknowledged
                await stream.ack(event)
            projector.touched({lane(e.message.topic, e.message.partition) for e in batch})
            processed.add(len(batch), outcome, len(refused))
            metrics.applied(
                len(batch),
                outcome.accepted if outcome else 0,
                outcome.duplicates if outcome else 0,
                (r.error for r in refused),
            )

    @app.timer(1.0)  # type: ignore[untyped-decorator]  # likewise
    async def owned_partitions() -> None:
        try:
            tps = app.consumer.assignment()
        except Exception:  # before the first assignment faust raises a variety of errors
            return
        projector.owned({lane(tp.topic, tp.partition) for tp in tps if tp.topic == deliveries_name})

    @app.timer(0.25, on_leader=True)  # type: ignore[untyped-decorator]  # likewise
    async def publish_events() -> None:
        cursor = f"kafka:{names.events}"
        while True:
            entries = await asyncio.to_thread(service.unpublished, database, cursor, limit=500)
            if not entries:
                return
            await _send_all(
                events,
                [(e.key.encode(), wire.encode_entry(e), []) for e in entries if e.events],
            )
            await asyncio.to_thread(service.mark_published, database, cursor, entries[-1].seq)

    @app.timer(0.5, on_leader=True)  # type: ignore[untyped-decorator]  # likewise
    async def publish_alerts() -> None:
        cursor = f"kafka:{names.alerts}"
        while True:
            found = await asyncio.to_thread(service.unpublished_alerts, database, cursor)
            if not found:
                return
            await _send_all(
                alerts,
                [((a.repository or a.kind).encode(), notify.payload(a), []) for a in found],
            )
            await asyncio.to_thread(service.mark_published, database, cursor, found[-1].id)

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        checks: dict[str, Any] = {"mode": "worker"}
        ok = True
        try:
            checks["database"] = {"ok": True, **await asyncio.to_thread(_database_state, database)}
        except Unavailable as exc:
            checks["database"], ok = {"ok": False, "error": exc.detail}, False
        try:
            kafka = await _kafka_state(wire.bootstrap_servers(settings.kafka_url or ""))
            assigned = sorted(f"{tp.topic}:{tp.partition}" for tp in app.consumer.assignment())
            checks["kafka"] = {"ok": True, **kafka, "assigned": assigned}
        except Unavailable as exc:
            checks["kafka"], ok = {"ok": False, "error": exc.detail}, False
        checks["processed"] = asdict(processed)
        return web.json({"ready": ok, "checks": checks}, status=200 if ok else 503)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        try:
            state = await asyncio.to_thread(_database_state, database)
            metrics.log_entries.set(state["log_entries"])
            metrics.projection_lag.set(state["projection_lag"])
        except Unavailable:
            pass  # /readyz reports it; the counters are still worth scraping
        try:
            metrics.consumer_lag(app.consumer)
        except Exception:  # before the first assignment faust raises a variety of errors
            logger.debug("consumer lag not available yet", exc_info=True)
        return web.bytes(metrics.render(), content_type="text/plain; version=0.0.4")

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    return app


# --- what the agent does with one batch ----------------------------------------------------


@dataclass
class _Processed:
    """What this worker process applied since it started (shown by /readyz)."""

    messages: int = 0
    deliveries: int = 0
    accepted: int = 0
    duplicates: int = 0
    dead_letters: int = 0

    def add(self, messages: int, outcome: service.BatchOutcome | None, refused: int) -> None:
        self.messages += messages
        self.dead_letters += refused
        if outcome is not None:
            self.deliveries += outcome.deliveries
            self.accepted += outcome.accepted
            self.duplicates += outcome.duplicates


@dataclass(frozen=True, slots=True)
class _Refused:
    value: bytes
    error: str
    reason: str
    source: str
    origin: str  # topic/partition/offset of the message it came in

    def message(self) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
        headers = [
            ("error", self.error.encode()),
            ("reason", self.reason.encode()),
            ("source", self.source.encode()),
            ("origin", self.origin.encode()),
        ]
        return self.source.encode() or None, self.value, headers


def _apply(
    db: Database, secrets: SourceSecrets, batch: Sequence[Any]
) -> tuple[service.BatchOutcome | None, list[_Refused]]:
    """Decode and store one batch of messages (in a worker thread: blocking is fine here).
    Returns what was refused, for the dead-letter topic; raises on anything else."""
    deliveries: list[Delivery] = []
    lanes: list[str | None] = []
    origins: dict[int, str] = {}
    refused: list[_Refused] = []
    for event in batch:
        message = event.message
        origin = f"{message.topic}/{message.partition}/{message.offset}"
        try:
            decoded = wire.decode(event.value)
        except Unparseable as exc:
            refused.append(_Refused(event.value or b"", type(exc).__name__, exc.detail, "", origin))
            continue
        for delivery in decoded:
            origins[id(delivery)] = origin
        deliveries.extend(decoded)
        lanes.extend([lane(message.topic, message.partition)] * len(decoded))
    outcome = None
    if deliveries:
        outcome = service.ingest_batch(db, deliveries, secrets, lanes=lanes)
        refused.extend(
            _Refused(
                wire.encode([r.delivery]),  # replayable onto the deliveries topic as is
                r.error,
                r.reason,
                r.delivery.source,
                origins[id(r.delivery)],
            )
            for r in outcome.rejected
        )
        logger.debug(
            "batch applied",
            extra={
                **_positions(batch),
                "messages": len(batch),
                "deliveries": outcome.deliveries,
                "accepted": outcome.accepted,
                "duplicates": outcome.duplicates,
                "refused": len(refused),
            },
        )
    for item in refused:
        topic, partition, offset = item.origin.rsplit("/", 2)
        details = {
            "topic": topic,
            "partition": int(partition),
            "offset": int(offset),
            "source": item.source or None,
            "error": item.error,
            "reason": item.reason,
        }
        logger.warning("dead-lettered", extra=details)
    return outcome, refused


def _positions(batch: Sequence[Any]) -> dict[str, Any]:
    """Where a batch came from: its topic and, per partition, the first and last offset."""
    spans: dict[int, list[int]] = {}
    topics = set()
    for event in batch:
        message = event.message
        topics.add(message.topic)
        span = spans.setdefault(message.partition, [message.offset, message.offset])
        span[0], span[1] = min(span[0], message.offset), max(span[1], message.offset)
    return {
        "topic": ",".join(sorted(topics)),
        "offsets": {str(p): f"{a}-{b}" for p, (a, b) in sorted(spans.items())},
    }


async def _send_all(
    topic: Any, messages: Sequence[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]
) -> None:
    """Send, then wait until the broker acknowledged every message (acks=all)."""
    pending = [await topic.send(key=k, value=v, headers=h) for k, v, h in messages]
    if pending:
        await asyncio.gather(*pending)


# --- the projection ----------------------------------------------------------------------


def lane(topic: str, partition: int) -> str:
    """The lane of a partition's entries: what its cursor is named after."""
    return f"{topic}:{partition}"


class _Projector:
    """The graph follows the log in a child process, with its own interpreter lock and a
    lower CPU priority, so the agent's loop (consume, append, acknowledge) never waits
    behind it. The parent tells it which partitions it owns and which ones a batch just
    appended to; it projects those partitions' entries (`LaneProjector`). The log is the
    commitment; the graph catches up as capacity allows (`/readyz` shows the lag)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._context = multiprocessing.get_context("spawn")
        self._queue: Any = self._context.Queue()
        self._owned: frozenset[str] = frozenset()
        self._process: Any = None

    def start(self) -> None:
        s = self._settings
        self._process = self._context.Process(
            target=_project_forever,
            args=(s.database_url, self._queue, os.getpid(), s.log_level, s.log_format),
            kwargs={"min_severity": s.alert_min_severity},
            name="provenance-projection",
            daemon=True,  # stopped with the worker
        )
        self._process.start()

    def touched(self, lanes: set[str]) -> None:
        self._queue.put(("touched", sorted(lanes)))

    def owned(self, lanes: set[str]) -> None:
        if lanes != self._owned:
            self._owned = frozenset(lanes)
            logger.info("projecting partitions", extra={"lanes": sorted(lanes)})
        self._queue.put(("owned", sorted(lanes)))


_ROUND = 10  # batches of one lane before the next lane's turn: no partition starves


def _project_forever(
    database_url: str, queue: Any, parent: int, level: str, fmt: str, *, min_severity: str
) -> None:
    """The child process: project the owned lanes whenever told (or every second); sweep
    the global cursor every second; end with the parent."""
    configure_logging(level, fmt)
    with contextlib.suppress(OSError):
        os.nice(10)  # the log first: the graph takes what CPU is left
    db = connect(database_url)
    # short transactions: 20 log entries each
    runner = service.LaneProjector(db, batch=20, min_severity=min_severity)
    owned: set[str] = set()
    pending: set[str] = set()
    last_round = 0.0
    try:
        while os.getppid() == parent:
            messages = _drain(queue, wait=0.05 if pending else 1.0)
            for kind, lanes in messages:
                if kind == "owned":
                    owned = set(lanes)  # a lane given up is its new owner's to project
                else:
                    pending |= set(lanes)
            now = time.monotonic()
            full_round = now - last_round >= 1.0
            if full_round:
                pending |= owned
                last_round = now
            try:
                for name in sorted(pending):
                    if runner.catch_up([name], rounds=_ROUND) < _ROUND * runner.batch:
                        pending.discard(name)  # caught up (else: its turn comes again)
                if full_round:
                    runner.sweep()
            except Exception:  # the database is down: wait, keep what is pending
                logger.exception("projection failed; retrying")
                time.sleep(1.0)
    finally:
        db.dispose()


def _drain(queue: Any, *, wait: float) -> list[tuple[str, list[str]]]:
    """What the parent said since last time (waiting up to `wait` for a first word)."""
    out: list[tuple[str, list[str]]] = []
    with contextlib.suppress(Empty):
        out.append(queue.get(timeout=wait))
        while True:
            out.append(queue.get_nowait())
    return out


# --- readiness -------------------------------------------------------------------------------


def _database_state(db: Database) -> dict[str, Any]:
    with db.read() as session:
        seq, _ = health.log_head(session)
        lag = health.projection_lag(session)
    return {"dialect": db.dialect, "log_entries": seq, "projection_lag": lag}


async def _kafka_state(servers: list[str]) -> dict[str, Any]:
    client = AIOKafkaClient(bootstrap_servers=servers, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(client.bootstrap(), 3.0)
        metadata = await asyncio.wait_for(client.fetch_all_metadata(), 3.0)
    except Exception as exc:  # connection refused, timeout, protocol error: all "not ready"
        raise Unavailable(f"Kafka unreachable at {','.join(servers)}: {exc!r}") from exc
    finally:
        await client.close()
    return {"brokers": len(metadata.brokers())}


def _secrets(settings: Settings) -> SourceSecrets:
    """The same context the API normalizes with (credentials were the API's to check)."""
    from provenance.trust.attestations import Verifier  # noqa: PLC0415 - loads the cryptography

    return SourceSecrets(
        environments=settings.environments,
        verifier=Verifier.from_policy(settings.trust_policy),
    )


def run(app: faust.App, settings: Settings) -> None:
    """Run the worker until a signal or a crash (exit status 1: restart it)."""
    worker = faust.Worker(
        app, loglevel=settings.log_level, override_logging=False, redirect_stdouts=False
    )
    worker.execute_from_commandline()


def __getattr__(name: str) -> Any:
    """`faust -A streams.app worker` needs a module-level `app`: built on first access."""
    if name == "app":
        global app  # noqa: PLW0603 - the one module-level app, created once, lazily
        app = create_app(Settings())
        return app
    raise AttributeError(name)


__all__ = ["create_app", "run"]
