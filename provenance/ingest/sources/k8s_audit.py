"""Kubernetes audit events (audit.k8s.io/v1), from the webhook backend or a log shipper.

Body: one audit `Event`, an `EventList` (`{"kind": "EventList", "items": [...]}`, what the
API server's webhook backend POSTs in batches), or NDJSON of `Event`s (the log backend's
format, under `application/x-ndjson`). Anything else is a 422. The cluster is not in the
payload: it is the webhook URL's `cluster` query parameter
(`/v1/webhooks/k8s-audit?cluster=eu-1`); `provenance.ingest.sources.normalize` then names the
environment from `PROVENANCE_ENVIRONMENTS`.

What is kept (everything else yields nothing; a delivery may yield no event at all, and is
still logged):
* stage `ResponseComplete` only (each request is audited at several stages), successful
  (2xx) responses only, not dry runs (`dryRun` in `requestURI`), no subresources
  (`deployments/scale`, `pods/status`...: they never change images);
* resources deployments, statefulsets, daemonsets, jobs, cronjobs and pods (not
  replicasets: the deployment controller's own copies would repeat every rollout);
* verbs create/update/patch -> one `deployment.applied` per container and init container,
  read from `responseObject` (the persisted object, the only complete one after a patch)
  when present, else from `requestObject` (for a patch, only the containers the patch
  names; a JSON-patch array names none). Metadata-level items carry no objects: nothing;
* verb delete -> one `deployment.removed` for the workload (no container).

Fields: workload = `<kind>/<name>` in lower case (`deployment/payments-api`), namespace,
cluster, container = the container's name, actor = `user.username` (an impersonated user is
kept in attributes), client = the last `sourceIPs` entry (the only one the API server saw
itself), user_agent, time = `stageTimestamp` (else `requestReceivedTimestamp`). id =
`<auditID>:<container>` so each container is its own event and a redelivery dedupes; a
delete's id is `<auditID>`.

Images (`parse_image_reference`, Docker's rules from `provenance.model.references.parse`):
`repo:tag`, `repo@sha256:...`, `repo:tag@sha256:...`;
a first path component with a `.` or `:` or equal to `localhost` is a registry host (so
`host:5000/x:tag` keeps its port), otherwise the host is `docker.io` and a single-component
path is under `library/` (`nginx` -> `docker.io/library/nginx`). A reference with neither
tag nor digest means `:latest` (`attributes.tag_implied`). A pinned image gives `digest`
(and the tag, when written) with `attributes.pinned = true`; an unpinned one gives
repository + tag, `pinned = false`, and the projection resolves the digest from tag
history. `attributes.image` is the reference as written. A digest that is not sha256:<64
hex> is a 422 (the contract's rule for every digest).

Every update of a workload (a scale by patch, a label change) re-applies its images: the
projection treats an unchanged digest as no change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from provenance.ingest.sources import Delivery, Normalized, SourceSecrets, each, strict
from provenance.ingest.sources._common import (
    compact,
    guarded,
    labels_claim,
    load_json,
    opt_int,
    opt_list,
    opt_str,
    parse_when,
    req_str,
    require_content_type,
    require_object,
    sub_object,
)
from provenance.model import references
from provenance.model.errors import InvalidPayload
from provenance.model.events import Event, EventType

SOURCE = "k8s-audit"
NDJSON = ("application/x-ndjson", "application/jsonl", "application/json-seq")
CONTENT_TYPES = ("application/json", *NDJSON)
API_GROUP = "audit.k8s.io/"

# resource -> (kind, path from the object to its pod spec)
_WORKLOADS: dict[str, tuple[str, tuple[str, ...]]] = {
    "deployments": ("deployment", ("spec", "template", "spec")),
    "statefulsets": ("statefulset", ("spec", "template", "spec")),
    "daemonsets": ("daemonset", ("spec", "template", "spec")),
    "jobs": ("job", ("spec", "template", "spec")),
    "cronjobs": ("cronjob", ("spec", "jobTemplate", "spec", "template", "spec")),
    "pods": ("pod", ("spec",)),
}
_APPLY_VERBS = frozenset({"create", "update", "patch"})
_CONTAINER_LISTS = (("containers", False), ("initContainers", True))


@guarded
def normalize(delivery: Delivery, secrets: SourceSecrets) -> list[Event]:
    """All or nothing (tests, replays); ingest takes an EventList's items one by one."""
    return strict(normalize_items(delivery, secrets), label="items")


