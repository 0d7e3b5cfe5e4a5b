"""Helpers shared by the source adapters: JSON decoding, field access, OCI labels."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import orjson

from provenance.model.errors import InvalidPayload, RejectedInput, Unparseable, UnsupportedMedia
from provenance.model.events import is_digest
from provenance.model.references import strip_scheme
from provenance.model.timeutil import parse_time

REVISION_KEYS = ("org.opencontainers.image.revision", "org.label-schema.vcs-ref")
SOURCE_KEYS = ("org.opencontainers.image.source", "org.label-schema.vcs-url")


def load_json(body: bytes) -> Any:
    """Decode a JSON body; anything undecodable is a 400 (Unparseable)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Unparseable(f"body is not valid JSON: {exc}") from exc


def require_object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidPayload(f"{what} must be a JSON object")
    return value


def opt_str(obj: Mapping[str, Any], key: str, what: str) -> str | None:
    """An optional string field; present but of another type is a 422."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidPayload(f"{what}.{key} must be a string")
    return value


def req_str(obj: Mapping[str, Any], key: str, what: str) -> str:
    value = opt_str(obj, key, what)
    if value is None:
        raise InvalidPayload(f"{what}.{key} is required")
    return value


def opt_int(obj: Mapping[str, Any], key: str, what: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPayload(f"{what}.{key} must be an integer")
    return value


def req_digest(value: object, what: str) -> str:
    if not is_digest(value):
        raise InvalidPayload(f"{what} {value!r} is not sha256:<64 hex>")
    assert isinstance(value, str)
    return value


def revision_claim(labels: object) -> tuple[str | None, str | None]:
    """(commit, vcs_url) claimed by OCI labels/annotations, when they look valid."""
    if not isinstance(labels, Mapping):
        return None, None
    commit = next((labels[k] for k in REVISION_KEYS if isinstance(labels.get(k), str)), None)
    vcs = next((labels[k] for k in SOURCE_KEYS if isinstance(labels.get(k), str)), None)
    if commit is not None:
        commit = commit.strip().lower()
        if not (7 <= len(commit) <= 64 and all(c in "0123456789abcdef" for c in commit)):
            commit = None
    return commit, normalize_vcs_url(vcs)


# `git@github.com:o/r.git` (scp-like syntax: no scheme, `host:path`)
_SCP_URL = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[A-Za-z0-9.-]+):(?!//)(?P<path>[^\s]+)$")
# `/commit/<sha>` (GitHub, Gitea), `/-/commit/<sha>` (GitLab), `/commits/<sha>` (Bitbucket)
_COMMIT_PATH = re.compile(r"(?:/-)?/commits?/[0-9a-fA-F]{7,64}$")


def normalize_vcs_url(url: str | None) -> str | None:
    """A source repository as a web URL: `https://<host>/<path>`, whatever form it came in.

    `git@github.com:o/r.git`, `ssh://git@github.com/o/r.git`, `git://github.com/o/r.git`,
    `git+https://github.com/o/r.git` and a commit page `https://github.com/o/r/commit/<sha>`
    all become `https://github.com/o/r` (the form OCI `source` labels use), so one repository
    has one name whichever source spoke of it. Credentials are dropped; anything else
    (a path, another scheme) is kept as given.
    """
    if url is None or not url.strip():
        return None
    raw = url.strip()
    text = raw.removeprefix("git+")
    if "://" in text:
        scheme, _, rest = text.partition("://")
        scheme = scheme.lower()
        if scheme not in ("https", "http", "ssh", "git"):
            return raw
        netloc, _, path = rest.partition("/")
        host = netloc.rpartition("@")[2].lower()
        if scheme in ("ssh", "git"):  # their port is not the web server's
            host = host.partition(":")[0]
            scheme = "https"
        text = f"{scheme}://{host}/{path}"
    else:
        scp = _SCP_URL.match(text)
        if scp is None:
            return raw
        text = f"https://{scp['host'].lower()}/{scp['path'].lstrip('/')}"
    text = _COMMIT_PATH.sub("", text.rstrip("/")).removesuffix(".git")
    return text.rstrip("/")


# --- added for the registry/CD adapters --------------------------------------------------

#: Every InvalidPayload raised by `guarded` starts with this: a payload whose shape the
#: adapter did not expect (tests use it to tell a sloppy adapter from a deliberate 422).
SHAPE_ERROR_PREFIX = "malformed payload"

_P = ParamSpec("_P")
_R = TypeVar("_R")


def guarded(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Safety net for an adapter's `normalize`: stray lookup/type errors become a 422."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except RejectedInput:
            raise
        except (
            KeyError,
            IndexError,
            TypeError,
            AttributeError,
            ValueError,
            OverflowError,
        ) as exc:
            raise InvalidPayload(f"{SHAPE_ERROR_PREFIX}: {type(exc).__name__}: {exc}") from exc

    return wrapper


def require_content_type(delivery_type: str, accepted: Iterable[str], source: str) -> None:
    """415 unless the (lower-cased, parameter-free) content type is one the source sends."""
    allowed = tuple(accepted)
    if delivery_type not in allowed:
        raise UnsupportedMedia(
            f"{source} sends {', '.join(allowed)}; got {delivery_type or 'no content type'!r}"
        )


def sub_object(obj: Mapping[str, Any], key: str, what: str) -> Mapping[str, Any]:
    """An optional nested object: absent or null gives {}, another type is a 422."""
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidPayload(f"{what}.{key} must be a JSON object")
    return value


def opt_list(obj: Mapping[str, Any], key: str, what: str) -> list[Any]:
    """An optional array: absent or null gives [], another type is a 422."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidPayload(f"{what}.{key} must be a JSON array")
    return value


