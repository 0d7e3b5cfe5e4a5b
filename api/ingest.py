"""Ingest routes: webhooks from every source and canonical events. 202 only once stored.

Order of every ingest request: credentials (before the body is read: an outsider stores
nothing), the body (bounded), the GitHub signature when that is the credential, then the
use case (`Services.ingest`: refused content is quarantined, the rest is logged).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.auth import Role, WebhookAccess, require, webhook_access
from api.deps import Services, services
from api.openapi import INGEST_MEDIA_TYPES, problems, raw_body
from api.responses import json_response
from api.schemas import IngestResponse, RejectedItem
from provenance.ingest.service import IngestOutcome
from provenance.ingest.sources import SOURCES, Delivery
from provenance.model.errors import PayloadTooLarge, UnknownSource
from provenance.model.timeutil import utcnow
from provenance.trust.credentials import verify_github_signature, without_credentials

router = APIRouter(prefix="/v1", tags=["ingest"])


class BodyTooLarge(PayloadTooLarge):
    """A 413 that keeps what was read, so an authenticated sender's delivery can be
    quarantined with its first bytes instead of vanishing."""

    def __init__(self, detail: str, prefix: bytes) -> None:
        super().__init__(detail)
        self.prefix = prefix


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` (never buffered past it)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body of {declared} bytes exceeds the limit of {limit}", b"")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            kept = b"".join(chunks)
            raise BodyTooLarge(f"body exceeds the limit of {limit} bytes", kept)
        chunks.append(chunk)
    return b"".join(chunks)


def content_type(request: Request) -> str:
    value = request.headers.get("content-type", "application/json")
    return value.split(";", 1)[0].strip().lower() or "application/json"


def delivery_from(request: Request, source: str, body: bytes) -> Delivery:
    """The one place a request becomes a `Delivery` (credentials left out)."""
    return Delivery(
        source=source,
        body=body,
        received_at=utcnow(),
        content_type=content_type(request),
        headers={k.lower(): v for k, v in request.headers.items()},
        params=without_credentials(request.query_params),
    )


async def receive(request: Request, svc: Services, source: str, *, keep: bool) -> Delivery:
    """Read the body of an admitted request. `keep`: the sender is authenticated, so a
    body too large is quarantined (its first bytes and the reason) before the 413."""
    try:
        body = await read_body(request, svc.settings.max_body_bytes)
    except BodyTooLarge as exc:
        if keep:
            delivery = delivery_from(request, source, exc.prefix)
            await run_in_threadpool(svc.quarantine, delivery, exc)
        raise
    return delivery_from(request, source, body)


def accepted(outcome: IngestOutcome) -> IngestResponse:
    return IngestResponse(
        accepted=outcome.accepted,
        duplicates=outcome.duplicates,
        ids=outcome.ids,
        seq=outcome.seq,
        rejected=[RejectedItem(index=r.index, reason=r.reason) for r in outcome.rejected],
    )


async def _accept(svc: Services, delivery: Delivery) -> Response:
    outcome = await run_in_threadpool(svc.ingest, delivery)
    return json_response(accepted(outcome), status_code=202)


@router.post(
    "/webhooks/{source}",
    status_code=202,
    response_model=IngestResponse,
    responses=problems(400, 401, 403, 404, 413, 415, 422, 503),
    openapi_extra=raw_body(*INGEST_MEDIA_TYPES["webhooks"]),
)
async def webhook(
    source: str,
    request: Request,
    svc: Annotated[Services, Depends(services)],
    access: Annotated[WebhookAccess, Depends(webhook_access)],
) -> Response:
    delivery = await receive(request, svc, source, keep=access.authenticated)
    if access.github_secret is not None and not access.authenticated:
        # BadSignature is a 401 and, like every failed credential, stores nothing.
        verify_github_signature(
            delivery.body, delivery.headers.get("x-hub-signature-256"), access.github_secret
        )
    if source not in SOURCES:
        error = UnknownSource(
            f"unknown source {source[:40]!r}; known: {', '.join(sorted(SOURCES))}"
        )
        await run_in_threadpool(svc.quarantine, delivery, error)
        raise error
    return await _accept(svc, delivery)


@router.post(
    "/events",
    status_code=202,
    response_model=IngestResponse,
    dependencies=[Depends(require(Role.INGEST))],
    responses=problems(400, 401, 403, 413, 415, 422, 503),
    openapi_extra=raw_body(*INGEST_MEDIA_TYPES["events"], events=True),
)
async def events(request: Request, svc: Annotated[Services, Depends(services)]) -> Response:
    return await _accept(svc, await receive(request, svc, "events", keep=True))


@router.post(
    "/scans",
    status_code=202,
    response_model=IngestResponse,
    dependencies=[Depends(require(Role.INGEST))],
    responses=problems(400, 401, 403, 413, 415, 422, 503),
    openapi_extra=raw_body(*INGEST_MEDIA_TYPES["scans"]),
)
async def scans(request: Request, svc: Annotated[Services, Depends(services)]) -> Response:
    """A Trivy, Grype or CycloneDX report (`provenance.ingest.sources.scans`); `?digest=` names
    the image when the report does not."""
    return await _accept(svc, await receive(request, svc, "scans", keep=True))


__all__ = ["content_type", "delivery_from", "read_body", "receive", "router"]
