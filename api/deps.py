"""What routes need, built once per app: settings, database, ingestor, metrics, verifiers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from fastapi import Request

from api.ingestors import Ingestor
from api.metrics import Metrics
from provenance.ingest import quarantine
from provenance.ingest.opening import Database
from provenance.ingest.service import IngestOutcome, Publisher
from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.model.errors import ProvenanceError, RejectedInput, UnknownSource
from provenance.query.audit import ChainVerifier
from provenance.settings import Settings
from provenance.trust.policy import AttestationVerifier


@dataclass
class Services:
    settings: Settings
    db: Database
    # Where deliveries go (`api.ingestors`): the log here, or Kafka.
    ingestor: Ingestor
    metrics: Metrics
    # The trust policy, loaded once (`Verifier.from_policy`): judges signatures on arrival.
    verifier: AttestationVerifier | None = None
    # Distributed mode (`provenance api`): Kafka, for the readiness check.
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
            outcome = self.ingestor.ingest(delivery, self.secrets)
        except (RejectedInput, UnknownSource) as exc:
            self.metrics.rejected(delivery.source, type(exc).__name__)
            raise
        self.metrics.accepted(delivery.source, outcome.accepted, outcome.duplicates)
        for item in outcome.rejected:
            self.metrics.rejected(delivery.source, item.error)
        return outcome

    def quarantine(self, delivery: Delivery, error: ProvenanceError) -> None:
        """Keep a refused request of an authenticated sender (unknown source, too large)."""
        quarantine.keep(self.db, delivery, error)
        self.metrics.rejected(delivery.source, type(error).__name__)


class TokenVerifier(Protocol):
    def verify(self, token: str) -> object: ...


def services_of(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def services(request: Request) -> Services:
    """The dependency: async, since it does no I/O. A sync dependency runs in the
    threadpool, a round trip between threads per dependency per request (on 2 CPUs,
    ~0.5-2 ms each: more than a narrow blast radius's queries)."""
    return services_of(request)
