"""The Pub/Sub push token of the gar route, against a real certs endpoint on 127.0.0.1.

The tests play Google: they generate RSA keys, publish them as a JWKS (Google's v3) or as
Google's v1 document (kid -> PEM certificate) from a local HTTP server that counts its
requests, and sign their own RS256 tokens with google-auth's signer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

from provenance.model.errors import (
    InvalidConfiguration,
    ProvenanceError,
    RejectedInput,
    Unauthenticated,
    Unavailable,
)
from provenance.settings import Settings
from provenance.trust.pubsub import (
    GOOGLE_CERTS_URL,
    PubSubAuthConfig,
    PubSubIdentity,
    PubSubTokenVerifier,
    verifier_from_settings,
)

AUDIENCE = "https://provenance.example.com/v1/webhooks/gar"
ACCOUNT = "gar-push@acme-prod.iam.gserviceaccount.com"
KID, OTHER_KID = "key-1", "key-2"


# --- Google, played locally --------------------------------------------------------------


class CertsServer:
    """The certs endpoint: answers `document` with `status` and `headers`; counts requests."""

    def __init__(self) -> None:
        self.document: bytes = b"{}"
        self.status = 200
        self.headers: dict[str, str] = {}
        self.requests = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with owner._lock:
                    owner.requests += 1
                    status, document, headers = owner.status, owner.document, dict(owner.headers)
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(document)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(document)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/oauth2/certs"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def publish(self, document: dict[str, Any], **headers: str) -> None:
        self.document = json.dumps(document).encode()
        self.headers = {name.replace("_", "-"): value for name, value in headers.items()}

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class FakeClock:
    """The verifier's monotonic clock for its cache, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def jwks(keys: dict[str, rsa.RSAPrivateKey]) -> dict[str, Any]:
    return {
        "keys": [
            {
                "kty": "RSA",
                "alg": "RS256",
                "use": "sig",
                "kid": kid,
                "n": _uint(key.public_key().public_numbers().n),
                "e": _uint(key.public_key().public_numbers().e),
            }
            for kid, key in keys.items()
        ]
    }


