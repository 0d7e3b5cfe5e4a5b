"""Reconciliation: what the webhooks missed, found by walking the registry itself.

Compares the registry's catalog, tags and manifests with the graph and emits canonical
events for the differences, marked `found_by: reconciliation` and stored through the same
log as everything else: pushed tags and digests the graph does not know, tags that now
point elsewhere, tags gone, and digests the registry no longer has.

Ids are derived from the difference itself (repository, tag, digest and what the graph
believed), so a second run over an unchanged registry adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from provenance.ingest.registry_client import RegistryClient
from provenance.ingest.service import IngestOutcome, ingest
from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.model.events import content_id, is_digest
from provenance.model.timeutil import format_time, utcnow
from provenance.store import Database, reads

SOURCE = "reconcile"


@dataclass
class Report:
    registry: str
    repositories: int = 0
    tags: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0


def observe(client: RegistryClient) -> dict[tuple[str, str], str]:
    """(repository as written in image references, tag) -> digest, as the registry says now."""
    seen: dict[tuple[str, str], str] = {}
    for name in client.catalog():
        for tag in client.tags(name):
            digest = client.manifest_digest(name, tag)
            if digest is not None and is_digest(digest):
                seen[(f"{client.host}/{name}", tag)] = digest
    return seen


def differences(
    registry: RegistryClient,
    observed: dict[tuple[str, str], str],
    known_tags: dict[tuple[str, str], str],
    stored: list[tuple[str, str]],
    now: datetime,
) -> list[dict[str, Any]]:
    """Canonical events that make the graph agree with what was observed."""
    events: list[dict[str, Any]] = []
    base = {"source": SOURCE, "time": format_time(now)}
    attrs = {"found_by": "reconciliation", "observed_at": format_time(now)}
    for (repository, tag), digest in sorted(observed.items()):
        believed = known_tags.get((repository, tag))
        if believed == digest:
            continue
        events.append(
            base
            | {
                "id": content_id(SOURCE, "pushed", repository, tag, digest, believed),
                "type": "artifact.pushed",
                "repository": repository,
                "tag": tag,
                "digest": digest,
                "attributes": attrs | ({"graph_had": believed} if believed else {}),
            }
        )
    for (repository, tag), digest in sorted(known_tags.items()):
        if (repository, tag) not in observed:
            events.append(
                base
                | {
                    "id": content_id(SOURCE, "untagged", repository, tag, digest),
                    "type": "tag.deleted",
                    "repository": repository,
                    "tag": tag,
                    "attributes": attrs | {"graph_had": digest},
                }
            )
    present = set(observed.values())
    for repository, digest in stored:
        if digest in present:
            continue
        name = repository.removeprefix(f"{registry.host}/")
        if registry.manifest_digest(name, digest) is None:
            events.append(
                base
                | {
                    "id": content_id(SOURCE, "gone", repository, digest),
                    "type": "artifact.deleted",
                    "repository": repository,
                    "digest": digest,
                    "attributes": attrs,
                }
            )
    return events


def reconcile(db: Database, client: RegistryClient, *, dry_run: bool = False) -> Report:
    now = utcnow()
    observed = observe(client)
    with db.read() as session:
        known = reads.graph.current_tags(session, f"{client.host}/")
        stored = reads.graph.stored_artifacts(session, f"{client.host}/")
    report = Report(
        registry=client.host,
        repositories=len({repo for repo, _ in observed}),
        tags=len(observed),
        events=differences(client, observed, known, stored, now),
    )
    if report.events and not dry_run:
        outcome: IngestOutcome = ingest(
            db,
            Delivery(
                source="events",
                body=orjson.dumps(report.events),
                received_at=now,
                params={"reconcile": client.host},
            ),
            SourceSecrets(),
        )
        report.accepted, report.duplicates = outcome.accepted, outcome.duplicates
    return report


__all__ = ["Report", "differences", "observe", "reconcile"]
