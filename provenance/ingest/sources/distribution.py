"""CNCF Distribution (docker registry v2.8 / v3) notifications.

The body is `{"events": [...]}` (2.8: in practice one event per POST); v3 posts exactly one
event per request and may send it without the envelope, which is accepted too.

Quirks handled here:
* Manifest or blob is decided by `target.url` (`/manifests/` vs `/blobs/`), then by the
  action (`mount` is always a blob), then by the media type (`application/octet-stream` and
  layer types are blobs). Blob traffic becomes `blob.*`: kept in the log, never an artifact.
* HEAD counts as a pull (tag resolution by nodes); `attributes.method` keeps GET and HEAD
  apart. A pull by tag carries the tag, a pull by digest does not.
* A manifest delete carries only repository + digest (`artifact.deleted`); the tag deletes
  it fans out carry only repository + tag (`tag.deleted`); a delete with neither is a
  repository removal (`registry.notice`). In 2.8 a blob delete is indistinguishable from a
  manifest delete (no url, no media type) and is read as `artifact.deleted`.
* `actor` is `{}` for anonymous requests. `request.addr` is `ip:port` (`[v6]:port`) or a bare
  X-Forwarded-For IP; the port is dropped.
* `repository` is `<host>/<target.repository>`, the host being the webhook URL's `registry`
  query parameter when given, else the host of `target.url`, else `request.host`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provenance.ingest.sources import Delivery, Normalized, SourceSecrets, each, strict
from provenance.ingest.sources._common import (
    client_ip,
    compact,
    guarded,
    host_of,
    join_repository,
    load_json,
    opt_digest,
    opt_int,
    opt_str,
    parse_when,
    registry_param,
    req_str,
    require_content_type,
    require_object,
    revision_claim,
    sub_object,
)
from provenance.model.errors import InvalidPayload
from provenance.model.events import Event, EventType

SOURCE = "distribution"
CONTENT_TYPES = (
    "application/vnd.docker.distribution.events.v1+json",
    "application/vnd.docker.distribution.events.v2+json",
    "application/json",
)

_MANIFEST_TYPES = {
    "push": EventType.ARTIFACT_PUSHED,
    "pull": EventType.ARTIFACT_PULLED,
    "delete": EventType.ARTIFACT_DELETED,
}
_BLOB_TYPES = {
    "push": EventType.BLOB_PUSHED,
    "pull": EventType.BLOB_PULLED,
    "mount": EventType.BLOB_MOUNTED,
    "delete": EventType.BLOB_DELETED,
}


@guarded
def normalize(delivery: Delivery, secrets: SourceSecrets) -> list[Event]:
    """All or nothing (tests, replays); ingest takes the events one by one."""
    return strict(normalize_items(delivery, secrets), label="events")


@guarded
def normalize_items(delivery: Delivery, secrets: SourceSecrets) -> Normalized:
    """Each event of the envelope stands alone: Distribution retries a refused delivery
    forever, so one malformed event must not block the registry's queue."""
    require_content_type(delivery.content_type, CONTENT_TYPES, SOURCE)
    body = require_object(load_json(delivery.body), "notification")
    if "events" in body:
        items = body["events"]
        if not isinstance(items, list):
            raise InvalidPayload("notification.events must be a JSON array")
    elif "action" in body and "target" in body:
        items = [body]  # v3: one bare event per request
    else:
        raise InvalidPayload("not a Distribution notification: no events[] and no action")
    host = registry_param(delivery.params)
    return each(items, lambda item: [_event(require_object(item, "event"), host)], label="events")


