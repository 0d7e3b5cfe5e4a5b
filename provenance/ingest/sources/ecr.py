"""Amazon ECR events, as EventBridge delivers them (API destination, or a forwarder).

Body: the EventBridge envelope `{"version", "id", "detail-type", "source": "aws.ecr",
"account", "time", "region", "resources", "detail"}`, or a JSON array of such envelopes
(what a batching forwarder, e.g. an SQS-draining Lambda, may post). Each envelope gives one
event, whose id is the envelope `id` (EventBridge's dedupe key) and whose time is `time`.

Mapping (`detail-type` / `detail.action-type`):
* `ECR Image Action` PUSH -> `artifact.pushed`; DELETE with a digest -> `artifact.deleted`
  (ECR names the deleted image's tag too: it is kept as `tag`), DELETE with only
  `image-tag` -> `tag.deleted`; UPDATE_STORAGE_CLASS (archive/restore) -> `registry.notice`.
  `result: FAILURE` -> `registry.notice` whatever the action.
* `ECR Referrer Action` (SBOMs, signatures, attestations) is read the same way; its only
  documented action, UPDATE_STORAGE_CLASS, is a `registry.notice`. Referrers' media types
  become `media_type` / `attributes.artifact_media_type`.
* `ECR Image Scan` (basic scanning) -> `artifact.scanned`, scanner `ecr-basic`, `summary`
  from `finding-severity-counts` (no ids: `ids_known: false`); status, `image-tags` and the
  counts as sent in attributes. A scan whose status is not COMPLETE is a `registry.notice`.
* `Inspector2 Finding` (source `aws.inspector2`, enhanced scanning) -> `artifact.scanned`,
  scanner `amazon-inspector`, about one finding (`attributes.finding`): ACTIVE lists it,
  CLOSED or SUPPRESSED withdraws it (empty `vulnerabilities`, `withdrawn`). A finding about
  anything but an ECR image (EC2, Lambda) is a `registry.notice`.
* `ECR Replication Action` -> `artifact.replicated` on the *source* repository
  (`source-account` / `source-region`), the destination (this envelope's account and
  region) in `attributes.destination`, as Harbor replication is mapped.
* `ECR Pull Through Cache Action`, `ECR Scan Resource Change`, `ECR Artifact Action`,
  CloudTrail API-call events and any other `aws.ecr` detail-type -> `registry.notice`
  with the detail's scalar fields in attributes.

Quirks handled here:
* ECR names no actor, client or user agent (only CloudTrail does), and sends no pull events.
* `repository` is `<account>.dkr.ecr.<region>.amazonaws.com/<repository-name>`
  (`.amazonaws.com.cn` in the `cn-` regions).
* An envelope whose `source` is not `aws.ecr` is a 422: it is some other AWS service.
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
    load_json,
    opt_digest,
    opt_list,
    opt_str,
    parse_when,
    req_str,
    require_content_type,
    require_object,
    sub_object,
)
from provenance.model import limits, scan_shape
from provenance.model.errors import InvalidPayload
from provenance.model.events import Event, EventType

SOURCE = "ecr"
CONTENT_TYPES = ("application/json",)
EVENT_SOURCE = "aws.ecr"
INSPECTOR_SOURCE = "aws.inspector2"
INSPECTOR_FINDING = "Inspector2 Finding"

IMAGE_ACTION = "ECR Image Action"
REFERRER_ACTION = "ECR Referrer Action"
IMAGE_SCAN = "ECR Image Scan"
REPLICATION_ACTION = "ECR Replication Action"


@dataclass(frozen=True, slots=True)
class _Envelope:
    id: str
    detail_type: str
    time: datetime
    account: str
    region: str
    detail: Mapping[str, Any]

    def repository(
        self, name: str | None, account: str | None = None, region: str | None = None
    ) -> str | None:
        """`<account>.dkr.ecr.<region>.amazonaws.com/<name>`; this envelope's by default."""
        if name is None:
            return None
        path = name.strip().strip("/")
        if not path:
            raise InvalidPayload(f"repository name {name!r} is empty")
        return f"{registry_host(account or self.account, region or self.region)}/{path}"

    def event(self, etype: EventType, **fields: Any) -> Event:
        extra = fields.pop("attributes", {})
        return Event(
            id=self.id,
            type=etype,
            time=self.time,
            source=SOURCE,
            attributes={"detail_type": self.detail_type, **extra},
            **fields,
        ).validate()


@guarded
def normalize(delivery: Delivery, secrets: SourceSecrets) -> list[Event]:
    require_content_type(delivery.content_type, CONTENT_TYPES, SOURCE)
    parsed = load_json(delivery.body)
    items = parsed if isinstance(parsed, list) else [parsed]
    events: list[Event] = []
    for index, item in enumerate(items):
        try:
            events.append(_normalize_one(_envelope(item)))
        except InvalidPayload as exc:
            if not isinstance(parsed, list):
                raise
            raise InvalidPayload(f"envelope #{index}: {exc.detail}") from exc
    return events


