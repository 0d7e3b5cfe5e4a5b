"""Prometheus metrics of this process (a registry per app, so tests stay independent).

The families `deploy/grafana/provenance.json` and `deploy/prometheus/alerts.yml` use:

    provenance_deliveries_total{source}            deliveries kept in the log
    provenance_last_delivery_timestamp_seconds{source}  when a source last sent anything
    provenance_events_total{source,outcome}        events accepted / duplicate
    provenance_rejected_total{source,error}        refusals (quarantined)
    provenance_http_request_seconds{route,method,status}  latency per route template
    provenance_log_entries, provenance_projection_lag, provenance_projection_lag_seconds,
    provenance_projection_set_aside                the log and the graph behind it
    provenance_audit_verify_seconds, provenance_export_seconds{format}
    process_*, python_*                            the process and the runtime
"""

from __future__ import annotations

import time

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

from provenance.ingest.sources import SOURCES

# Label values are chosen by us, never by a sender: anything else is "other".
_SOURCES = SOURCES | {"events", "attestations", "scans"}
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def source_label(source: str) -> str:
    return source if source in _SOURCES else "other"


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._events = Counter(
            "provenance_events_total",
            "Events received",
            ["source", "outcome"],
            registry=self.registry,
        )
        self._rejected = Counter(
            "provenance_rejected_total",
            "Deliveries quarantined",
            ["source", "error"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "provenance_http_request_seconds",
            "Request latency",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.log_entries = Gauge(
            "provenance_log_entries", "Entries in the event log", registry=self.registry
        )
        self.projection_lag = Gauge(
            "provenance_projection_lag", "Log entries not yet projected", registry=self.registry
        )
        self.projection_set_aside = Gauge(
            "provenance_projection_set_aside",
            "Accepted log entries the projection could not apply (quarantine kind=projection)",
            registry=self.registry,
        )
        self.projection_lag_seconds = Gauge(
            "provenance_projection_lag_seconds",
            "Age of the oldest log entry not yet projected (0 when the graph is current)",
            registry=self.registry,
        )
        self._deliveries = Counter(
            "provenance_deliveries",
            "Deliveries kept in the log",
            ["source"],
            registry=self.registry,
        )
        self._last_delivery = Gauge(
            "provenance_last_delivery_timestamp_seconds",
            "Unix time a source last sent a delivery (kept or refused)",
            ["source"],
            registry=self.registry,
        )
        self.verify_seconds = Histogram(
            "provenance_audit_verify_seconds",
            "Time to verify the log's hash chain",
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
        )
        self.export_seconds = Histogram(
            "provenance_export_seconds",
            "Time to produce a compliance export, to its last byte",
            ["format"],
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
        )
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        if GC_COLLECTOR is not None:  # CPython only
            GCCollector(registry=self.registry)

    def accepted(self, source: str, accepted: int, duplicates: int) -> None:
        label = source_label(source)
        self._events.labels(label, "accepted").inc(accepted)
        self._events.labels(label, "duplicate").inc(duplicates)
        self._deliveries.labels(label).inc()
        self._last_delivery.labels(label).set(time.time())

    def rejected(self, source: str, error: str) -> None:
        # `error` is a class name of the domain's error tree: a closed set.
        label = source_label(source)
        self._rejected.labels(label, error).inc()
        self._last_delivery.labels(label).set(time.time())

    def render(self) -> bytes:
        return generate_latest(self.registry)
