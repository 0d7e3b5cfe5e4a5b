"""Harbor webhooks, in the Default and the CloudEvents payload formats.

Default (`application/json`): `{type, occur_at, operator, event_data}`. CloudEvents
(`application/cloudevents+json`, or any body with `specversion`): `id`, `type`
(`harbor.artifact.pushed`...), `time`, extension `operator`, `data` = the Default
`event_data`.

Quirks handled here:
* One artifact event per `event_data.resources[]` entry.
* `resources[].tag` holds the digest when an artifact is pulled/deleted by digest or has no
  tag: a value starting with `sha256:` is not a tag.
* `repository` is `resource_url` without its `:tag` / `@digest` (`<ext-host>/<project>/<name>`),
  else the webhook URL's `registry` parameter + `repo_full_name`, else `repo_full_name`.
* The Default format has no event id: `content_id("harbor", type, occur_at, digest, tag,
  operator)` stands in for it. Either id gets `-<index>` when a delivery yields several
  events.
* SCANNING_COMPLETED (a vulnerability report that succeeded) -> `artifact.scanned` with
  scanner `harbor/<name>` and `summary` (Harbor's Critical/High/Medium/Low/Negligible/
  Unknown/None counts in our five severities), no ids (`ids_known: false`); the overview
  stays in attributes. SCANNING_FAILED/STOPPED and SBOM scans -> `registry.notice`;
  REPLICATION -> one `artifact.replicated` per replicated artifact, on the *source*
  repository (the destination is an attribute) since the payload names no digest;
  QUOTA_* -> `registry.notice`; TAG_RETENTION -> a `registry.notice` with the run's details,
  plus an `artifact.deleted` for each artifact the run deleted successfully: by digest
  (`repo@digest`), or by repository and tag (`repo:tag`, no digest: the projection resolves
  the digest the tag held at the run's time, and removes the tag).
* TAG_RETENTION `name_tag` is the repository *inside* the project (`alpine:3.8` in project
  `harbor`): the repository is `<harbor_hostname>/<project_name>/alpine`; a `name_tag` that
  already starts with the project is not prefixed twice.
* REPLICATION `name_tag` is `name:[tag1,tag2]`, or `name [N item(s) in total]` when Harbor
  only counted the artifacts (what Harbor's own handler writes): the name without the count
  (`items` = N in attributes), and no tag. A Docker Hub endpoint (`hub.docker.com`...) is
  named `docker.io`, as image references name it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.ingest.sources._common import (
    compact,
    guarded,
    host_of,
    join_repository,
    load_json,
    opt_digest,
    opt_list,
    opt_str,
    parse_when,
    registry_param,
    req_digest,
    req_str,
    require_content_type,
    require_object,
    sub_object,
)
from provenance.model import limits, references, scan_shape
from provenance.model.errors import InvalidPayload
from provenance.model.events import Event, EventType, content_id, is_digest

SOURCE = "harbor"
CONTENT_TYPES = ("application/json", "application/cloudevents+json")

# CloudEvents `type` -> the Default format's event type.
_CE_TYPES = {
    "harbor.artifact.pushed": "PUSH_ARTIFACT",
    "harbor.artifact.pulled": "PULL_ARTIFACT",
    "harbor.artifact.deleted": "DELETE_ARTIFACT",
    "harbor.scan.completed": "SCANNING_COMPLETED",
    "harbor.scan.failed": "SCANNING_FAILED",
    "harbor.scan.stopped": "SCANNING_STOPPED",
    "harbor.quota.exceeded": "QUOTA_EXCEED",
    "harbor.quota.warned": "QUOTA_WARNING",
    "harbor.replication.status.changed": "REPLICATION",
    "harbor.tag_retention.finished": "TAG_RETENTION",
}
# `alpine [1 item(s) in total]`: the count Harbor writes instead of the tags.
_ITEM_COUNT = re.compile(r"^(?P<name>.*?)\s*\[(?P<count>\d+) item\(s\) in total\]\s*$")
_DOCKER_HUB_HOSTS = frozenset(
    {"hub.docker.com", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
_ARTIFACT_TYPES = {
    "PUSH_ARTIFACT": EventType.ARTIFACT_PUSHED,
    "PULL_ARTIFACT": EventType.ARTIFACT_PULLED,
    "DELETE_ARTIFACT": EventType.ARTIFACT_DELETED,
}


@dataclass(frozen=True, slots=True)
class _Envelope:
    """What both formats share, once unwrapped."""

    kind: str  # Default-format type, e.g. PUSH_ARTIFACT
    time: datetime
    operator: str | None
    data: Mapping[str, Any]
    ce_id: str | None  # CloudEvents id; None in the Default format
    occur_at: Any  # Default format: the raw `occur_at`, part of the content id
    registry: str | None  # the `registry` query parameter, if any
    attributes: dict[str, Any]

    def event_id(self, index: int, count: int, digest: Any = None, tag: Any = None) -> str:
        """CloudEvents `id`, or the Default format's content id; `-<index>` when count > 1."""
        base = self.ce_id
        if base is None:
            base = content_id(SOURCE, self.kind, self.occur_at, digest, tag, self.operator)
        return base if count <= 1 else f"{base}-{index}"


