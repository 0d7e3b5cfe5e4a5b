"""The retention report (role: read): `GET /v1/reports/retention`, as JSON, CSV or NDJSON.

An unknown repository has no digests: its report is empty (as `/v1/artifacts?repository=`
answers an empty page). The CSV and NDJSON exports are one line per item, written by the
compliance exports' own line writers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse

from api.auth import Role, require
from api.deps import Services, services
from api.guards import no_nul_in_query
from api.openapi import problems
from api.responses import json_response
from api.schemas import Model, Timestamp
from provenance.model import retention
from provenance.query import retention as query_retention
from provenance.query.exports import _cell, _csv_line

router = APIRouter(
    prefix="/v1/reports",
    tags=["reports"],
    dependencies=[Depends(require(Role.READ)), Depends(no_nul_in_query)],
)
Svc = Annotated[Services, Depends(services)]

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}


class RetentionItem(Model):
    digest: str
    verdict: Literal["keep", "delete"]
    reasons: list[str]
    tags: list[str]
    last_pull: datetime | None
    last_deployed: datetime | None
    first_seen: datetime | None
    base_of: list[str]
    evidence_of: list[str]


class RetentionReport(Model):
    repository: str
    unused_since: datetime | None
    as_of: datetime | None
    items: list[RetentionItem]
    summary: dict[str, int]
    already_deleted: int


@router.get(
    "/retention",
    response_model=RetentionReport,
    responses={
        200: {
            "description": "The report: JSON, or one line per digest (`format=csv/ndjson`)",
            "content": {
                "application/json": {},
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        },
        **problems(401, 403, 422, 503),
    },
)
def retention_report(
    svc: Svc,
    repository: Annotated[str, Query(min_length=1, max_length=500)],
    unused_since: Annotated[
        Timestamp | None, Query(description="RFC 3339: a pull or deployment since then keeps")
    ] = None,
    as_of: Annotated[
        Timestamp | None, Query(description="RFC 3339: answer as the graph was then")
    ] = None,
    fmt: Annotated[Literal["json", "csv", "ndjson"], Query(alias="format")] = "json",
) -> Response:
    window = retention.Window(unused_since=unused_since, as_of=as_of)
    with svc.db.read() as session:
        found = query_retention.report(session, repository, window)
    answer = RetentionReport.model_validate(found)
    if fmt == "json":
        return json_response(answer)
    return StreamingResponse(
        _lines(answer, fmt),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="retention.{fmt}"'},
    )


def _lines(answer: RetentionReport, fmt: str) -> Iterator[bytes]:
    rows = (item.model_dump(mode="json") for item in answer.items)
    if fmt == "ndjson":
        for row in rows:
            yield orjson.dumps(row) + b"\n"
        return
    yield _csv_line(retention.COLUMNS)
    for row in rows:
        yield _csv_line([_cell(row[c]) for c in retention.COLUMNS])


__all__ = ["router"]