@guarded
def normalize_items(delivery: Delivery, secrets: SourceSecrets) -> Normalized:
    require_content_type(delivery.content_type, CONTENT_TYPES, SOURCE)
    cluster = _cluster(delivery.params)
    items = _items(delivery)
    return each(
        items,
        lambda item: _item_events(require_object(item, "audit event"), cluster),
        label="items",
    )


def _cluster(params: Mapping[str, str]) -> str | None:
    value = params.get("cluster", "").strip()
    if any(c.isspace() or c == "/" for c in value):
        raise InvalidPayload(f"?cluster={value!r} must be a name without spaces or slashes")
    return value or None


def _items(delivery: Delivery) -> list[Any]:
    """The audit events of the body, whatever its framing."""
    if delivery.content_type in NDJSON:
        lines = [line for line in delivery.body.splitlines() if line.strip(b" \t\r\x1e")]
        docs = [load_json(line.strip(b" \t\r\x1e")) for line in lines]
        for doc in docs:
            _require_audit(doc, "Event")
        return docs
    body = load_json(delivery.body)
    kind = _require_audit(body, "Event", "EventList")
    if kind == "EventList":
        return opt_list(body, "items", "EventList")
    return [body]


def _require_audit(doc: object, *kinds: str) -> str:
    obj = require_object(doc, "audit payload")
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if (
        kind not in kinds
        or not isinstance(api_version, str)
        or not api_version.startswith(API_GROUP)
    ):
        raise InvalidPayload(
            f"not a Kubernetes audit {' or '.join(kinds)} (kind {kind!r}, "
            f"apiVersion {api_version!r})"
        )
    assert isinstance(kind, str)
    return kind


# --- one audit event --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Audit:
    """The parts of an audit event that every resulting canonical event shares."""

    audit_id: str
    verb: str
    kind: str
    name: str
    namespace: str | None
    cluster: str | None
    time: datetime
    actor: str | None
    client: str | None
    user_agent: str | None
    attributes: dict[str, Any]

    @property
    def workload(self) -> str:
        return f"{self.kind}/{self.name}".lower()

    def event(self, etype: EventType, event_id: str, **fields: Any) -> Event:
        extra = fields.pop("attributes", {})
        return Event(
            id=event_id,
            type=etype,
            time=self.time,
            source=SOURCE,
            actor=self.actor,
            client=self.client,
            user_agent=self.user_agent,
            cluster=self.cluster,
            namespace=self.namespace,
            workload=self.workload,
            attributes={**self.attributes, **extra},
            **fields,
        ).validate()


def _item_events(raw: Mapping[str, Any], cluster: str | None) -> list[Event]:
    audit_id = req_str(raw, "auditID", "audit event")
    stage = req_str(raw, "stage", "audit event")
    verb = req_str(raw, "verb", "audit event").lower()
    ref = sub_object(raw, "objectRef", "audit event")
    resource = opt_str(ref, "resource", "objectRef")
    if (
        stage != "ResponseComplete"
        or resource not in _WORKLOADS
        or opt_str(ref, "subresource", "objectRef") is not None
        or not _succeeded(raw)
        or _dry_run(opt_str(raw, "requestURI", "audit event"))
        or (verb not in _APPLY_VERBS and verb != "delete")
    ):
        return []
    kind, spec_path = _WORKLOADS[resource]
    obj, origin = _object(raw)
    name = opt_str(ref, "name", "objectRef") or _meta_str(obj, "name")
    if name is None:  # a create by generateName, audited without the object
        return []
    audit = _Audit(
        audit_id=audit_id,
        verb=verb,
        kind=kind,
        name=name,
        namespace=opt_str(ref, "namespace", "objectRef") or _meta_str(obj, "namespace"),
        cluster=cluster,
        time=_time(raw),
        actor=opt_str(sub_object(raw, "user", "audit event"), "username", "user"),
        client=_client(raw),
        user_agent=opt_str(raw, "userAgent", "audit event"),
        attributes=compact(
            audit_id=audit_id,
            verb=verb,
            level=opt_str(raw, "level", "audit event"),
            impersonated_user=opt_str(
                sub_object(raw, "impersonatedUser", "audit event"), "username", "impersonatedUser"
            ),
        ),
    )
    if verb == "delete":
        return [audit.event(EventType.DEPLOYMENT_REMOVED, audit_id)]
    if obj is None:
        return []
    return _applied(audit, obj, origin, spec_path)


def _succeeded(raw: Mapping[str, Any]) -> bool:
    code = opt_int(sub_object(raw, "responseStatus", "audit event"), "code", "responseStatus")
    return code is not None and 200 <= code < 300


