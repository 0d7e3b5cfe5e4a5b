"""JSON answers rendered by pydantic's Rust serializer: much faster than FastAPI's default
encoder on large answers (blast radius, lineage, exports)."""

from __future__ import annotations

from fastapi.responses import Response
from pydantic import BaseModel


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")
