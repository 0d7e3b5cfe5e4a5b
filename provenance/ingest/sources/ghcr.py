"""GitHub `package` / `registry_package` webhooks for GitHub Container Registry.

Quirks handled here:
* `X-Hub-Signature-256` (the HMAC of the raw body) is a credential, checked before this
  adapter runs (`provenance.trust.credentials`), like a bearer token.
* The body is JSON (`application/json`) or a form with the JSON in its `payload` field
  (`application/x-www-form-urlencoded`); the HMAC covers the raw bytes either way.
* A hook subscribed to both events receives a `package` and a `registry_package` delivery
  for the same version: the event id is `ghcr-version-<package_version.id>` and nothing
  delivery-specific goes into the event, so both normalize to the same event.
* `ping` (sent when a hook is created) is a `registry.notice`. Non-container packages
  (npm, maven...) are `registry.notice`s too; only container packages are artifacts. Which
  is which: `package.registry.type` (`CONTAINER`, or `npm`...) when present, since GitHub's
  own examples contradict themselves elsewhere (the container example says
  `ecosystem: docker`, `package_type: npm`; the npm one says `ecosystem: docker` too); else
  `package_type`/`ecosystem` (`CONTAINER` or `docker`); else a `container_metadata` with a
  manifest or tag.
* The digest is `package_version.version` (or `.name`, or the container manifest's digest);
  the tag is `container_metadata.tag.name` (empty for untagged pushes). The manifest
  descriptor's media type and size count unless it names another valid digest. The
  repository is `ghcr.io/<owner>/<name>` from `package_url` (`ghcr.io/o/n:` with an empty
  tag included), else from the owner (or the first segment of `namespace`, which older
  payloads fill with `owner/repo`) and the package name.
* Time: `package_version.updated_at`, `package.updated_at`, `package_version.created_at`,
  the first that is real. GitHub fills unknown ones with Go's zero time
  (`0001-01-01T00:00:00Z`); those, and the Unix epoch, are not real. None real: the receive
  time.
* Payloads carry no client IP or user agent. GHCR deletions are not sent at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.ingest.sources._common import (
    compact,
    guarded,
    labels_claim,
    load_json,
    opt_int,
    opt_str,
    parse_when,
    req_str,
    require_content_type,
    require_object,
    sub_object,
)
from provenance.model import references
from provenance.model.errors import InvalidPayload, Unparseable
from provenance.model.events import Event, EventType, content_id, is_digest

SOURCE = "ghcr"
FORM = "application/x-www-form-urlencoded"
CONTENT_TYPES = ("application/json", FORM)
PACKAGE_EVENTS = ("package", "registry_package")
CONTAINER_TYPES = frozenset({"container", "docker"})
# At or before this, a timestamp is a placeholder (Go's zero time, the Unix epoch).
_UNSET_BEFORE = datetime(1970, 1, 2, tzinfo=UTC)


@guarded
def normalize(delivery: Delivery, secrets: SourceSecrets) -> list[Event]:
    require_content_type(delivery.content_type, CONTENT_TYPES, SOURCE)
    body = require_object(load_json(_json_bytes(delivery)), "GitHub payload")
    event_name = _event_name(delivery.headers, body)
    if event_name == "ping":
        return [_ping(delivery, body)]
    return [_package_event(delivery, body, event_name).validate()]


def _json_bytes(delivery: Delivery) -> bytes:
    if delivery.content_type != FORM:
        return delivery.body
    try:
        form = parse_qs(delivery.body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise Unparseable(f"form body is not UTF-8: {exc}") from exc
    payload = form.get("payload")
    if not payload:
        raise InvalidPayload("form body has no `payload` field")
    return payload[0].encode("utf-8")


def _event_name(headers: Mapping[str, str], body: Mapping[str, Any]) -> str:
    name = headers.get("x-github-event", "").strip().lower()
    if not name:  # no header (a replay, a proxy that dropped it): infer from the body
        if "zen" in body or "hook_id" in body:
            return "ping"
        name = next((key for key in PACKAGE_EVENTS if key in body), "")
    if name not in (*PACKAGE_EVENTS, "ping"):
        raise InvalidPayload(
            f"GitHub event {name or '(none)'!r} is not package, registry_package or ping"
        )
    return name


def _ping(delivery: Delivery, body: Mapping[str, Any]) -> Event:
    guid = delivery.headers.get("x-github-delivery", "").strip()
    hook_id = body.get("hook_id")
    zen = opt_str(body, "zen", "ping")
    if guid:
        event_id = f"ghcr-ping-{guid}"
    else:
        event_id = content_id(SOURCE, "ping", hook_id if _is_id(hook_id) else None, zen)
    return Event(
        id=event_id,
        type=EventType.REGISTRY_NOTICE,
        time=delivery.received_at,
        source=SOURCE,
        actor=_login(body.get("sender")),
        attributes=compact(notice="ping", hook_id=hook_id if _is_id(hook_id) else None, zen=zen),
    ).validate()


def _package_event(delivery: Delivery, body: Mapping[str, Any], event_name: str) -> Event:
    other = PACKAGE_EVENTS[1] if event_name == PACKAGE_EVENTS[0] else PACKAGE_EVENTS[0]
    key = event_name if event_name in body else other
    if key not in body:
        raise InvalidPayload(f"{event_name} payload has no `{event_name}` object")
    package = require_object(body[key], key)
    version = sub_object(package, "package_version", key)
    version_id = version.get("id")
    package_type = opt_str(package, "package_type", key) or opt_str(package, "ecosystem", key)
    attributes = compact(
        action=opt_str(body, "action", "payload"),
        package_version_id=version_id if _is_id(version_id) else None,
        html_url=opt_str(version, "html_url", "package_version"),
    )
    event = Event(
        id=f"ghcr-version-{version_id}"
        if _is_id(version_id)
        else content_id(SOURCE, package.get("name"), version.get("name"), version.get("version")),
        type=EventType.REGISTRY_NOTICE,
        time=_time(delivery, package, version),
        source=SOURCE,
        actor=_login(body.get("sender")) or _login(version.get("author")),
        attributes=attributes,
    )
    if not _is_container(package, version, key):
        return event.with_changes(
            attributes={
                **attributes,
                **compact(
                    notice="package.published",
                    package_type=package_type,
                    package=opt_str(package, "name", key),
                    version=opt_str(version, "version", "package_version")
                    or opt_str(version, "name", "package_version"),
                ),
            }
        )
    if not _is_id(version_id):
        raise InvalidPayload(f"{key}.package_version.id is required")
    return _container(event, package, version, key)


def _is_container(package: Mapping[str, Any], version: Mapping[str, Any], key: str) -> bool:
    registry_type = opt_str(sub_object(package, "registry", key), "type", f"{key}.registry")
    if registry_type:
        return registry_type.lower() in CONTAINER_TYPES
    for field in ("package_type", "ecosystem"):
        value = opt_str(package, field, key)
        if value:
            return value.lower() in CONTAINER_TYPES
    metadata = sub_object(version, "container_metadata", "package_version")
    return bool(
        sub_object(metadata, "manifest", "container_metadata")
        or sub_object(metadata, "tag", "container_metadata")
    )


def _container(
    event: Event, package: Mapping[str, Any], version: Mapping[str, Any], key: str
) -> Event:
    metadata = sub_object(version, "container_metadata", "package_version")
    manifest = sub_object(metadata, "manifest", "container_metadata")
    tag = sub_object(metadata, "tag", "container_metadata")
    candidates = (
        version.get("version"),
        version.get("name"),
        manifest.get("digest"),
        tag.get("digest"),
    )
    digest = next((c for c in candidates if is_digest(c)), None)
    if digest is None:
        raise InvalidPayload(f"{key}.package_version names no sha256 manifest digest")
    # A descriptor of another manifest says nothing about this one's type and size.
    if is_digest(manifest.get("digest")) and manifest.get("digest") != digest:
        manifest = {}
    labels = sub_object(metadata, "labels", "container_metadata")
    commit, vcs_url = labels_claim(
        labels.get("all_labels"),
        labels,
        {
            "org.opencontainers.image.revision": labels.get("revision"),
            "org.opencontainers.image.source": labels.get("source"),
        },
    )
    return event.with_changes(
        type=EventType.ARTIFACT_PUSHED,
        digest=digest,
        repository=_repository(package, version, key),
        tag=opt_str(tag, "name", "container_metadata.tag"),
        media_type=opt_str(manifest, "media_type", "container_metadata.manifest"),
        size=opt_int(manifest, "size", "container_metadata.manifest"),
        commit=commit,
        vcs_url=vcs_url,
    )


def _repository(package: Mapping[str, Any], version: Mapping[str, Any], key: str) -> str:
    package_url = opt_str(version, "package_url", "package_version")
    if package_url is not None:
        path = references.split(package_url).name.lower()
        if path.startswith("ghcr.io/") and len(path) > len("ghcr.io/"):
            return path
    name = req_str(package, "name", key)
    owner = _login(package.get("owner"))
    if owner is None:
        namespace = opt_str(package, "namespace", key)
        owner = namespace.split("/")[0] if namespace else None
    if not owner:
        raise InvalidPayload(f"{key} names no owner (package_url, owner.login or namespace)")
    return f"ghcr.io/{owner}/{name}".lower()


def _time(delivery: Delivery, package: Mapping[str, Any], version: Mapping[str, Any]) -> datetime:
    for obj, field, what in (
        (version, "updated_at", "package_version.updated_at"),
        (package, "updated_at", "package.updated_at"),
        (version, "created_at", "package_version.created_at"),
    ):
        if obj.get(field) not in (None, ""):
            when = parse_when(obj[field], what)
            if when >= _UNSET_BEFORE:
                return when
    return delivery.received_at


def _login(user: object) -> str | None:
    if not isinstance(user, Mapping):
        return None
    login = user.get("login")
    return login if isinstance(login, str) and login else None


def _is_id(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return (isinstance(value, int) and value >= 0) or (isinstance(value, str) and value != "")
