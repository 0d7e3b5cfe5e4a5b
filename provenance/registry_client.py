"""A small client of the OCI distribution API: catalog, tags, manifest digests.

Handles the two ways registries authenticate: basic credentials, and the bearer-token
challenge (`WWW-Authenticate: Bearer realm=...,service=...,scope=...`) that Distribution,
Docker Hub, Harbor and GHCR use, fetching a token per scope when challenged.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from urllib.parse import urljoin, urlparse

import httpx

from provenance.errors import Unavailable

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


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
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`transport` replaces the network (tests use `httpx.MockTransport`)."""
        self.base = url.rstrip("/")
        self.host = urlparse(url).netloc
        self._basic = httpx.BasicAuth(username, password or "") if username is not None else None
        self._token = token
        self._tokens: dict[str, str] = {}
        self._http = httpx.Client(
            verify=verify, timeout=timeout, trust_env=False, transport=transport
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
            response = self._get(url, scope="registry:catalog:*")
            yield from response.json().get("repositories") or []
            url = self._next(response)

    def tags(self, repository: str, page: int = 100) -> list[str]:
        out: list[str] = []
        url: str | None = f"{self.base}/v2/{repository}/tags/list?n={page}"
        while url:
            response = self._get(url, scope=f"repository:{repository}:pull", missing_ok=True)
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

    def _get(self, url: str, *, scope: str, missing_ok: bool = False) -> httpx.Response:
        return self._request("GET", url, scope=scope, missing_ok=missing_ok)

    def _request(self, method: str, url: str, *, scope: str, missing_ok: bool) -> httpx.Response:
        headers = {"accept": MANIFEST_TYPES}
        try:
            response = self._http.request(method, url, headers=headers | self._auth(scope))
            if response.status_code == 401:
                self._authenticate(response, scope)
                response = self._http.request(method, url, headers=headers | self._auth(scope))
        except httpx.HTTPError as exc:
            raise Unavailable(f"registry {self.host} unreachable: {exc}") from exc
        if response.status_code == 404 and missing_ok:
            return response
        if response.is_error:
            raise Unavailable(f"registry {self.host} answered {response.status_code} for {url}")
        return response

    def _auth(self, scope: str) -> dict[str, str]:
        token = self._tokens.get(scope) or self._token
        if token:
            return {"authorization": f"Bearer {token}"}
        if self._basic is not None:
            request = next(self._basic.sync_auth_flow(httpx.Request("GET", self.base)))
            return {"authorization": request.headers["authorization"]}
        return {}

    def _authenticate(self, challenge: httpx.Response, scope: str) -> None:
        header = challenge.headers.get("www-authenticate", "")
        if not header.lower().startswith("bearer"):
            return  # basic: credentials were already sent, nothing else to try
        params = dict(_CHALLENGE.findall(header))
        realm = params.pop("realm", None)
        if realm is None:
            return
        params.setdefault("scope", scope)
        try:
            response = self._http.get(realm, params=params, auth=self._basic)
        except httpx.HTTPError as exc:
            raise Unavailable(f"token service {realm} unreachable: {exc}") from exc
        if response.is_success:
            body = response.json()
            token = body.get("token") or body.get("access_token")
            if isinstance(token, str):
                self._tokens[scope] = token

    def _next(self, response: httpx.Response) -> str | None:
        link = response.headers.get("link")
        if not link:
            return None
        match = re.match(r"\s*<([^>]+)>", link)
        return urljoin(self.base + "/", match.group(1)) if match else None


__all__ = ["RegistryClient"]
