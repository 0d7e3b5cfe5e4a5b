"""CDEvents (v0.5.1; v0.4's `context.version` tolerated), bare or carried by CloudEvents.

Deliveries accepted:
* a bare CDEvent (`application/json`), which is also what CloudEvents binary mode sends
  (context in `ce-*` headers, the CDEvent as the body: its own `context` is authoritative);
* CloudEvents structured mode (`application/cloudevents+json`, or any body with
  `specversion`): the CDEvent is in `data` (or base64 in `data_base64`);
* CloudEvents batch (`application/cloudevents-batch+json`): a JSON array of the above.

Every CDEvent gives exactly one event, id = `context.id`, time = `context.timestamp`.
Artifacts are named by purls: `pkg:oci/<name>@sha256%3A<hex>?repository_url=<host/path>&tag=<t>`
gives digest, repository (`repository_url`; without it none, since oci purls are
registry-agnostic) and tag; `pkg:docker/...` is read the same way (host `docker.io` by
default, or the namespace's first segment when it is a host, `pkg:docker/ghcr.io/o/n`).
A purl version that claims to be a sha256 digest but is not one is a 422. An artifact
that is not an OCI image (npm, maven...) is accepted as a `registry.notice`, and so is an
OCI artifact named without a digest, except where a tag is enough (artifact.published and
service.* naming repository + tag: the projection resolves the digest from tag history).

Mapping decisions:
* artifact.published -> artifact.pushed, downloaded -> artifact.pulled, deleted ->
  artifact.deleted (actor = `content.user`); signed -> artifact.signed (signature and
  customData in attributes: the claim is logged, not verified here).
* artifact.packaged means "built from a change", not "pushed": it never becomes
  artifact.pushed (artifact.published does that). When customData names the build
  (`build`/`buildId`/`buildUrl`/`runUrl`) it is a build.finished linking that build to the
  digest; otherwise a registry.notice keeping digest, repository, tag, the change
  (`content.change.id`) and `vcs_url` = `content.change.source`.
* build.queued/started/finished -> build.* with build = `subject.id`, the digest from
  `content.artifactId`, commit/vcs_url/builder from customData when present.
* change.merged -> change.merged only when a commit sha is known (customData `commit`,
  `mergeCommitSha`..., or a `subject.id` that is a sha). CDEvents does not carry the merge
  commit (the v0.5.1 sample only says `pull/418`), and a change.merged without a commit is
  invalid, so otherwise it is a registry.notice with the change id and `vcs_url`.
* service.deployed/upgraded/rolledback -> deployment.applied; service.removed ->
  deployment.removed. environment = `content.environment.id`; digest from
  `content.artifactId` (else customData `image`). workload is customData `workload`
  (lower case, `deployment/` added when it has no kind), else `deployment/<subject.id>`
  lower-cased (a subject id already of the form `<kind>/<name>` is kept). namespace, cluster
  and container come from customData only. Argo CD's `syncRevision` is a GitOps revision,
  not the image's commit: it stays in attributes. A deployment naming neither a digest nor
  repository + tag is a registry.notice.
* environment.created/deleted -> environment.* with environment = `subject.id`.
* Any other CDEvent (pipelinerun, testcaserun, incident...) -> registry.notice.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from packageurl import PackageURL

from provenance.ingest.sources import Delivery, Normalized, SourceSecrets, each, strict
from provenance.ingest.sources._common import (
    compact,
    guarded,
    load_json,
    normalize_vcs_url,
    opt_str,
    parse_when,
    req_digest,
    req_str,
    require_content_type,
    require_object,
    sub_object,
)
from provenance.model import references
from provenance.model.errors import InvalidPayload, Unparseable
from provenance.model.events import COMMIT_RE, Event, EventType, is_digest

SOURCE = "cdevents"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
CONTENT_TYPES = ("application/json", STRUCTURED, BATCH)
TYPE_PREFIX = "dev.cdevents."

_WORKLOAD_KINDS = frozenset(
    {"deployment", "statefulset", "daemonset", "replicaset", "job", "cronjob", "pod", "rollout"}
)


@guarded
def normalize(delivery: Delivery, secrets: SourceSecrets) -> list[Event]:
    """All or nothing (tests, replays); ingest takes a batch's events one by one."""
    return strict(normalize_items(delivery, secrets), label="events")


@guarded
def normalize_items(delivery: Delivery, secrets: SourceSecrets) -> Normalized:
    require_content_type(delivery.content_type, CONTENT_TYPES, SOURCE)
    parsed = load_json(delivery.body)
    if delivery.content_type == BATCH and not isinstance(parsed, list):
        raise InvalidPayload("a CloudEvents batch must be a JSON array")
    items = parsed if isinstance(parsed, list) else [parsed]
    return each(items, lambda item: [_normalize_one(_unwrap(item))], label="events")


