"""The registry client's two authentication schemes, against registries played by
`httpx.MockTransport`: basic credentials, and the bearer-token challenge of the Docker
token specification (Distribution, Docker Hub, Harbor, GHCR)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from provenance.errors import Unavailable
from provenance.registry_client import RegistryClient

REGISTRY = "https://registry.example"
REALM = "https://auth.example/token"
MANIFEST = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _tags(request: httpx.Request) -> httpx.Response:
    repository = request.url.path.removeprefix("/v2/").removesuffix("/tags/list")
    return httpx.Response(200, json={"name": repository, "tags": ["v1", "v2"]})


@dataclass
class BasicRegistry:
    """Distribution with `auth: htpasswd`: 401 + `WWW-Authenticate: Basic` unless the
    credentials are right."""

    user: str = "ci"
    password: str = "s3cret"
    seen: list[str | None] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        given = request.headers.get("authorization")
        self.seen.append(given)
        if given != _basic(self.user, self.password):
            return httpx.Response(
                401, headers={"www-authenticate": 'Basic realm="Registry Realm"'}, json={}
            )
        return _tags(request)


@dataclass
class TokenRegistry:
    """A registry delegating to a token service: the challenge names realm, service and
    scope; the token service wants basic credentials (when `password` is set) and answers
    `{"token": ...}` (or OAuth2's `{"access_token": ...}`)."""

    password: str | None = None
    token_key: str = "token"
    token_status: int = 200
    token_requests: list[httpx.Request] = field(default_factory=list)
    registry_requests: list[httpx.Request] = field(default_factory=list)

    def token_for(self, scope: str) -> str:
        return "tok-" + hashlib.sha256(scope.encode()).hexdigest()[:12]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            return self.token_service(request)
        self.registry_requests.append(request)
        scope = self.scope_of(request)
        if request.headers.get("authorization") != f"Bearer {self.token_for(scope)}":
            challenge = f'Bearer realm="{REALM}",service="registry.example",scope="{scope}"'
            return httpx.Response(401, headers={"www-authenticate": challenge}, json={})
        if request.url.path == "/v2/_catalog":
            return httpx.Response(200, json={"repositories": ["acme/api"]})
        if "/manifests/" in request.url.path:
            headers = {"docker-content-digest": DIGEST} if request.method == "HEAD" else {}
            return httpx.Response(200, headers=headers, content=MANIFEST)
        return _tags(request)

    def token_service(self, request: httpx.Request) -> httpx.Response:
        self.token_requests.append(request)
        if self.password is not None and request.headers.get("authorization") != _basic(
            "robot", self.password
        ):
            return httpx.Response(401, json={"errors": [{"code": "UNAUTHORIZED"}]})
        if self.token_status != 200:
            return httpx.Response(self.token_status, json={})
        query = parse_qs(urlsplit(str(request.url)).query)
        assert query["service"] == ["registry.example"]
        return httpx.Response(200, json={self.token_key: self.token_for(query["scope"][0])})

    @staticmethod
    def scope_of(request: httpx.Request) -> str:
        path = request.url.path
        if path == "/v2/_catalog":
            return "registry:catalog:*"
        repository = path.removeprefix("/v2/").split("/tags/")[0].split("/manifests/")[0]
        return f"repository:{repository}:pull"


def _client(handler: Callable[[httpx.Request], httpx.Response], **kwargs: object) -> RegistryClient:
    return RegistryClient(REGISTRY, transport=httpx.MockTransport(handler), **kwargs)


# --- basic ---------------------------------------------------------------------------


def test_basic_credentials_go_with_every_request() -> None:
    registry = BasicRegistry()
    with _client(registry, username="ci", password="s3cret") as client:
        assert client.tags("acme/api") == ["v1", "v2"]
        assert client.tags("acme/web") == ["v1", "v2"]
    assert registry.seen == [_basic("ci", "s3cret")] * 2  # sent up front, no 401 round trip


@pytest.mark.parametrize(
    "credentials", [{}, {"username": "ci", "password": "wrong"}, {"username": "ci"}]
)
def test_missing_or_wrong_basic_credentials_are_unavailable(credentials: dict[str, str]) -> None:
    registry = BasicRegistry()
    with _client(registry, **credentials) as client, pytest.raises(Unavailable, match="401"):
        client.tags("acme/api")
    # a Basic challenge is not retried with the same (or no) credentials
    assert len(registry.seen) == 2


# --- bearer --------------------------------------------------------------------------


def test_bearer_challenge_fetches_a_token_per_scope_and_reuses_it() -> None:
    registry = TokenRegistry()
    with _client(registry) as client:
        assert client.tags("acme/api") == ["v1", "v2"]
        assert client.tags("acme/api") == ["v1", "v2"]
        assert list(client.catalog()) == ["acme/api"]
    scopes = [parse_qs(urlsplit(str(r.url)).query)["scope"] for r in registry.token_requests]
    assert scopes == [["repository:acme/api:pull"], ["registry:catalog:*"]]
    # 401, retry with the token; then the cached token straight away; then the catalog's
    assert [r.headers.get("authorization") for r in registry.registry_requests] == [
        None,
        f"Bearer {registry.token_for('repository:acme/api:pull')}",
        f"Bearer {registry.token_for('repository:acme/api:pull')}",
        None,
        f"Bearer {registry.token_for('registry:catalog:*')}",
    ]


def test_the_token_service_gets_the_basic_credentials() -> None:
    registry = TokenRegistry(password="robot-secret", token_key="access_token")
    with _client(registry, username="robot", password="robot-secret") as client:
        assert client.manifest_digest("acme/api", "v1") == DIGEST
    [token_request] = registry.token_requests
    assert token_request.headers["authorization"] == _basic("robot", "robot-secret")
    assert registry.registry_requests[-1].method == "HEAD"


@pytest.mark.parametrize(
    ("registry", "credentials"),
    [
        (TokenRegistry(password="robot-secret"), {"username": "robot", "password": "nope"}),
        (TokenRegistry(token_status=503), {}),
    ],
)
def test_no_token_means_unavailable(registry: TokenRegistry, credentials: dict[str, str]) -> None:
    with _client(registry, **credentials) as client, pytest.raises(Unavailable, match="401"):
        client.tags("acme/api")
    assert len(registry.token_requests) == 1


def test_a_configured_token_is_sent_as_bearer() -> None:
    registry = TokenRegistry()
    token = registry.token_for("repository:acme/api:pull")
    with _client(registry, token=token) as client:
        assert client.tags("acme/api") == ["v1", "v2"]
    assert registry.token_requests == []
    assert registry.registry_requests[0].headers["authorization"] == f"Bearer {token}"


def test_unreachable_token_service_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            raise httpx.ConnectError("connection refused", request=request)
        challenge = f'Bearer realm="{REALM}",service="registry.example"'
        return httpx.Response(401, headers={"www-authenticate": challenge})

    with _client(handler) as client, pytest.raises(Unavailable, match="token service"):
        client.tags("acme/api")


# --- what the client reads -----------------------------------------------------------


def test_manifest_digest_falls_back_to_hashing_the_body_and_404_is_none() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/manifests/gone"):
            return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})
        assert "application/vnd.oci.image.index.v1+json" in request.headers["accept"]
        return httpx.Response(200, content=b"" if request.method == "HEAD" else MANIFEST)

    with _client(handler) as client:
        assert client.manifest_digest("acme/api", "v1") == DIGEST
        assert client.manifest_digest("acme/api", "gone") is None


def test_tags_follow_the_link_header() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "last=v2" in str(request.url):
            return httpx.Response(200, json={"tags": ["v3"]})
        link = '</v2/acme/api/tags/list?n=2&last=v2>; rel="next"'
        return httpx.Response(200, headers={"link": link}, json={"tags": ["v1", "v2"]})

    with _client(handler) as client:
        assert client.tags("acme/api", page=2) == ["v1", "v2", "v3"]
