"""Trust routes: attestations in, evidence, the service key, checkpoints, compliance exports.

POST /v1/attestations                (ingest)  verified on arrival; 202 lists the verdicts
GET  /v1/artifacts/{digest}/evidence (read)    every verdict about a digest, old and new
GET  /v1/keys/signing                (read)    the service's public key (PEM)
GET  /v1/audit/checkpoint            (read)    the log head, signed
GET  /v1/exports/compliance          (read)    json / csv / ndjson (streamed) / intoto
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal, Self

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from api.auth import Role, require
from api.deps import Services, services
from api.guards import no_nul_in_query
from api.ingest import accepted, receive
from api.openapi import DIGEST_PATTERN, INGEST_MEDIA_TYPES, problems, raw_body
from api.responses import json_response
from api.schemas import IngestResponse, Model, Timestamp
from provenance.model.errors import InvalidQuery
from provenance.model.timeutil import format_time, utcnow
from provenance.query import checkpoints, evidence, exports
from provenance.query.artifacts import check_digest
from provenance.trust.attestations import ServiceSigner

router = APIRouter(prefix="/v1", tags=["trust"], responses=problems(401, 403, 503))
Svc = Annotated[Services, Depends(services)]
_signer_lock = threading.Lock()


class SignatureVerdictModel(BaseModel):
    index: int
    verified: bool
    key: str | None
    keyid: str | None = Field(None, description="the hint the signature carried")
    reason: str | None


class VerdictModel(BaseModel):
    digest: str
    kind: Literal["signature", "attestation"]
    verified: bool
    key: str | None = Field(description="the trust policy key id (or keyless identity)")
    reason: str | None = Field(description="why it did not verify")
    policy_sha256: str | None
    evaluated_at: datetime
    signature_verified: bool
    builder_trusted: bool | None
    signatures: list[SignatureVerdictModel]


class AttestationResponse(IngestResponse):
    verdicts: list[VerdictModel]


class EvidenceModel(Model):
    # One stored verdict (`provenance.store.evidence.EvidenceRow`), read by field name.
    kind: str
    event_id: str
    seq: int
    verified: bool
    key: str | None
    reason: str | None
    policy_sha256: str | None
    evaluated_at: datetime
    origin: Literal["arrival", "reverify"]
    predicate_type: str | None = None
    builder_id: str | None = None
    builder_trusted: bool | None = None
    signature_verified: bool | None = None

    @classmethod
    def from_domain(cls, answer: object) -> Self:
        # Where the wire differs from the row: `key_id` is `key`, and what an attestation's
        # verdict says of its builder (`details`) are fields of their own.
        if not isinstance(answer, evidence.EvidenceRow):
            raise TypeError(f"an EvidenceRow, not {type(answer).__name__}")
        named = {n: getattr(answer, n) for n in cls.model_fields if hasattr(answer, n)}
        details = {n: answer.details.get(n) for n in _DETAIL_FIELDS}
        return cls.model_validate(named | details | {"key": answer.key_id})


_DETAIL_FIELDS = ("predicate_type", "builder_id", "builder_trusted", "signature_verified")


class EvidenceResponse(Model):
    digest: str
    items: list[EvidenceModel]


class CheckpointResponse(BaseModel):
    entries: int
    head: str
    time: str
    signature: dict[str, Any] = Field(description="DSSE envelope over entries, head, time")


@router.post(
    "/attestations",
    status_code=202,
    response_model=AttestationResponse,
    dependencies=[Depends(require(Role.INGEST))],
    responses=problems(400, 413, 415, 422),
    openapi_extra=raw_body(*INGEST_MEDIA_TYPES["attestations"]),
)
async def attestations(request: Request, svc: Svc) -> Response:
    delivery = await receive(request, svc, "attestations", keep=True)
    outcome = await run_in_threadpool(svc.ingest, delivery)
    model = AttestationResponse(
        **accepted(outcome).model_dump(),
        verdicts=[VerdictModel.model_validate(v) for v in outcome.verdicts],
    )
    return json_response(model, status_code=202)


@router.get(
    "/artifacts/{digest}/evidence",
    response_model=EvidenceResponse,
    dependencies=[Depends(require(Role.READ)), Depends(no_nul_in_query)],
    responses=problems(422),
)
def artifact_evidence(
    digest: Annotated[str, Path(json_schema_extra={"pattern": DIGEST_PATTERN})], svc: Svc
) -> Response:
    check_digest(digest)
    with svc.db.read() as session:
        rows = evidence.history(session, digest)
    items = [EvidenceModel.from_domain(r) for r in rows]
    return Response(
        EvidenceResponse(digest=digest, items=items).model_dump_json(),
        media_type="application/json",
    )


def signer(request: Request) -> ServiceSigner:
    """The service key, loaded (or, next to a SQLite database, generated) on first use."""
    state = request.app.state
    with _signer_lock:
        found: ServiceSigner | None = getattr(state, "service_signer", None)
        if found is None:
            settings = state.settings
            found = ServiceSigner.for_service(settings.signing_key, settings.database_url)
            state.service_signer = found
    return found


Signer = Annotated[ServiceSigner, Depends(signer)]


@router.get(
    "/keys/signing",
    dependencies=[Depends(require(Role.READ)), Depends(no_nul_in_query)],
    response_class=Response,
    responses={
        200: {
            "description": "The service's public key (PEM)",
            "content": {"application/x-pem-file": {"schema": {"type": "string"}}},
            "headers": {"X-Key-Id": {"schema": {"type": "string"}, "required": True}},
        },
        **problems(500),
    },
)
def signing_key(key: Signer) -> Response:
    return Response(
        key.public_pem,
        media_type="application/x-pem-file",
        headers={"X-Key-Id": key.keyid},
    )


@router.get(
    "/audit/checkpoint",
    response_model=CheckpointResponse,
    dependencies=[Depends(require(Role.READ)), Depends(no_nul_in_query)],
    responses=problems(500),
)
def checkpoint(svc: Svc, key: Signer) -> Response:
    with svc.db.read() as session:
        doc = checkpoints.make(session, key)
    return Response(orjson.dumps(doc), media_type="application/json")


@router.get(
    "/exports/compliance",
    dependencies=[Depends(require(Role.READ)), Depends(no_nul_in_query)],
    response_class=Response,
    responses={
        200: {
            "description": "The export, as a file (`Content-Disposition`)",
            "content": {
                "application/json": {"schema": {}},
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {}},
            },
        },
        **problems(422, 500),
    },
)
def compliance(
    request: Request,
    svc: Svc,
    *,
    since: Annotated[Timestamp | None, Query()] = None,
    until: Annotated[Timestamp | None, Query()] = None,
    fmt: Annotated[str, Query(alias="format")] = "json",
    environment: str | None = None,
    repository: str | None = None,
    kind: Annotated[Literal["push", "deployment"] | None, Query()] = None,
) -> Response:
    export = exports.Export(
        since=_utc(since) or exports.EPOCH,
        until=_utc(until) or utcnow(),
        environment=environment,
        repository=repository,
        kind=kind,
    )
    chosen = exports.check_format(fmt)
    name = f"compliance-{format_time(export.since)}--{format_time(export.until)}"
    if chosen == "intoto":
        with svc.metrics.export_seconds.labels(chosen).time():
            envelope = exports.signed(svc.db, export, signer(request))
        return Response(
            orjson.dumps(envelope),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}.intoto.json"'},
        )
    suffix = {"json": "json", "csv": "csv", "ndjson": "ndjson"}[chosen]
    return StreamingResponse(
        _timed(exports.stream(svc.db, export, chosen), svc.metrics.export_seconds.labels(chosen)),
        media_type=exports.MEDIA_TYPES[chosen],
        headers={"Content-Disposition": f'attachment; filename="{name}.{suffix}"'},
    )


def _timed(chunks: Iterator[bytes], histogram: Any) -> Iterator[bytes]:
    """The stream, observed when its last byte is produced (the response is long sent)."""
    start = time.perf_counter()
    yield from chunks
    histogram.observe(time.perf_counter() - start)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidQuery("since and until need a UTC offset (RFC 3339, e.g. ...Z)")
    return value


__all__ = ["router", "signer"]
