"""Every error the service answers with, as RFC 9457 problem+json, mapped in one table."""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from provenance.model import errors

logger = logging.getLogger(__name__)

PROBLEM = "application/problem+json"

# domain error -> (status, problem type slug)
STATUS: dict[type[errors.ProvenanceError], tuple[int, str]] = {
    errors.Unparseable: (400, "unparseable"),
    errors.BadSignature: (401, "bad-signature"),
    errors.Unauthenticated: (401, "unauthorized"),
    errors.UnknownSource: (404, "unknown-source"),
    errors.NotFound: (404, "not-found"),
    errors.PayloadTooLarge: (413, "payload-too-large"),
    errors.UnsupportedMedia: (415, "unsupported-media-type"),
    errors.InvalidPayload: (422, "invalid-payload"),
    errors.InvalidQuery: (422, "invalid-query"),
    errors.Ambiguous: (409, "ambiguous"),
    errors.Unavailable: (503, "unavailable"),
    errors.InvalidConfiguration: (500, "invalid-configuration"),
}


class AuthProblem(Exception):
    """Raised by the auth dependency: 401 (who are you?) or 403 (not allowed)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def status_for(exc: errors.ProvenanceError) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500, "internal"


def problem(status: int, slug: str, title: str, detail: str, **extra: object) -> Response:
    body = {
        "type": f"urn:provenance:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    headers = {"WWW-Authenticate": 'Bearer realm="provenance"'} if status == 401 else None
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.ProvenanceError)
    async def _domain(request: Request, exc: errors.ProvenanceError) -> Response:
        status, slug = status_for(exc)
        extra = {"candidates": exc.candidates} if isinstance(exc, errors.Ambiguous) else {}
        return problem(status, slug, exc.title, exc.detail, **extra)

    @app.exception_handler(AuthProblem)
    async def _auth(request: Request, exc: AuthProblem) -> Response:
        if exc.status == 401:
            return problem(401, "unauthorized", "Unauthorized", exc.detail)
        return problem(403, "forbidden", "Forbidden", exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return problem(422, "invalid-request", "Invalid request", detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        answer = problem(
            exc.status_code, f"http-{exc.status_code}", str(exc.detail), str(exc.detail)
        )
        answer.headers.update(exc.headers or {})  # a 405 names what is allowed (`Allow`)
        return answer

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error", extra={"path": request.url.path})
        return problem(500, "internal", "Internal error", "an unexpected error was logged")
