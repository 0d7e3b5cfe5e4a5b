"""Source adapters: one module per system that sends us events.

Entry points:
    normalize_delivery(delivery, secrets) -> Normalized
                                    the events of a delivery, each checked against what the
                                    store can hold (`limits`), and the items refused one by
                                    one; raises RejectedInput when nothing is acceptable
    normalize(delivery, secrets) -> list[Event]
                                    all or nothing: the first refused item refuses the whole
    SOURCES                         names accepted on /v1/webhooks/{source}
    content_types(source)           the media types the source's adapter takes (OpenAPI)
    Delivery, SourceSecrets         what an adapter receives
    Normalized, Rejection           what `normalize_delivery` returns

An adapter is a plain function `(Delivery, SourceSecrets) -> list[Event]` that either
returns validated events or raises a `RejectedInput` subclass. Adapters of formats that
carry several independent events (a Distribution envelope, a CDEvents batch, a
Kubernetes EventList, NDJSON) also expose `normalize_items(delivery, secrets) ->
Normalized`, built with `each`, so one bad event does not refuse its neighbours
(Distribution retries a refused delivery forever). Adding a source is adding one module
and one line in `_ADAPTERS`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from provenance.model import limits
from provenance.model.delivery import Delivery
from provenance.model.errors import (
    InvalidPayload,
    RejectedInput,
    UnknownSource,
    Unparseable,
    UnsupportedMedia,
)
from provenance.model.events import Event
from provenance.trust.policy import AttestationVerifier

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SourceSecrets:
    """What adapters need besides the delivery. Credentials are checked before an
    adapter runs (`provenance.trust.credentials`), so none are here."""

    # PROVENANCE_ENVIRONMENTS: `cluster` or `cluster/namespace` -> environment name.
    environments: Mapping[str, str] = field(default_factory=dict)
    # PROVENANCE_TRUST_POLICY, loaded once at the entrypoint (`Verifier.from_policy`);
    # None judges every signature unverified ("no trust policy").
    verifier: AttestationVerifier | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """One item of a delivery that was refused while its neighbours were accepted."""

    index: int  # position of the item in the delivery (events[i], items[i], line i)
    reason: str
    error: str = "InvalidPayload"


@dataclass(frozen=True, slots=True)
class Normalized:
    events: list[Event]
    rejected: list[Rejection] = field(default_factory=list)


Adapter = Callable[[Delivery, SourceSecrets], list[Event]]
ItemsAdapter = Callable[[Delivery, SourceSecrets], Normalized]

# What a stray lookup in an adapter raises on a payload of an unexpected shape.
_SHAPE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError, OverflowError)


def each(
    items: Iterable[Any], one: Callable[[Any], Iterable[Event]], *, label: str = "items"
) -> Normalized:
    """Apply `one` to every item of a delivery: an item whose events are refused (by the
    adapter or by `limits`) is a `Rejection`, the others are accepted. When no item is
    acceptable the delivery is refused whole, with the first reason (`label[i]: ...`)."""
    events: list[Event] = []
    rejected: list[Rejection] = []
    count = 0
    for index, item in enumerate(items):
        count += 1
        try:
            produced = list(one(item))
            for event in produced:
                limits.check_event(event)
        except RejectedInput as exc:
            rejected.append(Rejection(index, exc.detail, type(exc).__name__))
            continue
        except _SHAPE_ERRORS as exc:
            rejected.append(Rejection(index, f"malformed payload: {type(exc).__name__}: {exc}"))
            continue
        events.extend(produced)
    if rejected and not events:
        raise _refusal(rejected, label, single=count == 1)
    return Normalized(events, rejected)


def strict(result: Normalized, *, label: str = "items") -> list[Event]:
    """All or nothing: the events, or the refusal of the first rejected item."""
    if result.rejected:
        raise _refusal(result.rejected, label, single=False)
    return result.events


def _refusal(rejected: list[Rejection], label: str, *, single: bool) -> RejectedInput:
    """The whole delivery's refusal: the first item's reason, and its class when every
    item was refused for the same kind of reason (all unparseable lines: a 400)."""
    first = rejected[0]
    more = f" (and {len(rejected) - 1} more refused)" if len(rejected) > 1 else ""
    where = "" if single else f"{label}[{first.index}]: "
    same = all(r.error == first.error for r in rejected)
    cls = _REFUSALS.get(first.error, InvalidPayload) if same else InvalidPayload
    return cls(f"{where}{first.reason}{more}")


_REFUSALS: dict[str, type[RejectedInput]] = {
    cls.__name__: cls for cls in (InvalidPayload, Unparseable, UnsupportedMedia)
}


# source name -> module under provenance.ingest.sources exposing `normalize`
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
    "scans": "scans",
}

#: Names accepted on `POST /v1/webhooks/{source}` (canonical events, attestations and
#: scanners' reports have their own routes).
SOURCES: frozenset[str] = frozenset(_ADAPTERS) - {"events", "attestations", "scans"}


def _module(source: str) -> Any:
    module_name = _ADAPTERS.get(source)
    if module_name is None:
        raise UnknownSource(f"unknown source {source[:40]!r}; known: {', '.join(sorted(SOURCES))}")
    return importlib.import_module(f"provenance.ingest.sources.{module_name}")


def content_types(source: str) -> tuple[str, ...]:
    """What `source`'s adapter takes (its `CONTENT_TYPES`; JSON when it names none)."""
    found: tuple[str, ...] = getattr(_module(source), "CONTENT_TYPES", ("application/json",))
    return found