def v1_certs(keys: dict[str, rsa.RSAPrivateKey]) -> dict[str, str]:
    """Google's v1 document: each key id -> a self-signed X.509 certificate in PEM."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accounts.google.com")])
    now = datetime.now(UTC)
    document = {}
    for kid, key in keys.items():
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        document[kid] = cert.public_bytes(serialization.Encoding.PEM).decode()
    return document


FORMATS = {"jwks": jwks, "v1": v1_certs}


def claims(**overrides: Any) -> dict[str, Any]:
    """What a Pub/Sub push token carries (cloud.google.com/pubsub/docs/authenticate-push)."""
    now = int(time.time())
    base = {
        "aud": AUDIENCE,
        "azp": "118020301234567890123",
        "email": ACCOUNT,
        "email_verified": True,
        "exp": now + 3600,
        "iat": now,
        "iss": "https://accounts.google.com",
        "sub": "118020301234567890123",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: rsa.RSAPrivateKey, payload: dict[str, Any], kid: str | None = KID) -> str:
    return jwt.encode(crypt.RSASigner(key, key_id=kid), payload).decode()


def unsigned(header: dict[str, Any], payload: Any, signature: bytes = b"sig") -> str:
    return ".".join(
        (_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()), _b64(signature))
    )


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def server() -> Iterator[CertsServer]:
    certs = CertsServer()
    yield certs
    certs.stop()


@pytest.fixture(params=sorted(FORMATS))
def published(request: pytest.FixtureRequest, server: CertsServer, key: rsa.RSAPrivateKey) -> str:
    """The server publishes `key` as KID, in each of the two formats Google serves."""
    server.publish(FORMATS[request.param]({KID: key}))
    return request.param


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def verifier(server: CertsServer, clock: FakeClock) -> Iterator[PubSubTokenVerifier]:
    config = PubSubAuthConfig(audience=AUDIENCE, service_account=ACCOUNT, certs_url=server.url)
    v = PubSubTokenVerifier(config, clock=clock)
    yield v
    v.close()


def refused(verifier: PubSubTokenVerifier, token: str, reason: str) -> Unauthenticated:
    """Asserts the token is refused for `reason`, and that no trace of it leaks."""
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token)
    assert caught.value.detail == reason
    printed = "".join(traceback.format_exception(caught.value))
    for part in token.split("."):
        if len(part) > 8:
            assert part not in printed, "the token leaked into the exception"
    return caught.value


# --- accepted ----------------------------------------------------------------------------


@pytest.mark.parametrize("issuer", ["https://accounts.google.com", "accounts.google.com"])
def test_a_valid_token_is_accepted(
    published: str, verifier: PubSubTokenVerifier, key: rsa.RSAPrivateKey, issuer: str
) -> None:
    payload = claims(iss=issuer)
    identity = verifier.verify(sign(key, payload))
    assert identity == PubSubIdentity(
        email=ACCOUNT,
        subject="118020301234567890123",
        expires=datetime.fromtimestamp(payload["exp"], tz=UTC),
        key_id=KID,
    )


def test_the_email_is_compared_without_case(
    published: str, verifier: PubSubTokenVerifier, key: rsa.RSAPrivateKey
) -> None:
    assert verifier.verify(sign(key, claims(email=ACCOUNT.upper()))).email == ACCOUNT.upper()


def test_a_token_just_past_its_expiry_is_accepted_within_the_clock_skew(
    published: str, verifier: PubSubTokenVerifier, key: rsa.RSAPrivateKey
) -> None:
    now = int(time.time())
    assert verifier.config.clock_skew_seconds == 10
    verifier.verify(sign(key, claims(iat=now - 3600, exp=now - 5)))
    verifier.verify(sign(key, claims(iat=now + 5)))  # the signer's clock is a little ahead


# --- refused, each for its reason --------------------------------------------------------


def test_an_expired_token_is_refused(
    published: str, verifier: PubSubTokenVerifier, key: rsa.RSAPrivateKey
) -> None:
    now = int(time.time())
    refused(verifier, sign(key, claims(iat=now - 7200, exp=now - 60)), "the token has expired")


def test_a_token_issued_in_the_future_is_refused(
    published: str, verifier: PubSubTokenVerifier, key: rsa.RSAPrivateKey
) -> None:
    now = int(time.time())
    token = sign(key, claims(iat=now + 600, exp=now + 4200))
    refused(verifier, token, "the token is not valid yet")


@pytest.mark.parametrize("audience", ["https://other.example.com/push", None, [AUDIENCE]])
def test_a_token_for_another_audience_is_refused(
    published: str, verifier: PubSubTokenVerifier, key: rsa.RSAPrivateKey, audience: Any
) -> None:
    token = sign(key, claims(aud=audience))
    refused(verifier, token, "the token is for another audience")


@pytest.mark.parametrize("email", ["someone-else@acme-prod.iam.gserviceaccount.com", None, 7])
def test_a_token_for_another_email_is_refused(
    published: str, verifier: PubSubTokenVerifier, key: rsa.RSAPrivateKey, email: Any
) -> None:
    token = sign(key, claims(email=email))
    refused(verifier, token, "the token is not for the configured service account")


@pytest.mark.parametrize("verified", [False, None, "false", 1])
def test_a_token_whose_email_is_not_verified_is_refused(
    published: str, verifier: PubSubTokenVerifier, key: rsa.RSAPrivateKey, verified: Any
) -> None:
    token = sign(key, claims(email_verified=verified))
    refused(verifier, token, "the token's email is not verified")


@pytest.mark.parametrize(
    "issuer", ["https://evil.example.com", "https://securetoken.google.com/acme", None, ""]
)
def test_a_token_from_another_issuer_is_refused(
    published: str, verifier: PubSubTokenVerifier, key: rsa.RSAPrivateKey, issuer: Any
) -> None:
    refused(verifier, sign(key, claims(iss=issuer)), "the token is not issued by Google")


def test_a_token_without_a_subject_is_refused(
    published: str, verifier: PubSubTokenVerifier, key: rsa.RSAPrivateKey
) -> None:
    refused(verifier, sign(key, claims(sub=None)), "the token has no subject")


def test_a_token_signed_by_another_key_under_a_published_kid_is_refused(
    published: str, verifier: PubSubTokenVerifier, other_key: rsa.RSAPrivateKey
) -> None:
    token = sign(other_key, claims(), kid=KID)
    refused(verifier, token, "the token's signature does not verify")


def test_a_token_with_altered_claims_is_refused(
    published: str, verifier: PubSubTokenVerifier, key: rsa.RSAPrivateKey
) -> None:
    header, _, signature = sign(key, claims(email="attacker@evil.example.com")).split(".")
    forged = ".".join((header, _b64(json.dumps(claims()).encode()), signature))
    refused(verifier, forged, "the token's signature does not verify")


def test_a_token_signed_by_an_unpublished_key_is_refused(
    published: str,
    server: CertsServer,
    verifier: PubSubTokenVerifier,
    other_key: rsa.RSAPrivateKey,
) -> None:
    token = sign(other_key, claims(), kid=OTHER_KID)
    refused(verifier, token, "the token is signed with a key Google does not publish")


def test_an_hmac_token_keyed_with_the_public_key_is_refused(
    published: str, server: CertsServer, verifier: PubSubTokenVerifier, key: rsa.RSAPrivateKey
) -> None:
    # The classic algorithm confusion: HS256 with the published PEM as the shared secret.
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = _b64(json.dumps({"alg": "HS256", "kid": KID, "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims()).encode())
    mac = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    refused(verifier, f"{head}.{body}.{_b64(mac)}", "the token is not signed with RS256")
    refused(
        verifier,
        unsigned({"alg": "none", "kid": KID}, claims()),
        "the token is not signed with RS256",
    )
    assert server.requests == 0  # refused before any key is looked up


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-token",
        "a.b",
        "a.b.c.d",
        "..",
        "e30.e30.",  # an empty signature
        "!!!.e30.c2ln",  # not base64url
        "e30.bm90IGpzb24.c2ln",  # payload not JSON
        "W10.e30.c2ln",  # header a JSON array
        "e30.W10.c2ln",  # payload a JSON array
        "eyJhbGciOiJSUzI1NiJ9.e30.c2ln\u00e9",  # not ASCII
        "a" * 9000 + ".e30.c2ln",  # far longer than any Google token
    ],
)
def test_a_malformed_token_is_refused(
    server: CertsServer, verifier: PubSubTokenVerifier, token: str
) -> None:
    refused(verifier, token, "the token is malformed")
    assert server.requests == 0


def test_a_token_without_a_key_id_is_refused(
    published: str, verifier: PubSubTokenVerifier, key: rsa.RSAPrivateKey
) -> None:
    refused(verifier, sign(key, claims(), kid=None), "the token names no signing key")


@pytest.mark.parametrize("claim", ["iat", "exp"])
@pytest.mark.parametrize("value", [None, "1700000000", True])
def test_a_token_without_numeric_times_is_refused(
    published: str, verifier: PubSubTokenVerifier, key: rsa.RSAPrivateKey, claim: str, value: Any
) -> None:
    token = sign(key, claims(**{claim: value}))
    refused(verifier, token, f"the token's {claim} claim is missing or not a number")


def test_unauthenticated_is_a_401_that_stores_nothing() -> None:
    # Not RejectedInput: the edge quarantines those, and a 401 must store nothing.
    assert issubclass(Unauthenticated, ProvenanceError)
    assert not issubclass(Unauthenticated, RejectedInput)
    assert Unauthenticated.title == "Unauthorized"


# --- the certs endpoint ------------------------------------------------------------------


def test_an_unreachable_certs_endpoint_is_unavailable_not_a_refusal(
    key: rsa.RSAPrivateKey,
) -> None:
    down = CertsServer()
    down.stop()  # nothing listens on its port any more
    config = PubSubAuthConfig(audience=AUDIENCE, service_account=ACCOUNT, certs_url=down.url)
    verifier = PubSubTokenVerifier(config)
    with pytest.raises(Unavailable) as caught:
        verifier.verify(sign(key, claims()))
    assert "127.0.0.1" not in caught.value.detail  # a 503 names no host
    verifier.close()


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (500, b"{}", "cannot be fetched (HTTP 500)"),
        (404, b"{}", "cannot be fetched (HTTP 404)"),
        (200, b"<html>", "is not JSON"),
        (200, b"[]", "holds no usable RSA key"),
        (200, b'{"key-1": "not a certificate"}', "holds no usable RSA key"),
        (200, b'{"keys": [{"kty": "EC", "kid": "key-1", "crv": "P-256"}]}', "no usable RSA key"),
    ],
)
def test_a_certs_endpoint_that_answers_nonsense_is_unavailable_until_it_recovers(
    server: CertsServer,
    verifier: PubSubTokenVerifier,
    key: rsa.RSAPrivateKey,
    status: int,
    body: bytes,
    reason: str,
) -> None:
    server.status, server.document = status, body
    token = sign(key, claims())
    with pytest.raises(Unavailable, match=re.escape(reason)):
        verifier.verify(token)
    server.status = 200
    server.publish(jwks({KID: key}))
    assert verifier.verify(token).email == ACCOUNT  # a failure is not cached
    assert server.requests == 2


def test_unusable_keys_are_skipped_and_the_others_used(
    server: CertsServer, verifier: PubSubTokenVerifier, key: rsa.RSAPrivateKey
) -> None:
    document = jwks({KID: key})
    document["keys"] += [
        {"kty": "RSA", "kid": "bad-n", "n": "!!", "e": "AQAB"},
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": document["keys"][0]["n"], "e": "AQAB"},
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        "not an object",
    ]
    server.publish(document)
    assert verifier.verify(sign(key, claims())).key_id == KID


def test_the_keys_are_fetched_once_for_many_verifications(
    published: str,
    server: CertsServer,
    verifier: PubSubTokenVerifier,
    key: rsa.RSAPrivateKey,
    other_key: rsa.RSAPrivateKey,
    clock: FakeClock,
) -> None:
    for i in range(40):
        verifier.verify(sign(key, claims(sub=f"subject-{i}")))
        with pytest.raises(Unauthenticated):
            verifier.verify(sign(other_key, claims(), kid=f"made-up-{i}"))
        clock.now += 0.5  # 20 s in all: inside the default TTL and the refetch interval
    assert server.requests == 1


def test_concurrent_requests_on_a_cold_cache_cost_one_fetch(
    published: str, server: CertsServer, verifier: PubSubTokenVerifier, key: rsa.RSAPrivateKey
) -> None:
    token = sign(key, claims())
    barrier = threading.Barrier(8)
    results: list[str] = []

    def run() -> None:
        barrier.wait()
        results.append(verifier.verify(token).email)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [ACCOUNT] * 8
    assert server.requests == 1


@pytest.mark.parametrize(
    ("headers", "fresh_for"),
    [
        ({"cache_control": "public, max-age=19563, must-revalidate, no-transform"}, 19563),
        ({"cache_control": "max-age=600", "age": "100"}, 500),
        ({}, 300),  # no Cache-Control: the default
        ({"cache_control": "no-cache"}, 30),  # floored at the refetch interval
        ({"cache_control": "max-age=0"}, 30),
        ({"cache_control": "max-age=9999999"}, 86_400),  # capped
    ],
)
def test_the_keys_are_kept_as_long_as_cache_control_says_within_bounds(
    server: CertsServer,
    verifier: PubSubTokenVerifier,
    key: rsa.RSAPrivateKey,
    clock: FakeClock,
    headers: dict[str, str],
    fresh_for: float,
) -> None:
    server.publish(jwks({KID: key}), **headers)
    token = sign(key, claims())
    start = clock.now
    verifier.verify(token)
    clock.now = start + fresh_for - 1
    verifier.verify(token)
    assert server.requests == 1
    clock.now = start + fresh_for
    verifier.verify(token)
    assert server.requests == 2


def test_an_unknown_key_id_refetches_once_for_a_rotation(
    published: str,
    server: CertsServer,
    verifier: PubSubTokenVerifier,
    key: rsa.RSAPrivateKey,
    other_key: rsa.RSAPrivateKey,
    clock: FakeClock,
) -> None:
    verifier.verify(sign(key, claims()))
    server.publish(FORMATS[published]({KID: key, OTHER_KID: other_key}))  # Google rotates
    rotated = sign(other_key, claims(), kid=OTHER_KID)
    # Just after a fetch an unknown kid does not refetch: made-up kids cannot drive fetches.
    refused(verifier, rotated, "the token is signed with a key Google does not publish")
    assert server.requests == 1
    clock.now += 30
    assert verifier.verify(rotated).key_id == OTHER_KID  # one refetch finds the new key
    assert server.requests == 2
    clock.now += 1
    refused(
        verifier,
        sign(other_key, claims(), kid="made-up"),
        "the token is signed with a key Google does not publish",
    )
    verifier.verify(rotated)
    assert server.requests == 2


def test_a_failed_refetch_for_an_unknown_key_id_is_not_retried_at_once(
    published: str,
    server: CertsServer,
    verifier: PubSubTokenVerifier,
    key: rsa.RSAPrivateKey,
    other_key: rsa.RSAPrivateKey,
    clock: FakeClock,
) -> None:
    token = sign(key, claims())
    verifier.verify(token)
    clock.now += 30
    server.status = 503
    made_up = sign(other_key, claims(), kid="made-up")
    with pytest.raises(Unavailable):
        verifier.verify(made_up)  # it may be a key Google just rotated in: try again later
    assert server.requests == 2
    refused(verifier, made_up, "the token is signed with a key Google does not publish")
    assert verifier.verify(token).key_id == KID  # the cached keys still serve
    assert server.requests == 2


def test_a_key_withdrawn_by_google_stops_verifying_after_the_cache_expires(
    published: str,
    server: CertsServer,
    verifier: PubSubTokenVerifier,
    key: rsa.RSAPrivateKey,
    other_key: rsa.RSAPrivateKey,
    clock: FakeClock,
) -> None:
    token = sign(key, claims())
    verifier.verify(token)
    server.publish(FORMATS[published]({OTHER_KID: other_key}))
    clock.now += 300
    refused(verifier, token, "the token is signed with a key Google does not publish")


# --- settings ----------------------------------------------------------------------------


def test_no_verifier_without_gar_settings() -> None:
    assert verifier_from_settings(Settings()) is None
    assert verifier_from_settings(Settings(gar_audience=" ", gar_service_account="")) is None


@pytest.mark.parametrize("settings", [{"gar_audience": AUDIENCE}, {"gar_service_account": ACCOUNT}])
def test_half_the_gar_settings_refuse_to_start(settings: dict[str, str]) -> None:
    with pytest.raises(InvalidConfiguration, match="set together"):
        verifier_from_settings(Settings(**settings))


def test_the_verifier_is_built_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, server: CertsServer, key: rsa.RSAPrivateKey
) -> None:
    assert Settings().google_certs_url == GOOGLE_CERTS_URL
    monkeypatch.setenv("PROVENANCE_GAR_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("PROVENANCE_GAR_SERVICE_ACCOUNT", ACCOUNT)
    monkeypatch.setenv("PROVENANCE_GOOGLE_CERTS_URL", server.url)
    verifier = verifier_from_settings(Settings())
    assert verifier is not None
    assert verifier.config == PubSubAuthConfig(
        audience=AUDIENCE, service_account=ACCOUNT, certs_url=server.url
    )
    server.publish(v1_certs({KID: key}))
    assert verifier.verify(sign(key, claims())).email == ACCOUNT
    verifier.close()


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"audience": ""}, "PROVENANCE_GAR_AUDIENCE"),
        ({"service_account": "not-an-email"}, "PROVENANCE_GAR_SERVICE_ACCOUNT"),
        ({"certs_url": "file:///etc/passwd"}, "PROVENANCE_GOOGLE_CERTS_URL"),
    ],
)
def test_an_unusable_configuration_refuses_to_start(fields: dict[str, str], reason: str) -> None:
    base = {"audience": AUDIENCE, "service_account": ACCOUNT}
    with pytest.raises(InvalidConfiguration, match=reason):
        PubSubAuthConfig(**{**base, **fields})
