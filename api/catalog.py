"""Catalog routes (role: read): `GET /v1/search`, `GET /v1/repositories`, `GET /v1/artifacts`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.auth import Role, require
from api.deps import Services, services
from api.guards import no_nul_in_query
from api.mirrors import mirror
from api.openapi import problems
from api.responses import json_response
from provenance.query import catalog

router = APIRouter(
    prefix="/v1",
    tags=["catalog"],
    dependencies=[Depends(require(Role.READ)), Depends(no_nul_in_query)],
    responses=problems(401, 403, 404, 409, 422, 503),
)
Svc = Annotated[Services, Depends(services)]


# The wire forms are the query dataclasses, field for field (`api.mirrors`).
SearchResponse = mirror(catalog.SearchResult, name="SearchResponse")
RepositoriesResponse = mirror(catalog.RepositoryPage, name="RepositoriesResponse")
ArtifactsResponse = mirror(catalog.ArtifactPage, name="ArtifactsResponse")


@router.get("/search", response_model=SearchResponse)
def search(
    q: Annotated[str, Query(min_length=1, max_length=600)],
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    with svc.db.read() as session:
        result = catalog.search(session, q, limit=limit)
    return json_response(SearchResponse.from_domain(result))


@router.get("/repositories", response_model=RepositoriesResponse)
def repositories(
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> Response:
    with svc.db.read() as session:
        page = catalog.repositories(session, limit=limit, cursor=cursor)
    return json_response(RepositoriesResponse.from_domain(page))


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
    return json_response(ArtifactsResponse.from_domain(page))


__all__ = ["ArtifactsResponse", "RepositoriesResponse", "SearchResponse", "router"]