# --- envelopes --------------------------------------------------------------------------


def _unwrap(item: object) -> Mapping[str, Any]:
    """A bare CDEvent, or the CDEvent inside a structured-mode CloudEvent."""
    obj = require_object(item, "event")
    if "context" in obj and "subject" in obj:
        return obj
    if "specversion" not in obj:
        raise InvalidPayload("not a CDEvent: no context/subject and no CloudEvents specversion")
    ce_type = opt_str(obj, "type", "cloudevent")
    if "data" in obj:
        data = obj["data"]
        if isinstance(data, str):  # some SDKs send the JSON as a string
            data = _load_nested(data.encode("utf-8"), "cloudevent.data")
    elif "data_base64" in obj:
        encoded = req_str(obj, "data_base64", "cloudevent")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidPayload("cloudevent.data_base64 is not base64") from exc
        data = _load_nested(raw, "cloudevent.data_base64")
    else:
        raise InvalidPayload(f"CloudEvent {ce_type!r} carries no data")
    cdevent = require_object(data, "cloudevent.data")
    if "context" not in cdevent or "subject" not in cdevent:
        raise InvalidPayload(f"CloudEvent {ce_type!r} does not carry a CDEvent")
    return cdevent


def _load_nested(raw: bytes, what: str) -> Any:
    try:
        return load_json(raw)
    except Unparseable as exc:
        raise InvalidPayload(f"{what} is not JSON") from exc


@dataclass(frozen=True, slots=True)
class _CDEvent:
    id: str
    type: str
    subject_kind: str  # e.g. "artifact"
    predicate: str  # e.g. "published"
    time: datetime
    subject_id: str
    content: Mapping[str, Any]
    custom: Mapping[str, Any]
    attributes: dict[str, Any]

    def event(self, etype: EventType, **fields: Any) -> Event:
        extra = fields.pop("attributes", {})
        return Event(
            id=self.id,
            type=etype,
            time=self.time,
            source=SOURCE,
            attributes={**self.attributes, **extra},
            **fields,
        ).validate()

    def custom_str(self, *keys: str) -> str | None:
        for key in keys:
            value = self.custom.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None


def _parse(cdevent: Mapping[str, Any]) -> _CDEvent:
    context = require_object(cdevent["context"], "context")
    subject = require_object(cdevent["subject"], "subject")
    cd_type = req_str(context, "type", "context")
    if not cd_type.startswith(TYPE_PREFIX):
        raise InvalidPayload(f"context.type {cd_type!r} is not a CDEvents type")
    kind, _, rest = cd_type[len(TYPE_PREFIX) :].partition(".")
    predicate = rest.partition(".")[0]
    if not kind or not predicate:
        raise InvalidPayload(f"context.type {cd_type!r} is not dev.cdevents.<subject>.<predicate>")
    custom = cdevent.get("customData")
    custom = custom if isinstance(custom, Mapping) else {}  # non-JSON customData is opaque
    subject_id = req_str(subject, "id", "subject")
    spec_version = opt_str(context, "specversion", "context") or opt_str(
        context, "version", "context"
    )
    return _CDEvent(
        id=req_str(context, "id", "context"),
        type=cd_type,
        subject_kind=kind,
        predicate=predicate,
        time=parse_when(context.get("timestamp"), "context.timestamp"),
        subject_id=subject_id,
        content=sub_object(subject, "content", "subject"),
        custom=custom,
        attributes=compact(
            cdevent_type=cd_type,
            spec_version=spec_version,
            context_source=opt_str(context, "source", "context"),
            chain_id=opt_str(context, "chainId", "context"),
            subject_id=subject_id,
            subject_source=opt_str(subject, "source", "subject"),
            custom_data=dict(custom) or None,
        ),
    )


def _normalize_one(cdevent: Mapping[str, Any]) -> Event:
    cd = _parse(cdevent)
    handler = _HANDLERS.get((cd.subject_kind, cd.predicate))
    if handler is None:
        return cd.event(EventType.REGISTRY_NOTICE)
    return handler(cd)


# --- purls ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImageRef:
    digest: str | None = None
    repository: str | None = None
    tag: str | None = None


def _purl(value: str) -> PackageURL | None:
    """A purl's decoded parts (packageurl-python), or None when `value` is not one."""
    try:
        return PackageURL.from_string(value)
    except ValueError:
        return None


