"""Query routes (role: read). Plain `def`: the core is synchronous and runs in the threadpool."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from api.auth import Role, require
from api.deps import Services, services
from api.guards import no_nul_in_query
from api.openapi import DIGEST_PATTERN, problems
from api.responses import json_response
from api.schemas import (
    ArtifactResponse,
    BlastRadiusRequest,
    BlastRadiusResponse,
    CommitResponse,
    LineageResponse,
    TagHistoryResponse,
    TimelineResponse,
    Timestamp,
)
from provenance.model.errors import InvalidQuery
from provenance.query import artifacts, catalog, graph
from provenance.query import blast_radius as blast
from provenance.query import lineage as lineages

router = APIRouter(
    prefix="/v1",
    tags=["queries"],
    dependencies=[Depends(require(Role.READ)), Depends(no_nul_in_query)],
    responses=problems(401, 403, 404, 409, 422, 503),
)
Svc = Annotated[Services, Depends(services)]
# Documented, checked by the domain (its 422 names the rule): `sha256:<64 hex>`.
Digest = Annotated[str, Path(json_schema_extra={"pattern": DIGEST_PATTERN})]


@router.get("/artifacts/{digest}", response_model=ArtifactResponse)
def artifact(digest: Digest, svc: Svc, as_of: Timestamp | None = None) -> Response:
    with svc.db.read() as session:
        digest = catalog.resolve_digest(session, digest)  # a unique prefix is enough
        view = artifacts.artifact(session, digest, as_of=as_of)
    return json_response(ArtifactResponse.from_domain(view))


@router.get("/artifacts/{digest}/timeline", response_model=TimelineResponse)
def timeline(
    digest: Digest,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> Response:
    with svc.db.read() as session:
        digest = catalog.resolve_digest(session, digest)
        page = artifacts.timeline(session, digest, limit=limit, cursor=cursor)
    return json_response(TimelineResponse.from_domain(page))


@router.get(
    "/artifacts/{digest}/lineage",
    response_model=LineageResponse,
    responses={
        200: {
            "content": {
                "application/graphml+xml": {"schema": {"type": "string"}},
                "text/vnd.graphviz": {"schema": {"type": "string"}},
            }
        }
    },
)
def lineage(
    digest: Digest,
    svc: Svc,
    direction: Literal["up", "down", "both"] = "both",
    depth: Annotated[int, Query(ge=1, le=10)] = 3,
    format: Literal["json", "graphml", "dot"] = "json",
) -> Response:
    with svc.db.read() as session:
        digest = catalog.resolve_digest(session, digest)
        result = lineages.lineage(session, digest, direction=direction, depth=depth)
    if format == "graphml":
        return Response(graph.to_graphml(result.graph()), media_type="application/graphml+xml")
    if format == "dot":
        return Response(graph.to_dot(result.graph()), media_type="text/vnd.graphviz")
    return json_response(LineageResponse.from_domain(result))


@router.get("/tags/history", response_model=TagHistoryResponse)
def tag_history(repository: str, tag: str, svc: Svc, as_of: Timestamp | None = None) -> Response:
    with svc.db.read() as session:
        history = artifacts.tag_history(session, repository, tag, as_of=as_of)
    return json_response(TagHistoryResponse.from_domain(history))


@router.get("/commits/{sha}", response_model=CommitResponse)
def commit(
    sha: Annotated[str, Path(json_schema_extra={"pattern": "^[0-9a-fA-F]{7,64}$"})], svc: Svc
) -> Response:
    with svc.db.read() as session:
        view = artifacts.commit(session, sha)
    return json_response(CommitResponse.from_domain(view))


@router.post("/incidents/blast-radius", response_model=BlastRadiusResponse, responses=problems(400))
def blast_radius(body: BlastRadiusRequest, svc: Svc) -> Response:
    target = body.target()
    if target is None:
        raise InvalidQuery(
            "give exactly one of: digest, commit, build, builder, actor, key, vulnerability"
        )
    with svc.db.read() as session:
        kind, value = target
        if kind == "digest":  # an image reference or a unique prefix, too
            value = catalog.resolve_digest(session, value)
        elif kind == "commit":
            value = catalog.resolve_commit(session, value)
        radius = blast.blast_radius(
            session, kind, value, as_of=body.as_of, limit=body.limit, cursor=body.cursor
        )
    return json_response(BlastRadiusResponse.from_domain(radius))


__all__ = ["router"]