@guarded
def normalize(delivery: Delivery, secrets: SourceSecrets) -> list[Event]:
    require_content_type(delivery.content_type, CONTENT_TYPES, SOURCE)
    body = require_object(load_json(delivery.body), "harbor payload")
    registry = registry_param(delivery.params)
    if delivery.content_type == "application/cloudevents+json" or "specversion" in body:
        envelope = _cloudevent(body, registry)
    else:
        envelope = _default(body, registry)
    handler = _HANDLERS.get(envelope.kind)
    if handler is None:
        raise InvalidPayload(f"unknown Harbor event type {envelope.kind!r}")
    return [event.validate() for event in handler(envelope)]


def _default(body: Mapping[str, Any], registry: str | None) -> _Envelope:
    if "event_data" not in body:
        raise InvalidPayload("not a Harbor payload: no event_data")
    kind = req_str(body, "type", "payload")
    occur_at = body.get("occur_at")
    operator = opt_str(body, "operator", "payload")
    return _Envelope(
        kind=kind,
        time=parse_when(occur_at, "payload.occur_at"),
        operator=operator,
        data=require_object(body["event_data"], "payload.event_data"),
        ce_id=None,
        occur_at=occur_at,
        registry=registry,
        attributes={"harbor_type": kind},
    )


def _cloudevent(body: Mapping[str, Any], registry: str | None) -> _Envelope:
    ce_type = req_str(body, "type", "cloudevent")
    kind = _CE_TYPES.get(ce_type)
    if kind is None:
        raise InvalidPayload(f"unknown Harbor CloudEvents type {ce_type!r}")
    if "data" not in body:
        raise InvalidPayload("cloudevent.data is required")
    return _Envelope(
        kind=kind,
        time=parse_when(body.get("time"), "cloudevent.time"),
        operator=opt_str(body, "operator", "cloudevent"),
        data=require_object(body["data"], "cloudevent.data"),
        ce_id=req_str(body, "id", "cloudevent"),
        occur_at=None,
        registry=registry,
        attributes=compact(
            harbor_type=kind,
            request_id=opt_str(body, "requestid", "cloudevent"),
            ce_source=opt_str(body, "source", "cloudevent"),
        ),
    )


# --- artifact, scan -------------------------------------------------------------------


def _resources(env: _Envelope) -> list[Mapping[str, Any]]:
    resources = [
        require_object(item, "event_data.resources[]")
        for item in opt_list(env.data, "resources", "event_data")
    ]
    if not resources:
        raise InvalidPayload(f"{env.kind}: event_data.resources is empty")
    return resources