def image_ref(value: object) -> ImageRef:
    """Digest, repository and tag of an OCI/docker purl; empty for anything else.

    A version that claims to be a sha256 digest must be one (422 otherwise).
    """
    if not isinstance(value, str):
        return ImageRef()
    purl = _purl(value.strip())
    if purl is None or purl.type not in ("oci", "docker"):
        return ImageRef()
    qualifiers = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    version = purl.version or None
    digest: str | None = None
    tag = qualifiers.get("tag") or None
    if version is not None and version.lower().startswith("sha256:"):
        digest = req_digest(version, "purl version")
    elif version is not None and purl.type == "docker" and tag is None:
        tag = version
    repository_url = qualifiers.get("repository_url") or None
    registry = references.strip_scheme(repository_url).strip("/") if repository_url else None
    repository: str | None
    if purl.type == "oci":
        # "oci purls must be registry agnostic by default" (purl spec): without
        # repository_url the purl names content, not a place, so there is no repository.
        repository = registry
    else:
        path = f"{purl.namespace}/{purl.name}" if purl.namespace else purl.name
        # docker.io by default, unless the namespace starts with a registry, as in image
        # references (pkg:docker/ghcr.io/acme/api)
        repository = "/".join(references.docker_name(path, registry))
    return ImageRef(digest=digest, repository=repository or None, tag=tag)


def _image_from_reference(value: str | None) -> ImageRef:
    """`host/path:tag@sha256:...` (customData `image`) -> ImageRef; free-form data, so an
    invalid digest is dropped rather than rejected."""
    if value is None:
        return ImageRef()
    ref = references.split(value)
    return ImageRef(
        digest=ref.digest if is_digest(ref.digest) else None,
        repository=ref.name or None,
        tag=ref.tag,
    )


# --- handlers ---------------------------------------------------------------------------

_ARTIFACT_TYPES = {
    "published": EventType.ARTIFACT_PUSHED,
    "downloaded": EventType.ARTIFACT_PULLED,
    "deleted": EventType.ARTIFACT_DELETED,
    "signed": EventType.ARTIFACT_SIGNED,
}


def _artifact(cd: _CDEvent) -> Event:
    ref = image_ref(cd.subject_id)
    by_tag = cd.predicate == "published" and _names_a_tag(ref)  # a push may name only a tag
    if ref.digest is None and not by_tag:
        return cd.event(EventType.REGISTRY_NOTICE, attributes={"notice": "not an OCI digest"})
    user = opt_str(cd.content, "user", "subject.content")
    sbom = opt_str(sub_object(cd.content, "sbom", "subject.content"), "uri", "sbom")
    signature = opt_str(cd.content, "signature", "subject.content")
    return cd.event(
        _ARTIFACT_TYPES[cd.predicate],
        digest=ref.digest,
        repository=ref.repository,
        tag=ref.tag,
        actor=user,
        attributes=compact(sbom=sbom, signature=signature),
    )


def _packaged(cd: _CDEvent) -> Event:
    ref = image_ref(cd.subject_id)
    change = sub_object(cd.content, "change", "subject.content")
    vcs_url = normalize_vcs_url(opt_str(change, "source", "change"))
    commit = _commit(cd)
    attributes = compact(
        change=opt_str(change, "id", "change"),
        sbom=opt_str(sub_object(cd.content, "sbom", "subject.content"), "uri", "sbom"),
    )
    build = cd.custom_str("build", "buildId", "buildUrl", "runUrl")
    if build is not None and ref.digest is not None:
        return cd.event(
            EventType.BUILD_FINISHED,
            build=build,
            builder=cd.custom_str("builder", "builderId"),
            digest=ref.digest,
            repository=ref.repository,
            tag=ref.tag,
            commit=commit,
            vcs_url=vcs_url,
            attributes=attributes,
        )
    return cd.event(
        EventType.REGISTRY_NOTICE,
        digest=ref.digest,
        repository=ref.repository,
        tag=ref.tag,
        commit=commit,
        vcs_url=vcs_url,
        attributes={**attributes, "notice": "artifact.packaged"},
    )


_BUILD_TYPES = {
    "queued": EventType.BUILD_QUEUED,
    "started": EventType.BUILD_STARTED,
    "finished": EventType.BUILD_FINISHED,
}


def _build(cd: _CDEvent) -> Event:
    artifact_id = opt_str(cd.content, "artifactId", "subject.content")
    ref = image_ref(artifact_id)
    return cd.event(
        _BUILD_TYPES[cd.predicate],
        build=cd.subject_id,
        builder=cd.custom_str("builder", "builderId"),
        digest=ref.digest,
        repository=ref.repository,
        tag=ref.tag,
        commit=_commit(cd),
        vcs_url=normalize_vcs_url(
            cd.custom_str("vcsUrl", "vcs_url", "repositoryUrl", "repoUrl", "source")
        ),
        attributes=compact(artifact_id=artifact_id),
    )


def _change_merged(cd: _CDEvent) -> Event:
    commit = _commit(cd, "mergeCommit", "mergeCommitSha", "merge_commit_sha")
    if commit is None and COMMIT_RE.fullmatch(cd.subject_id.lower()):
        commit = cd.subject_id.lower()
    vcs_url = normalize_vcs_url(_repository_url(cd))
    if commit is None:
        return cd.event(
            EventType.REGISTRY_NOTICE,
            vcs_url=vcs_url,
            attributes={"notice": "change.merged without a commit", "change": cd.subject_id},
        )
    return cd.event(
        EventType.CHANGE_MERGED,
        commit=commit,
        vcs_url=vcs_url,
        attributes={"change": cd.subject_id},
    )


def _repository_url(cd: _CDEvent) -> str | None:
    repo = sub_object(cd.content, "repository", "subject.content")
    repo_id = opt_str(repo, "id", "repository")
    repo_source = opt_str(repo, "source", "repository")
    if repo_id is not None and "://" in repo_id:
        return repo_id
    if repo_id is not None and repo_source is not None:
        return f"{repo_source.rstrip('/')}/{repo_id.strip('/')}"
    subject_source = cd.attributes.get("subject_source")
    return subject_source if isinstance(subject_source, str) else repo_id


def _service(cd: _CDEvent) -> Event:
    environment = opt_str(
        sub_object(cd.content, "environment", "subject.content"), "id", "environment"
    )
    artifact_id = opt_str(cd.content, "artifactId", "subject.content")
    ref = image_ref(artifact_id)
    if ref.digest is None:
        from_custom = _image_from_reference(cd.custom_str("image"))
        if from_custom.digest is not None or not _names_a_tag(ref):
            ref = from_custom
    removed = cd.predicate == "removed"
    if ref.digest is None and not _names_a_tag(ref) and not removed:
        return cd.event(
            EventType.REGISTRY_NOTICE,
            environment=environment,
            attributes=compact(notice="deployment names no OCI image", artifact_id=artifact_id),
        )
    return cd.event(
        EventType.DEPLOYMENT_REMOVED if removed else EventType.DEPLOYMENT_APPLIED,
        digest=ref.digest,
        repository=ref.repository,
        tag=ref.tag,
        environment=environment,
        cluster=cd.custom_str("cluster"),
        namespace=cd.custom_str("namespace"),
        workload=_workload(cd),
        container=cd.custom_str("container"),
        commit=_commit(cd),
        attributes=compact(service=cd.subject_id, action=cd.predicate, artifact_id=artifact_id),
    )


def _names_a_tag(ref: ImageRef) -> bool:
    return ref.repository is not None and ref.tag is not None


def _workload(cd: _CDEvent) -> str | None:
    named = cd.custom_str("workload")
    if named is not None:
        named = named.lower()
        return named if "/" in named else f"deployment/{named}"
    service = cd.subject_id.strip().lower().rstrip("/")
    kind, slash, name = service.partition("/")
    if slash and kind in _WORKLOAD_KINDS and name and "/" not in name:
        return service
    name = service.rpartition("/")[2]
    return f"deployment/{name}" if name else None


def _environment(cd: _CDEvent) -> Event:
    return cd.event(
        EventType.ENVIRONMENT_CREATED
        if cd.predicate == "created"
        else EventType.ENVIRONMENT_DELETED,
        environment=cd.subject_id,
        attributes=compact(
            name=opt_str(cd.content, "name", "subject.content"),
            uri=opt_str(cd.content, "uri", "subject.content"),
        ),
    )


def _commit(cd: _CDEvent, *extra_keys: str) -> str | None:
    """A commit sha named by customData; free-form data, so a non-sha is ignored."""
    value = cd.custom_str(*extra_keys, "commit", "commitSha", "commit_sha", "gitCommit", "sha")
    if value is None:
        return None
    value = value.lower()
    return value if COMMIT_RE.fullmatch(value) else None


_HANDLERS: dict[tuple[str, str], Callable[[_CDEvent], Event]] = {
    **{("artifact", predicate): _artifact for predicate in _ARTIFACT_TYPES},
    ("artifact", "packaged"): _packaged,
    **{("build", predicate): _build for predicate in _BUILD_TYPES},
    ("change", "merged"): _change_merged,
    ("service", "deployed"): _service,
    ("service", "upgraded"): _service,
    ("service", "rolledback"): _service,
    ("service", "removed"): _service,
    ("environment", "created"): _environment,
    ("environment", "deleted"): _environment,
}
