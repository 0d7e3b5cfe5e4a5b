"""What routes need, built once per app: settings, database, runner, metrics, publisher."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import anyio.from_thread
from fastapi import Request

from api.metrics import Metrics
from provenance.errors import RejectedInput, UnknownSource
from provenance.service import IngestOutcome, ProjectionRunner, Publisher, ingest, prepare
from provenance.settings import Settings
from provenance.sources import Delivery, SourceSecrets
from provenance.store import Database, quarantine
from provenance.timeutil import utcnow
from provenance.trust import AttestationVerifier


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

    @property
    def secrets(self) -> SourceSecrets:
        secret = self.settings.github_webhook_secret
        return SourceSecrets(
            github_webhook_secret=secret.get_secret_value().encode() if secret else None,
            environments=self.settings.environments,
            verifier=self.verifier,
        )

    def ingest(self, delivery: Delivery) -> IngestOutcome:
        if self.publisher is not None:
            return self._publish(delivery, self.publisher)
        try:
            outcome = ingest(self.db, delivery, self.secrets)
        except RejectedInput as exc:
            self.metrics.rejected(delivery.source, type(exc).__name__)
            raise
        if self.runner is not None and outcome.seq is not None:
            # Embedded mode: project now so the answer is readable as soon as it is 202.
            self.runner.try_catch_up()
        return outcome

    def _publish(self, delivery: Delivery, publisher: Publisher) -> IngestOutcome:
        """Distributed mode: validate here (refusals are quarantined and answered now),
        then wait for Kafka's acknowledgement before the 202. Runs in the threadpool like
        `ingest`; the publish itself is awaited on the event loop, where batching happens."""
        try:
            prepared = prepare(self.db, delivery, self.secrets)
        except RejectedInput as exc:
            self.metrics.rejected(delivery.source, type(exc).__name__)
            raise
        if prepared.publish:
            anyio.from_thread.run(partial(publisher.publish, delivery, key=prepared.key))
        return prepared.outcome

    def quarantine_unknown(
        self, source: str, body: bytes, request: Request, error: UnknownSource
    ) -> None:
        delivery = Delivery(
            source=source[:64],
            body=body,
            received_at=utcnow(),
            content_type=request.headers.get("content-type", ""),
            headers={k.lower(): v for k, v in request.headers.items()},
            params=dict(request.query_params),
        )
        with self.db.write() as session:
            quarantine.put(session, delivery, error=type(error).__name__, reason=error.detail)
        self.metrics.rejected(source[:64], UnknownSource.__name__)


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc
