"""Ingest: bytes -> log. Source adapters, the wire format, the ingest use
case, outboxes, reconciliation against a registry, re-verification, the demo story."""
