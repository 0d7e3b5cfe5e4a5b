"""Request checks shared by the read routes.

Entry points:
    no_nul_in_query   dependency: a NUL in a query parameter is a 422, not a driver error
                      (PostgreSQL text cannot hold NUL, so such a value can match nothing)
    NoNul             a request-body string without NUL (the same rule for JSON bodies)
    NO_NUL_PATTERN    the rule as a JSON Schema pattern, for the OpenAPI
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Request
from pydantic import AfterValidator, Field

from provenance.model.errors import InvalidQuery

NO_NUL_PATTERN = "^[^\\x00]*$"


async def no_nul_in_query(request: Request) -> None:  # no I/O: on the loop
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise InvalidQuery(f"query parameter {name!r} contains a NUL character")


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    return value


NoNul = Annotated[
    str, AfterValidator(_no_nul), Field(json_schema_extra={"pattern": NO_NUL_PATTERN})
]

__all__ = ["NO_NUL_PATTERN", "NoNul", "no_nul_in_query"]
