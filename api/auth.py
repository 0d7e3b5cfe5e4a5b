"""Bearer tokens for three roles: ingest, read, admin (admin may do everything)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from enum import StrEnum

from fastapi import Request

from api.problems import AuthProblem
from provenance.settings import Settings


class Role(StrEnum):
    INGEST = "ingest"
    READ = "read"
    ADMIN = "admin"


def _matches(presented: str, expected: str | None) -> bool:
    # compare_digest on bytes: constant time whatever the length of the guess.
    return expected is not None and hmac.compare_digest(presented.encode(), expected.encode())


def role_of(settings: Settings, token: str) -> Role | None:
    tokens = {
        Role.ADMIN: settings.admin_token,
        Role.INGEST: settings.ingest_token,
        Role.READ: settings.read_token,
    }
    found: Role | None = None
    for role, secret in tokens.items():
        # Check every role so timing does not tell which role a token belongs to.
        if _matches(token, secret.get_secret_value() if secret else None) and found is None:
            found = role
    return found


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def require(role: Role, *, allow_signed: bool = False) -> Callable[[Request], None]:
    """A dependency that admits `role` or admin. With `allow_signed`, a request without a
    bearer token is let through to have its source signature checked instead (GitHub)."""

    def check(request: Request) -> None:
        settings: Settings = request.app.state.settings
        if not settings.auth_enabled:
            return
        token = bearer(request)
        if token is None:
            if allow_signed and settings.github_webhook_secret is not None:
                return  # the adapter verifies X-Hub-Signature-256 and refuses without it
            raise AuthProblem(401, "a bearer token is required")
        found = role_of(settings, token)
        if found is None:
            raise AuthProblem(401, "the bearer token is not valid")
        if found is not Role.ADMIN and found is not role:
            raise AuthProblem(403, f"this route needs the {role} role; the token has {found}")

    return check
