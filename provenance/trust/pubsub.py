"""The credential of the `gar` route: the OIDC token Google signs for a Pub/Sub push subscription.

Entry points:
    PubSubTokenVerifier(config).verify(token) -> PubSubIdentity   (or raises Unauthenticated)
    PubSubAuthConfig      audience, service-account email, certs URL and the cache's bounds
    verifier_from_settings(settings) -> PubSubTokenVerifier | None

google-auth decides (signature, `iat`/`exp` with clock skew, audience); this module adds what
it leaves to callers (the issuer, `email`, `email_verified`, RS256 only, a named key) and a
cache of Google's signing keys. The certs URL may serve Google's v1 document (kid -> PEM
certificate) or a JWKS (`{"keys": [...]}`, Google's v3): a JWK is turned into a PEM public key
here, so both take google-auth's one code path and no JWT library is needed beside it.

The token is a credential: it never appears in a log line, an error detail or an exception's
cause chain (google-auth's messages quote token segments, so its errors are raised `from None`).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers
from google.auth import crypt, jwt
from google.auth import exceptions as google_exceptions

from provenance.model.errors import InvalidConfiguration, Unauthenticated, Unavailable

if TYPE_CHECKING:
    from provenance.settings import Settings

logger = logging.getLogger(__name__)

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
# Google's tokens are about 1 KB; anything far larger is not one and is not parsed.
MAX_TOKEN_CHARS = 8192
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PubSubAuthConfig:
    audience: str  # PROVENANCE_GAR_AUDIENCE: the push subscription's configured audience
    service_account: str  # PROVENANCE_GAR_SERVICE_ACCOUNT: the email the token must carry
    certs_url: str = GOOGLE_CERTS_URL  # PROVENANCE_GOOGLE_CERTS_URL
    clock_skew_seconds: int = 10  # allowed on `iat` and `exp` (google-auth applies it)
    default_max_age: float = 300.0  # keys are kept this long when Cache-Control says nothing
    max_max_age: float = 86_400.0  # and never longer than this, whatever it says
    # The least time between two fetches: bounds what made-up key ids or a certs endpoint
    # answering `max-age=0` can cost. Google publishes a new key well before it signs with it.
    min_refetch_seconds: float = 30.0
    fetch_timeout: float = 5.0

    def __post_init__(self) -> None:
        if not self.audience:
            raise InvalidConfiguration("PROVENANCE_GAR_AUDIENCE is empty")
        if "@" not in self.service_account:
            raise InvalidConfiguration("PROVENANCE_GAR_SERVICE_ACCOUNT is not an email address")
        if not self.certs_url.startswith(("https://", "http://")):
            raise InvalidConfiguration("PROVENANCE_GOOGLE_CERTS_URL is not an http(s) URL")


@dataclass(frozen=True, slots=True)
class PubSubIdentity:
    """Who signed a verified push: the service account, its unique id, when the token ends."""

    email: str
    subject: str
    expires: datetime  # aware UTC
    key_id: str


@dataclass(frozen=True, slots=True)
class _Keys:
    pems: Mapping[str, str]  # kid -> PEM (a certificate from v1, a public key from a JWK)
    expires: float  # on the verifier's monotonic clock


@dataclass(frozen=True, slots=True)
class _Token:
    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    signed: bytes
    signature: bytes


class PubSubTokenVerifier:
    """Verifies push tokens; thread-safe (FastAPI runs plain routes in a thread pool).

    One fetch of the keys serves every request until Cache-Control's max-age runs out; a key
    id not in the cache refetches once (at most every `min_refetch_seconds`), for rotations.
    """

    def __init__(
        self,
        config: PubSubAuthConfig,
        *,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._client = client or httpx.Client(timeout=config.fetch_timeout)
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: _Keys | None = None
        self._attempted = float("-inf")  # the last fetch, whether it succeeded or not

    def close(self) -> None:
        self._client.close()

    def verify(self, token: str) -> PubSubIdentity:
        """The identity in a valid token; `Unauthenticated` (401) for any other token,
        `Unavailable` (503) when the signing keys cannot be fetched."""
        parsed = _parse(token)
        if parsed.header.get("alg") != "RS256":
            raise Unauthenticated("the token is not signed with RS256")
        kid = parsed.header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("the token names no signing key")
        for claim in ("iat", "exp"):
            if not _is_number(parsed.claims.get(claim)):
                raise Unauthenticated(f"the token's {claim} claim is missing or not a number")
        pem = self._key(kid)
        skew = self.config.clock_skew_seconds
        try:
            claims = _google_decode(token, {kid: pem}, self.config.audience, skew)
        except (ValueError, TypeError, google_exceptions.GoogleAuthError):
            raise Unauthenticated(_why_refused(parsed, pem, self.config.audience, skew)) from None
        return _identity(claims, kid, self.config.service_account)

    # --- the key cache -------------------------------------------------------------------

    def _key(self, kid: str) -> str:
        # Held across the fetch, so concurrent requests on a cold cache cost one fetch.
        with self._lock:
            now = self._clock()
            keys = self._keys
            if (
                keys is None
                or now >= keys.expires
                # an unknown kid may be a key Google has just rotated in
                or (
                    kid not in keys.pems
                    and now - self._attempted >= self.config.min_refetch_seconds
                )
            ):
                keys = self._refresh(now)
        pem = keys.pems.get(kid)
        if pem is None:
            raise Unauthenticated("the token is signed with a key Google does not publish")
        return pem

    def _refresh(self, now: float) -> _Keys:
        self._attempted = now
        pems, max_age = self._fetch()
        ttl = min(max(max_age, self.config.min_refetch_seconds), self.config.max_max_age)
        self._keys = _Keys(pems=pems, expires=now + ttl)
        logger.debug("pubsub signing keys fetched", extra={"keys": len(pems), "ttl": ttl})
        return self._keys

    def _fetch(self) -> tuple[dict[str, str], float]:
        # Details name no host: a 503 tells an outsider nothing about the deployment.
        try:
            response = self._client.get(
                self.config.certs_url, headers={"accept": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise Unavailable("Google's token-signing keys cannot be fetched") from exc
        if response.status_code != 200:
            raise Unavailable(
                f"Google's token-signing keys cannot be fetched (HTTP {response.status_code})"
            )
        try:
            document = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise Unavailable("the token-signing keys document is not JSON") from exc
        pems = _pems(document)
        if not pems:
            raise Unavailable("the token-signing keys document holds no usable RSA key")
        return pems, _max_age(response.headers, self.config.default_max_age)


def verifier_from_settings(settings: Settings) -> PubSubTokenVerifier | None:
    """The gar route's verifier, or None when neither audience nor service account is set."""
    audience, account = settings.gar_audience, settings.gar_service_account
    if audience is None and account is None:
        return None
    if audience is None or account is None:
        raise InvalidConfiguration(
            "PROVENANCE_GAR_AUDIENCE and PROVENANCE_GAR_SERVICE_ACCOUNT are set together or not"
            " at all"
        )
    config = PubSubAuthConfig(
        audience=audience, service_account=account, certs_url=settings.google_certs_url
    )
    return PubSubTokenVerifier(config)