def _dry_run(request_uri: str | None) -> bool:
    if not request_uri:
        return False
    try:
        query = parse_qs(urlsplit(request_uri).query)
    except ValueError:
        return False
    return "dryRun" in query


def _time(raw: Mapping[str, Any]) -> datetime:
    for key in ("stageTimestamp", "requestReceivedTimestamp"):
        if raw.get(key) not in (None, ""):
            return parse_when(raw[key], f"audit event.{key}")
    raise InvalidPayload("audit event has neither stageTimestamp nor requestReceivedTimestamp")


def _client(raw: Mapping[str, Any]) -> str | None:
    ips = [ip for ip in opt_list(raw, "sourceIPs", "audit event") if isinstance(ip, str) and ip]
    return (ips[-1].strip() or None) if ips else None


def _object(raw: Mapping[str, Any]) -> tuple[Mapping[str, Any] | None, str | None]:
    """The persisted object when audited, else the request body (a patch is partial);
    with the field it came from. A JSON-patch array or a `Status` is no object."""
    for key in ("responseObject", "requestObject"):
        value = raw.get(key)
        if isinstance(value, Mapping) and value.get("kind") != "Status":
            return value, key
    return None, None


def _meta_str(obj: Mapping[str, Any] | None, key: str) -> str | None:
    if obj is None:
        return None
    return opt_str(sub_object(obj, "metadata", "object"), key, "metadata")


# --- containers and images --------------------------------------------------------------


def _applied(
    audit: _Audit, obj: Mapping[str, Any], origin: str | None, spec_path: tuple[str, ...]
) -> list[Event]:
    template_meta = sub_object(_walk(obj, spec_path[:-1]), "metadata", "template")
    object_meta = sub_object(obj, "metadata", "object")
    spec = _walk(obj, spec_path)
    # OCI revision/source annotations or labels on the pod template or the object: a claim
    commit, vcs_url = labels_claim(
        *(
            sub_object(meta, key, "metadata")
            for meta in (template_meta, object_meta)
            for key in ("annotations", "labels")
        )
    )
    owner = _owner(object_meta)
    events = []
    for container, init in _containers(spec):
        name = req_str(container, "name", "container")
        image = opt_str(container, "image", "container")
        if image is None:  # a patch that does not touch this container's image
            continue
        ref = parse_image_reference(image)
        events.append(
            audit.event(
                EventType.DEPLOYMENT_APPLIED,
                f"{audit.audit_id}:{name}",
                container=name,
                digest=ref.digest,
                repository=ref.repository,
                tag=ref.tag,
                commit=commit,
                vcs_url=vcs_url,
                attributes=compact(
                    image=image,
                    pinned=ref.digest is not None,
                    tag_implied=True if ref.tag_implied else None,
                    init_container=True if init else None,
                    object=origin,
                    owner=owner,
                ),
            )
        )
    return events


def _owner(meta: Mapping[str, Any]) -> str | None:
    """The controller owning the object (a Pod's ReplicaSet...), as `<kind>/<name>`."""
    for ref in opt_list(meta, "ownerReferences", "metadata"):
        if isinstance(ref, Mapping) and ref.get("controller") is True:
            kind, name = ref.get("kind"), ref.get("name")
            if isinstance(kind, str) and isinstance(name, str) and kind and name:
                return f"{kind}/{name}".lower()
    return None


def _walk(obj: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any]:
    node: Mapping[str, Any] = obj
    for index, key in enumerate(path):
        node = sub_object(node, key, ".".join(path[:index]) or "object")
    return node


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], bool]]:
    for key, init in _CONTAINER_LISTS:
        for item in opt_list(spec, key, "pod spec"):
            container = require_object(item, f"pod spec.{key}[]")
            if "$patch" in container:  # strategic-merge directive, e.g. {"$patch": "delete"}
                continue
            yield container, init


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A container's image as the event carries it: `repository` with its registry."""

    repository: str
    tag: str | None
    digest: str | None
    tag_implied: bool = False


def parse_image_reference(image: str) -> ImageReference:
    """A container image reference as the kubelet reads it (`provenance.model.references.parse`),
    with its default tag: `nginx` -> (`docker.io/library/nginx`, `latest`, None, implied)."""
    ref = references.parse(image)
    implied = ref.tag is None and ref.digest is None
    return ImageReference(
        repository=ref.name,
        tag="latest" if implied else ref.tag,
        digest=ref.digest,
        tag_implied=implied,
    )
