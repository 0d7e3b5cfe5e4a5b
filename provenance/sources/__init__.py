"""Source adapters: one module per system that sends us events.

Entry points:
    normalize(delivery, secrets) -> list[Event]   dispatch to the adapter named by delivery.source
    SOURCES                                        names accepted on /v1/webhooks/{source}
    Delivery, SourceSecrets                        what an adapter receives

An adapter is a plain function `(Delivery, SourceSecrets) -> list[Event]` that either
returns validated events or raises a `RejectedInput` subclass. Adding a source is
adding one module and one line in `_ADAPTERS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from provenance.errors import UnknownSource
from provenance.events import Event
from provenance.trust import AttestationVerifier


@dataclass(frozen=True, slots=True)
class Delivery:
    """One HTTP request as a source sent it. Header names are lower case."""

    source: str
    body: bytes
    received_at: datetime
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SourceSecrets:
    """Verification material some sources need (only GitHub signs its webhooks)."""

    github_webhook_secret: bytes | None = None
    # PROVENANCE_ENVIRONMENTS: `cluster` or `cluster/namespace` -> environment name.
    environments: Mapping[str, str] = field(default_factory=dict)
    # PROVENANCE_TRUST_POLICY, loaded once at the entrypoint (`Verifier.from_policy`);
    # None judges every signature unverified ("no trust policy").
    verifier: AttestationVerifier | None = None


Adapter = Callable[[Delivery, SourceSecrets], list[Event]]

# source name -> module under provenance.sources exposing `normalize`
_ADAPTERS: dict[str, str] = {
    "events": "canonical",
    "distribution": "distribution",
    "harbor": "harbor",
    "ghcr": "ghcr",
    "cdevents": "cdevents",
    "dockerhub": "dockerhub",
    "ecr": "ecr",
    "acr": "acr",
    "gar": "gar",
    "quay": "quay",
    "k8s-audit": "k8s_audit",
    "attestations": "attestations",
}

#: Names accepted on `POST /v1/webhooks/{source}` (canonical events and attestations
#: have their own routes).
SOURCES: frozenset[str] = frozenset(_ADAPTERS) - {"events", "attestations"}


def adapter_for(source: str) -> Adapter:
    module_name = _ADAPTERS.get(source)
    if module_name is None:
        raise UnknownSource(f"unknown source {source!r}; known: {', '.join(sorted(SOURCES))}")
    module = importlib.import_module(f"provenance.sources.{module_name}")
    fn: Adapter = module.normalize
    return fn


def normalize(delivery: Delivery, secrets: SourceSecrets | None = None) -> list[Event]:
    """Turn one delivery into validated canonical events, or raise RejectedInput."""
    context = secrets or SourceSecrets()
    events = adapter_for(delivery.source)(delivery, context)
    if not context.environments:
        return events
    return [_with_environment(e, context.environments) for e in events]


def _with_environment(event: Event, environments: Mapping[str, str]) -> Event:
    """Name the environment of a cluster event from configuration; a namespace entry wins
    over its cluster's, and an environment the source named itself is kept."""
    if event.environment or not event.cluster:
        return event
    name = environments.get(f"{event.cluster}/{event.namespace}") if event.namespace else None
    name = name or environments.get(event.cluster)
    return event.with_changes(environment=name) if name else event


__all__ = ["SOURCES", "Adapter", "Delivery", "SourceSecrets", "adapter_for", "normalize"]
