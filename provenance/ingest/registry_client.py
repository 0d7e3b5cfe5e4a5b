"""A small client of the OCI distribution API: catalog, tags, manifest digests.

Authentication is an `httpx.Auth` flow (`RegistryAuth`): basic credentials, a configured
token, or the bearer-token challenge (`WWW-Authenticate: Bearer realm=...,service=...,
scope=...`) that Distribution, Docker Hub, Harbor and GHCR use, fetching a token per scope
when challenged and reusing it. Pages follow `Link: <...>; rel="next"` (`Response.links`).
Rate limits (429) and server errors (5xx) and transport errors are retried with stamina, a
bounded number of attempts, waiting what `Retry-After` asks (seconds or an HTTP date) up
to a cap, else an exponential backoff: Docker Hub and GHCR rate-limit catalog walks.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlparse

import httpx
import stamina

from provenance.model.errors import Unavailable

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
RETRY_ATTEMPTS = 5
RETRY_AFTER_MAX = 30.0  # seconds: a longer Retry-After is cut to this (the walk is interactive)
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
_SCOPE = "provenance.scope"  # the request extension naming the token scope a call needs


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` in seconds from now: delta-seconds or an HTTP date (RFC 9110 10.2.3);
    None when absent or unreadable, so the caller falls back to its backoff."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


class RegistryAuth(httpx.Auth):
    """The Docker token specification as an httpx auth flow.

    Sends the cached token of the request's scope (else the configured token, else basic
    credentials); on a 401 with a Bearer challenge, asks the challenge's realm for a token
    of that scope (with the basic credentials, when there are any), caches it and sends
    the request once more. Any other 401 is sent once more as it was, and the second 401
    is the answer.
    """

    requires_response_body = True  # the token service's JSON answer is read in the flow

    def __init__(
        self, *, username: str | None = None, password: str | None = None, token: str | None
    ) -> None:
        self._basic = httpx.BasicAuth(username, password or "") if username is not None else None
        self._token = token
        self._tokens: dict[str, str] = {}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        scope = str(request.extensions.get(_SCOPE, ""))
        response = yield self._authorized(request, scope)
        if response.status_code != 401:
            return
        header = response.headers.get("www-authenticate", "")
        params = dict(_CHALLENGE.findall(header))
        realm = params.pop("realm", None)
        if header.lower().startswith("bearer") and realm is not None:
            if scope:
                params.setdefault("scope", scope)
            ask = httpx.Request("GET", realm, params=params)
            if self._basic is not None:
                ask = next(self._basic.auth_flow(ask))
            token = _token_of((yield ask))
            if token is not None:
                self._tokens[scope] = token
        # Once more, with the new token if there is one; a second 401 is the answer.
        yield self._authorized(request, scope)

    def _authorized(self, request: httpx.Request, scope: str) -> httpx.Request:
        """A copy of `request` with the credentials of `scope`: each send is its own
        request, as sent (the retry after a challenge differs from the first try)."""
        out = httpx.Request(
            request.method,
            request.url,
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        token = self._tokens.get(scope) or self._token
        if token:
            out.headers["authorization"] = f"Bearer {token}"
            return out
        if self._basic is not None:
            return next(self._basic.auth_flow(out))
        return out


def _token_of(answer: httpx.Response) -> str | None:
    if not answer.is_success:
        return None
    try:
        body = answer.json()
    except ValueError:
        return None
    token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
    return token if isinstance(token, str) and token else None


class RegistryClient:
    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        verify: bool = True,
        timeout: float = 10.0,
        retry_attempts: int = RETRY_ATTEMPTS,
        retry_after_max: float = RETRY_AFTER_MAX,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`transport` replaces the network (tests use `httpx.MockTransport`)."""
        self.base = url.rstrip("/")
        self.host = urlparse(url).netloc
        self._attempts = retry_attempts
        self._retry_after_max = retry_after_max
        self._http = httpx.Client(
            auth=RegistryAuth(username=username, password=password, token=token),
            verify=verify,
            timeout=timeout,
            trust_env=False,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- API ---------------------------------------------------------------------------

    def catalog(self, page: int = 100) -> Iterator[str]:
        url: str | None = f"{self.base}/v2/_catalog?n={page}"
        while url:
            response = self._request("GET", url, scope="registry:catalog:*")
            yield from response.json().get("repositories") or []
            url = self._next(response)

    def tags(self, repository: str, page: int = 100) -> list[str]:
        out: list[str] = []
        url: str | None = f"{self.base}/v2/{repository}/tags/list?n={page}"
        while url:
            response = self._request(
                "GET", url, scope=f"repository:{repository}:pull", missing_ok=True
            )
            if response.status_code == 404:
                return out
            out.extend(response.json().get("tags") or [])
            url = self._next(response)
        return out

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest `reference` (tag or digest) resolves to; None when it does not exist."""
        url = f"{self.base}/v2/{repository}/manifests/{reference}"
        scope = f"repository:{repository}:pull"
        response = self._request("HEAD", url, scope=scope, missing_ok=True)
        if response.status_code == 404:
            return None
        digest: str | None = response.headers.get("docker-content-digest")
        if digest:
            return digest
        body = self._request("GET", url, scope=scope, missing_ok=True)
        if body.status_code == 404:
            return None
        return "sha256:" + hashlib.sha256(body.content).hexdigest()

    # --- plumbing ----------------------------------------------------------------------

    def _request(
        self, method: str, url: str, *, scope: str, missing_ok: bool = False
    ) -> httpx.Response:
        """One call, retried on 429, 5xx and transport errors (every call here is a GET or
        HEAD, so repeating it is safe)."""
        try:
            for attempt in stamina.retry_context(
                on=self._backoff, attempts=self._attempts, timeout=None
            ):
                with attempt:
                    response = self._http.request(
                        method, url, headers={"accept": MANIFEST_TYPES}, extensions={_SCOPE: scope}
                    )
                    if _retryable(response.status_code):
                        response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            response = exc.response  # still 429/5xx after the last attempt: reported below
        except httpx.HTTPError as exc:
            where = exc.request.url if isinstance(exc, httpx.RequestError) else None
            if where is not None and where.netloc.decode() != self.host:
                raise Unavailable(f"token service {where} unreachable: {exc}") from exc
            raise Unavailable(f"registry {self.host} unreachable: {exc}") from exc
        if response.status_code == 404 and missing_ok:
            return response
        if response.is_error:
            raise Unavailable(f"registry {self.host} answered {response.status_code} for {url}")
        return response

    def _backoff(self, exc: Exception) -> bool | float:
        """stamina's hook: retry transport errors and 429/5xx; a `Retry-After` (capped)
        replaces the exponential backoff."""
        if isinstance(exc, httpx.TransportError):
            return True
        if not isinstance(exc, httpx.HTTPStatusError) or not _retryable(exc.response.status_code):
            return False
        wait = retry_after(exc.response.headers.get("retry-after"))
        return True if wait is None else min(wait, self._retry_after_max)

    def _next(self, response: httpx.Response) -> str | None:
        link = response.links.get("next", {}).get("url")
        return urljoin(self.base + "/", link) if link else None


__all__ = ["RETRY_AFTER_MAX", "RETRY_ATTEMPTS", "RegistryAuth", "RegistryClient", "retry_after"]