def adapter_for(source: str) -> Adapter:
    fn: Adapter = _module(source).normalize
    return fn


def _run(module: Any, delivery: Delivery, context: SourceSecrets) -> Normalized:
    items: ItemsAdapter | None = getattr(module, "normalize_items", None)
    if items is not None:
        return items(delivery, context)
    adapter: Adapter = module.normalize
    events = adapter(delivery, context)  # one item: its refusal keeps its own class
    for event in events:
        limits.check_event(event)
    return Normalized(events)


def normalize_delivery(delivery: Delivery, secrets: SourceSecrets | None = None) -> Normalized:
    """The acceptable events of one delivery and the items refused; raises RejectedInput
    when the delivery itself is refused (or none of its items is acceptable)."""
    context = secrets or SourceSecrets()
    limits.check_delivery(delivery.content_type, delivery.params)
    module = _module(delivery.source)
    try:
        result = _run(module, delivery, context)
    except (RejectedInput, UnknownSource):
        raise
    except Exception as exc:
        # An adapter bug must not turn a delivery into a 500 (which loses it): it is
        # refused, quarantined with the reason, and logged for whoever fixes the adapter.
        logger.exception("adapter failed", extra={"source": delivery.source})
        raise InvalidPayload(f"malformed payload: {type(exc).__name__}: {exc}") from exc
    if not context.environments:
        return result
    return Normalized(
        [_with_environment(e, context.environments) for e in result.events], result.rejected
    )


def normalize(delivery: Delivery, secrets: SourceSecrets | None = None) -> list[Event]:
    """All or nothing: the events of one delivery, or RejectedInput for the first item
    refused. Replays of the log (reverify) and tests use it; ingest uses
    `normalize_delivery`."""
    return strict(normalize_delivery(delivery, secrets))


def _with_environment(event: Event, environments: Mapping[str, str]) -> Event:
    """Name the environment of a cluster event from configuration; a namespace entry wins
    over its cluster's, and an environment the source named itself is kept."""
    if event.environment or not event.cluster:
        return event
    name = environments.get(f"{event.cluster}/{event.namespace}") if event.namespace else None
    name = name or environments.get(event.cluster)
    return event.with_changes(environment=name) if name else event


__all__ = [
    "SOURCES",
    "Adapter",
    "Delivery",
    "Normalized",
    "Rejection",
    "SourceSecrets",
    "adapter_for",
    "content_types",
    "each",
    "normalize",
    "normalize_delivery",
    "strict",
]