def _repository(env: _Envelope, resource: Mapping[str, Any]) -> str | None:
    url = opt_str(resource, "resource_url", "resource")
    if url is not None:
        return references.split(url).name
    full_name = opt_str(sub_object(env.data, "repository", "event_data"), "repo_full_name", "")
    if full_name is None:
        return None
    return join_repository(env.registry, full_name)


def _resource_event(
    env: _Envelope, etype: EventType, index: int, count: int, resource: Mapping[str, Any]
) -> Event:
    digest = req_digest(resource.get("digest"), "resource.digest")
    raw_tag = opt_str(resource, "tag", "resource")
    tag = None if raw_tag is None or raw_tag.startswith("sha256:") else raw_tag
    return Event(
        id=env.event_id(index, count, digest, raw_tag),
        type=etype,
        time=env.time,
        source=SOURCE,
        digest=digest,
        repository=_repository(env, resource),
        tag=tag,
        actor=env.operator,
        attributes=dict(env.attributes),
    )


def _artifact_events(env: _Envelope) -> list[Event]:
    resources = _resources(env)
    etype = _ARTIFACT_TYPES[env.kind]
    return [
        _resource_event(env, etype, index, len(resources), resource)
        for index, resource in enumerate(resources)
    ]


def _scan_events(env: _Envelope) -> list[Event]:
    """A completed vulnerability scan gives its counts (Harbor sends no ids); a failed or
    stopped one, or an SBOM scan, says nothing about vulnerabilities: a notice, so it
    does not replace the scanner's last real scan."""
    resources = _resources(env)
    scan_type = opt_str(sub_object(env.data, "scan", "event_data"), "scan_type", "scan")
    events = []
    for index, resource in enumerate(resources):
        event = _resource_event(env, EventType.ARTIFACT_SCANNED, index, len(resources), resource)
        overview = _scan_summary(resource)
        attributes = dict(event.attributes)
        attributes.update(compact(scan_type=scan_type, **overview))
        status = str(overview.get("scan_status") or "Success").lower()
        counts = overview.get("severity_counts")
        if env.kind != "SCANNING_COMPLETED" or scan_type == "sbom" or status != "success":
            notice = f"scan.{env.kind.removeprefix('SCANNING_').lower()}"
            attributes["notice"] = notice if status == "success" else f"scan.{status}"
            events.append(event.with_changes(type=EventType.REGISTRY_NOTICE, attributes=attributes))
            continue
        scanner = overview.get("scanner") or {}
        name = scanner.get("name") if isinstance(scanner.get("name"), str) else None
        attributes["ids_known"] = False
        events.append(
            event.with_changes(
                scanner=f"harbor/{(name or 'scanner').strip().lower()}"[:100],
                vulnerabilities=(),
                summary=_severity_counts(counts if isinstance(counts, Mapping) else {}),
                attributes=attributes,
            )
        )
    return events


def _severity_counts(counts: Mapping[str, Any]) -> dict[str, int]:
    """Harbor's `{"Critical": n, ..., "Negligible": n, "None": n}` in our five severities."""
    out = dict.fromkeys(scan_shape.SEVERITIES, 0)
    for word, count in counts.items():
        if isinstance(count, int) and not isinstance(count, bool) and count > 0:
            key = scan_shape.severity_of(word)
            out[key] = min(out[key] + count, limits.SAFE_INTEGER)
    return out


