"""Prometheus metrics of this process (a registry per app, so tests stay independent)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from provenance.sources import SOURCES

# Label values are chosen by us, never by a sender: anything else is "other".
_SOURCES = SOURCES | {"events", "attestations"}
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

    def accepted(self, source: str, accepted: int, duplicates: int) -> None:
        self._events.labels(source_label(source), "accepted").inc(accepted)
        self._events.labels(source_label(source), "duplicate").inc(duplicates)

    def rejected(self, source: str, error: str) -> None:
        # `error` is a class name of the domain's error tree: a closed set.
        self._rejected.labels(source_label(source), error).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
