"""Admission decisions: the Kubernetes validating-webhook protocol, judged by the trust policy.

    parse_review(body) -> Review              an AdmissionReview (admission.k8s.io/v1 or
                                              v1beta1), or Unparseable (400) / InvalidPayload
    judge(review, facts, policy) -> Decision  pure rules, one reason per failed rule per image
    answer(review, decision) -> dict          the AdmissionReview answered, in the version asked
    decision_event(review, decision, ...)     the `admission.decided` evidence for the log
    decide(db, delivery, policy, ...)         the use case: parse, read the graph, judge, log

Where the pod spec is (FORMATS.md 14): `spec` of a Pod, `spec.template.spec` of a Deployment,
StatefulSet, DaemonSet, ReplicaSet, Job or ReplicationController, `template.spec` of a
PodTemplate, `spec.jobTemplate.spec.template.spec` of a CronJob; the images are those of its
`containers`, `initContainers` and `ephemeralContainers`. DELETE and CONNECT, subresources
other than `ephemeralcontainers`, and objects of any other kind are allowed without
judgement (they run no new image). Each reference is read by `provenance.model.references.parse`,
the kubelet's reading (`nginx` is `docker.io/library/nginx:latest`).

The rules, for each image, in this order:
  * the reference must parse;
  * its `registry/repository` must be under one of `registries` (when any are listed);
  * it must be known: pinned by a digest the graph holds, or a tag pointing (at this moment,
    by the tag's history) at one. An unknown image is refused with `unknown_image: deny`;
    with `allow` it is admitted with a warning, and no other rule judges it (there is no
    evidence to judge it by);
  * each requirement of `require`: `signed` / `attested`, a signature / attestation of the
    digest whose latest verdict verified; `known_build`, a build record (a CI build event,
    a registry's build, or build provenance that verified) produced the digest;
  * `max_severity`: the worst finding of the digest's latest scan is not above it.

In `warn` mode every review is allowed and the reasons are `warnings`; in `enforce` mode a
review with any reason is refused (403) and `status.message` lists them per image.
The decision is an intent (the object is not persisted yet): the audit event confirms it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson

from provenance.ingest.sources import Delivery
from provenance.model import limits, references
from provenance.model.errors import InvalidPayload, Unparseable
from provenance.model.events import Event, EventType
from provenance.model.references import ImageReference
from provenance.model.timeutil import utcnow
from provenance.store import Database
from provenance.store import admission as store
from provenance.store.admission import ImageFacts, SeverityReader
from provenance.trust.policy import AdmissionPolicy

logger = logging.getLogger(__name__)

SOURCE = "admission"  # the log source of decisions, and their events' source
API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")
JUDGED_OPERATIONS = ("CREATE", "UPDATE")
JUDGED_SUBRESOURCES = ("", "ephemeralcontainers")  # pods/ephemeralcontainers adds images
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")

# Where each kind keeps its pod spec.
POD_SPEC: Mapping[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


# --- the review ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImageUse:
    """One container's image as written, and the list it is in."""

    container: str | None
    list: str  # containers | initContainers | ephemeralContainers
    image: str | None  # None: the container names no image (the API server refuses it)

    @property
    def label(self) -> str:
        return f"{self.image or '(no image)'} (container {self.container or '?'})"


@dataclass(frozen=True, slots=True)
class Review:
    api_version: str
    uid: str
    operation: str
    kind: str | None  # request.kind.kind
    namespace: str | None
    name: str | None
    user: str | None
    dry_run: bool
    judged: bool  # False: allowed without judgement (no pod spec, DELETE, ...)
    images: tuple[ImageUse, ...] = ()


# What `parse_review` refuses, as a JSON Schema (the OpenAPI's request body): exactly these
# rules, so that a body the schema admits is always answered, and one it refuses never is.
# Everything else in a review is read leniently: the API server built it, and a field of an
# unexpected shape means "not there".
UID_LENGTH = limits.EVENT_ID