def _scan_summary(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The first report of `scan_overview` (or `sbom_overview`), reduced to its verdict."""
    overview = sub_object(resource, "scan_overview", "resource") or sub_object(
        resource, "sbom_overview", "resource"
    )
    for report_type, report in overview.items():
        if not isinstance(report, Mapping):
            continue
        summary = report.get("summary")
        counts = summary.get("summary") if isinstance(summary, Mapping) else None
        scanner = report.get("scanner")
        return compact(
            report_type=report_type,
            scan_status=_json_scalar(report.get("scan_status")),
            severity=_json_scalar(report.get("severity")),
            total=_json_scalar(summary.get("total")) if isinstance(summary, Mapping) else None,
            fixable=_json_scalar(summary.get("fixable")) if isinstance(summary, Mapping) else None,
            severity_counts=dict(counts) if isinstance(counts, Mapping) else None,
            scanner=dict(scanner) if isinstance(scanner, Mapping) else None,
            report_id=_json_scalar(report.get("report_id")),
        )
    return {}


def _json_scalar(value: object) -> str | int | float | bool | None:
    return value if isinstance(value, str | int | float | bool) else None


# --- replication, quota, retention ----------------------------------------------------


def _replication_events(env: _Envelope) -> list[Event]:
    replication = sub_object(env.data, "replication", "event_data")
    if not replication:
        raise InvalidPayload("REPLICATION: event_data.replication is required")
    source = sub_object(replication, "src_resource", "replication")
    dest = sub_object(replication, "dest_resource", "replication")
    src_host = _endpoint_host(source) or opt_str(replication, "harbor_hostname", "replication")
    dest_host = _endpoint_host(dest)
    entries = [
        require_object(item, "replication artifact")
        for key in ("successful_artifact", "failed_artifact")
        for item in opt_list(replication, key, "replication")
    ]
    common = compact(
        job_status=opt_str(replication, "job_status", "replication"),
        trigger_type=opt_str(replication, "trigger_type", "replication"),
        execution_id=_json_scalar(replication.get("execution_id")),
        task_id=_json_scalar(replication.get("task_id")),
        description=opt_str(replication, "description", "replication"),
    )
    if not entries:
        return [_notice(env, {**common, "notice": "replication"})]
    src_ns = opt_str(source, "namespace", "src_resource")
    dest_ns = opt_str(dest, "namespace", "dest_resource")
    events = []
    for index, entry in enumerate(entries):
        name_tag = req_str(entry, "name_tag", "replication artifact")
        name, tags, items = _replicated_name(name_tag)
        if not name:
            raise InvalidPayload(f"replication name_tag {name_tag!r} names no repository")
        repository = join_repository(src_host, _join_path(src_ns, name))
        events.append(
            Event(
                id=env.event_id(index, len(entries), None, name_tag),
                type=EventType.ARTIFACT_REPLICATED,
                time=env.time,
                source=SOURCE,
                repository=repository,
                tag=tags[0] if len(tags) == 1 else None,
                actor=env.operator,
                attributes={
                    **env.attributes,
                    **common,
                    **compact(
                        destination=join_repository(dest_host, _join_path(dest_ns, name)),
                        destination_registry=opt_str(dest, "registry_name", "dest_resource"),
                        status=opt_str(entry, "status", "replication artifact"),
                        tags=tags or None,
                        items=items,
                        fail_reason=opt_str(entry, "fail_reason", "replication artifact"),
                    ),
                },
            )
        )
    return events


def _endpoint_host(resource: Mapping[str, Any]) -> str | None:
    endpoint = opt_str(resource, "endpoint", "resource")
    if endpoint is None:
        return None
    host = host_of(endpoint) if "://" in endpoint else endpoint.strip("/").lower() or None
    return "docker.io" if host in _DOCKER_HUB_HOSTS else host


def _replicated_name(name_tag: str) -> tuple[str, list[str], int | None]:
    """`payments-api:[v1.4.2,latest]` -> (`payments-api`, [`v1.4.2`, `latest`], None);
    `alpine [1 item(s) in total]` -> (`alpine`, [], 1)."""
    counted = _ITEM_COUNT.match(name_tag)
    if counted:
        return counted["name"].strip(), [], int(counted["count"])
    name, _, tags = name_tag.partition(":")
    tags = tags.strip().removeprefix("[").removesuffix("]")
    return name.strip(), [t.strip() for t in tags.split(",") if t.strip()], None


def _join_path(namespace: str | None, name: str) -> str:
    if namespace and not name.startswith(f"{namespace}/"):
        return f"{namespace}/{name}"
    return name


def _quota_events(env: _Envelope) -> list[Event]:
    custom = sub_object(env.data, "custom_attributes", "event_data")
    repo = sub_object(env.data, "repository", "event_data")
    resources = opt_list(env.data, "resources", "event_data")
    details = {k: v for k, v in custom.items() if isinstance(v, str | int | float | bool)}
    full_name = opt_str(repo, "repo_full_name", "repository")
    digests = [
        r["digest"] for r in resources if isinstance(r, Mapping) and is_digest(r.get("digest"))
    ]
    return [
        _notice(
            env,
            compact(
                notice=env.kind.lower(),
                details=details or None,
                repository=join_repository(env.registry, full_name) if full_name else None,
                digests=digests or None,
            ),
        )
    ]


def _retention_events(env: _Envelope) -> list[Event]:
    retention = sub_object(env.data, "retention", "event_data")
    if not retention:
        raise InvalidPayload("TAG_RETENTION: event_data.retention is required")
    host = opt_str(retention, "harbor_hostname", "retention") or env.registry
    project = opt_str(retention, "project_name", "retention")
    deleted = [
        require_object(item, "retention.deleted_artifact[]")
        for item in opt_list(retention, "deleted_artifact", "retention")
    ]
    summary = compact(
        notice="tag_retention",
        total=_json_scalar(retention.get("total")),
        retained=_json_scalar(retention.get("retained")),
        result=opt_str(retention, "result", "retention"),
        project=project,
        policy_id=_json_scalar(retention.get("retention_policy_id")),
        deleted=[item["name_tag"] for item in deleted if isinstance(item.get("name_tag"), str)],
    )
    events = [_notice(env, summary)]
    for index, item in enumerate(deleted):
        status = opt_str(item, "status", "deleted_artifact")
        name_tag = opt_str(item, "name_tag", "deleted_artifact")
        if name_tag is None or (status or "").upper() != "SUCCESS":
            continue
        ref = references.split(name_tag)
        path, tag = ref.name, ref.tag
        digest = opt_digest(ref.digest, "deleted_artifact.name_tag digest")
        if digest is None and tag is None:
            continue
        events.append(
            Event(
                id=env.event_id(index + 1, len(deleted) + 1, digest, name_tag),
                # `repo:tag`: the artifact the tag held then (the projection resolves it
                # from the tag's history) is deleted, and the tag with it.
                type=EventType.ARTIFACT_DELETED,
                time=env.time,
                source=SOURCE,
                digest=digest,
                repository=join_repository(
                    host.lower() if host else None, _join_path(project, path)
                ),
                tag=None if digest else tag,
                actor=env.operator,
                attributes={**env.attributes, "reason": "tag_retention"},
            )
        )
    return events


def _notice(env: _Envelope, details: Mapping[str, Any]) -> Event:
    return Event(
        id=env.event_id(0, 1),
        type=EventType.REGISTRY_NOTICE,
        time=env.time,
        source=SOURCE,
        actor=env.operator,
        attributes={**env.attributes, **details},
    )


_HANDLERS: dict[str, Callable[[_Envelope], list[Event]]] = {
    "PUSH_ARTIFACT": _artifact_events,
    "PULL_ARTIFACT": _artifact_events,
    "DELETE_ARTIFACT": _artifact_events,
    "SCANNING_COMPLETED": _scan_events,
    "SCANNING_FAILED": _scan_events,
    "SCANNING_STOPPED": _scan_events,
    "QUOTA_EXCEED": _quota_events,
    "QUOTA_WARNING": _quota_events,
    "REPLICATION": _replication_events,
    "TAG_RETENTION": _retention_events,
}
