"""Wire formats of the query API (pydantic): what clients rely on, per the CONTRACT."""

from __future__ import annotations

import re
from dataclasses import is_dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, model_validator

from api.guards import NO_NUL_PATTERN, NoNul
from api.responses import bounded
from provenance.model.events import Event
from provenance.query import artifacts as answers
from provenance.query import blast_radius as blast
from provenance.query import lineage
from provenance.query.columns import names

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
    """A response model: the wire form of one answer of `provenance.query`.

    `domain` names the answer's dataclass: `from_domain` reads it into the wire form and
    `to_domain` reads the wire form back (the CLI's `--server` mode renders what it gets
    through the same dataclass as an answer from the database).
    """

    model_config = ConfigDict(from_attributes=True)
    domain: ClassVar[type | None] = None

    @classmethod
    def from_domain(cls, answer: object) -> Self:
        """The wire form of a domain answer (a frozen dataclass of `provenance.query`).

        Fields are read by name, so a field added to the dataclass and to this model is all
        it takes; a model whose shape differs from its answer (open-ended `attrs` flattened
        beside the named fields) overrides this, and `to_domain`, its inverse.
        """
        return cls.model_validate(answer)

    @model_validator(mode="before")
    @classmethod
    def _nested_answer(cls, value: Any) -> Any:
        # An answer nested in another goes through its own model's `from_domain` too, when
        # that model overrides it (read by attribute otherwise).
        if "from_domain" in cls.__dict__ and is_dataclass(value) and not isinstance(value, type):
            wire = cls.from_domain(value)
            return {**{name: getattr(wire, name) for name in cls.model_fields}, **wire.extras()}
        return value

    def to_domain(self) -> Any:
        """The answer this wire form says: the `domain` dataclass, nested ones included."""
        if self.domain is None:
            raise TypeError(f"{type(self).__name__} names no domain answer")
        return self.domain(**{name: _domain(getattr(self, name)) for name in names(self.domain)})

    def extras(self) -> dict[str, Any]:
        """What the wire form holds beyond the named fields (an answer's `attrs`)."""
        return dict(self.__pydantic_extra__ or {})


def _domain(value: Any) -> Any:
    """A wire form (or a container of them) as the answer(s) it says."""
    if isinstance(value, Model) and value.domain is not None:
        return value.to_domain()
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(_domain(v) for v in value)
    if isinstance(value, dict):
        return {k: _domain(v) for k, v in value.items()}
    return value


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
    domain = answers.TagRef
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
    domain: ClassVar[type | None] = answers.DeploymentRef  # (a blast radius item extends it)
    active: bool


class PullSummary(Model):
    domain = answers.PullSummary
    count: int
    last: datetime | None
    actors: list[str]


class CommitRef(Model):
    domain = answers.CommitRef
    sha: str
    vcs_url: str | None
    evidence: Literal["build", "label"] = Field(
        description="build: from a build record; label: an OCI label/annotation claim"
    )


_VERDICT = TypeAdapter(answers.Verdict)
_VERDICT_FIELDS = names(answers.Verdict)


class SignedEvidenceModel(Model):
    """A signature or attestation: its node's attributes and its latest verdict (`key`,
    `policy_sha256`, `evaluated_at`, `origin`: arrival or reverify, ...), side by side."""

    model_config = ConfigDict(extra="allow")
    domain = answers.Evidence
    id: str
    since: datetime
    verified: bool
    reason: str | None

    @classmethod
    def from_domain(cls, answer: object) -> Self:
        assert isinstance(answer, answers.Evidence)
        verdict = (
            _VERDICT.dump_python(answer.verdict)
            if answer.verdict is not None
            else {"verified": False, "reason": "no verdict"}
        )
        return cls.model_validate(
            {"id": answer.id, "since": answer.since, **answer.attrs, **verdict}
        )

    def to_domain(self) -> answers.Evidence:
        wire = {**self.extras(), "verified": self.verified, "reason": self.reason}
        judged = all(name in wire for name in _VERDICT_FIELDS)
        return answers.Evidence(
            id=self.id,
            since=self.since,
            attrs={k: v for k, v in self.extras().items() if k not in _VERDICT_FIELDS},
            verdict=_VERDICT.validate_python({n: wire[n] for n in _VERDICT_FIELDS})
            if judged
            else None,
        )


class ScanModel(Model):
    domain = answers.Scan
    scanner: str
    time: datetime
    summary: dict[str, int]
    worst: str | None
    ids_known: bool
    vulnerabilities: list[dict[str, Any]]


class ArtifactResponse(Model):
    domain = answers.ArtifactView
    digest: str
    media_type: str | None
    size: int | None
    repositories: list[str]
    tags: list[TagRef]
    first_seen: datetime
    deleted: bool
    deleted_at: datetime | None
    signatures: list[SignedEvidenceModel]
    attestations: list[SignedEvidenceModel]
    builds: list[str]
    commits: list[CommitRef]
    base_images: list[str]
    deployments: list[DeploymentRef]
    pulls: PullSummary
    vulnerabilities: list[ScanModel] = Field(
        default_factory=list,
        description="the latest scan of each scanner: scanner, time, summary, worst, "
        "ids_known, vulnerabilities",
    )
    derived_images: list[str] = Field(
        default_factory=list, description="digests of the images built on this one"
    )


