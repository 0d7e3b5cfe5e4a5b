"""Prometheus metrics of a worker process, served on its faust web port at `/metrics`.

provenance_worker_messages_total                 Kafka messages applied
provenance_worker_batch_messages                 messages per database transaction
provenance_worker_dead_letters_total{error}      messages sent to the dead-letter topic
provenance_worker_events_total{outcome}          events accepted / duplicate
provenance_worker_consumer_lag{topic,partition}  messages behind the partition's end
provenance_worker_log_entries, provenance_worker_projection_lag
process_*, python_*
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector

_ERRORS = frozenset({"Unparseable", "InvalidPayload", "UnsupportedMedia", "RejectedInput"})


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "provenance_worker_messages", "Kafka messages applied", registry=self.registry
        )
        self.batch = Histogram(
            "provenance_worker_batch_messages",
            "Kafka messages per database transaction",
            registry=self.registry,
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
        )
        self._dead = Counter(
            "provenance_worker_dead_letters",
            "Messages sent to the dead-letter topic",
            ["error"],
            registry=self.registry,
        )
        self._events = Counter(
            "provenance_worker_events",
            "Events from applied deliveries",
            ["outcome"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "provenance_worker_consumer_lag",
            "Messages between this worker's position and the end of each assigned partition",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.log_entries = Gauge(
            "provenance_worker_log_entries", "Entries in the event log", registry=self.registry
        )
        self.projection_lag = Gauge(
            "provenance_worker_projection_lag",
            "Log entries not yet projected",
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        if GC_COLLECTOR is not None:
            GCCollector(registry=self.registry)

    def applied(self, messages: int, accepted: int, duplicates: int, errors: Iterable[str]) -> None:
        self.messages.inc(messages)
        self.batch.observe(messages)
        self._events.labels("accepted").inc(accepted)
        self._events.labels("duplicate").inc(duplicates)
        for error in errors:  # a class name of the domain's error tree; anything else: other
            self._dead.labels(error if error in _ERRORS else "other").inc()

    def consumer_lag(self, consumer: Any) -> None:
        """Per assigned partition: the highwater minus the next offset to read. Faust keeps
        the read position in `_read_offset` (no public accessor); unknown means nothing
        read yet, so the whole partition is behind."""
        self.lag.clear()
        read: Any = getattr(consumer, "_read_offset", {})
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None:
                continue
            done = read.get(tp)
            position = (done + 1) if done is not None else 0
            self.lag.labels(tp.topic, str(tp.partition)).set(max(int(end) - position, 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)


__all__ = ["WorkerMetrics"]
