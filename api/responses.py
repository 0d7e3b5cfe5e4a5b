"""JSON answers rendered by pydantic's Rust serializer: much faster than FastAPI's default
encoder on large answers (blast radius, lineage, exports)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel

MAX_DEPTH = 64  # what an answer renders of a stored JSON value; deeper is elided


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


def bounded(value: Any, depth: int = 1) -> Any:
    """A stored JSON value as an answer may render it: anything nested deeper than
    MAX_DEPTH (which the edge refuses today, but the log may hold from before) is
    replaced by a note, so that no reader fails on what was once accepted."""
    if depth >= MAX_DEPTH and isinstance(value, dict | list):
        return f"<nested deeper than {MAX_DEPTH} levels; see the log entry's body>"
    if isinstance(value, dict):
        return {str(k): bounded(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [bounded(v, depth + 1) for v in value]
    return value
