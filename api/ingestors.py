"""Where an accepted delivery goes: one protocol, one implementation per mode.

    LogIngestor         `provenance serve` (and an API beside workers on one database): the
                        delivery is appended to the log here, and projected here when the
                        process runs the projection, before the 202 or just behind it
    PublishingIngestor  `provenance api` with Kafka: validated and quarantined here, then
                        published and acknowledged (`acks=all`) before the 202; the workers
                        store and project it

`Services.ingest` counts what either answers; it never asks which mode it is in.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Protocol

import anyio.from_thread

from provenance.ingest.opening import Database
from provenance.ingest.service import IngestOutcome, ProjectionRunner, Publisher, ingest, prepare
from provenance.ingest.sources import Delivery, SourceSecrets


class Ingestor(Protocol):
    def ingest(self, delivery: Delivery, secrets: SourceSecrets) -> IngestOutcome: ...


@dataclass(frozen=True)
class LogIngestor:
    db: Database
    runner: ProjectionRunner | None = None  # None: another process projects
    project_before_accept: bool = True

    def ingest(self, delivery: Delivery, secrets: SourceSecrets) -> IngestOutcome:
        outcome = ingest(self.db, delivery, secrets)
        if self.runner is not None and outcome.seq is not None:
            if self.project_before_accept:
                # Readable as soon as it is 202: projected now, in the request's thread.
                self.runner.try_catch_up()
            else:
                self.runner.wake()  # projected behind, with whatever else is pending
        return outcome


@dataclass(frozen=True)
class PublishingIngestor:
    db: Database
    publisher: Publisher

    def ingest(self, delivery: Delivery, secrets: SourceSecrets) -> IngestOutcome:
        """Runs in the threadpool like `LogIngestor.ingest`; the publish itself is awaited
        on the event loop, where batching happens."""
        prepared = prepare(self.db, delivery, secrets)
        if prepared.publish:
            anyio.from_thread.run(partial(self.publisher.publish, delivery, key=prepared.key))
        return prepared.outcome


__all__ = ["Ingestor", "LogIngestor", "PublishingIngestor"]