# --- the token ---------------------------------------------------------------------------


def _parse(token: str) -> _Token:
    """The unverified parts, parsed strictly: what is not a compact JWS goes no further."""
    if not isinstance(token, str) or not token.isascii() or len(token) > MAX_TOKEN_CHARS:
        raise Unauthenticated("the token is malformed")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise Unauthenticated("the token is malformed")
    try:
        header = orjson.loads(_b64(parts[0]))
        claims = orjson.loads(_b64(parts[1]))
        signature = _b64(parts[2])
    except (binascii.Error, ValueError):
        raise Unauthenticated("the token is malformed") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise Unauthenticated("the token is malformed")
    return _Token(header, claims, f"{parts[0]}.{parts[1]}".encode(), signature)


def _b64(segment: str) -> bytes:
    padded = segment + "=" * (-len(segment) % 4)
    return base64.b64decode(padded, altchars=b"-_", validate=True)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _google_decode(
    token: str, certs: Mapping[str, str], audience: str, skew: int
) -> Mapping[str, Any]:
    # google-auth ships py.typed but leaves its functions unannotated.
    claims: Mapping[str, Any] = jwt.decode(  # type: ignore[no-untyped-call]
        token, certs=certs, verify=True, audience=audience, clock_skew_in_seconds=skew
    )
    return claims


