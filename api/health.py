"""Liveness, readiness and Prometheus metrics (unauthenticated: probes carry no tokens)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import anyio.from_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from api.deps import Services, services
from api.trust import signer
from provenance.model.errors import InvalidConfiguration, Unavailable
from provenance.model.timeutil import utcnow
from provenance.query import health

router = APIRouter(tags=["health"])
Svc = Annotated[Services, Depends(services)]
_READINESS = {
    "type": "object",
    "required": ["ready", "checks"],
    "properties": {"ready": {"type": "boolean"}, "checks": {"type": "object"}},
}


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    # On the event loop: alive is answered even while every threadpool worker is busy.
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
def readyz(svc: Svc, request: Request) -> Response:
    checks: dict[str, object] = {}
    set_aside = 0
    try:
        with svc.db.read() as session:
            seq, _ = health.log_head(session)
            lag = health.projection_lag(session)
            set_aside = health.set_aside(session)
        checks["database"] = {
            "ok": True,
            "dialect": svc.db.dialect,
            "log_entries": seq,
            "projection_lag": lag,
        }
        # Ready (the service takes and keeps deliveries) but degraded: accepted entries
        # the graph could not take, listed by GET /v1/quarantine?kind=projection.
        checks["projection"] = {"ok": set_aside == 0, "set_aside": set_aside}
        ok = True
    except Unavailable as exc:
        checks["database"] = {"ok": False, "error": exc.detail}
        ok = False
    # Checkpoints and signed exports need the service key: without one (PostgreSQL and no
    # PROVENANCE_SIGNING_KEY) they answer 503, so the service is not ready to be relied on.
    try:
        key = signer(request)
        checks["signing"] = {"ok": True, "keyid": key.keyid, "origin": key.origin}
    except (Unavailable, InvalidConfiguration) as exc:
        checks["signing"] = {"ok": False, "error": exc.detail}
        ok = False
    checks["mode"] = "distributed" if svc.publisher is not None else "embedded"
    if svc.publisher is not None:
        try:
            checks["kafka"] = {"ok": True, **anyio.from_thread.run(svc.publisher.check)}
        except Unavailable as exc:
            checks["kafka"] = {"ok": False, "error": exc.detail}
            ok = False
    status = "unavailable" if not ok else "degraded" if set_aside else "ready"
    return JSONResponse(
        {"ready": ok, "status": status, "checks": checks}, status_code=200 if ok else 503
    )


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
            seq, _ = health.log_head(session)
            lag = health.projection_lag(session)
            svc.metrics.log_entries.set(seq)
            svc.metrics.projection_lag.set(lag)
            svc.metrics.projection_set_aside.set(health.set_aside(session))
            # The oldest entry the graph has not taken yet (in distributed mode each
            # partition's cursor moves on its own: not simply the one after the cursor).
            oldest = health.oldest_pending(session) if lag > 0 else None
            age = (utcnow() - _aware(oldest.received_at)).total_seconds() if oldest else 0.0
            svc.metrics.projection_lag_seconds.set(max(age, 0.0))
    except Unavailable:
        pass  # readiness reports it; metrics still expose the counters
    return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite drops the offset
