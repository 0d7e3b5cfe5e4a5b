"""What routes need, built once per app: settings, database, runner, metrics, publisher."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

import anyio.from_thread
from fastapi import Request

from api.metrics import Metrics
from provenance.ingest.service import IngestOutcome, ProjectionRunner, Publisher, ingest, prepare
from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.model.errors import ProvenanceError, RejectedInput, UnknownSource
from provenance.query.audit import ChainVerifier
from provenance.settings import Settings
from provenance.store import Database, quarantine
from provenance.trust.policy import AttestationVerifier


@dataclass
class Services:
    settings: Settings
    db: Database
    runner: ProjectionRunner | None
    metrics: Metrics
    # The trust policy, loaded once (`Verifier.from_policy`): judges signatures on arrival.
    verifier: AttestationVerifier | None = None
    # Distributed mode (`provenance api`): deliveries go to Kafka, the workers store them.
    publisher: Publisher | None = None
    # `/v1/webhooks/gar`: the Pub/Sub push OIDC token (None until configured).
    pubsub_verifier: TokenVerifier | None = None
    # `GET /v1/audit/verify`: one run at a time, incremental between runs.
    chain: ChainVerifier = field(init=False)

    def __post_init__(self) -> None:
        self.chain = ChainVerifier(self.db)

    @property
    def secrets(self) -> SourceSecrets:
        return SourceSecrets(environments=self.settings.environments, verifier=self.verifier)

    def ingest(self, delivery: Delivery) -> IngestOutcome:
        try:
            if self.publisher is not None:
                outcome = self._publish(delivery, self.publisher)
            else:
                outcome = ingest(self.db, delivery, self.secrets)
        except (RejectedInput, UnknownSource) as exc:
            self.metrics.rejected(delivery.source, type(exc).__name__)
            raise
        self.metrics.accepted(delivery.source, outcome.accepted, outcome.duplicates)
        for item in outcome.rejected:
            self.metrics.rejected(delivery.source, item.error)
        if self.runner is not None and outcome.seq is not None:
            if self.settings.project_before_accept:
                # Embedded mode: project now so the answer is readable as soon as it is 202.
                self.runner.try_catch_up()
            else:
                self.runner.wake()  # projected behind, with whatever else is pending
        return outcome

    def _publish(self, delivery: Delivery, publisher: Publisher) -> IngestOutcome:
        """Distributed mode: validate here (refusals are quarantined and answered now),
        then wait for Kafka's acknowledgement before the 202. Runs in the threadpool like
        `ingest`; the publish itself is awaited on the event loop, where batching happens."""
        prepared = prepare(self.db, delivery, self.secrets)
        if prepared.publish:
            anyio.from_thread.run(partial(publisher.publish, delivery, key=prepared.key))
        return prepared.outcome

    def quarantine(self, delivery: Delivery, error: ProvenanceError) -> None:
        """Keep a refused request of an authenticated sender (unknown source, too large)."""
        with self.db.write() as session:
            quarantine.put(session, delivery, error=type(error).__name__, reason=error.detail)
        self.metrics.rejected(delivery.source, type(error).__name__)


class TokenVerifier(Protocol):
    def verify(self, token: str) -> object: ...


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc
