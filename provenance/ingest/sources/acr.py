"""Azure Container Registry webhooks.

Body: one object (never an array) `{"id", "timestamp", "action", "target": {"mediaType",
"size", "length", "digest", "repository", "tag", "name", "version"}, "request": {"id",
"host", "method", "useragent"}}`. id = `id`, time = `timestamp` (7 fractional digits).

Mapping (`action`):
* `push` -> `artifact.pushed` (media type, size, user agent); `delete` -> `artifact.deleted`
  when a digest is named, `tag.deleted` when only a tag is, and a `registry.notice`
  (`repository.deleted`) when only the repository is: ACR fires `delete` for manifest and
  repository deletions (not for untagging).
* `chart_push` / `chart_delete` (the retired ACR Helm repository) -> `artifact.pushed` /
  `artifact.deleted` with the Helm media type `application/vnd.acr.helm.chart`; the tag is
  the chart `version` (what `helm --version` takes), the chart file name (`target.tag`) and
  chart name are kept in attributes. OCI Helm charts arrive as ordinary `push` events.
* `quarantine` (payload shape undocumented: assumed to be a `push`'s) and `ping` ->
  `registry.notice`.

Quirks handled here:
* No actor and no client IP are sent; `request.useragent` is.
* `repository` is `<registry>.azurecr.io/<target.repository>`: the host is the webhook URL's
  `registry` query parameter when given (`acmeprod` is read as `acmeprod.azurecr.io`), else
  `request.host`. Chart events carry no `request` block, so without the parameter their
  repository is the bare name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.ingest.sources._common import (
    compact,
    guarded,
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
    sub_object,
)
from provenance.model.errors import InvalidPayload
from provenance.model.events import Event, EventType

SOURCE = "acr"
CONTENT_TYPES = ("application/json",)
HELM_CHART = "application/vnd.acr.helm.chart"
DOMAIN = "azurecr.io"

_ACTIONS = frozenset({"push", "delete", "chart_push", "chart_delete", "quarantine", "ping"})


@guarded
def normalize(delivery: Delivery, secrets: SourceSecrets) -> list[Event]:
    require_content_type(delivery.content_type, CONTENT_TYPES, SOURCE)
    body = require_object(load_json(delivery.body), "ACR payload")
    if "action" not in body or "id" not in body:
        raise InvalidPayload("not an ACR webhook: no id and action")
    action = req_str(body, "action", "payload").lower()
    if action not in _ACTIONS:
        raise InvalidPayload(f"ACR action {action!r} is not one of {', '.join(sorted(_ACTIONS))}")
    target = sub_object(body, "target", "payload")
    request = sub_object(body, "request", "payload")
    base = Event(
        id=req_str(body, "id", "payload"),
        type=EventType.REGISTRY_NOTICE,  # replaced below
        time=parse_when(body.get("timestamp"), "payload.timestamp"),
        source=SOURCE,
        user_agent=opt_str(request, "useragent", "request"),
        attributes=compact(
            action=action,
            request_id=opt_str(request, "id", "request"),
            method=opt_str(request, "method", "request"),
        ),
    )
    if action == "ping":
        return [base.with_changes(attributes={**base.attributes, "notice": "ping"}).validate()]
    host = _host(delivery.params, request)
    if action in ("chart_push", "chart_delete"):
        return [_chart(base, action, target, host).validate()]
    return [_image(base, action, target, host).validate()]


def _host(params: Mapping[str, str], request: Mapping[str, Any]) -> str | None:
    host = registry_param(params)
    if host is not None:
        return host if "." in host or ":" in host else f"{host}.{DOMAIN}"
    request_host = opt_str(request, "host", "request")
    host = request_host.strip().strip("/").lower() if request_host else None
    if host and ("/" in host or " " in host):
        raise InvalidPayload(f"request.host {request_host!r} is not a host name")
    return host or None


def _repository(target: Mapping[str, Any], host: str | None) -> str:
    name = req_str(target, "repository", "target").strip().strip("/")
    if not name:
        raise InvalidPayload("target.repository is empty")
    return join_repository(host, name)


def _size(target: Mapping[str, Any]) -> int | None:
    size = opt_int(target, "size", "target")
    return size if size is not None else opt_int(target, "length", "target")


def _image(base: Event, action: str, target: Mapping[str, Any], host: str | None) -> Event:
    digest = opt_digest(target.get("digest"), "target.digest")
    tag = opt_str(target, "tag", "target")
    event = base.with_changes(
        digest=digest,
        repository=_repository(target, host),
        tag=tag,
        media_type=opt_str(target, "mediaType", "target"),
        size=_size(target),
    )
    if action == "push":
        if digest is None and tag is None:
            raise InvalidPayload("ACR push names neither target.digest nor target.tag")
        return event.with_changes(type=EventType.ARTIFACT_PUSHED)
    if action == "quarantine":
        return event.with_changes(attributes={**event.attributes, "notice": "quarantine"})
    # delete: manifest (digest), tag, or the whole repository
    if digest is not None:
        return event.with_changes(type=EventType.ARTIFACT_DELETED)
    if tag is not None:
        return event.with_changes(type=EventType.TAG_DELETED)
    return event.with_changes(attributes={**event.attributes, "notice": "repository.deleted"})


def _chart(base: Event, action: str, target: Mapping[str, Any], host: str | None) -> Event:
    version = opt_str(target, "version", "target")
    chart_file = opt_str(target, "tag", "target")
    digest = opt_digest(target.get("digest"), "target.digest")
    tag = version or chart_file
    if action == "chart_delete" and digest is None:
        raise InvalidPayload("ACR chart_delete names no target.digest")
    if digest is None and tag is None:
        raise InvalidPayload("ACR chart_push names neither target.digest nor a version")
    return base.with_changes(
        type=EventType.ARTIFACT_PUSHED if action == "chart_push" else EventType.ARTIFACT_DELETED,
        digest=digest,
        repository=_repository(target, host),
        tag=tag,
        media_type=opt_str(target, "mediaType", "target") or HELM_CHART,
        size=_size(target),
        attributes={
            **base.attributes,
            **compact(
                chart=opt_str(target, "name", "target"),
                chart_version=version,
                chart_file=chart_file,
            ),
        },
    )
