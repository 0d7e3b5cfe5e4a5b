"""Deployments, alerts and dashboards (role: read). Everything takes `as_of`.

The wire forms of these answers live here, next to their routes: each is its query
dataclass, field for field, descriptions included (`api.mirrors`); a response that wraps a
list of answers with the question's `as_of` is written out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.auth import Role, require
from api.deps import Services, services
from api.guards import no_nul_in_query
from api.mirrors import mirror
from api.openapi import MAX_ID, problems
from api.responses import json_response
from api.schemas import Model, Timestamp
from provenance.query import alerts as findings
from provenance.query import deployments as deps

router = APIRouter(
    prefix="/v1",
    tags=["deployments"],
    dependencies=[Depends(require(Role.READ)), Depends(no_nul_in_query)],
    responses=problems(401, 403, 422, 503),
)
Svc = Annotated[Services, Depends(services)]
AsOf = Annotated[Timestamp | None, Query(description="RFC 3339: answer as the graph was then")]


DeploymentModel = mirror(deps.Deployment, name="DeploymentModel")


class DeploymentsResponse(Model):
    as_of: datetime | None
    items: list[DeploymentModel]  # type: ignore[valid-type]  # a mirror, built above


AlertModel = mirror(findings.Alert, name="AlertModel")
AlertsResponse = mirror(findings.AlertPage, name="AlertsResponse")
EnvironmentLineage = mirror(deps.EnvironmentLineage)


class EnvironmentsResponse(Model):
    as_of: datetime | None
    environments: list[EnvironmentLineage]  # type: ignore[valid-type]  # a mirror, built above


DriftModel = mirror(deps.Drift, name="DriftModel")


class DriftResponse(Model):
    as_of: datetime | None
    items: list[DriftModel]  # type: ignore[valid-type]  # a mirror, built above


ActivityBucket = mirror(deps.ActivityBucket)


class ActivityResponse(Model):
    bucket: str
    items: list[ActivityBucket]  # type: ignore[valid-type]  # a mirror, built above


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
    wire = [DeploymentModel.from_domain(d) for d in items]
    return json_response(DeploymentsResponse(as_of=as_of, items=wire))


@router.get("/alerts", response_model=AlertsResponse)
def alerts(  # noqa: PLR0917 - FastAPI query parameters
    svc: Svc,
    since: Timestamp | None = None,
    kind: Annotated[str | None, Query(json_schema_extra={"enum": list(findings.KINDS)})] = None,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    superseded: Annotated[
        bool, Query(description="include findings a later-arriving event made obsolete")
    ] = False,
) -> Response:
    with svc.db.read() as session:
        page = findings.alerts(
            session, since=since, kind=kind, after=after, limit=limit, superseded=superseded
        )
    return json_response(AlertsResponse.from_domain(page))


@router.get("/dashboards/environments", response_model=EnvironmentsResponse)
def environments(svc: Svc, as_of: AsOf = None) -> Response:
    with svc.db.read() as session:
        grouped = deps.by_environment(session, as_of=as_of)
    lineage = [EnvironmentLineage.from_domain(e) for e in grouped]
    return json_response(EnvironmentsResponse(as_of=as_of, environments=lineage))


@router.get("/dashboards/drift", response_model=DriftResponse)
def drift(svc: Svc, as_of: AsOf = None) -> Response:
    with svc.db.read() as session:
        items = deps.drift(session, as_of=as_of)
    return json_response(
        DriftResponse(as_of=as_of, items=[DriftModel.from_domain(d) for d in items])
    )


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
    wire = [ActivityBucket.from_domain(b) for b in items]
    return json_response(ActivityResponse(bucket=bucket, items=wire))
