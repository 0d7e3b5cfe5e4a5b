"""A client of the service's public HTTP API, for the CLI's `--server` mode.

Entry points: `ServiceClient.connect(url, token)`, then one method per question
(`artifact`, `timeline`, `lineage`, `blast_radius`, `audit_verify`, `export`, `ingest`,
`healthy`). Answers are the API's JSON, unchanged; failures are the domain's errors, so the
CLI maps both modes to exit codes in one place (`cli.exits`):

    HTTP 404                      -> NotFound
    HTTP 400, 422                 -> InvalidQuery
    HTTP 401, 403                 -> Unauthenticated
    HTTP 5xx, connect/read errors -> Unavailable
    a URL that is not http(s)     -> InvalidConfiguration

A route the service gains later (`search`, `retention`) is one method over `get_json`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import orjson

from provenance.model.errors import (
    InvalidConfiguration,
    InvalidQuery,
    NotFound,
    PayloadTooLarge,
    ProvenanceError,
    Unauthenticated,
    Unavailable,
)

Params = Mapping[str, str | int | bool | None]


def check_url(url: str) -> str:
    """`url` without a trailing slash, or InvalidConfiguration naming what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidConfiguration(
            f"--server / PROVENANCE_URL must be an http(s) URL such as http://127.0.0.1:8000, "
            f"not {url!r}"
        )
    try:
        _ = parts.port  # a port that is not a number raises here
    except ValueError as exc:
        raise InvalidConfiguration(f"--server / PROVENANCE_URL: bad port in {url!r}") from exc
    return url.strip().rstrip("/")


def _problem(response: httpx.Response) -> str:
    """The `detail` of an RFC 9457 problem, else the status line."""
    try:
        doc = response.json()
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("detail"), str):
        return str(doc["detail"])
    if isinstance(doc, dict) and isinstance(doc.get("detail"), list):  # FastAPI validation
        return "; ".join(str(d.get("msg", d)) for d in doc["detail"] if isinstance(d, dict))
    return f"HTTP {response.status_code} {response.reason_phrase}"


def _raise_for(response: httpx.Response, url: str) -> None:
    status = response.status_code
    if status < 400:
        return
    detail = _problem(response)
    error: type[ProvenanceError]
    if status == 404:
        error = NotFound
    elif status in (401, 403):
        error = Unauthenticated
        detail = f"{detail} (give --token or PROVENANCE_TOKEN)"
    elif status == 413:
        error = PayloadTooLarge
    elif status >= 500:
        error = Unavailable
        detail = f"{url} answered {status}: {detail}"
    else:
        error = InvalidQuery
    raise error(detail)


class ServiceClient:
    """One connection pool to one service; use as a context manager."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = check_url(url)
        headers = {"accept": "application/json", "user-agent": "provenance-cli"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )

    @classmethod
    def connect(cls, url: str, token: str | None = None) -> ServiceClient:
        return cls(url, token)

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- transport ---------------------------------------------------------------------

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException as exc:
            raise Unavailable(f"{self.url} did not answer in time") from exc
        except httpx.TransportError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise Unavailable(f"cannot reach {self.url}: {reason}") from exc

    def _send(
        self, method: str, path: str, *, params: Params | None = None, body: Any = None
    ) -> httpx.Response:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        with self._errors():
            response = self._http.request(
                method,
                path,
                params=query or None,
                content=orjson.dumps(body) if body is not None else None,
                headers={"content-type": "application/json"} if body is not None else None,
            )
        _raise_for(response, self.url)
        return response

    def get_json(self, path: str, params: Params | None = None) -> Any:
        return self._send("GET", path, params=params).json()

    def post_json(self, path: str, body: Any) -> Any:
        return self._send("POST", path, body=body).json()

    # --- the public API ----------------------------------------------------------------

    def healthy(self) -> bool:
        """Whether something answers /healthz with 200 (never raises)."""
        try:
            with self._errors():
                return self._http.get("/healthz", timeout=1.0).status_code == 200
        except Unavailable:
            return False

    def artifact(self, digest: str) -> dict[str, Any]:
        return dict(self.get_json(f"/v1/artifacts/{quote(digest, safe=':')}"))

    def search(self, q: str, *, limit: int = 50) -> dict[str, Any]:
        return dict(self.get_json("/v1/search", {"q": q, "limit": limit}))

    def retention(
        self, repository: str, *, unused_since: str | None = None, as_of: str | None = None
    ) -> dict[str, Any]:
        params = {"repository": repository, "unused_since": unused_since, "as_of": as_of}
        return dict(self.get_json("/v1/reports/retention", params))

    def timeline(self, digest: str, *, limit: int = 1000) -> list[dict[str, Any]]:
        doc = self.get_json(f"/v1/artifacts/{quote(digest, safe=':')}/timeline", {"limit": limit})
        return list(doc["events"])

    def lineage(self, digest: str, *, direction: str, depth: int) -> dict[str, Any]:
        return dict(
            self.get_json(
                f"/v1/artifacts/{quote(digest, safe=':')}/lineage",
                {"direction": direction, "depth": depth},
            )
        )

    def blast_radius(
        self, kind: str, value: str, *, as_of: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        body: dict[str, Any] = {kind: value, "limit": limit}
        if as_of is not None:
            body["as_of"] = as_of
        return dict(self.post_json("/v1/incidents/blast-radius", body))

    def audit_verify(self, *, full: bool = False) -> dict[str, Any]:
        return dict(self.get_json("/v1/audit/verify", {"full": "true" if full else None}))

    @contextmanager
    def export(self, params: Params) -> Iterator[Iterator[bytes]]:
        """The compliance export as a stream of byte chunks (errors raised before the first)."""
        query = {k: v for k, v in params.items() if v is not None}
        with self._errors(), self._http.stream("GET", "/v1/exports/compliance", params=query) as r:
            if r.status_code >= 400:
                r.read()
                _raise_for(r, self.url)
            yield self._chunks(r)

    def _chunks(self, response: httpx.Response) -> Iterator[bytes]:
        with self._errors():
            yield from response.iter_bytes()

    def ingest(
        self,
        source: str,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """POST one delivery to /v1/webhooks/{source}, as the source would send it."""
        sent = {**(headers or {}), "content-type": content_type}
        with self._errors():
            response = self._http.post(
                f"/v1/webhooks/{quote(source)}",
                content=body,
                headers=sent,
                params=dict(params) if params else None,
            )
        _raise_for(response, self.url)
        return dict(response.json())


__all__ = ["Params", "ServiceClient", "check_url"]
