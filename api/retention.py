"""The retention report (role: read): `GET /v1/reports/retention`, as JSON, CSV or NDJSON.

An unknown repository has no digests: its report is empty (as `/v1/artifacts?repository=`
answers an empty page). The CSV and NDJSON exports are one line per item, written by the
compliance exports' own line writers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse

from api.auth import Role, require
from api.deps import Services, services
from api.guards import no_nul_in_query
from api.mirrors import mirror
from api.openapi import problems
from api.responses import json_response
from api.schemas import Timestamp
from provenance.model import retention
from provenance.query import columns
from provenance.query import retention as query_retention
from provenance.query.exports import _cell, _csv_line

router = APIRouter(
    prefix="/v1/reports",
    tags=["reports"],
    dependencies=[Depends(require(Role.READ)), Depends(no_nul_in_query)],
)
Svc = Annotated[Services, Depends(services)]

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}


# The wire forms are the rules' dataclasses, field for field (`api.mirrors`).
RetentionItem = mirror(retention.Item, name="RetentionItem")
RetentionReport = mirror(retention.Report, name="RetentionReport")


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
    if fmt == "json":
        return json_response(RetentionReport.from_domain(found))
    return StreamingResponse(
        _lines(found, fmt),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="retention.{fmt}"'},
    )


def _lines(report: retention.Report, fmt: str) -> Iterator[bytes]:
    """One line per item; the CSV's columns are the item's fields (`query.columns`)."""
    rows = (RetentionItem.from_domain(item).model_dump(mode="json") for item in report.items)
    if fmt == "ndjson":
        for row in rows:
            yield orjson.dumps(row) + b"\n"
        return
    header = columns.names(retention.Item)
    yield _csv_line(header)
    for row in rows:
        yield _csv_line([_cell(row[c]) for c in header])


__all__ = ["RetentionItem", "RetentionReport", "router"]
