"""Per-request plumbing: the request id, the access log line and the latency histogram.

`install(app, metrics)` adds one middleware (`AccessLog`). The request id is taken from the caller's
`X-Request-ID` when it is sane (a proxy or a sender already named the request), else
generated; it is echoed in the response's `X-Request-ID` and bound to every log line of the
request (`provenance.logs.bound`). One access line per request: method, route template
(never the raw path, which holds digests and `?token=`), status, duration, request id and,
for webhooks, the source.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import Metrics, method_label, source_label
from provenance.logs import bound

logger = logging.getLogger("provenance.access")

HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")  # no spaces or control characters in logs


def request_id(given: str | None) -> str:
    if given is not None and _SANE.fullmatch(given):
        return given
    return uuid.uuid4().hex


def install(app: FastAPI, metrics: Metrics) -> None:
    app.add_middleware(AccessLog, metrics=metrics)


class AccessLog:
    """A plain ASGI middleware, not `@app.middleware("http")`: Starlette's
    `BaseHTTPMiddleware` runs the app in a task of its own and hands the response over
    through a stream, a few event loop round trips per request (on a 2-CPU machine, half
    the latency of `GET /healthz`)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        rid = request_id(headers.get(HEADER))
        start = time.perf_counter()
        status = 500  # what the client sees if the app raises past the problem handlers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[HEADER] = rid
            await send(message)

        with bound(request_id=rid):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                self._record(scope, status, time.perf_counter() - start)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        method = method_label(scope["method"])
        self.metrics.latency.labels(route, method, str(status)).observe(elapsed)
        source = (scope.get("path_params") or {}).get("source")
        client = scope.get("client")
        logger.info(
            "%s %s %s",
            method,
            route,
            status,
            extra={
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                **({"source": source_label(source)} if source else {}),
                "client": client[0] if client else None,
            },
        )


__all__ = ["HEADER", "AccessLog", "install", "request_id"]
