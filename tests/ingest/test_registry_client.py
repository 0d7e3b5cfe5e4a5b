"""The registry client's two authentication schemes, against registries played by
`httpx.MockTransport`: basic credentials, and the bearer-token challenge of the Docker
token specification (Distribution, Docker Hub, Harbor, GHCR); then its retries of rate
limits (429 + `Retry-After`), server errors and transport errors, against a real HTTP
server on loopback."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stamina

from provenance.ingest.registry_client import RegistryClient, retry_after
from provenance.model.errors import Unavailable

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


@pytest.fixture(autouse=True)
def _no_backoff_waits() -> Iterator[None]:
    """Retries without their waits; each client's own number of attempts still holds."""
    with stamina.set_testing(True, attempts=1000, cap=True):
        yield


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


# --- retries (a real HTTP server on loopback) ----------------------------------------

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Seen:
    method: str
    path: str
    authorization: str | None
    at: float  # time.monotonic() when the server read it


@dataclass
class ScriptedRegistry:
    """Answers each path from its script in turn, the last answer over and over."""

    script: dict[str, list[Answer]]
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def answer(self, method: str, target: str, authorization: str | None) -> Answer:
        path = urlsplit(target).path
        self.seen.append(Seen(method, target, authorization, time.monotonic()))
        answers = self.script.get(path) or [(404, {}, b'{"errors":[]}')]
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


@pytest.fixture
def serve() -> Iterator[Callable[[dict[str, list[Answer]]], ScriptedRegistry]]:
    servers: list[ThreadingHTTPServer] = []

    def start(script: dict[str, list[Answer]]) -> ScriptedRegistry:
        registry = ScriptedRegistry(script)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._reply(with_body=True)

            def do_HEAD(self) -> None:
                self._reply(with_body=False)

            def _reply(self, *, with_body: bool) -> None:
                status, headers, body = registry.answer(
                    self.command, self.path, self.headers.get("authorization")
                )
                self.send_response(status)
                for key, value in {"content-type": "application/json", **headers}.items():
                    self.send_header(key, value.replace("{url}", registry.url))
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        registry.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return registry

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


TAGS = (200, {}, b'{"name":"acme/api","tags":["v1","v2"]}')


def _limited(seconds: str) -> Answer:
    return 429, {"retry-after": seconds}, b'{"errors":[{"code":"TOOMANYREQUESTS"}]}'


def test_a_rate_limit_waits_what_retry_after_asks(serve) -> None:
    registry = serve({"/v2/acme/api/tags/list": [_limited("2"), TAGS]})
    with stamina.set_testing(False), RegistryClient(registry.url) as client:
        assert client.tags("acme/api") == ["v1", "v2"]
    first, second = registry.seen
    assert second.at - first.at >= 2.0  # stamina's own first backoff is at most 1.1 s


def test_a_long_retry_after_is_cut_to_the_cap(serve) -> None:
    registry = serve({"/v2/acme/api/tags/list": [_limited("3600"), TAGS]})
    with stamina.set_testing(False), RegistryClient(registry.url, retry_after_max=0.2) as c:
        assert c.tags("acme/api") == ["v1", "v2"]
    first, second = registry.seen
    assert 0.2 <= second.at - first.at < 30


def test_retry_after_as_an_http_date(serve) -> None:
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    registry = serve({"/v2/acme/api/tags/list": [_limited(soon), TAGS]})
    with stamina.set_testing(False), RegistryClient(registry.url) as client:
        assert client.tags("acme/api") == ["v1", "v2"]
    first, second = registry.seen
    assert second.at - first.at >= 1.5  # whole seconds: 2 to 3 s away, over the backoff


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("Tue, 01 Dec 2026 12:00:30 GMT", 30.0),
        ("Tue, 01 Dec 2026 11:59:00 GMT", 0.0),  # already past: no wait
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_values(value: str | None, seconds: float | None) -> None:
    assert retry_after(value, now=datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)) == seconds


def test_server_errors_are_retried_then_succeed(serve) -> None:
    bad_gateway = (502, {}, b"bad gateway")
    unavailable = (503, {}, b'{"errors":[{"code":"UNAVAILABLE"}]}')
    registry = serve({"/v2/acme/api/tags/list": [bad_gateway, unavailable, TAGS]})
    with RegistryClient(registry.url) as client:
        assert client.tags("acme/api") == ["v1", "v2"]
    assert len(registry.seen) == 3


def test_retries_are_bounded_and_a_404_is_not_retried(serve) -> None:
    registry = serve(
        {"/v2/acme/api/tags/list": [(503, {}, b"{}")], "/v2/acme/api/manifests/v1": [_limited("0")]}
    )
    with RegistryClient(registry.url, retry_attempts=3) as client:
        with pytest.raises(Unavailable, match="503"):
            client.tags("acme/api")
        assert len(registry.seen) == 3
        with pytest.raises(Unavailable, match="429"):
            client.manifest_digest("acme/api", "v1")
        assert len(registry.seen) == 6
        assert client.tags("acme/gone") == []
        assert client.manifest_digest("acme/api", "gone") is None
    assert registry.paths()[6:] == ["/v2/acme/gone/tags/list?n=100", "/v2/acme/api/manifests/gone"]


def test_transport_errors_are_retried() -> None:
    calls: list[str] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) < 3:
            raise httpx.ReadTimeout("timed out", request=request)
        return _tags(request)

    with _client(flaky) as client:
        assert client.tags("acme/api") == ["v1", "v2"]
    assert len(calls) == 3

    def down(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        raise httpx.ConnectError("connection refused", request=request)

    calls.clear()
    with _client(down, retry_attempts=2) as client, pytest.raises(Unavailable, match="unreachable"):
        client.tags("acme/api")
    assert len(calls) == 2


def test_a_catalog_walk_over_http_with_a_token_pages_and_a_rate_limit(serve) -> None:
    """Distribution behind a token service, as Docker Hub is: the challenge, then the
    token reused for every page, a 429 in the middle of the walk, `Link` to the next page."""
    token = "tok-catalog"
    challenge = 'Bearer realm="{url}/token",service="registry.local",scope="registry:catalog:*"'
    unauthorized = (401, {"www-authenticate": challenge}, b'{"errors":[]}')
    page1 = (200, {"link": '</v2/_catalog?n=2&last=b>; rel="next"'}, b'{"repositories":["a","b"]}')
    page2 = (200, {}, b'{"repositories":["c"]}')
    registry = serve(
        {
            "/v2/_catalog": [unauthorized, page1, _limited("0"), page2],
            "/token": [(200, {}, b'{"token":"' + token.encode() + b'"}')],
        }
    )
    with RegistryClient(registry.url) as client:
        assert list(client.catalog(page=2)) == ["a", "b", "c"]
    assert [(s.path, s.authorization) for s in registry.seen] == [
        ("/v2/_catalog?n=2", None),
        ("/token?service=registry.local&scope=registry%3Acatalog%3A%2A", None),
        ("/v2/_catalog?n=2", f"Bearer {token}"),
        ("/v2/_catalog?n=2&last=b", f"Bearer {token}"),
        ("/v2/_catalog?n=2&last=b", f"Bearer {token}"),
    ]
