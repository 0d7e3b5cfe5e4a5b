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