def registry_host(account: str, region: str) -> str:
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{suffix}"


def _envelope(item: object) -> _Envelope:
    body = require_object(item, "EventBridge event")
    if "detail-type" not in body or "detail" not in body:
        raise InvalidPayload("not an EventBridge event: no detail-type and detail")
    source = req_str(body, "source", "event")
    if source == INSPECTOR_SOURCE and body.get("detail-type") == INSPECTOR_FINDING:
        pass  # Inspector's findings on ECR images: enhanced scanning, same route
    elif source != EVENT_SOURCE:
        raise InvalidPayload(f"EventBridge source {source!r} is not {EVENT_SOURCE}")
    account = req_str(body, "account", "event").strip()
    region = req_str(body, "region", "event").strip().lower()
    if not account or "/" in account or not region or "/" in region:
        raise InvalidPayload("event.account and event.region must name an ECR registry")
    return _Envelope(
        id=req_str(body, "id", "event"),
        detail_type=req_str(body, "detail-type", "event"),
        time=parse_when(body.get("time"), "event.time"),
        account=account,
        region=region,
        detail=require_object(body["detail"], "event.detail"),
    )


def _normalize_one(env: _Envelope) -> Event:
    handler = _HANDLERS.get(env.detail_type, _notice)
    return handler(env)


# --- handlers ---------------------------------------------------------------------------


def _action(env: _Envelope) -> Event:
    """Image and referrer actions: PUSH, DELETE, UPDATE_STORAGE_CLASS."""
    detail = env.detail
    action = (opt_str(detail, "action-type", "detail") or "").upper()
    result = (opt_str(detail, "result", "detail") or "SUCCESS").upper()
    digest = opt_digest(detail.get("image-digest"), "detail.image-digest")
    tag = opt_str(detail, "image-tag", "detail")
    repository = env.repository(req_str(detail, "repository-name", "detail"))
    attributes = compact(
        action_type=action or None,
        result=result,
        artifact_media_type=opt_str(detail, "artifact-media-type", "detail"),
        target_storage_class=opt_str(detail, "target-storage-class", "detail"),
        last_activated_at=opt_str(detail, "last-activated-at", "detail"),
    )
    media_type = opt_str(detail, "manifest-media-type", "detail")
    common: dict[str, Any] = {
        "digest": digest,
        "repository": repository,
        "tag": tag,
        "media_type": media_type,
    }
    if result != "SUCCESS":
        return env.event(
            EventType.REGISTRY_NOTICE,
            **common,
            attributes={**attributes, "notice": f"{(action or 'action').lower()}.failed"},
        )
    if action == "PUSH" and (digest or tag):
        return env.event(EventType.ARTIFACT_PUSHED, **common, attributes=attributes)
    if action == "DELETE" and digest:
        return env.event(EventType.ARTIFACT_DELETED, **common, attributes=attributes)
    if action == "DELETE" and tag:
        return env.event(
            EventType.TAG_DELETED, **{**common, "media_type": None}, attributes=attributes
        )
    notice = {
        "UPDATE_STORAGE_CLASS": "storage_class_changed",
        "PUSH": "push without digest or tag",
        "DELETE": "delete without digest or tag",
    }.get(action, (action or "action").lower())
    return env.event(
        EventType.REGISTRY_NOTICE, **common, attributes={**attributes, "notice": notice}
    )


def _scan(env: _Envelope) -> Event:
    detail = env.detail
    tags = [t for t in opt_list(detail, "image-tags", "detail") if isinstance(t, str) and t]
    counts = sub_object(detail, "finding-severity-counts", "detail")
    kept = {str(k): v for k, v in counts.items() if isinstance(v, int) and not isinstance(v, bool)}
    status = opt_str(detail, "scan-status", "detail")
    fields: dict[str, Any] = {
        "digest": opt_digest(detail.get("image-digest"), "detail.image-digest"),
        "repository": env.repository(req_str(detail, "repository-name", "detail")),
    }
    attributes = compact(scan_status=status, image_tags=tags or None, severity_counts=kept)
    if (status or "COMPLETE").upper() != "COMPLETE" or fields["digest"] is None:
        # A failed scan found nothing: it must not replace the last complete one.
        notice = f"scan.{(status or 'incomplete').lower()}"
        return env.event(
            EventType.REGISTRY_NOTICE, **fields, attributes={**attributes, "notice": notice}
        )
    summary = dict.fromkeys(scan_shape.SEVERITIES, 0)
    for word, count in kept.items():
        key = scan_shape.severity_of(word)
        summary[key] = min(summary[key] + max(count, 0), limits.SAFE_INTEGER)
    return env.event(
        EventType.ARTIFACT_SCANNED,
        **fields,
        scanner="ecr-basic",
        vulnerabilities=(),
        summary=summary,
        attributes={**attributes, "ids_known": False},
    )


