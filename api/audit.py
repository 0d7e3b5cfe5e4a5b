"""The audit log, its verification, and the quarantine."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.auth import Role, require
from api.deps import Services, services
from api.guards import no_nul_in_query
from api.openapi import MAX_ID, problems
from api.responses import json_response
from api.schemas import (
    AuditLogResponse,
    LogEntryModel,
    QuarantineItemModel,
    QuarantineResponse,
    VerifyResponse,
)
from provenance.hashchain import body_digest
from provenance.store import log, quarantine

router = APIRouter(
    prefix="/v1",
    tags=["audit"],
    dependencies=[Depends(no_nul_in_query)],
    responses=problems(401, 403, 422, 503),
)
Svc = Annotated[Services, Depends(services)]


@router.get(
    "/audit/log", response_model=AuditLogResponse, dependencies=[Depends(require(Role.READ))]
)
def audit_log(
    svc: Svc,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    with svc.db.read() as session:
        rows = log.entries(session, after=after, limit=limit)
        entries = [
            LogEntryModel(
                seq=r.seq,
                received_at=r.received_at,
                source=r.source,
                content_type=r.content_type,
                params=r.params,
                headers=r.headers,
                body_sha256=body_digest(r.body),
                body=r.body.decode("utf-8", errors="replace"),
                events=r.events,
                prev_hash=r.prev_hash,
                hash=r.hash,
            )
            for r in rows
        ]
    next_after = entries[-1].seq if len(entries) == limit else None
    return json_response(AuditLogResponse(entries=entries, next_after=next_after))


@router.get(
    "/audit/verify", response_model=VerifyResponse, dependencies=[Depends(require(Role.READ))]
)
def audit_verify(svc: Svc) -> Response:
    with svc.db.read() as session:
        result = log.verify(session)
    return json_response(VerifyResponse.model_validate(result))


@router.get(
    "/quarantine", response_model=QuarantineResponse, dependencies=[Depends(require(Role.ADMIN))]
)
def quarantined(
    svc: Svc,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    with svc.db.read() as session:
        items = [
            QuarantineItemModel(
                id=i.id,
                received_at=i.received_at,
                source=i.source,
                error=i.error,
                reason=i.reason,
                content_type=i.content_type,
                params=i.params,
                headers=i.headers,
                body=i.body.decode("utf-8", errors="replace"),
            )
            for i in quarantine.items(session, after=after, limit=limit)
        ]
    next_after = items[-1].id if len(items) == limit else None
    return json_response(QuarantineResponse(items=items, next_after=next_after))
