"""Credentials: bearer tokens for three roles (ingest, read, admin; admin may do
everything), and on a webhook route the one alternative its source may use instead
(`provenance.trust.credentials.ALTERNATIVES`). Every check here runs before the body is read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from api.problems import AuthProblem
from provenance.settings import Settings
from provenance.trust.credentials import ALTERNATIVES, URL_TOKEN_PARAM, Alternative, matches


class Role(StrEnum):
    INGEST = "ingest"
    READ = "read"
    ADMIN = "admin"


def role_of(settings: Settings, token: str) -> Role | None:
    tokens = {
        Role.ADMIN: settings.admin_token,
        Role.INGEST: settings.ingest_token,
        Role.READ: settings.read_token,
    }
    found: Role | None = None
    for role, secret in tokens.items():
        # Check every role so timing does not tell which role a token belongs to.
        if matches(token, secret.get_secret_value() if secret else None) and found is None:
            found = role
    return found


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _admit(found: Role | None, role: Role) -> None:
    if found is None:
        raise AuthProblem(401, "the bearer token is not valid")
    if found is not Role.ADMIN and found is not role:
        raise AuthProblem(403, f"this route needs the {role} role; the token has {found}")


def admit(request: Request, role: Role) -> None:
    """Admit a bearer token of `role` or admin, or raise the 401/403 problem."""
    settings: Settings = request.app.state.settings
    if not settings.auth_enabled:
        return
    token = bearer(request)
    if token is None:
        raise AuthProblem(401, "a bearer token is required")
    _admit(role_of(settings, token), role)


def require(role: Role) -> Callable[[Request], Awaitable[None]]:
    """The dependency of `admit`: async, since it does no I/O (a sync dependency would
    cost a threadpool round trip per request)."""

    async def check(request: Request) -> None:
        admit(request, role)

    return check


@dataclass(frozen=True, slots=True)
class WebhookAccess:
    """What a webhook request was admitted with. `github_secret` is set when the
    credential is the GitHub signature, which the route checks once it has the body."""

    authenticated: bool  # by a token (bearer or URL) or an OIDC token: may be quarantined
    github_secret: bytes | None = None


async def webhook_access(request: Request, source: str) -> WebhookAccess:
    """Bearer on every source; the source's own alternative on its own route only."""
    settings: Settings = request.app.state.settings
    alternative = ALTERNATIVES.get(source)
    signed = (
        _github_signed(request, settings) if alternative is Alternative.GITHUB_SIGNATURE else None
    )
    if not settings.auth_enabled:
        # No tokens (loopback only): open, but a configured GitHub secret still holds.
        return signed or WebhookAccess(authenticated=True)
    token = bearer(request)
    if token is not None:
        found = role_of(settings, token)
        if found is None and alternative is Alternative.PUBSUB_OIDC:
            verifier = request.app.state.services.pubsub_verifier
            if verifier is not None:
                await run_in_threadpool(verifier.verify, token)  # Unauthenticated -> 401
                return WebhookAccess(authenticated=True)
        _admit(found, Role.INGEST)
        return WebhookAccess(authenticated=True)
    if signed is not None:
        return signed
    if alternative is Alternative.URL_TOKEN:
        presented = request.query_params.get(URL_TOKEN_PARAM)
        if presented is not None:
            _admit(role_of(settings, presented), Role.INGEST)
            return WebhookAccess(authenticated=True)
    raise AuthProblem(401, f"a bearer token is required{_hint(alternative)}")


def _github_signed(request: Request, settings: Settings) -> WebhookAccess | None:
    """With the secret set, ghcr needs X-Hub-Signature-256 (checked against the body)
    unless a valid bearer token comes instead; without the secret it is no credential."""
    secret = settings.github_webhook_secret
    if secret is None:
        return None
    if "x-hub-signature-256" not in request.headers and (
        not settings.auth_enabled or bearer(request) is None
    ):
        raise AuthProblem(401, "a bearer token or X-Hub-Signature-256 is required")
    return WebhookAccess(authenticated=False, github_secret=secret.get_secret_value().encode())


def _hint(alternative: Alternative | None) -> str:
    return (
        {
            Alternative.GITHUB_SIGNATURE: " (or X-Hub-Signature-256, once the secret is set)",
            Alternative.URL_TOKEN: f" (or ?{URL_TOKEN_PARAM}= in the webhook URL)",
            Alternative.PUBSUB_OIDC: " (or the Pub/Sub push OIDC token, once configured)",
        }.get(alternative, "")
        if alternative
        else ""
    )