class TimelineEventModel(Model):
    """A canonical event (`Event`'s JSON form) and the `seq` of the log entry holding it."""

    model_config = ConfigDict(extra="allow")
    domain = answers.TimelineEvent
    seq: int
    type: str  # `id`, `time`, `source` and the fields that apply: as `Event.to_dict()` writes

    @classmethod
    def from_domain(cls, answer: object) -> Self:
        assert isinstance(answer, answers.TimelineEvent)
        return cls.model_validate({"seq": answer.seq, **bounded(answer.event.to_dict())})

    def to_domain(self) -> answers.TimelineEvent:
        return answers.TimelineEvent(
            self.seq, Event.from_dict({"type": self.type, **self.extras()})
        )


class TimelineResponse(Model):
    domain = answers.Timeline
    digest: str
    events: list[TimelineEventModel]
    next_cursor: str | None


class LineageNode(Model):
    model_config = ConfigDict(extra="allow")
    domain = lineage.LineageNode
    id: str
    kind: str
    label: str

    @classmethod
    def from_domain(cls, answer: object) -> Self:
        assert isinstance(answer, lineage.LineageNode)
        return cls.model_validate(
            {**answer.attrs, "id": answer.id, "kind": answer.kind, "label": answer.label}
        )

    def to_domain(self) -> lineage.LineageNode:
        return lineage.LineageNode(self.id, self.kind, self.label, self.extras())


class LineageEdge(Model):
    model_config = ConfigDict(extra="allow")
    domain = lineage.LineageEdge
    source: str
    target: str
    kind: str
    since: datetime
    until: datetime | None

    @classmethod
    def from_domain(cls, answer: object) -> Self:
        assert isinstance(answer, lineage.LineageEdge)
        named = {"source": answer.source, "target": answer.target, "kind": answer.kind}
        return cls.model_validate(
            {**answer.attrs, **named, "since": answer.since, "until": answer.until}
        )

    def to_domain(self) -> lineage.LineageEdge:
        return lineage.LineageEdge(
            self.source, self.target, self.kind, self.since, self.until, self.extras()
        )


class LineageResponse(Model):
    domain = lineage.Lineage
    digest: str
    direction: Literal["up", "down", "both"]
    depth: int
    nodes: list[LineageNode]
    edges: list[LineageEdge]
    truncated: bool


class TagPosition(Model):
    domain = answers.TagPosition
    digest: str
    since: datetime
    until: datetime | None
    actor: str | None


class TagHistoryResponse(Model):
    domain = answers.TagHistory
    repository: str
    tag: str
    history: list[TagPosition]


class BuildRecordModel(Model):
    """A build of the commit: its id and what its record said, side by side."""

    model_config = ConfigDict(extra="allow")
    domain = answers.BuildRecord
    id: str

    @classmethod
    def from_domain(cls, answer: object) -> Self:
        assert isinstance(answer, answers.BuildRecord)
        return cls.model_validate({"id": answer.id, **answer.attrs})

    def to_domain(self) -> answers.BuildRecord:
        return answers.BuildRecord(self.id, self.extras())


class CommitArtifactModel(Model):
    model_config = ConfigDict(extra="allow")
    domain = answers.CommitArtifact
    digest: str
    evidence: Literal["build", "label"]

    @classmethod
    def from_domain(cls, answer: object) -> Self:
        assert isinstance(answer, answers.CommitArtifact)
        # `build` only where there is one (a label claim names none).
        built = {} if answer.build is None else {"build": answer.build}
        return cls.model_validate({"digest": answer.digest, "evidence": answer.evidence, **built})

    def to_domain(self) -> answers.CommitArtifact:
        return answers.CommitArtifact(self.digest, self.evidence, self.extras().get("build"))


class CommitResponse(Model):
    domain = answers.CommitView
    sha: str
    vcs_url: str | None
    builds: list[BuildRecordModel]
    artifacts: list[CommitArtifactModel]
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


class AffectedArtifact(Model):
    domain = blast.AffectedArtifact
    digest: str
    path: list[str] = Field(description="node ids from the query to this item")


class AffectedBuild(Model):
    domain = blast.AffectedBuild
    build: str
    path: list[str]


class AffectedTag(Model):
    domain = blast.AffectedTag
    repository: str
    tag: str
    digest: str = Field(description="the digest it was reached from")
    path: list[str]


class AffectedDeployment(DeploymentRef):
    domain = blast.AffectedDeployment
    path: list[str]


class AffectedPuller(Model):
    domain = blast.AffectedPuller
    actor: str
    client: str | None
    count: int
    last: datetime | None
    digests: list[str]
    path: list[str]


class BlastRadiusResponse(Model):
    domain = blast.BlastRadius
    query: dict[str, str]
    as_of: datetime | None
    counts: dict[str, int]
    artifacts: list[AffectedArtifact]
    derived: list[AffectedArtifact]
    tags: list[AffectedTag]
    deployments: list[AffectedDeployment]
    pullers: list[AffectedPuller]
    next_cursor: str | None
    truncated: bool
    builds: list[AffectedBuild] = Field(default_factory=list, description="`build`, `path`")


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
