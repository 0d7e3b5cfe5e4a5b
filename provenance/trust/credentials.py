"""Who may deliver: a bearer token on every ingest route, one alternative per source.

    ALTERNATIVES[source] -> Alternative   the one non-bearer credential a source may use,
                                          valid on that source's route only
    verify_github_signature(body, header, secret)
                                          raise BadSignature unless X-Hub-Signature-256 is
                                          the body's HMAC-SHA256 under the secret
    matches(presented, expected)          constant-time comparison of two secrets
    URL_TOKEN_PARAM                       the query parameter of dockerhub and quay (never
                                          stored: `without_credentials` drops it)

Sources that cannot set an Authorization header each get one alternative: GitHub signs
its webhooks, Docker Hub and Quay can only be given a URL, and Pub/Sub push sends a
Google-signed OIDC token (`provenance.trust.pubsub`). Anything else is a 401 that stores
nothing, checked before the body is read (the HMAC needs the body, bounded by the size
limit, and still stores nothing when it fails).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from enum import StrEnum

from provenance.model.errors import BadSignature

URL_TOKEN_PARAM = "token"  # noqa: S105 - the name of a parameter, not a secret


class Alternative(StrEnum):
    GITHUB_SIGNATURE = "github-signature"  # X-Hub-Signature-256 over the raw body
    URL_TOKEN = "url-token"  # noqa: S105 - ?token=<ingest token> in the webhook URL
    PUBSUB_OIDC = "pubsub-oidc"  # Authorization: Bearer <Google-signed OIDC token>


ALTERNATIVES: Mapping[str, Alternative] = {
    "ghcr": Alternative.GITHUB_SIGNATURE,
    "dockerhub": Alternative.URL_TOKEN,
    "quay": Alternative.URL_TOKEN,
    "gar": Alternative.PUBSUB_OIDC,
}


def matches(presented: str, expected: str | None) -> bool:
    """Constant time on bytes, whatever the length of the guess."""
    if expected is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8", "replace"), expected.encode())


def verify_github_signature(body: bytes, header: str | None, secret: bytes) -> None:
    """Raise BadSignature unless `header` is `sha256=` + the hex HMAC-SHA256 of `body`."""
    if not header:
        raise BadSignature("X-Hub-Signature-256 header is missing")
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), header.strip().encode("utf-8", "replace")):
        raise BadSignature("X-Hub-Signature-256 does not match the body")


def without_credentials(params: Mapping[str, str]) -> dict[str, str]:
    """Query parameters as the log keeps them: the URL token is a credential, not evidence."""
    return {k: v for k, v in params.items() if k != URL_TOKEN_PARAM}


__all__ = [
    "ALTERNATIVES",
    "URL_TOKEN_PARAM",
    "Alternative",
    "matches",
    "verify_github_signature",
    "without_credentials",
]