def opt_digest(value: object, what: str) -> str | None:
    """None when absent; a present value must be a valid sha256 digest."""
    if value is None or value == "":
        return None
    return req_digest(value, what)


def parse_when(value: object, what: str) -> datetime:
    """`parse_time` that also turns calendar overflows (year 1 with an offset...) into a 422."""
    try:
        return parse_time(value, field=what)
    except (OverflowError, ValueError) as exc:
        raise InvalidPayload(f"{what}: {value!r} is not a usable time") from exc


def host_of(url: str) -> str | None:
    """`https://Registry.acme.io:5000/v2/...` -> `registry.acme.io:5000` (no userinfo)."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return None
    host = netloc.rpartition("@")[2].lower()
    return host or None


def client_ip(addr: str | None) -> str | None:
    """`10.0.0.1:5000` -> `10.0.0.1`, `[::1]:5000` -> `::1`; bare IPs are kept as they are."""
    if not addr:
        return None
    addr = addr.strip()
    if addr.startswith("["):
        inner, sep, _ = addr[1:].partition("]")
        return (inner or None) if sep else None
    if addr.count(":") == 1:
        return addr.partition(":")[0] or None
    return addr or None


def registry_param(params: Mapping[str, str]) -> str | None:
    """The `registry` query parameter as a bare host (scheme and trailing slash dropped)."""
    value = params.get("registry")
    if not value:
        return None
    host = strip_scheme(value.strip()).strip("/").lower()
    return host or None


def join_repository(host: str | None, path: str) -> str:
    """`host` + `/` + `path`, or the bare path when no host is known."""
    path = path.strip("/")
    return f"{host}/{path}" if host else path


def labels_claim(*label_sets: object) -> tuple[str | None, str | None]:
    """The first (commit, vcs_url) claimed by any of several label/annotation maps."""
    commit: str | None = None
    vcs: str | None = None
    for labels in label_sets:
        c, v = revision_claim(labels)
        commit = commit or c
        vcs = vcs or v
    return commit, vcs


def compact(**values: Any) -> dict[str, Any]:
    """Attributes without the None values (attributes hold JSON values only)."""
    return {k: v for k, v in values.items() if v is not None}