def review_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "request"],
        "properties": {
            "apiVersion": {"type": "string", "enum": list(API_VERSIONS)},
            "kind": {"type": "string", "enum": ["AdmissionReview"]},
            "request": {
                "type": "object",
                "required": ["uid", "operation"],
                "properties": {
                    "uid": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": UID_LENGTH,
                        "pattern": "^[^\\x00]*$",
                    },
                    "operation": {"type": "string", "enum": list(OPERATIONS)},
                },
            },
        },
    }


def _load(body: bytes) -> Any:
    """JSON, with the standard library as the fallback for what orjson does not take
    (integers beyond 64 bits are valid JSON); NaN and Infinity are not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as first:
        try:
            return json.loads(body, parse_constant=_not_json)
        except (ValueError, RecursionError):
            raise Unparseable(f"body is not valid JSON: {first}") from first


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_review(body: bytes) -> Review:
    doc = _load(body)
    if not isinstance(doc, Mapping):
        raise InvalidPayload("an AdmissionReview must be a JSON object")
    api_version = doc.get("apiVersion")
    if not isinstance(api_version, str) or api_version not in API_VERSIONS:
        raise InvalidPayload(f"apiVersion must be one of {', '.join(API_VERSIONS)}")
    if doc.get("kind") != "AdmissionReview":
        raise InvalidPayload("kind must be AdmissionReview")
    request = doc.get("request")
    if not isinstance(request, Mapping):
        raise InvalidPayload("request must be a JSON object")
    uid = request.get("uid")
    if not isinstance(uid, str) or not 1 <= len(uid) <= UID_LENGTH or "\x00" in uid:
        raise InvalidPayload(
            f"request.uid must be a string of 1 to {UID_LENGTH} characters without NUL"
        )
    operation = request.get("operation")
    if not isinstance(operation, str) or operation not in OPERATIONS:
        raise InvalidPayload(f"request.operation must be one of {', '.join(OPERATIONS)}")
    kind = _str(_obj(request.get("kind")).get("kind"))
    sub = _str(request.get("subResource")) or ""
    user = _str(_obj(request.get("userInfo")).get("username"))
    obj = request.get("object")
    spec = _pod_spec(obj, kind) if isinstance(obj, Mapping) else None
    judged = operation in JUDGED_OPERATIONS and sub in JUDGED_SUBRESOURCES and spec is not None
    return Review(
        api_version=str(api_version),
        uid=uid,
        operation=str(operation),
        kind=kind,
        namespace=_str(request.get("namespace")),
        name=_str(request.get("name")) or _str(_obj(_obj(obj).get("metadata")).get("name")),
        user=user,
        dry_run=request.get("dryRun") is True,
        judged=judged,
        images=_images(spec) if judged and spec is not None else (),
    )


def _obj(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _pod_spec(obj: Mapping[str, Any], kind: str | None) -> Mapping[str, Any] | None:
    """The pod spec of `obj`, by the request's kind (else the object's own)."""
    path = POD_SPEC.get(kind or "") or POD_SPEC.get(_str(obj.get("kind")) or "")
    if path is None:
        return None
    node: object = obj
    for step in path:
        node = _obj(node).get(step)
    return node if isinstance(node, Mapping) else None


def _images(spec: Mapping[str, Any]) -> tuple[ImageUse, ...]:
    out = []
    for name in CONTAINER_LISTS:
        containers = spec.get(name)
        if not isinstance(containers, list):
            continue
        for c in containers:
            if not isinstance(c, Mapping):
                continue
            image = c.get("image")
            out.append(
                ImageUse(_str(c.get("name")), name, image if isinstance(image, str) else None)
            )
    return tuple(out)


# --- the rules -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImageVerdict:
    use: ImageUse
    reference: ImageReference | None  # None: not a reference
    facts: ImageFacts | None
    reasons: tuple[str, ...]
    notes: tuple[str, ...] = ()  # warnings that refuse nothing (an unknown image allowed)

    def to_dict(self) -> dict[str, Any]:
        f = self.facts
        return {
            "container": self.use.container,
            "list": self.use.list,
            "image": self.use.image,
            "digest": f.digest if f else None,
            "resolved_by": f.resolved_by if f else None,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    mode: Literal["enforce", "warn"]
    images: tuple[ImageVerdict, ...] = ()
    seq: int | None = None  # the log entry holding it (None: a duplicate uid, or a dry run)

    @property
    def reasons(self) -> list[str]:
        return [f"{v.use.label}: {r}" for v in self.images for r in v.reasons]

    @property
    def warnings(self) -> list[str]:
        notes = [f"{v.use.label}: {n}" for v in self.images for n in v.notes]
        return (self.reasons if self.mode == "warn" else []) + notes


def reference_of(use: ImageUse) -> ImageReference | None:
    """The reference as the kubelet reads it; no tag and no digest means `:latest`."""
    if use.image is None:
        return None
    try:
        ref = references.parse(use.image)
    except InvalidPayload:
        return None
    if ref.tag is None and ref.digest is None:
        return ImageReference(ref.registry, ref.repository, "latest", None)
    return ref


def judge_image(
    use: ImageUse, ref: ImageReference | None, facts: ImageFacts | None, policy: AdmissionPolicy
) -> ImageVerdict:
    if ref is None or facts is None:
        return ImageVerdict(use, None, None, ("not an image reference",))
    reasons: list[str] = []
    if not policy.registry_allowed(ref.name):
        reasons.append(f"registry not allowed (allowed: {', '.join(policy.registries)})")
    if facts.digest is None or not facts.known:
        what = (
            "its digest is not in the graph"
            if facts.digest
            else f"tag {ref.named} points at no known digest"
        )
        if policy.unknown_image == "deny":
            return ImageVerdict(use, ref, facts, (*reasons, f"unknown image: {what}"))
        note = f"unknown image admitted by policy: {what}"
        return ImageVerdict(use, ref, facts, tuple(reasons), (note,))
    if "signed" in policy.require and not facts.signed:
        reasons.append("not signed: no signature verified under the trust policy")
    if "attested" in policy.require and not facts.attested:
        reasons.append("not attested: no attestation verified under the trust policy")
    if "known_build" in policy.require and not facts.known_build:
        reasons.append("no known build: no build record produced this digest")
    if policy.too_severe(facts.severity):
        reasons.append(
            f"vulnerable: its latest scan found {facts.severity}, above {policy.max_severity}"
        )
    return ImageVerdict(use, ref, facts, tuple(reasons))


def judge(
    review: Review,
    facts: Mapping[ImageReference, ImageFacts],
    policy: AdmissionPolicy,
) -> Decision:
    verdicts = []
    for use in review.images:
        ref = reference_of(use)
        verdicts.append(judge_image(use, ref, facts.get(ref) if ref else None, policy))
    refused = any(v.reasons for v in verdicts)
    return Decision(
        allowed=policy.mode == "warn" or not refused, mode=policy.mode, images=tuple(verdicts)
    )


# --- the answer and the evidence -------------------------------------------------------


def answer(review: Review, decision: Decision) -> dict[str, Any]:
    """The AdmissionReview the API server reads, in the apiVersion it sent."""
    response: dict[str, Any] = {"uid": review.uid, "allowed": decision.allowed}
    reasons = decision.reasons
    if not decision.allowed:
        response["status"] = {
            "code": 403,
            "reason": "Forbidden",
            "message": "refused by the provenance trust policy: " + "; ".join(reasons),
        }
    elif reasons:
        response["status"] = {"message": "; ".join(reasons)}
    if decision.warnings:
        response["warnings"] = decision.warnings
    if decision.seq is not None:
        response["auditAnnotations"] = {"log-seq": str(decision.seq)}
    return {"apiVersion": review.api_version, "kind": "AdmissionReview", "response": response}


def decision_event(
    review: Review, decision: Decision, *, time: datetime, policy_sha256: str | None
) -> Event:
    """`admission.decided`: its id is the request's uid, so a retried review (the API
    server retries on timeouts) is a duplicate in the log, not a second decision."""
    workload = f"{review.kind}/{review.name}".lower() if review.kind and review.name else None
    return Event(
        id=review.uid,
        type=EventType.ADMISSION_DECIDED,
        time=time,
        source=SOURCE,
        namespace=_fit(review.namespace, "namespace"),
        workload=_fit(workload, "workload"),
        actor=_fit(review.user, "actor"),
        attributes=_clean(
            {
                "allowed": decision.allowed,
                "mode": decision.mode,
                "judged": review.judged,
                "operation": review.operation,
                "kind": review.kind,
                "name": review.name,
                "namespace": review.namespace,
                "user": review.user,
                "api_version": review.api_version,
                "policy_sha256": policy_sha256,
                "images": [v.to_dict() for v in decision.images],
            }
        ),
    ).validate()


def _fit(value: str | None, name: str) -> str | None:
    """A field only when its column can hold it; the attributes and the logged body keep
    the value as sent. A decision is never refused for the shape of a name."""
    if value is None or len(value) > limits.FIELD_LIMITS[name] or "\x00" in value:
        return None
    return value


def _clean(value: Any) -> Any:
    """Strings as the log can hold them (no NUL: PostgreSQL text cannot)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


