"""The canonical event vocabulary every source is normalized into.

An `Event` is a frozen value: sources build it, the log stores its JSON form
(`to_dict`), and the projection reads it back (`Event.from_dict`). The JSON form
is exactly what `POST /v1/events` accepts.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from provenance.model import scan_shape
from provenance.model.errors import InvalidPayload
from provenance.model.timeutil import format_time, parse_time

# \Z, not $: `$` also matches before a trailing newline ("sha256:...\n").
DIGEST_RE = re.compile(r"\Asha256:[0-9a-f]{64}\Z")
COMMIT_RE = re.compile(r"\A[0-9a-f]{7,64}\Z")


class EventType(StrEnum):
    ARTIFACT_PUSHED = "artifact.pushed"
    ARTIFACT_PULLED = "artifact.pulled"
    ARTIFACT_DELETED = "artifact.deleted"
    ARTIFACT_SIGNED = "artifact.signed"
    ARTIFACT_ATTESTED = "artifact.attested"
    ARTIFACT_SCANNED = "artifact.scanned"
    ARTIFACT_REPLICATED = "artifact.replicated"
    TAG_UPDATED = "tag.updated"
    TAG_DELETED = "tag.deleted"
    BUILD_QUEUED = "build.queued"
    BUILD_STARTED = "build.started"
    BUILD_FINISHED = "build.finished"
    CHANGE_MERGED = "change.merged"
    DEPLOYMENT_APPLIED = "deployment.applied"
    DEPLOYMENT_REMOVED = "deployment.removed"
    ENVIRONMENT_CREATED = "environment.created"
    ENVIRONMENT_DELETED = "environment.deleted"
    # Layer traffic: kept in the log for the audit trail, never an artifact in the graph.
    BLOB_PUSHED = "blob.pushed"
    BLOB_PULLED = "blob.pulled"
    BLOB_MOUNTED = "blob.mounted"
    BLOB_DELETED = "blob.deleted"
    # Operational notices (quota warnings and the like): logged, not projected.
    REGISTRY_NOTICE = "registry.notice"
    # A validating-webhook decision (POST /v1/admission): evidence in the log and the
    # timeline, not projected into the graph (an intent; the audit event confirms it).
    ADMISSION_DECIDED = "admission.decided"


BLOB_TYPES = frozenset(
    {EventType.BLOB_PUSHED, EventType.BLOB_PULLED, EventType.BLOB_MOUNTED, EventType.BLOB_DELETED}
)

# Which types need which fields; checked once, in `Event.validate`.
_REQUIRED: dict[EventType, tuple[str, ...]] = {
    EventType.ARTIFACT_PULLED: ("digest",),
    EventType.ARTIFACT_SIGNED: ("digest",),
    EventType.ARTIFACT_ATTESTED: ("digest",),
    EventType.TAG_UPDATED: ("digest", "repository", "tag"),
    EventType.TAG_DELETED: ("repository", "tag"),
    EventType.BUILD_FINISHED: ("build",),
    EventType.CHANGE_MERGED: ("commit",),
    EventType.DEPLOYMENT_APPLIED: ("workload",),
    EventType.DEPLOYMENT_REMOVED: ("workload",),
}


# A Harbor tag retention run names a deleted tagged artifact by `repo:tag` only: the
# projection resolves the digest the tag held at the delete's time.
_DIGEST_OR_TAG = frozenset(
    {EventType.ARTIFACT_PUSHED, EventType.DEPLOYMENT_APPLIED, EventType.ARTIFACT_DELETED}
)


@dataclass(frozen=True, slots=True)
class Event:
    """One canonical event. Optional fields are None when the source does not say."""

    id: str
    type: EventType
    time: datetime
    source: str
    digest: str | None = None
    repository: str | None = None
    tag: str | None = None
    media_type: str | None = None
    size: int | None = None
    actor: str | None = None
    client: str | None = None
    user_agent: str | None = None
    commit: str | None = None
    vcs_url: str | None = None
    build: str | None = None
    builder: str | None = None
    environment: str | None = None
    cluster: str | None = None
    namespace: str | None = None
    workload: str | None = None
    container: str | None = None
    previous_digest: str | None = None
    # `artifact.scanned`: who scanned, what it found (`{id, severity, package?,
    # fixed_version?}` each) and the counts per severity; see `provenance.model.scan_shape`.
    scanner: str | None = None
    vulnerabilities: tuple[Mapping[str, Any], ...] | None = field(
        default=None, hash=False, compare=True
    )
    summary: Mapping[str, int] | None = field(default=None, hash=False, compare=True)
    # Source-specific extras worth keeping (labels, purl, scanner...): JSON values only.
    attributes: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=True)

    def validate(self) -> Event:
        """Raise InvalidPayload unless the event is well formed; return self for chaining."""
        if not self.id:
            raise InvalidPayload("event id must not be empty")
        if not self.source:
            raise InvalidPayload(f"event {self.id}: source must not be empty")
        if self.time.tzinfo is None:
            raise InvalidPayload(f"event {self.id}: time must carry a UTC offset")
        for name in ("digest", "previous_digest"):
            value = getattr(self, name)
            if value is not None and not DIGEST_RE.match(value):
                raise InvalidPayload(f"event {self.id}: {name} {value!r} is not sha256:<64 hex>")
        if self.commit is not None and not COMMIT_RE.match(self.commit):
            raise InvalidPayload(f"event {self.id}: commit {self.commit!r} is not a hex sha")
        for name in _REQUIRED.get(self.type, ()):
            if getattr(self, name) in (None, ""):
                raise InvalidPayload(f"event {self.id}: {self.type} requires {name}")
        if self.type is EventType.ARTIFACT_SCANNED:
            scan_shape.check(self)
        elif self.vulnerabilities is not None or self.summary is not None:
            raise InvalidPayload(f"event {self.id}: only artifact.scanned carries findings")
        if self.type in _DIGEST_OR_TAG and not (self.digest or (self.repository and self.tag)):
            # Docker Hub and Quay pushes, and images deployed by tag, name no digest: the
            # projection resolves it from tag history (or reconciliation supplies it later).
            raise InvalidPayload(f"event {self.id}: {self.type} requires digest or repository+tag")
        return self

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form: None fields and empty attributes are left out."""
        # Field order is the dataclass's (`id`, `type`, `time`, ..., `attributes`): the log
        # stores this form, so its key order must not change.
        kind = self.type
        out: dict[str, Any] = {
            "id": self.id,
            "type": kind.value if isinstance(kind, EventType) else kind,
        }
        out["time"] = format_time(self.time)
        for name in _PLAIN_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.vulnerabilities is not None:
            out["vulnerabilities"] = [dict(v) for v in self.vulnerabilities]
        if self.summary is not None:
            out["summary"] = dict(self.summary)
        if self.attributes:
            out["attributes"] = dict(self.attributes)
        return out

    @classmethod
    def from_dict(cls, data: object) -> Event:
        """Build and validate an event from its canonical JSON form."""
        if not isinstance(data, Mapping):
            raise InvalidPayload("an event must be a JSON object")
        unknown = set(data) - _FIELD_NAMES
        if unknown:
            raise InvalidPayload(f"unknown event fields: {', '.join(sorted(map(str, unknown)))}")
        for name in ("id", "type", "time", "source"):
            if name not in data:
                raise InvalidPayload(f"event field {name!r} is required")
        try:
            etype = EventType(data["type"])
        except ValueError as exc:
            raise InvalidPayload(f"unknown event type {data['type']!r}") from exc
        kwargs: dict[str, Any] = {"id": None, "source": None}  # null: refused by validate
        for name, value in data.items():  # only the fields present (the rest are None)
            if name in _TEXT_FIELDS and value is not None:
                if not isinstance(value, str):
                    raise InvalidPayload(f"event field {name!r} must be a string")
                kwargs[name] = value
        size = data.get("size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
            raise InvalidPayload("event field 'size' must be an integer")
        attributes = data.get("attributes")
        if attributes is None:
            attributes = {}
        if not isinstance(attributes, Mapping):  # 0, "", [] are not "no attributes"
            raise InvalidPayload("event field 'attributes' must be an object")
        if not isinstance(data["time"], str):  # the canonical form is RFC 3339 text
            raise InvalidPayload("event field 'time' must be an RFC 3339 string")
        return cls(
            type=etype,
            time=_parse_event_time(data["time"]),
            size=size,
            attributes=dict(attributes),
            vulnerabilities=scan_shape.vulnerabilities_of(data.get("vulnerabilities")),
            summary=scan_shape.summary_of(data.get("summary")),
            **kwargs,
        ).validate()

    def with_changes(self, **changes: Any) -> Event:
        return replace(self, **changes)


_FIELD_NAMES = frozenset(f.name for f in fields(Event))
# Every field but id/type/time/attributes, in declaration order (`to_dict` keeps it).
_STRUCTURED = frozenset({"id", "type", "time", "attributes", "vulnerabilities", "summary"})
_PLAIN_FIELDS = tuple(f.name for f in fields(Event) if f.name not in _STRUCTURED)
_TEXT_FIELDS = frozenset(_FIELD_NAMES - _STRUCTURED - {"size"}) | {"id", "source"}


def _parse_event_time(value: str) -> datetime:
    """`parse_time`, with a shortcut for the canonical form `format_time` writes
    (`YYYY-MM-DDTHH:MM:SS[.ffffff]Z`), which is every event the log holds."""
    if len(value) in (20, 27) and value[-1] == "Z" and value[10] == "T":
        with contextlib.suppress(ValueError):
            parsed = datetime.fromisoformat(value)  # 3.11: Z is UTC (the same tzinfo)
            if parsed.tzinfo is UTC:
                return parsed
    return parse_time(value)


def content_id(source: str, *parts: object) -> str:
    """A stable id for sources that send none: the same content gives the same id."""
    digest = hashlib.sha256(orjson.dumps([source, *parts], option=orjson.OPT_SORT_KEYS))
    return f"{source}-{digest.hexdigest()[:32]}"


def is_digest(value: object) -> bool:
    return isinstance(value, str) and DIGEST_RE.match(value) is not None


__all__ = ["BLOB_TYPES", "DIGEST_RE", "Event", "EventType", "content_id", "is_digest"]
