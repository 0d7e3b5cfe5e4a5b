"""Ingest routes: webhooks from every source and canonical events. 202 only once stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.auth import Role, require
from api.deps import Services, services
from api.openapi import INGEST_MEDIA_TYPES, problems, raw_body
from api.responses import json_response
from api.schemas import IngestResponse
from provenance.errors import PayloadTooLarge, UnknownSource
from provenance.sources import SOURCES, Delivery
from provenance.timeutil import utcnow

router = APIRouter(prefix="/v1", tags=["ingest"])


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` (never buffered past it)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _content_type(request: Request) -> str:
    value = request.headers.get("content-type", "application/json")
    return value.split(";", 1)[0].strip().lower() or "application/json"


async def _accept(request: Request, svc: Services, source: str) -> Response:
    body = await read_body(request, svc.settings.max_body_bytes)
    delivery = Delivery(
        source=source,
        body=body,
        received_at=utcnow(),
        content_type=_content_type(request),
        headers={k.lower(): v for k, v in request.headers.items()},
        params=dict(request.query_params),
    )
    outcome = await run_in_threadpool(svc.ingest, delivery)
    svc.metrics.accepted(source, outcome.accepted, outcome.duplicates)
    model = IngestResponse(
        accepted=outcome.accepted, duplicates=outcome.duplicates, ids=outcome.ids, seq=outcome.seq
    )
    return json_response(model, status_code=202)


@router.post(
    "/webhooks/{source}",
    status_code=202,
    response_model=IngestResponse,
    dependencies=[Depends(require(Role.INGEST, allow_signed=True))],
    responses=problems(400, 401, 403, 404, 413, 415, 422, 503),
    openapi_extra=raw_body(*INGEST_MEDIA_TYPES["webhooks"]),
)
async def webhook(
    source: str, request: Request, svc: Annotated[Services, Depends(services)]
) -> Response:
    if source not in SOURCES:
        error = UnknownSource(f"unknown source {source!r}; known: {', '.join(sorted(SOURCES))}")
        body = await read_body(request, svc.settings.max_body_bytes)
        await run_in_threadpool(svc.quarantine_unknown, source, body, request, error)
        raise error
    return await _accept(request, svc, source)


@router.post(
    "/events",
    status_code=202,
    response_model=IngestResponse,
    dependencies=[Depends(require(Role.INGEST))],
    responses=problems(400, 401, 403, 413, 415, 422, 503),
    openapi_extra=raw_body(*INGEST_MEDIA_TYPES["events"], events=True),
)
async def events(request: Request, svc: Annotated[Services, Depends(services)]) -> Response:
    return await _accept(request, svc, "events")


__all__ = ["router"]
