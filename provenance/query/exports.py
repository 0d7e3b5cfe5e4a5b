"""Compliance exports: every push and deployment of a period, with its evidence.

    Export(period, filters)                  what is asked
    stream(db, export, fmt) -> Iterator[bytes]   json / csv / ndjson, constant memory
    signed(db, export, signer) -> dict        `intoto`: a DSSE envelope over a Statement

A record (`ExportRecord`) is the same in every format: `kind` (push | deployment), `time`,
`digest`, where it went (repository/tag or environment/cluster/namespace/workload), who
did it, the `commit`, `build` and `builder` behind the digest, and the latest verdict of
each signature and attestation (`signed` / `attested`: at least one verified).

The `intoto` export is one DSSE envelope (`application/vnd.in-toto+json`, signed with the
service key) whose in-toto Statement v1 names one subject, `compliance-export`, with the
sha256 of the RFC 8785 canonical JSON of `records`; its predicate holds `period`,
`filters`, `records`, `record_count` and `audit_head`.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
import rfc8785

from provenance.model.errors import InvalidQuery
from provenance.model.kinds import NodeKind
from provenance.model.timeutil import format_time, utcnow
from provenance.query import columns
from provenance.store import Database, Session, evidence, reads
from provenance.trust.attestations import IN_TOTO_PAYLOAD, ServiceSigner

Format = Literal["json", "csv", "ndjson", "intoto"]
FORMATS: tuple[str, ...] = ("json", "csv", "ndjson", "intoto")
STATEMENT_V1 = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "urn:provenance:compliance-export:v1"
SUBJECT_NAME = "compliance-export"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "ndjson": "application/x-ndjson",
    "intoto": "application/vnd.in-toto+json",  # the envelope's payload type; the file is DSSE
}


@dataclass(frozen=True, slots=True)
class Export:
    since: datetime = EPOCH
    until: datetime = field(default_factory=utcnow)
    environment: str | None = None
    repository: str | None = None
    kind: Literal["push", "deployment"] | None = None

    def __post_init__(self) -> None:
        if self.until <= self.since:
            raise InvalidQuery("until must be after since")
        if self.kind not in (None, "push", "deployment"):
            raise InvalidQuery("kind is push or deployment")

    @property
    def period(self) -> dict[str, str]:
        return {"since": format_time(self.since), "until": format_time(self.until)}

    @property
    def filters(self) -> dict[str, str]:
        given = {"environment": self.environment, "repository": self.repository, "kind": self.kind}
        return {k: v for k, v in given.items() if v is not None}


def check_format(fmt: str) -> Format:
    if fmt not in FORMATS:
        raise InvalidQuery(f"format is one of: {', '.join(FORMATS)}")
    return fmt  # type: ignore[return-value]  # checked against FORMATS just above


# --- records ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportVerdict:
    """The latest verdict of one signature or attestation of a record's digest."""

    verified: bool
    key: str | None  # the trust policy's key id (or keyless identity)
    policy_sha256: str | None
    reason: str | None  # why it did not verify
    evaluated_at: str  # RFC 3339
    origin: str  # arrival or reverify
    seq: int
    event_id: str
    kind: str  # signature or attestation
    predicate_type: str | None = None  # attestation
    builder_id: str | None = None
    builder_trusted: bool | None = None
    signature_verified: bool | None = None

    @classmethod
    def of(cls, row: evidence.EvidenceRow) -> ExportVerdict:
        # The fields as `EvidenceRow.to_dict` names them (as `artifacts.Verdict.of` reads
        # them), the time in RFC 3339.
        return cls(**(row.to_dict() | {"evaluated_at": format_time(row.evaluated_at)}))


@dataclass(frozen=True, slots=True)
class ExportRecord:
    """One push or deployment with its evidence. Its fields, in order, are the CSV's columns
    and the keys of a JSON record; a field that does not apply to the kind is None."""

    kind: str  # push | deployment
    time: str  # RFC 3339, as every format writes it
    digest: str
    repository: str | None = None  # push
    tag: str | None = None  # push
    actor: str | None = None
    environment: str | None = None  # deployment
    cluster: str | None = None
    namespace: str | None = None
    workload: str | None = None
    container: str | None = None
    until: str | None = None  # deployment: when it stopped, None while running
    commit: str | None = None
    commit_evidence: str | None = None  # build (a build record) or label (a claim)
    vcs_url: str | None = None
    build: str | None = None
    builder: str | None = None
    signed: bool = False  # at least one signature verified
    attested: bool = False  # at least one attestation verified
    signatures: list[ExportVerdict] = field(default_factory=list)  # latest verdicts
    attestations: list[ExportVerdict] = field(default_factory=list)
    seq: int | None = None
    event_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON formats (and a CSV row) hold it, and as the in-toto
        subject's digest is taken over."""
        return columns.values(self) | {
            "signatures": [columns.values(v) for v in self.signatures],
            "attestations": [columns.values(v) for v in self.attestations],
        }


COLUMNS = columns.names(ExportRecord)


