"""`KafkaPublisher`: how `provenance api` hands deliveries to the workers.

Each accepted delivery joins the pending batch of its partition (chosen from its key
with Kafka's own partitioner, so one repository always lands in one partition). A
partition has at most one message in flight: while it is being acknowledged, new
deliveries queue behind it and leave together in the next message (and an idle
partition waits `kafka_linger_ms` for company). Under load, one Kafka message carries
many deliveries, which is what amortizes the consumer's per-message cost; at rest, a
delivery waits a few milliseconds at most.

Each request awaits its own batch: `publish` returns once the broker acknowledged the
message with `acks=all`, and raises `Unavailable` (503) when the broker cannot be
reached or does not answer within `kafka_publish_timeout`. A 503 may still have been
written (the ack was lost): the registry retries and the worker drops the duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner

from provenance.ingest import wire
from provenance.ingest.sources import Delivery
from provenance.model.errors import Unavailable
from provenance.settings import Settings

logger = logging.getLogger(__name__)

# A batch stops growing past this many body bytes (Kafka's default message limit is 1 MiB);
# a single larger delivery still travels alone, up to PROVENANCE_MAX_BODY_BYTES.
_BATCH_BYTES = 512 * 1024
_OVERHEAD = 1024 * 1024  # header line and framing, above the largest body


@dataclass
class _Pending:
    items: list[tuple[Delivery, str, asyncio.Future[None]]] = field(default_factory=list)
    size: int = 0
    sender: asyncio.Task[None] | None = None


class KafkaPublisher:
    """Micro-batching, acks=all publisher of deliveries (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        if not settings.kafka_url:
            raise ValueError("KafkaPublisher needs PROVENANCE_KAFKA_URL")
        self._servers = wire.bootstrap_servers(settings.kafka_url)
        self._topic = wire.Topics.named(settings.kafka_topic_prefix).deliveries
        self._partitions = settings.kafka_partitions
        self._replication = settings.kafka_replication
        self._timeout = settings.kafka_publish_timeout
        self._linger = settings.kafka_linger_ms / 1000
        self._max_batch = settings.kafka_batch_deliveries
        self._max_request = settings.max_body_bytes + _OVERHEAD
        self._producer: AIOKafkaProducer | None = None
        self._connecting: asyncio.Lock | None = None
        self._pending: dict[int, _Pending] = {}
        self._choose = DefaultPartitioner()

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Connect now if the broker is there; if not, the API still starts (readiness says
        why) and each publish tries again."""
        try:
            await self._connect()
        except Unavailable as exc:
            logger.warning("Kafka not reachable at start; will retry", extra={"error": exc.detail})

    async def stop(self) -> None:
        senders = [p.sender for p in self._pending.values() if p.sender is not None]
        if senders:
            await asyncio.wait(senders, timeout=self._timeout)
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def check(self) -> dict[str, Any]:
        producer = await self._connect()
        try:
            metadata = await asyncio.wait_for(
                producer.client.fetch_all_metadata(), min(self._timeout, 3.0)
            )
        except (KafkaError, OSError, TimeoutError) as exc:
            raise Unavailable(f"Kafka metadata request failed: {exc!r}") from exc
        partitions = metadata.partitions_for_topic(self._topic) or set()
        return {
            "brokers": len(metadata.brokers()),
            "topic": self._topic,
            "partitions": len(partitions),
        }

    # --- publishing -------------------------------------------------------------------

    async def publish(self, delivery: Delivery, *, key: str) -> None:
        producer = await self._connect()
        partition = await self._partition_for(producer, key)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pending = self._pending.setdefault(partition, _Pending())
        pending.items.append((delivery, key, done))
        pending.size += len(delivery.body)
        if pending.sender is None:
            pending.sender = asyncio.create_task(self._send(producer, partition, pending))
        try:
            await asyncio.wait_for(asyncio.shield(done), self._timeout)
        except TimeoutError as exc:
            raise Unavailable(
                f"Kafka did not acknowledge within {self._timeout:g}s; not accepted"
            ) from exc

    async def _send(self, producer: AIOKafkaProducer, partition: int, pending: _Pending) -> None:
        """Send the partition's pending deliveries, one message in flight at a time."""
        if self._linger and len(pending.items) < self._max_batch:
            await asyncio.sleep(self._linger)
        while pending.items:
            batch: list[tuple[Delivery, str, asyncio.Future[None]]] = []
            size = 0
            while pending.items and len(batch) < self._max_batch:
                delivery = pending.items[0][0]
                if batch and size + len(delivery.body) > _BATCH_BYTES:
                    break
                batch.append(pending.items.pop(0))
                size += len(delivery.body)
            pending.size -= size
            try:
                await producer.send_and_wait(
                    self._topic,
                    wire.encode([d for d, _, _ in batch]),
                    key=batch[0][1].encode(),
                    partition=partition,
                    headers=[("content-type", wire.CONTENT_TYPE.encode())],
                )
            except Exception as exc:  # every failure is the waiting requests' 503
                logger.warning("publish failed", extra={"error": repr(exc), "partition": partition})
                error = Unavailable(f"Kafka did not accept the delivery: {exc!r}")
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(error)
                        done.exception()  # retrieved here: a timed-out waiter is gone
            else:
                for _, _, done in batch:
                    if not done.done():
                        done.set_result(None)
        pending.sender = None  # no await since the loop test: nothing can slip in between

    async def _partition_for(self, producer: AIOKafkaProducer, key: str) -> int:
        try:
            partitions = await asyncio.wait_for(producer.partitions_for(self._topic), self._timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise Unavailable(f"Kafka metadata for {self._topic} unavailable: {exc!r}") from exc
        if not partitions:
            raise Unavailable(f"topic {self._topic} has no partitions")
        ordered = sorted(partitions)
        return int(self._choose(key.encode(), ordered, ordered))

    # --- connection -------------------------------------------------------------------

    async def _connect(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._producer is not None:
                return self._producer
            producer = AIOKafkaProducer(
                bootstrap_servers=self._servers,
                client_id="provenance-api",
                acks="all",
                max_request_size=self._max_request,
                request_timeout_ms=int(self._timeout * 1000),
                retry_backoff_ms=100,
            )
            try:
                await asyncio.wait_for(producer.start(), self._timeout)
                await self._ensure_topic()
            except (KafkaError, OSError, TimeoutError) as exc:
                await producer.stop()
                where = ",".join(self._servers)
                raise Unavailable(f"Kafka unreachable at {where}: {exc!r}") from exc
            self._producer = producer
            return producer

    async def _ensure_topic(self) -> None:
        """Create the deliveries topic with the configured partitions if no worker did yet
        (a broker's auto-creation would give it its own default partition count)."""
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self._servers, request_timeout_ms=int(self._timeout * 1000)
        )
        await admin.start()
        try:
            if self._topic in await admin.list_topics():
                return
            topic = NewTopic(
                self._topic,
                num_partitions=self._partitions,
                replication_factor=self._replication,
                topic_configs={"max.message.bytes": str(self._max_request)},
            )
            with contextlib.suppress(TopicAlreadyExistsError):  # a worker was quicker
                await admin.create_topics([topic])
        finally:
            await admin.close()


__all__ = ["KafkaPublisher"]
