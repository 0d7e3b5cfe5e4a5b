"""Google Artifact Registry (and Container Registry) notifications via Pub/Sub push.

Body: the push envelope `{"message": {"data": <base64>, "attributes", "messageId",
"message_id", "publishTime", "publish_time"}, "subscription"}`; the bare `message` object
(what a pull subscriber forwards) is accepted too. `data` decodes to
`{"action": "INSERT"|"DELETE", "digest": "<image path>@sha256:...", "tag": "<image path>:<tag>"}`.
id = `messageId` (Pub/Sub delivers at least once), time = `publishTime` (the data carries
no time of its own).

Mapping:
* INSERT with a digest -> `artifact.pushed` (with the tag when `tag` is given too; an
  untagged upload, e.g. a cosign referrer, has only `digest`).
* INSERT with only `tag` (a tag added without the digest being named) -> `artifact.pushed`
  with repository + tag and no digest (`attributes.digest_unresolved = true`): the
  projection resolves it like a Docker Hub push.
* DELETE with a digest -> `artifact.deleted`; DELETE with only `tag` -> `tag.deleted`.

Quirks handled here:
* The strings are full image paths: `LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE`
  (IMAGE may contain slashes) or `gcr.io/PROJECT/IMAGE` (and `us.gcr.io`...). The digest is
  after `@`, the tag after the last `:` of the last path segment; `repository` is the path
  with the host lower-cased. When both `digest` and `tag` are present they must name the
  same image path.
* `data` that is not base64 or does not decode to a JSON object is a 422 (the envelope is
  JSON, its content is not this source's format). No actor, media type or size is sent.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.ingest.sources._common import (
    compact,
    guarded,
    load_json,
    opt_str,
    parse_when,
    req_digest,
    require_content_type,
    require_object,
)
from provenance.model import references
from provenance.model.errors import InvalidPayload
from provenance.model.events import Event, EventType

SOURCE = "gar"
CONTENT_TYPES = ("application/json",)
ACTIONS = ("INSERT", "DELETE")


@guarded
def normalize(delivery: Delivery, secrets: SourceSecrets) -> list[Event]:
    require_content_type(delivery.content_type, CONTENT_TYPES, SOURCE)
    body = require_object(load_json(delivery.body), "Pub/Sub push")
    if "message" in body:
        message = require_object(body["message"], "message")
        subscription = opt_str(body, "subscription", "push")
    elif "data" in body and ("messageId" in body or "message_id" in body):
        message, subscription = body, None
    else:
        raise InvalidPayload("not a Pub/Sub push: no message")
    message_id = _first_str(message, "messageId", "message_id")
    if message_id is None:
        raise InvalidPayload("message.messageId is required")
    publish_time = message.get("publishTime", message.get("publish_time"))
    change = _change(_decode(message.get("data")))
    event = Event(
        id=message_id,
        type=change.type,
        time=parse_when(publish_time, "message.publishTime"),
        source=SOURCE,
        digest=change.digest,
        repository=change.repository,
        tag=change.tag,
        attributes=compact(
            action=change.action,
            digest_unresolved=True
            if change.type is EventType.ARTIFACT_PUSHED and not change.digest
            else None,
            subscription=subscription,
        ),
    )
    return [event.validate()]


@dataclass(frozen=True, slots=True)
class _Change:
    """What the decoded `data` says happened."""

    action: str
    type: EventType
    repository: str
    digest: str | None
    tag: str | None


def _first_str(obj: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = opt_str(obj, key, "message")
        if value is not None:
            return value
    return None


def _decode(value: object) -> Mapping[str, Any]:
    """`message.data`: base64 (standard or URL-safe alphabet) of a JSON object."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidPayload("message.data must be a non-empty base64 string")
    text = value.strip()
    text += "=" * (-len(text) % 4)  # some forwarders drop the padding
    try:
        if "-" in text or "_" in text:
            raw = base64.b64decode(text, altchars=b"-_", validate=True)
        else:
            raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidPayload("message.data is not base64") from exc
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidPayload("message.data does not decode to JSON") from exc
    return require_object(data, "message.data")


def _change(data: Mapping[str, Any]) -> _Change:
    action = (opt_str(data, "action", "data") or "").upper()
    if action not in ACTIONS:
        raise InvalidPayload(f"data.action {data.get('action')!r} is not INSERT or DELETE")
    digest_ref = opt_str(data, "digest", "data")
    tag_ref = opt_str(data, "tag", "data")
    repository: str | None = None
    digest: str | None = None
    tag: str | None = None
    if digest_ref is not None:
        path, at, raw_digest = digest_ref.strip().partition("@")
        if not at:
            raise InvalidPayload(f"data.digest {digest_ref!r} has no @sha256:<hex>")
        digest = req_digest(raw_digest, "data.digest")
        repository = image_path(path, "data.digest")
    if tag_ref is not None:
        tag_name = references.split(tag_ref)
        path, tag = tag_name.name, tag_name.tag
        if tag is None:
            raise InvalidPayload(f"data.tag {tag_ref!r} names no :tag")
        tag_repository = image_path(path, "data.tag")
        if repository is not None and tag_repository != repository:
            raise InvalidPayload("data.digest and data.tag name different images")
        repository = tag_repository
    if repository is None:
        raise InvalidPayload("data names neither digest nor tag")
    if action == "INSERT":
        etype = EventType.ARTIFACT_PUSHED
    else:
        etype = EventType.ARTIFACT_DELETED if digest else EventType.TAG_DELETED
    return _Change(action=action, type=etype, repository=repository, digest=digest, tag=tag)


def image_path(path: str, what: str) -> str:
    """`europe-west4-docker.pkg.dev/p/r/img` -> the same with the host lower-cased."""
    host, slash, rest = path.strip().partition("/")
    rest = rest.strip("/")
    if not slash or not host or not rest or "//" in rest or any(c.isspace() for c in path):
        raise InvalidPayload(f"{what}: {path!r} is not a registry image path")
    return f"{host.lower()}/{rest}"
