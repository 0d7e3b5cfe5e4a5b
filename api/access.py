"""Per-request plumbing: the request id, the access log line and the latency histogram.

`install(app, metrics)` adds one middleware. The request id is taken from the caller's
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
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import Response

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
    @app.middleware("http")
    async def _access(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        rid = request_id(request.headers.get(HEADER))
        start = time.perf_counter()
        status = 500  # what the client sees if the app raises past the problem handlers
        with bound(request_id=rid):
            try:
                response = await call_next(request)
                status = response.status_code
            finally:
                elapsed = time.perf_counter() - start
                route = getattr(request.scope.get("route"), "path", "unmatched")
                method = method_label(request.method)
                metrics.latency.labels(route, method, str(status)).observe(elapsed)
                source = request.path_params.get("source")
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
                        "client": request.client.host if request.client else None,
                    },
                )
        response.headers[HEADER] = rid
        return response


__all__ = ["HEADER", "install", "request_id"]