def _inspector_finding(env: _Envelope) -> Event:
    """One Amazon Inspector finding on one ECR image: listed while ACTIVE, withdrawn when
    CLOSED or SUPPRESSED."""
    detail = env.detail
    image: Mapping[str, Any] = {}
    region = env.region
    for item in opt_list(detail, "resources", "detail"):
        resource = require_object(item, "detail.resources[]")
        details = sub_object(resource, "details", "resource")
        found = sub_object(details, "awsEcrContainerImage", "resource.details")
        if found:
            image = found
            region = (opt_str(resource, "region", "resource") or region).strip().lower()
            break
    vuln = sub_object(detail, "packageVulnerabilityDetails", "detail")
    vid = opt_str(vuln, "vulnerabilityId", "packageVulnerabilityDetails")
    status = (opt_str(detail, "status", "detail") or "ACTIVE").upper()
    base = compact(
        finding_arn=opt_str(detail, "findingArn", "detail"),
        status=status,
        title=opt_str(detail, "title", "detail"),
        finding_type=opt_str(detail, "type", "detail"),
    )
    if not image or not vid:
        return env.event(
            EventType.REGISTRY_NOTICE, attributes={**base, "notice": "inspector.finding"}
        )
    name = req_str(image, "repositoryName", "awsEcrContainerImage")
    account = opt_str(image, "registry", "awsEcrContainerImage") or env.account
    if "/" in account or "/" in region or not region:
        raise InvalidPayload("awsEcrContainerImage.registry and region must name an ECR registry")
    digest = opt_digest(image.get("imageHash"), "awsEcrContainerImage.imageHash")
    if digest is None:
        raise InvalidPayload("awsEcrContainerImage.imageHash is required")
    finding: dict[str, Any] = {
        "id": vid.strip(),
        "severity": scan_shape.severity_of(detail.get("severity")),
    }
    packages = opt_list(vuln, "vulnerablePackages", "packageVulnerabilityDetails")
    first = packages[0] if packages and isinstance(packages[0], Mapping) else {}
    for key, theirs in (
        ("package", "name"),
        ("version", "version"),
        ("fixed_version", "fixedInVersion"),
    ):
        value = first.get(theirs)
        if isinstance(value, str) and value:
            finding[key] = value
    related = [
        r
        for r in opt_list(vuln, "relatedVulnerabilities", "packageVulnerabilityDetails")
        if isinstance(r, str) and r.strip()
    ]
    if related:
        finding["related"] = related
    active = status == "ACTIVE"
    return env.event(
        EventType.ARTIFACT_SCANNED,
        digest=digest,
        repository=env.repository(name, account, region),
        scanner="amazon-inspector",
        vulnerabilities=(finding,) if active else (),
        attributes={
            **base,
            "finding": finding["id"],
            **({} if active else {"withdrawn": [finding["id"]]}),
        },
    )


def _replication(env: _Envelope) -> Event:
    detail = env.detail
    name = req_str(detail, "repository-name", "detail")
    result = (opt_str(detail, "result", "detail") or "SUCCESS").upper()
    source_account = opt_str(detail, "source-account", "detail")
    source_region = opt_str(detail, "source-region", "detail")
    for value, what in ((source_account, "source-account"), (source_region, "source-region")):
        if value is not None and "/" in value:
            raise InvalidPayload(f"detail.{what} {value!r} is not an account or region")
    destination = env.repository(name)
    digest = opt_digest(detail.get("image-digest"), "detail.image-digest")
    attributes = compact(
        action_type=opt_str(detail, "action-type", "detail"),
        result=result,
        destination=destination,
        source_account=source_account,
        source_region=source_region,
    )
    etype = EventType.ARTIFACT_REPLICATED if result == "SUCCESS" else EventType.REGISTRY_NOTICE
    if etype is EventType.REGISTRY_NOTICE:
        attributes["notice"] = "replication.failed"
    return env.event(
        etype,
        digest=digest,
        repository=env.repository(name, source_account, source_region and source_region.lower()),
        tag=opt_str(detail, "image-tag", "detail"),
        attributes=attributes,
    )


def _notice(env: _Envelope) -> Event:
    """Any other ECR event: a notice keeping the detail's scalar fields."""
    detail = env.detail
    scalars = {str(k): v for k, v in detail.items() if isinstance(v, str | int | float | bool)}
    name = detail.get("repository-name")
    digest = detail.get("image-digest")
    tag = detail.get("image-tag")
    return env.event(
        EventType.REGISTRY_NOTICE,
        digest=opt_digest(digest, "detail.image-digest"),
        repository=env.repository(name if isinstance(name, str) and name.strip("/") else None),
        tag=tag if isinstance(tag, str) and tag else None,
        attributes={"notice": env.detail_type, "details": scalars},
    )


_HANDLERS: dict[str, Callable[[_Envelope], Event]] = {
    IMAGE_ACTION: _action,
    REFERRER_ACTION: _action,
    IMAGE_SCAN: _scan,
    INSPECTOR_FINDING: _inspector_finding,
    REPLICATION_ACTION: _replication,
}
