"""Wire formats of the query API (pydantic): what clients rely on, per the CONTRACT."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from api.guards import NO_NUL_PATTERN, NoNul

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _rfc3339(value: Any) -> Any:
    """Times in requests are RFC 3339 text: pydantic alone would also read `0.5` or
    `1700000000` as seconds since the epoch, which the OpenAPI (`date-time`) does not say."""
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339.match(value)):
        return value
    raise ValueError("not an RFC 3339 date-time (e.g. 2026-01-31T12:00:00Z)")


#: A time given by a client (query parameter or request body).
Timestamp = Annotated[datetime, BeforeValidator(_rfc3339)]


class Model(BaseModel):
    """A response model: the wire form of one answer of `provenance.query`."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def from_domain(cls, answer: object) -> Self:
        """The wire form of a domain answer (a frozen dataclass of `provenance.query`).

        Fields are read by name, so a field added to the dataclass and to this model is all
        it takes; a model whose shape differs from its answer overrides this, and only this.
        """
        return cls.model_validate(answer)


class RejectedItem(Model):
    index: int = Field(description="position of the event in the delivery")
    reason: str


class IngestResponse(Model):
    accepted: int
    duplicates: int
    ids: list[str]
    seq: int | None = Field(None, description="log entry that stored the delivery")
    rejected: list[RejectedItem] = Field(
        default_factory=list,
        description="events of the delivery refused one by one (quarantined); the rest were kept",
    )


class TagRef(Model):
    repository: str
    tag: str
    current: bool
    since: datetime
    until: datetime | None


class Placement(Model):
    """Which digest ran in which workload container, from when until when."""

    environment: str | None
    cluster: str | None
    namespace: str | None
    workload: str | None
    container: str | None
    digest: str
    since: datetime
    until: datetime | None


class DeploymentRef(Placement):
    active: bool


class PullSummary(Model):
    count: int
    last: datetime | None
    actors: list[str]


class CommitRef(Model):
    sha: str
    vcs_url: str | None
    evidence: Literal["build", "label"] = Field(
        description="build: from a build record; label: an OCI label/annotation claim"
    )


class ArtifactResponse(Model):
    digest: str
    media_type: str | None
    size: int | None
    repositories: list[str]
    tags: list[TagRef]
    first_seen: datetime
    deleted: bool
    deleted_at: datetime | None
    signatures: list[dict[str, Any]]
    attestations: list[dict[str, Any]]
    builds: list[str]
    commits: list[CommitRef]
    base_images: list[str]
    deployments: list[DeploymentRef]
    pulls: PullSummary
    vulnerabilities: list[dict[str, Any]] = Field(
        default_factory=list,
        description="the latest scan of each scanner: scanner, time, summary, worst, "
        "ids_known, vulnerabilities",
    )


class TimelineResponse(Model):
    digest: str
    events: list[dict[str, Any]]
    next_cursor: str | None


class LineageNode(Model):
    model_config = ConfigDict(extra="allow")
    id: str
    kind: str


class LineageEdge(Model):
    model_config = ConfigDict(extra="allow")
    source: str
    target: str
    kind: str
    since: datetime
    until: datetime | None


class LineageResponse(Model):
    digest: str
    direction: str
    depth: int
    nodes: list[LineageNode]
    edges: list[LineageEdge]
    truncated: bool


class TagPosition(Model):
    digest: str
    since: datetime
    until: datetime | None
    actor: str | None


class TagHistoryResponse(Model):
    repository: str
    tag: str
    history: list[TagPosition]


class CommitResponse(Model):
    sha: str
    vcs_url: str | None
    builds: list[dict[str, Any]]
    artifacts: list[dict[str, Any]]
    deployments: list[DeploymentRef]


_TARGETS = ("digest", "commit", "build", "builder", "actor", "key", "vulnerability")
_TARGET_PATTERNS = {"digest": "^sha256:[0-9a-f]{64}$", "commit": "^[0-9a-fA-F]{7,64}$"}


def _target_schema(name: str) -> dict[str, Any]:
    pattern = _TARGET_PATTERNS.get(name)
    return {"type": "string", "pattern": pattern or NO_NUL_PATTERN}


def _exactly_one_target(schema: dict[str, Any]) -> None:
    # What `target()` checks, said in the OpenAPI: one key is a string, the others null.
    schema["oneOf"] = [
        {
            "required": [name],
            "properties": {
                other: _target_schema(other) if other == name else {"type": "null"}
                for other in _TARGETS
            },
        }
        for name in _TARGETS
    ]


class BlastRadiusRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_exactly_one_target)
    digest: NoNul | None = None
    commit: NoNul | None = None
    build: NoNul | None = None
    builder: NoNul | None = None
    actor: NoNul | None = None
    key: NoNul | None = None
    # A CVE or GHSA id: the digests whose latest scan lists it, and what is downstream.
    vulnerability: NoNul | None = None
    as_of: Timestamp | None = None
    limit: int = Field(100, ge=1, le=1000)
    cursor: NoNul | None = None

    def target(self) -> tuple[str, str] | None:
        given = [(k, v) for k in _TARGETS if (v := getattr(self, k)) is not None]
        return given[0] if len(given) == 1 else None


class BlastRadiusResponse(Model):
    query: dict[str, str]
    as_of: datetime | None
    counts: dict[str, int]
    artifacts: list[dict[str, Any]]
    derived: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    deployments: list[dict[str, Any]]
    pullers: list[dict[str, Any]]
    next_cursor: str | None
    truncated: bool
    builds: list[dict[str, Any]] = Field(default_factory=list, description="`build`, `path`")


class LogEntryModel(Model):
    seq: int
    received_at: datetime
    source: str
    content_type: str
    params: dict[str, Any]
    headers: dict[str, Any]
    body_sha256: str
    body: str = Field(description="the bytes received, as text (UTF-8, replacement for invalid)")
    events: list[dict[str, Any]]
    prev_hash: str
    hash: str


class AuditLogResponse(Model):
    entries: list[LogEntryModel]
    next_after: int | None


class VerifyResponse(Model):
    ok: bool
    entries: int
    head: str
    first_bad_seq: int | None = None
    reason: str | None = None
    checked_from: int = Field(
        1, description="first entry recomputed by this run; those before were verified earlier"
    )
    checked: int = Field(0, description="entries recomputed by this run")
    full: bool = Field(description="whether the whole chain was recomputed")


class QuarantineItemModel(Model):
    id: int
    kind: str = Field(description="delivery, event (one of several), or projection")
    index: int | None = Field(None, description="position of the refused event (kind event)")
    seq: int | None = Field(None, description="the log entry set aside (kind projection)")
    received_at: datetime
    source: str
    error: str
    reason: str
    content_type: str
    params: dict[str, Any]
    headers: dict[str, Any]
    body: str


class QuarantineResponse(Model):
    items: list[QuarantineItemModel]
    next_after: int | None
