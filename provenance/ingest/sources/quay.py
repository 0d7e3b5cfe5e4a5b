"""Quay repository notifications (the `webhook` notification method).

Body: the repository event data `{"repository": "ns/name", "namespace", "name",
"docker_url", "homepage", ...}` plus the event's own keys. The body does not say which event
it is, so the event is the webhook URL's `event` query parameter when given
(`/v1/webhooks/quay?event=build_success`; one Quay notification per event and URL makes
that natural), else it is inferred from the keys: `updated_tags` -> repo_push,
`vulnerability`/`vulnerabilities` -> vulnerability_found, `build_id` with `error_message`
-> build_failure, with `is_manual` -> build_queued, with `image_id` -> build_success (Quay's
build_cancelled looks the same: name it with `?event=` to tell them apart), with none of
these -> build_start; `message` alone -> a repository mirror event.

Mapping:
* repo_push -> one `artifact.pushed` per `updated_tags[]` entry, repository + tag, no digest
  (`attributes.digest_unresolved = true`): resolved later from tag history.
* build_success -> `build.finished` (build = `build_id`, commit = `trigger_metadata.commit`,
  vcs_url = `trigger_metadata.git_url`, else `commit_info.url`, as a web URL: Quay's GitHub
  trigger sends the scp form `git@github.com:o/r.git`, and the commit page, both become
  `https://github.com/o/r`; `docker_tags`, trigger and
  `image_id` in attributes). build_queued -> `build.queued`, build_start -> `build.started`;
  build_failure / build_cancelled -> `registry.notice` (nothing was produced).
* vulnerability_found names tags, not a digest -> `registry.notice` with the vulnerability.
* Mirror and unknown events -> `registry.notice`.

Quirks handled here:
* No digest, actor, timestamp or event id is ever sent: `time` is the receive time.
* Ids. Build events are unique per build and phase: `content_id(event, build_id)`, so a
  retry dedupes. A vulnerability finding is the same finding when its body is the same:
  `content_id(event, body)`. But **two pushes of the same tag produce identical bodies**, so
  an id from the body alone would store the second push as a duplicate of the first and
  lose it. Push (and mirror) ids therefore also cover the receive time truncated to the
  second: `content_id(event, body, tag, received_at)`. The trade-off: a retry of a delivery
  we failed to acknowledge, arriving in a later second, is stored twice, which costs one
  redundant `artifact.pushed` (the projection's tag bookkeeping is idempotent), whereas a
  lost re-push would hide a tag move.
* `repository` is `docker_url` (`quay.io/ns/name`, or the self-hosted server's host), else
  the `registry` query parameter (default `quay.io`) + `repository`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.ingest.sources._common import (
    compact,
    guarded,
    join_repository,
    load_json,
    normalize_vcs_url,
    opt_list,
    opt_str,
    registry_param,
    req_str,
    require_content_type,
    require_object,
    sub_object,
)
from provenance.model.errors import InvalidPayload
from provenance.model.events import COMMIT_RE, Event, EventType, content_id
from provenance.model.references import strip_scheme

SOURCE = "quay"
CONTENT_TYPES = ("application/json",)
DEFAULT_HOST = "quay.io"

REPO_PUSH = "repo_push"
BUILD_QUEUED = "build_queued"
BUILD_START = "build_start"
BUILD_SUCCESS = "build_success"
BUILD_FAILURE = "build_failure"
BUILD_CANCELLED = "build_cancelled"
VULNERABILITY_FOUND = "vulnerability_found"
MIRROR_EVENTS = ("repo_mirror_sync_started", "repo_mirror_sync_success", "repo_mirror_sync_failed")


@dataclass(frozen=True, slots=True)
class _Notification:
    name: str  # Quay event name, e.g. repo_push
    body: Mapping[str, Any]
    repository: str
    received_at: datetime

    def event(self, etype: EventType, event_id: str, **fields: Any) -> Event:
        extra = fields.pop("attributes", {})
        return Event(
            id=event_id,
            type=etype,
            time=self.received_at,
            source=SOURCE,
            repository=self.repository,
            attributes={"quay_event": self.name, **extra},
            **fields,
        ).validate()

    def received_second(self) -> str:
        return self.received_at.replace(microsecond=0).isoformat()


@guarded
def normalize(delivery: Delivery, secrets: SourceSecrets) -> list[Event]:
    require_content_type(delivery.content_type, CONTENT_TYPES, SOURCE)
    body = require_object(load_json(delivery.body), "Quay notification")
    if "repository" not in body and "docker_url" not in body:
        raise InvalidPayload("not a Quay notification: no repository and docker_url")
    name = _event_name(delivery.params, body)
    notification = _Notification(
        name=name,
        body=body,
        repository=_repository(delivery.params, body),
        received_at=delivery.received_at,
    )
    handler = _HANDLERS.get(name, _notice)
    return handler(notification)


def _event_name(params: Mapping[str, str], body: Mapping[str, Any]) -> str:
    named = params.get("event", "").strip().lower()
    if named:
        if named not in _HANDLERS and named not in MIRROR_EVENTS:
            raise InvalidPayload(f"?event={named!r} is not a Quay notification event")
        return named
    if "updated_tags" in body:
        return REPO_PUSH
    if "vulnerability" in body or "vulnerabilities" in body:
        return VULNERABILITY_FOUND
    if "build_id" in body:
        if "error_message" in body:
            return BUILD_FAILURE
        if "is_manual" in body:
            return BUILD_QUEUED
        if "image_id" in body:
            return BUILD_SUCCESS
        return BUILD_START
    if "message" in body:
        return "repo_mirror_sync"
    return "unknown"


def _repository(params: Mapping[str, str], body: Mapping[str, Any]) -> str:
    docker_url = opt_str(body, "docker_url", "notification")
    if docker_url is not None:
        path = strip_scheme(docker_url.strip()).strip("/")
        host, slash, rest = path.partition("/")
        if slash and host and rest and not any(c.isspace() for c in path):
            return f"{host.lower()}/{rest}"
        raise InvalidPayload(f"docker_url {docker_url!r} is not <host>/<namespace>/<name>")
    name = req_str(body, "repository", "notification").strip().strip("/")
    if not name or any(c.isspace() for c in name):
        raise InvalidPayload(f"repository {name!r} is not <namespace>/<name>")
    return join_repository(registry_param(params) or DEFAULT_HOST, name)


# --- handlers ---------------------------------------------------------------------------


def _push(n: _Notification) -> list[Event]:
    tags = opt_list(n.body, "updated_tags", "repo_push")
    if not tags:
        raise InvalidPayload("repo_push: updated_tags is empty")
    events = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise InvalidPayload("repo_push: updated_tags[] must be non-empty strings")
        event_id = content_id(SOURCE, n.name, n.body, tag, n.received_second())
        events.append(
            n.event(
                EventType.ARTIFACT_PUSHED,
                event_id,
                tag=tag.strip(),
                attributes={"digest_unresolved": True},
            )
        )
    return events


_BUILD_TYPES = {
    BUILD_QUEUED: EventType.BUILD_QUEUED,
    BUILD_START: EventType.BUILD_STARTED,
    BUILD_SUCCESS: EventType.BUILD_FINISHED,
    BUILD_FAILURE: EventType.REGISTRY_NOTICE,
    BUILD_CANCELLED: EventType.REGISTRY_NOTICE,
}


def _build(n: _Notification) -> list[Event]:
    build_id = req_str(n.body, "build_id", n.name)
    trigger = sub_object(n.body, "trigger_metadata", n.name)
    commit_info = sub_object(trigger, "commit_info", "trigger_metadata")
    commit = opt_str(trigger, "commit", "trigger_metadata")
    commit = commit.strip().lower() if commit else None
    tags = [t for t in opt_list(n.body, "docker_tags", n.name) if isinstance(t, str) and t]
    etype = _BUILD_TYPES[n.name]
    attributes = compact(
        build_name=_scalar(n.body.get("build_name")),
        docker_tags=tags or None,
        trigger_id=_scalar(n.body.get("trigger_id")),
        trigger_kind=_scalar(n.body.get("trigger_kind")),
        ref=_scalar(trigger.get("ref")),
        image_id=_scalar(n.body.get("image_id")),
        is_manual=_scalar(n.body.get("is_manual")),
        error_message=_scalar(n.body.get("error_message")),
        homepage=_scalar(n.body.get("homepage")),
        notice=n.name if etype is EventType.REGISTRY_NOTICE else None,
    )
    return [
        n.event(
            etype,
            content_id(SOURCE, n.name, build_id),
            build=build_id,
            commit=commit if commit and COMMIT_RE.fullmatch(commit) else None,
            vcs_url=normalize_vcs_url(
                opt_str(trigger, "git_url", "trigger_metadata")
                or opt_str(commit_info, "url", "commit_info")
            ),
            attributes=attributes,
        )
    ]


def _vulnerability(n: _Notification) -> list[Event]:
    tags = [t for t in opt_list(n.body, "tags", n.name) if isinstance(t, str) and t]
    found = [
        _vulnerability_summary(v)
        for v in [n.body.get("vulnerability"), *opt_list(n.body, "vulnerabilities", n.name)]
        if isinstance(v, Mapping)
    ]
    return [
        n.event(
            EventType.REGISTRY_NOTICE,
            content_id(SOURCE, n.name, n.body),
            attributes=compact(notice=n.name, tags=tags or None, vulnerabilities=found or None),
        )
    ]


def _vulnerability_summary(vulnerability: Mapping[str, Any]) -> dict[str, Any]:
    return compact(
        **{
            key: _scalar(vulnerability.get(key))
            for key in ("id", "priority", "link", "description", "name")
        }
    )


def _notice(n: _Notification) -> list[Event]:
    """Mirror and unrecognized events: recurring, so stamped with the receive second."""
    return [
        n.event(
            EventType.REGISTRY_NOTICE,
            content_id(SOURCE, n.name, n.body, n.received_second()),
            attributes=compact(notice=n.name, message=_scalar(n.body.get("message"))),
        )
    ]


def _scalar(value: object) -> str | int | float | bool | None:
    return value if isinstance(value, str | int | float | bool) else None


_HANDLERS: dict[str, Callable[[_Notification], list[Event]]] = {
    REPO_PUSH: _push,
    **{name: _build for name in _BUILD_TYPES},
    VULNERABILITY_FOUND: _vulnerability,
}
