"""Deployments, alerts and dashboards (role: read). Everything takes `as_of`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.auth import Role, require
from api.deps import Services, services
from api.guards import no_nul_in_query
from api.openapi import MAX_ID, problems
from api.responses import json_response
from api.schemas import (
    ActivityResponse,
    AlertModel,
    AlertsResponse,
    DeploymentsResponse,
    DriftResponse,
    EnvironmentLineage,
    EnvironmentsResponse,
    Timestamp,
)
from provenance.model.alerts import AlertKind
from provenance.model.errors import InvalidQuery
from provenance.query import deployments as deps
from provenance.query.alerts import list_alerts

router = APIRouter(
    prefix="/v1",
    tags=["deployments"],
    dependencies=[Depends(require(Role.READ)), Depends(no_nul_in_query)],
    responses=problems(401, 403, 422, 503),
)
Svc = Annotated[Services, Depends(services)]
AsOf = Annotated[Timestamp | None, Query(description="RFC 3339: answer as the graph was then")]


@router.get("/deployments", response_model=DeploymentsResponse)
def deployments(
    svc: Svc,
    environment: str | None = None,
    cluster: str | None = None,
    namespace: str | None = None,
    as_of: AsOf = None,
) -> Response:
    with svc.db.read() as session:
        items = deps.deployments(
            session, as_of=as_of, environment=environment, cluster=cluster, namespace=namespace
        )
    return json_response(DeploymentsResponse.model_validate({"as_of": as_of, "items": items}))


@router.get("/alerts", response_model=AlertsResponse)
def alerts(  # noqa: PLR0917 - FastAPI query parameters
    svc: Svc,
    since: Timestamp | None = None,
    kind: Annotated[
        str | None, Query(json_schema_extra={"enum": [k.value for k in AlertKind]})
    ] = None,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    superseded: Annotated[
        bool, Query(description="include findings a later-arriving event made obsolete")
    ] = False,
) -> Response:
    if kind is not None and kind not in {k.value for k in AlertKind}:
        raise InvalidQuery(f"kind must be one of: {', '.join(k.value for k in AlertKind)}")
    with svc.db.read() as session:
        rows = list_alerts(
            session, since=since, kind=kind, after=after, limit=limit, superseded=superseded
        )
        items = [
            AlertModel.model_validate(
                {
                    "id": r.id,
                    "kind": r.kind,
                    "time": r.time,
                    "digest": r.digest,
                    "repository": r.repository,
                    "details": r.details,
                    "events": r.events,
                    "key": r.key,
                    "superseded": r.superseded_at is not None,
                    "superseded_at": r.superseded_at,
                    "superseded_by": r.superseded_by or [],
                }
            )
            for r in rows
        ]
    next_after = items[-1].id if len(items) == limit else None
    return json_response(AlertsResponse(items=items, next_after=next_after))


@router.get("/dashboards/environments", response_model=EnvironmentsResponse)
def environments(svc: Svc, as_of: AsOf = None) -> Response:
    with svc.db.read() as session:
        grouped = deps.by_environment(session, as_of=as_of)
    lineage = [
        EnvironmentLineage.model_validate({"environment": env, "deployments": items})
        for env, items in grouped.items()
    ]
    return json_response(EnvironmentsResponse(as_of=as_of, environments=lineage))


@router.get("/dashboards/drift", response_model=DriftResponse)
def drift(svc: Svc, as_of: AsOf = None) -> Response:
    with svc.db.read() as session:
        items = deps.drift(session, as_of=as_of)
    return json_response(DriftResponse.model_validate({"as_of": as_of, "items": items}))


@router.get("/dashboards/activity", response_model=ActivityResponse)
def activity(
    svc: Svc,
    since: Timestamp | None = None,
    until: Timestamp | None = None,
    as_of: AsOf = None,
    bucket: Literal["hour", "day"] = "day",
) -> Response:
    end = min(x for x in (until, as_of) if x is not None) if (until or as_of) else None
    with svc.db.read() as session:
        items = deps.activity(session, since=since, until=end, bucket=bucket)
    return json_response(ActivityResponse.model_validate({"bucket": bucket, "items": items}))
