"""JSON answers rendered by pydantic's Rust serializer: much faster than FastAPI's default
encoder on large answers (blast radius, lineage, exports)."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel, TypeAdapter
from pydantic_core import PydanticSerializationError

_ANY: TypeAdapter[Any] = TypeAdapter(Any)


def _leaf(value: Any) -> Any:
    return _ANY.dump_python(value, mode="json")  # datetimes etc. exactly as pydantic writes them


MAX_DEPTH = 64  # what an answer renders of a stored JSON value; deeper is elided


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    try:
        body = model.model_dump_json()
    except PydanticSerializationError:
        # pydantic-core stops at a fixed nesting depth (about 250), and an accepted event's
        # attributes may go deeper: the audit log and timelines must still answer. The
        # standard library goes as deep as the interpreter does.
        body = json.dumps(
            model.model_dump(), default=_leaf, ensure_ascii=False, separators=(",", ":")
        )
    return Response(body, status_code=status_code, media_type="application/json")


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