def _why_refused(token: _Token, pem: str, audience: str, skew: int) -> str:
    """Says why google-auth refused the token; the decision is google-auth's, not this."""
    verifier = crypt.RSAVerifier.from_string(pem)  # type: ignore[no-untyped-call]
    if not verifier.verify(token.signed, token.signature):
        return "the token's signature does not verify"
    now = time.time()
    if token.claims["exp"] + skew < now:
        return "the token has expired"
    if token.claims["iat"] - skew > now:
        return "the token is not valid yet"
    if token.claims.get("aud") != audience:
        return "the token is for another audience"
    return "the token is not valid"


def _identity(claims: Mapping[str, Any], kid: str, service_account: str) -> PubSubIdentity:
    # Checked only now that the signature holds: before it, claims are anyone's words.
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise Unauthenticated("the token is not issued by Google")
    email = claims.get("email")
    if not isinstance(email, str) or email.casefold() != service_account.casefold():
        raise Unauthenticated("the token is not for the configured service account")
    # Google sends a boolean; some of its older token kinds sent the string "true".
    verified = claims.get("email_verified")
    if verified is not True and verified != "true":
        raise Unauthenticated("the token's email is not verified")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated("the token has no subject")
    try:
        expires = datetime.fromtimestamp(claims["exp"], tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise Unauthenticated("the token's exp claim is out of range") from None
    return PubSubIdentity(email=email, subject=subject, expires=expires, key_id=kid)


# --- the keys document -------------------------------------------------------------------


def _pems(document: object) -> dict[str, str]:
    """kid -> PEM from a v1 document or a JWKS; keys that are not usable RSA keys are left out."""
    if isinstance(document, dict) and isinstance(document.get("keys"), list):
        candidates = [_jwk_pem(jwk) for jwk in document["keys"]]
        pairs = [pair for pair in candidates if pair is not None]
    elif isinstance(document, dict):
        pairs = [(k, v) for k, v in document.items() if isinstance(v, str)]
    else:
        return {}
    pems: dict[str, str] = {}
    for kid, pem in pairs:
        try:
            crypt.RSAVerifier.from_string(pem)  # type: ignore[no-untyped-call]
        except (ValueError, TypeError):
            logger.warning("unusable token-signing key skipped", extra={"kid": kid})
            continue
        pems[kid] = pem
    return pems


def _jwk_pem(jwk: object) -> tuple[str, str] | None:
    if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
        return None
    kid, n, e = jwk.get("kid"), jwk.get("n"), jwk.get("e")
    if not (isinstance(kid, str) and kid and isinstance(n, str) and isinstance(e, str)):
        return None
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
        return None
    try:
        numbers = RSAPublicNumbers(
            e=int.from_bytes(_b64(e), "big"), n=int.from_bytes(_b64(n), "big")
        )
        key = numbers.public_key()
    except (binascii.Error, ValueError):
        logger.warning("unusable token-signing key skipped", extra={"kid": kid})
        return None
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return kid, pem.decode()


def _max_age(headers: httpx.Headers, default: float) -> float:
    """Seconds the document stays fresh: Cache-Control's max-age less its Age, else default."""
    control = headers.get("cache-control", "")
    if "no-store" in control.lower() or "no-cache" in control.lower():
        return 0.0
    match = _MAX_AGE.search(control)
    if match is None:
        return default
    age = headers.get("age", "0")
    return max(float(match.group(1)) - (float(age) if age.isdigit() else 0.0), 0.0)


__all__ = [
    "GOOGLE_CERTS_URL",
    "GOOGLE_ISSUERS",
    "MAX_TOKEN_CHARS",
    "PubSubAuthConfig",
    "PubSubIdentity",
    "PubSubTokenVerifier",
    "verifier_from_settings",
]
