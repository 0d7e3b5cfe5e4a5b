"""Liveness, readiness and Prometheus metrics (unauthenticated: probes carry no tokens)."""

from __future__ import annotations

from typing import Annotated

import anyio.from_thread
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from api.deps import Services, services
from provenance.errors import Unavailable
from provenance.store import log, projection

router = APIRouter(tags=["health"])
Svc = Annotated[Services, Depends(services)]
_READINESS = {
    "type": "object",
    "required": ["ready", "checks"],
    "properties": {"ready": {"type": "boolean"}, "checks": {"type": "object"}},
}


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_class=JSONResponse,
    responses={
        200: {"description": "Ready", "content": {"application/json": {"schema": _READINESS}}},
        503: {
            "description": "Not ready: the database (or Kafka) is unavailable",
            "content": {"application/json": {"schema": _READINESS}},
        },
    },
)
def readyz(svc: Svc) -> Response:
    checks: dict[str, object] = {}
    try:
        with svc.db.read() as session:
            seq, _ = log.head(session)
            lag = projection.lag(session)
        checks["database"] = {
            "ok": True,
            "dialect": svc.db.dialect,
            "log_entries": seq,
            "projection_lag": lag,
        }
        ok = True
    except Unavailable as exc:
        checks["database"] = {"ok": False, "error": exc.detail}
        ok = False
    checks["mode"] = "distributed" if svc.publisher is not None else "embedded"
    if svc.publisher is not None:
        try:
            checks["kafka"] = {"ok": True, **anyio.from_thread.run(svc.publisher.check)}
        except Unavailable as exc:
            checks["kafka"] = {"ok": False, "error": exc.detail}
            ok = False
    return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def metrics(svc: Svc) -> Response:
    try:
        with svc.db.read() as session:
            seq, _ = log.head(session)
            svc.metrics.log_entries.set(seq)
            svc.metrics.projection_lag.set(projection.lag(session))
    except Unavailable:
        pass  # readiness reports it; metrics still expose the counters
    return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4")