# --- the use case ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    review: Review
    decision: Decision
    body: dict[str, Any] = field(default_factory=dict)  # the AdmissionReview answered


def decide(
    db: Database,
    delivery: Delivery,
    policy: AdmissionPolicy,
    *,
    policy_sha256: str | None = None,
    severity: SeverityReader | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Parse, read what the graph knows of each image at `now`, judge, log, answer.
    Raises Unparseable / InvalidPayload for a malformed review (nothing logged).
    `severity`: the worst finding of a digest's latest scans (default: the scans read)."""
    limits.check_delivery(delivery.content_type, delivery.params)
    review = parse_review(delivery.body)
    when = now or utcnow()
    refs = [r for r in (reference_of(u) for u in review.images) if r is not None]
    facts: Mapping[ImageReference, ImageFacts] = {}
    if refs:
        with db.read() as session:
            facts = store.image_facts(
                session,
                refs,
                at=when,
                needs=_needs(policy),
                severity=severity,
            )
    decision = judge(review, facts, policy)
    event = decision_event(review, decision, time=when, policy_sha256=policy_sha256)
    limits.check_event(event)  # fits by construction (`_fit`, `_clean`); checked like any event
    if not review.dry_run:  # sideEffects: NoneOnDryRun
        seq = store.append_decision(db, delivery, event)
        decision = Decision(decision.allowed, decision.mode, decision.images, seq)
    logger.info(
        "admission decided",
        extra={
            "uid": review.uid,
            "allowed": decision.allowed,
            "mode": decision.mode,
            "images": len(decision.images),
            "refused": sum(1 for v in decision.images if v.reasons),
        },
    )
    return Outcome(review, decision, answer(review, decision))


def _needs(policy: AdmissionPolicy) -> frozenset[str]:
    """Which evidence the rules will read: nothing else is queried (the hot path)."""
    out = set(policy.require)
    if policy.max_severity is not None:
        out.add("severity")
    return frozenset(out)


__all__ = [
    "POD_SPEC",
    "SOURCE",
    "Decision",
    "ImageUse",
    "ImageVerdict",
    "Outcome",
    "Review",
    "SeverityReader",
    "answer",
    "decide",
    "decision_event",
    "judge",
    "judge_image",
    "parse_review",
    "reference_of",
    "review_schema",
]
