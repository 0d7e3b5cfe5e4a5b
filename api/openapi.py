"""What the OpenAPI document says beyond what FastAPI infers, kept in one place.

Entry points:
    Problem                  the RFC 9457 body of every error answer
    problems(*statuses)      `responses=` of a route: each status as application/problem+json
    raw_body(*media_types)   `openapi_extra=` of a route that reads its raw body (ingest)
    event_schema()           the canonical event, derived from `provenance.model.events.Event`
    INGEST_MEDIA_TYPES       what each ingest route takes, from the adapters' own lists
    MAX_ID                   the largest id or seq the store holds (paging parameters' bound)
    DIGEST_PATTERN           `sha256:<64 hex>` as a JSON Schema pattern
    install(app, settings)   `app.openapi` that adds the bearer scheme on every route behind
                             a token, the source enum, and the no-NUL rule of read queries
"""

from __future__ import annotations

import dataclasses
import types
from datetime import datetime
from typing import Any, get_args, get_type_hints

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from api.guards import NO_NUL_PATTERN
from provenance.ingest.sources import SOURCES, content_types
from provenance.model.events import Event, EventType
from provenance.settings import Settings

PROBLEM = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
BEARER = "bearer"
URL_TOKEN = "urlToken"  # noqa: S105 - a security scheme name
GITHUB = "githubSignature"
# SQLite INTEGER and PostgreSQL BIGINT: a larger `after` is a 422, not a driver overflow.
MAX_ID = 2**63 - 1
# What the domain checks digests against (ECMA-262 regex: `$` is the very end).
DIGEST_PATTERN = "^sha256:[0-9a-f]{64}$"
# Routes anyone may call (probes and scrapers carry no token).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

_TITLES = {
    400: "Unparseable body",
    401: "No or bad credentials",
    403: "The token's role may not use this route",
    404: "Not found (or unknown source)",
    405: "Method not allowed (see `Allow`)",
    409: "An ambiguous prefix: `candidates` lists what it could mean",
    413: "Body larger than PROVENANCE_MAX_BODY_BYTES",
    415: "Content type this route does not take",
    422: "Parseable, but not a valid request or payload",
    500: "Misconfigured service (signing key)",
    503: "The database (or Kafka) is unavailable; retry",
}


class Problem(BaseModel):
    """RFC 9457 problem details; answers may carry more members."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="urn:provenance:problem:<slug>")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Each status documented as problem+json (401 with its `WWW-Authenticate`)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {
            "description": _TITLES[status],
            "content": {PROBLEM: {"schema": {"$ref": PROBLEM_REF}}},
        }
        if status == 401:
            entry["headers"] = {
                "WWW-Authenticate": {"schema": {"type": "string"}, "required": True}
            }
        out[status] = entry
    return out


def _union(*groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for group in groups for t in group))


INGEST_MEDIA_TYPES: dict[str, tuple[str, ...]] = {
    "webhooks": _union(*(content_types(s) for s in sorted(SOURCES))),
    "events": ("application/json", "application/x-ndjson", "application/jsonl"),
    "scans": content_types("scans"),
    "attestations": (
        "application/json",
        "application/vnd.dsse.envelope.v1+json",
        "application/vnd.in-toto+json",
        "application/vnd.dev.sigstore.bundle.v0.3+json",
    ),
}

_FORM = "application/x-www-form-urlencoded"
_NDJSON = frozenset({"application/x-ndjson", "application/jsonl", "application/json-seq"})
_PATTERNS = {
    "digest": DIGEST_PATTERN,
    "previous_digest": DIGEST_PATTERN,
    "commit": "^[0-9a-f]{7,64}$",
}


def _field_schema(name: str, hint: Any) -> dict[str, Any]:
    optional = isinstance(hint, types.UnionType)  # `X | None`: null is the same as absent
    if optional:
        (hint,) = (a for a in get_args(hint) if a is not type(None))
    schema: dict[str, Any]
    if hint is EventType:
        schema = {"type": "string", "enum": [t.value for t in EventType]}
    elif hint is datetime:
        schema = {"type": "string", "format": "date-time"}
    elif hint is int:
        schema = {"type": "integer"}
    elif hint is str:
        pattern = _PATTERNS.get(name)
        schema = {"type": "string", "pattern": pattern} if pattern else {"type": "string"}
    elif name == "vulnerabilities":  # artifact.scanned's findings (provenance.model.scan_shape)
        schema = {"type": "array", "items": {"type": "object"}}
        optional = True
    else:
        schema = {"type": "object"}  # attributes (JSON values), a scan's summary
        optional = True  # null: no attributes
    return {"anyOf": [schema, {"type": "null"}]} if optional else schema


def event_schema() -> dict[str, Any]:
    """The canonical event (`POST /v1/events`), from the domain's own `Event`: its fields
    and their types. Which fields a type needs is the domain's to check (a 422)."""
    hints = get_type_hints(Event)
    required = ["id", "type", "time", "source"]
    properties = {f.name: _field_schema(f.name, hints[f.name]) for f in dataclasses.fields(Event)}
    for name in ("id", "source"):
        properties[name]["minLength"] = 1
    return {"type": "object", "required": required, "properties": properties}


