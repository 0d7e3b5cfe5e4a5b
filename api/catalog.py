"""Catalog routes (role: read): `GET /v1/search`, `GET /v1/repositories`, `GET /v1/artifacts`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.auth import Role, require
from api.deps import Services, services
from api.guards import no_nul_in_query
from api.openapi import problems
from api.responses import json_response
from api.schemas import Model
from provenance.query import catalog

router = APIRouter(
    prefix="/v1",
    tags=["catalog"],
    dependencies=[Depends(require(Role.READ)), Depends(no_nul_in_query)],
    responses=problems(401, 403, 404, 409, 422, 503),
)
Svc = Annotated[Services, Depends(services)]


class SearchItem(Model):
    kind: str
    id: str
    label: str


class SearchResponse(Model):
    query: str
    items: list[SearchItem]


class RepositorySummary(Model):
    repository: str
    tags: int
    artifacts: int
    last_push: datetime | None


class RepositoriesResponse(Model):
    items: list[RepositorySummary]
    next_cursor: str | None


class ArtifactSummary(Model):
    digest: str
    repository: str | None
    repositories: list[str]
    tags: list[str]
    media_type: str | None
    first_seen: datetime
    deleted: bool
    deployed: bool
    signed: bool
    attested: bool
    vulnerabilities: dict[str, int] | None


class ArtifactsResponse(Model):
    items: list[ArtifactSummary]
    next_cursor: str | None


@router.get("/search", response_model=SearchResponse)
def search(
    q: Annotated[str, Query(min_length=1, max_length=600)],
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    with svc.db.read() as session:
        result = catalog.search(session, q, limit=limit)
    return json_response(SearchResponse.model_validate(result))


@router.get("/repositories", response_model=RepositoriesResponse)
def repositories(
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> Response:
    with svc.db.read() as session:
        page = catalog.repositories(session, limit=limit, cursor=cursor)
    return json_response(RepositoriesResponse.model_validate(page))


@router.get("/artifacts", response_model=ArtifactsResponse)
def artifacts(  # noqa: PLR0917 - one query parameter per filter
    svc: Svc,
    repository: str | None = None,
    tag: str | None = None,
    deployed: bool | None = None,
    signed: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
    vulnerable: bool | None = None,
) -> Response:
    with svc.db.read() as session:
        page = catalog.artifacts(
            session,
            repository=repository,
            tag=tag,
            deployed=deployed,
            signed=signed,
            limit=limit,
            cursor=cursor,
            vulnerable=vulnerable,
        )
    return json_response(ArtifactsResponse.model_validate(page))


__all__ = ["router"]
