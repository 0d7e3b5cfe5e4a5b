"""The domain's error tree. The core raises only these; the edges translate them.

    ProvenanceError
    ├── RejectedInput            a delivery refused for its content; always quarantined
    │   ├── Unparseable          not JSON / not decodable                      -> 400
    │   ├── InvalidPayload       parseable, or cannot be stored as sent         -> 422
    │   └── UnsupportedMedia     a content type the source never sends         -> 415
    ├── Unauthenticated          no valid credentials (a token, a Pub/Sub push
    │   │                        OIDC token): nothing is stored                 -> 401
    │   └── BadSignature         HMAC missing or wrong (GitHub)                 -> 401
    ├── PayloadTooLarge          body above PROVENANCE_MAX_BODY_BYTES           -> 413
    ├── UnknownSource            /v1/webhooks/{source} names no adapter         -> 404
    ├── NotFound                 the queried digest/commit/tag is unknown       -> 404
    ├── InvalidQuery             a query that cannot be answered as asked       -> 422
    ├── Ambiguous                a prefix or reference naming several things:
    │                            the problem lists the `candidates`             -> 409
    ├── InvalidConfiguration     a setting or file it names is unusable (trust
    │                            policy, signing key): refuses to start         -> 500
    └── Unavailable              a dependency (database, broker, key) is down   -> 503

`api/` maps each class to an RFC 9457 problem in one table; `streams/` sends
`RejectedInput` (and what the store refuses) to the dead-letter topic and the
quarantine; only an unreachable database stops the agent, so Kafka delivers again.
"""

from __future__ import annotations


class ProvenanceError(Exception):
    """Base of every error the domain raises on purpose."""

    title = "Provenance error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class RejectedInput(ProvenanceError):
    """Input refused for what it contains; the edge quarantines it with `detail`."""

    title = "Rejected input"


class Unparseable(RejectedInput):
    title = "Unparseable body"


class InvalidPayload(RejectedInput):
    title = "Not this source's format"


class UnsupportedMedia(RejectedInput):
    title = "Unsupported content type"


class Unauthenticated(ProvenanceError):
    """No valid credentials. Never quarantined: an outsider must not be able to write."""

    title = "Unauthorized"


class BadSignature(Unauthenticated):
    title = "Bad signature"


class PayloadTooLarge(ProvenanceError):
    title = "Payload too large"


class UnknownSource(ProvenanceError):
    title = "Unknown source"


class NotFound(ProvenanceError):
    title = "Not found"


class InvalidQuery(ProvenanceError):
    title = "Invalid query"


class Ambiguous(ProvenanceError):
    """A digest or commit prefix that matches more than one thing; `candidates` lists them."""

    title = "Ambiguous reference"

    def __init__(self, detail: str, candidates: list[str]) -> None:
        super().__init__(detail)
        self.candidates = candidates


class InvalidConfiguration(ProvenanceError):
    title = "Invalid configuration"


class Unavailable(ProvenanceError):
    title = "Service unavailable"


__all__ = [
    "Ambiguous",
    "BadSignature",
    "InvalidConfiguration",
    "InvalidPayload",
    "InvalidQuery",
    "NotFound",
    "PayloadTooLarge",
    "ProvenanceError",
    "RejectedInput",
    "Unauthenticated",
    "Unavailable",
    "UnknownSource",
    "Unparseable",
    "UnsupportedMedia",
]