def iter_records(
    db: Database, export: Export, *, page: int = 500
) -> Iterator[ExportRecord | tuple[int, str]]:
    """First the audit head (entries, head) the export is cut at, then the records in time
    order. One read transaction, page by page."""
    with db.read() as session:
        head = reads.exports.cut(session)
        yield head
        streams: list[Iterator[tuple[datetime, int, ExportRecord]]] = []
        if export.kind in (None, "push") and export.environment is None:
            pages = reads.exports.pushes(
                session,
                export.since,
                export.until,
                max_seq=head[0],
                repository=export.repository,
                page=page,
            )
            streams.append(_enriched(session, pages, "push"))
        if export.kind in (None, "deployment"):
            pages = reads.exports.deployments(
                session,
                export.since,
                export.until,
                max_seq=head[0],
                environment=export.environment,
                repository=export.repository,
                page=page,
            )
            streams.append(_enriched(session, pages, "deployment"))
        for _, _, record in heapq.merge(*streams, key=_order):
            yield record


def _order(item: tuple[datetime, int, ExportRecord]) -> tuple[datetime, int]:
    return item[0], item[1]


def _enriched(
    session: Session, pages: Iterable[list[dict[str, Any]]], kind: str
) -> Iterator[tuple[datetime, int, ExportRecord]]:
    """Records of one kind, with build facts and verdicts looked up a page at a time."""
    for page in pages:
        digests = [r["digest"] for r in page]
        facts = reads.exports.build_facts(session, digests)
        verdicts = evidence.latest_by_digest(session, digests)
        for r in page:
            record = _record(kind, r, facts.get(r["digest"], {}), verdicts.get(r["digest"], []))
            yield r["time"], 0 if kind == "push" else 1, record


def _record(
    kind: str,
    row: dict[str, Any],
    facts: dict[str, Any],
    verdicts: list[evidence.EvidenceRow],
) -> ExportRecord:
    sigs = [ExportVerdict.of(v) for v in verdicts if v.kind == NodeKind.SIGNATURE]
    atts = [ExportVerdict.of(v) for v in verdicts if v.kind == NodeKind.ATTESTATION]
    where: dict[str, Any]
    if kind == "push":
        where = {"repository": row.get("repository"), "tag": row.get("tag")}
    else:
        where = {k: row.get(k) for k in ("environment", "cluster", "namespace", "workload")}
        where["container"] = row.get("container")
        where["until"] = format_time(row["until"]) if row.get("until") else None
    return ExportRecord(
        kind=kind,
        time=format_time(row["time"]),
        digest=row["digest"],
        actor=row.get("actor"),
        seq=row["seq"],
        event_id=row.get("event_id"),
        signed=any(s.verified for s in sigs),
        attested=any(a.verified for a in atts),
        signatures=sigs,
        attestations=atts,
        **where,
        **{k: facts.get(k) for k in ("commit", "commit_evidence", "vcs_url", "build", "builder")},
    )


# --- formats ---------------------------------------------------------------------------


def stream(db: Database, export: Export, fmt: Format, *, page: int = 500) -> Iterator[bytes]:
    """json / csv / ndjson, produced as they are read: memory does not grow with the period
    (it is bounded by `page` records and their lookups)."""
    items = iter_records(db, export, page=page)
    head = next(items)
    assert isinstance(head, tuple)
    rows = (r.to_json() for r in items if isinstance(r, ExportRecord))
    if fmt == "ndjson":
        for r in rows:
            yield orjson.dumps(r) + b"\n"
    elif fmt == "csv":
        yield _csv_line(COLUMNS)
        for r in rows:
            yield _csv_line([_cell(r[c]) for c in COLUMNS])
    elif fmt == "json":
        yield b'{"period":' + orjson.dumps(export.period)
        yield b',"filters":' + orjson.dumps(export.filters)
        yield b',"audit_head":' + orjson.dumps(_head(head))
        yield b',"generated_at":' + orjson.dumps(format_time(utcnow()))
        yield b',"records":['
        count = 0
        for r in rows:
            yield (b"," if count else b"") + orjson.dumps(r)
            count += 1
        yield b'],"record_count":' + str(count).encode() + b"}\n"
    else:
        raise InvalidQuery(f"{fmt} is not a streamed format")


def statement(db: Database, export: Export) -> dict[str, Any]:
    """The in-toto Statement of an `intoto` export (records held in memory)."""
    items = iter_records(db, export)
    head = next(items)
    assert isinstance(head, tuple)
    recs = [r.to_json() for r in items if isinstance(r, ExportRecord)]
    return {
        "_type": STATEMENT_V1,
        "subject": [{"name": SUBJECT_NAME, "digest": {"sha256": records_sha256(recs)}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "period": export.period,
            "filters": export.filters,
            "records": recs,
            "record_count": len(recs),
            "audit_head": _head(head),
            "generated_at": format_time(utcnow()),
        },
    }


def signed(db: Database, export: Export, signer: ServiceSigner) -> dict[str, Any]:
    """`format=intoto`: the Statement in a DSSE envelope signed with the service key."""
    payload = rfc8785.dumps(statement(db, export))
    return signer.envelope(IN_TOTO_PAYLOAD, payload)


def records_sha256(recs: list[dict[str, Any]]) -> str:
    """The subject digest: sha256 of the RFC 8785 canonical JSON of the records."""
    return hashlib.sha256(rfc8785.dumps(recs)).hexdigest()


def _head(head: tuple[int, str]) -> dict[str, Any]:
    return {"entries": head[0], "head": head[1]}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    return str(value)


def _csv_line(values: Iterable[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue().encode()


__all__ = [
    "COLUMNS",
    "FORMATS",
    "MEDIA_TYPES",
    "PREDICATE_TYPE",
    "SUBJECT_NAME",
    "Export",
    "ExportRecord",
    "ExportVerdict",
    "check_format",
    "records_sha256",
    "signed",
    "statement",
    "stream",
]
