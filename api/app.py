"""The HTTP API: `create_app(settings)` wires every router, in one screen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import (
    access,
    admission,
    audit,
    catalog,
    console,
    health,
    ingest,
    insights,
    openapi,
    problems,
    reads,
    retention,
    trust,
)
from api.deps import Services
from api.ingestors import LogIngestor, PublishingIngestor
from api.metrics import Metrics
from provenance.ingest.notify import AlertNotifier
from provenance.ingest.opening import Database, connect
from provenance.ingest.service import ProjectionRunner, Publisher
from provenance.settings import Settings
from provenance.trust.attestations import Verifier
from provenance.trust.pubsub import verifier_from_settings


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    embedded: bool = True,
    publisher: Publisher | None = None,
) -> FastAPI:
    """`embedded`: project the log in this process (`provenance serve`). Otherwise, with
    PROVENANCE_KAFKA_URL set (`provenance api`), ingest publishes to Kafka through
    `publisher` (default: `KafkaPublisher`) and the workers store and project."""
    if publisher is None and not embedded and settings.kafka_url:
        from api.publisher import KafkaPublisher  # noqa: PLC0415 - only distributed mode

        publisher = KafkaPublisher(settings)
    database = db or connect(settings.database_url)
    runner = (
        ProjectionRunner(database, min_severity=settings.alert_min_severity) if embedded else None
    )
    notifier = (
        AlertNotifier(database, settings.alert_webhook_url)
        if embedded and settings.alert_webhook_url
        else None
    )

    pubsub = verifier_from_settings(settings)  # /v1/webhooks/gar: the push OIDC token

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runner is not None:
            runner.start()  # first thing it does: catch up with anything left unprojected
        if notifier is not None:
            notifier.start()
        if publisher is not None:
            await publisher.start()
        yield
        if publisher is not None:
            await publisher.stop()
        if notifier is not None:
            notifier.stop()
        if runner is not None:
            runner.stop()
        if pubsub is not None:
            pubsub.close()

    app = FastAPI(
        title="Provenance",
        version="0.1.0",
        summary="Supply-chain provenance for container registries",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from api.console, with local assets
        redoc_url=None,
    )
    metrics = Metrics()
    app.state.settings = settings
    app.state.services = Services(
        settings=settings,
        db=database,
        ingestor=(
            PublishingIngestor(database, publisher)
            if publisher is not None
            else LogIngestor(database, runner, settings.project_before_accept)
        ),
        metrics=metrics,
        verifier=Verifier.from_policy(settings.trust_policy),  # a broken policy stops the start
        publisher=publisher,
        pubsub_verifier=pubsub,
    )
    problems.install(app)
    openapi.install(app, settings)

    access.install(app, metrics)  # request id, access log line, latency histogram

    app.include_router(ingest.router)
    app.include_router(reads.router)
    app.include_router(insights.router)
    app.include_router(audit.router)
    app.include_router(trust.router)
    app.include_router(health.router)
    app.include_router(catalog.router)
    app.include_router(retention.router)
    app.include_router(admission.router)
    console.install(app)
    return app


__all__ = ["create_app"]
