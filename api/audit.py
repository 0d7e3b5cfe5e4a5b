"""The audit log, its verification, and the quarantine."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.auth import Role, admit, require
from api.deps import Services, services
from api.guards import no_nul_in_query
from api.openapi import MAX_ID, problems
from api.responses import bounded, json_response
from api.schemas import (
    AuditLogResponse,
    LogEntryModel,
    QuarantineItemModel,
    QuarantineResponse,
    VerifyResponse,
)
from provenance.model.hashchain import body_digest
from provenance.query import audit
from provenance.query.audit import LogEntry, QuarantineKind

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
        entries = [_entry(r) for r in audit.entries(session, after=after, limit=limit)]
    next_after = entries[-1].seq if len(entries) == limit else None
    return json_response(AuditLogResponse(entries=entries, next_after=next_after))


def _entry(row: LogEntry) -> LogEntryModel:
    """A stored entry as readers see it, whatever it holds: an auditor walks every page
    (a row altered after it was written shows what it holds now; `verify` names it)."""
    body = row.body if isinstance(row.body, bytes) else str(row.body).encode()
    return LogEntryModel(
        seq=row.seq,
        received_at=row.received_at,
        source=row.source,
        content_type=row.content_type,
        params=_mapping(row.params),
        headers=_mapping(row.headers),
        body_sha256=body_digest(body),
        body=body.decode("utf-8", errors="replace"),
        events=[_mapping(e) for e in row.events] if isinstance(row.events, list) else [],
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def _mapping(value: object) -> dict[str, Any]:
    return {str(k): bounded(v, 2) for k, v in value.items()} if isinstance(value, dict) else {}


@router.get(
    "/audit/verify", response_model=VerifyResponse, dependencies=[Depends(require(Role.READ))]
)
def audit_verify(
    request: Request,
    svc: Svc,
    full: Annotated[
        bool,
        Query(
            description="recompute the whole chain (admin): by default, only what "
            "was appended since the last intact run"
        ),
    ] = False,
) -> Response:
    if full:
        admit(request, Role.ADMIN)
    with svc.metrics.verify_seconds.time():
        result = svc.chain.verify(full=full)
    return json_response(
        VerifyResponse.model_validate({**asdict(result), "full": full or result.checked_from == 1})
    )


@router.get(
    "/quarantine", response_model=QuarantineResponse, dependencies=[Depends(require(Role.ADMIN))]
)
def quarantined(
    svc: Svc,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    kind: Annotated[
        QuarantineKind | None, Query(description="delivery, event or projection")
    ] = None,
) -> Response:
    with svc.db.read() as session:
        items = [
            QuarantineItemModel(
                id=i.id,
                kind=i.kind,
                index=i.item_index,
                seq=i.seq,
                received_at=i.received_at,
                source=i.source,
                error=i.error,
                reason=i.reason,
                content_type=i.content_type,
                params=_mapping(i.params),
                headers=_mapping(i.headers),
                body=i.body.decode("utf-8", errors="replace"),
            )
            for i in audit.quarantined(session, after=after, limit=limit, kind=kind)
        ]
    next_after = items[-1].id if len(items) == limit else None
    return json_response(QuarantineResponse(items=items, next_after=next_after))