def raw_body(*media_types: str, events: bool = False) -> dict[str, Any]:
    """A required body the route reads itself: free-form, since what is valid depends on
    the source (FastAPI cannot infer it); or, with `events`, canonical events (one, an
    array, or NDJSON lines)."""
    content: dict[str, Any] = {}
    schema: dict[str, Any]
    one = {"$ref": "#/components/schemas/CanonicalEvent"}
    for media_type in media_types:
        if events and media_type in _NDJSON:
            schema = {"type": "array", "items": one, "minItems": 1}
        elif events:
            schema = {"oneOf": [one, {"type": "array", "items": one, "minItems": 1}]}
        elif media_type == _FORM:  # GitHub's form delivery: the JSON payload in one field
            schema = {
                "type": "object",
                "properties": {"payload": {"type": "string"}},
            }
        else:
            schema = {"description": "as the sender sends it"}
        content[media_type] = {"schema": schema}
    return {"requestBody": {"required": True, "content": content}}


INGEST_PATHS = frozenset(
    {"/v1/webhooks/{source}", "/v1/events", "/v1/attestations", "/v1/scans", "/v1/admission"}
)


def _no_nul_in_query(operation: dict[str, Any]) -> None:
    """What `api.guards.no_nul_in_query` refuses, said on each free-text query parameter."""
    for parameter in operation.get("parameters", []):
        schema = parameter["schema"]
        if parameter["in"] != "query" or "enum" in schema:
            continue
        for option in [schema, *schema.get("anyOf", [])]:
            if option.get("type") == "string" and not {"pattern", "format"} & option.keys():
                option["pattern"] = NO_NUL_PATTERN


def _document(app: FastAPI, settings: Settings) -> dict[str, Any]:
    doc = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas["CanonicalEvent"] = event_schema()
    for path, operations in doc.get("paths", {}).items():
        for operation in operations.values():
            if settings.auth_enabled and path not in OPEN_PATHS:
                operation["security"] = [{BEARER: []}]
            if path.startswith("/v1/") and path not in INGEST_PATHS:
                _no_nul_in_query(operation)
            if path == "/v1/webhooks/{source}":
                for parameter in operation.get("parameters", []):
                    if parameter["name"] == "source":
                        parameter["schema"] = {"type": "string", "enum": sorted(SOURCES)}
                if settings.auth_enabled:
                    # Each alternative is valid on its own source only (credentials.py).
                    operation["security"] = [{BEARER: []}, {URL_TOKEN: []}, {GITHUB: []}]
    if settings.auth_enabled:
        schemes = components.setdefault("securitySchemes", {})
        schemes[BEARER] = {
            "type": "http",
            "scheme": "bearer",
            "description": "PROVENANCE_INGEST_TOKEN, _READ_TOKEN or _ADMIN_TOKEN; on gar, "
            "also the Google-signed OIDC token of a Pub/Sub push subscription",
        }
        schemes[URL_TOKEN] = {
            "type": "apiKey",
            "in": "query",
            "name": "token",
            "description": "dockerhub and quay only: the ingest token in the webhook URL",
        }
        schemes[GITHUB] = {
            "type": "apiKey",
            "in": "header",
            "name": "X-Hub-Signature-256",
            "description": "ghcr only: the HMAC-SHA256 of the body under "
            "PROVENANCE_GITHUB_WEBHOOK_SECRET",
        }
    return doc


def install(app: FastAPI, settings: Settings) -> None:
    """Replace `app.openapi` with one that also says what FastAPI cannot see: the bearer
    scheme (only when tokens are set: with auth off no route needs one) and the sources."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = [
    "DIGEST_PATTERN",
    "INGEST_MEDIA_TYPES",
    "MAX_ID",
    "PROBLEM",
    "Problem",
    "event_schema",
    "install",
    "problems",
    "raw_body",
]