def _event(raw: Mapping[str, Any], host_override: str | None) -> Event:
    event_id = req_str(raw, "id", "event")
    action = req_str(raw, "action", "event")
    if action not in _BLOB_TYPES:
        raise InvalidPayload(f"event.action {action!r} is not push, pull, mount or delete")
    target = sub_object(raw, "target", "event")
    request = sub_object(raw, "request", "event")
    url = opt_str(target, "url", "target")
    media_type = opt_str(target, "mediaType", "target")
    host = host_override or _registry_host(url, request)
    size = opt_int(target, "size", "target")
    # The fields every kind shares, read in this order (the first bad one is the reason);
    # the Event is built once its kind is known (a dataclass copy costs ~1 us a field).
    fields: dict[str, Any] = {
        "id": event_id,
        "time": parse_when(raw.get("timestamp"), "event.timestamp"),
        "source": SOURCE,
        "digest": opt_digest(target.get("digest"), "target.digest"),
        "repository": join_repository(host, req_str(target, "repository", "target")),
        "tag": opt_str(target, "tag", "target"),
        "media_type": media_type,
        "size": size if size is not None else opt_int(target, "length", "target"),
        "actor": opt_str(sub_object(raw, "actor", "event"), "name", "actor"),
        "client": client_ip(opt_str(request, "addr", "request")),
        "user_agent": opt_str(request, "useragent", "request"),
        "attributes": compact(
            request_id=opt_str(request, "id", "request"),
            instance_id=opt_str(sub_object(raw, "source", "event"), "instanceID", "source"),
            method=opt_str(request, "method", "request"),
        ),
    }
    if _is_blob(action, url, media_type):
        return _blob(fields, action, target, host)
    return _manifest(fields, action, target)


def _registry_host(url: str | None, request: Mapping[str, Any]) -> str | None:
    host = host_of(url) if url else None
    if host is None:
        request_host = opt_str(request, "host", "request")
        host = request_host.strip().lower() if request_host else None
    return host or None


def _is_blob(action: str, url: str | None, media_type: str | None) -> bool:
    if url is not None:
        if "/manifests/" in url:
            return False
        if "/blobs/" in url:
            return True
    if action == "mount":
        return True
    if media_type is None:
        return False
    return (
        media_type == "application/octet-stream"
        or ".layer." in media_type
        or ("rootfs" in media_type)
    )


def _blob(
    fields: dict[str, Any], action: str, target: Mapping[str, Any], host: str | None
) -> Event:
    attributes = dict(fields["attributes"])
    from_repository = opt_str(target, "fromRepository", "target")
    if from_repository is not None:
        attributes["from_repository"] = join_repository(host, from_repository)
    kind = _BLOB_TYPES[action]
    return Event(**(fields | {"type": kind, "tag": None, "attributes": attributes})).validate()


def _manifest(fields: dict[str, Any], action: str, target: Mapping[str, Any]) -> Event:
    etype = _MANIFEST_TYPES.get(action)
    if etype is None:  # a manifest `mount` does not exist; say so rather than guess
        raise InvalidPayload(f"event.action {action!r} does not apply to a manifest")
    attributes = dict(fields["attributes"])
    if action == "delete" and fields["digest"] is None:
        if fields["tag"] is not None:
            etype = EventType.TAG_DELETED
        else:
            etype = EventType.REGISTRY_NOTICE
            attributes["notice"] = "repository.deleted"
    references = _references(target.get("references"))
    if references:
        attributes["references"] = references
    commit, vcs_url = revision_claim(target.get("annotations"))
    changes = {"type": etype, "commit": commit, "vcs_url": vcs_url, "attributes": attributes}
    return Event(**(fields | changes)).validate()


def _references(value: object) -> list[dict[str, Any]]:
    """`target.references` (with `includereferences`): config + layers, or index children."""
    if not isinstance(value, list):
        return []
    out: list[dict[str, Any]] = []
    for item in value:
        if not isinstance(item, Mapping):
            continue
        ref = {
            key: item[key]
            for key, kind in (("digest", str), ("mediaType", str), ("size", int))
            if isinstance(item.get(key), kind) and not isinstance(item.get(key), bool)
        }
        if ref:
            out.append(ref)
    return out
