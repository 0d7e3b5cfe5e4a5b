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

from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

import anyio.from_thread

from provenance.ingest.group_commit import GroupCommit
from provenance.ingest.opening import Database
from provenance.ingest.service import IngestOutcome, ProjectionRunner, Publisher, ingest, prepare
from provenance.ingest.sources import Delivery, SourceSecrets


class Ingestor(Protocol):
    def ingest(self, delivery: Delivery, secrets: SourceSecrets) -> IngestOutcome: ...


@dataclass
class LogIngestor:
    db: Database
    runner: ProjectionRunner | None = None  # None: another process projects
    project_before_accept: bool = True
    # Concurrent requests' deliveries share transactions (one commit for a group), and
    # the group is projected in the same turn, before any of them is answered.
    group: GroupCommit = field(init=False)

    def __post_init__(self) -> None:
        then = None
        if self.runner is not None:
            # Readable as soon as it is 202: projected now, in the request's thread; or
            # projected behind, with whatever else is pending.
            then = self.runner.try_catch_up if self.project_before_accept else self.runner.wake
        self.group = GroupCommit(self.db, then=then)

    def ingest(self, delivery: Delivery, secrets: SourceSecrets) -> IngestOutcome:
        return ingest(self.db, delivery, secrets, group=self.group)


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
