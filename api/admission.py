"""POST /v1/admission (ingest): the Kubernetes validating admission webhook.

The API server sends an AdmissionReview (admission.k8s.io/v1, or v1beta1 from older
clusters) and reads back one in the same version: `response.uid` echoes the request,
`allowed`, `status.message` (why, per image) and `warnings`. Judged by the trust policy's
`admission` section (`provenance.ingest.admission`); every decision is appended to the log as
`admission.decided` evidence, once per request uid, before it is answered. A malformed review
is a 400/422 problem (the API server then applies the webhook's failurePolicy).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.auth import Role
from api.auth import admit as admit_role
from api.deps import Services, services_of
from api.ingest import receive
from api.openapi import problems
from provenance.ingest import admission
from provenance.model.errors import RejectedInput
from provenance.trust.policy import AdmissionPolicy, TrustPolicy

router = APIRouter(prefix="/v1", tags=["admission"])


async def _admitted(request: Request) -> Services:
    """The ingest role, checked on the event loop (no I/O: a sync dependency would cost a
    threadpool round trip on the API server's hot path), and the services."""
    admit_role(request, Role.INGEST)
    return services_of(request)


class StatusModel(BaseModel):
    code: int | None = None
    reason: str | None = None
    message: str


class AdmissionResponseModel(BaseModel):
    uid: str = Field(description="the request's uid")
    allowed: bool
    status: StatusModel | None = Field(None, description="why, per image")
    warnings: list[str] | None = Field(None, description="warn mode: what would be refused")
    auditAnnotations: dict[str, str] | None = Field(
        None, description="`log-seq`: the log entry holding the decision"
    )


class AdmissionReviewModel(BaseModel):
    apiVersion: str
    kind: str
    response: AdmissionResponseModel


def _policy(svc: Services) -> tuple[AdmissionPolicy, str | None]:
    """The loaded trust policy's admission section; no policy: the default (warn mode)."""
    policy = getattr(svc.verifier, "policy", None)
    if isinstance(policy, TrustPolicy):
        return policy.admission, policy.sha256
    return AdmissionPolicy(), None


@router.post(
    "/admission",
    response_model=AdmissionReviewModel,
    responses=problems(400, 401, 403, 413, 415, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": admission.review_schema()}},
        }
    },
)
async def admit(request: Request, svc: Annotated[Services, Depends(_admitted)]) -> Response:
    delivery = await receive(request, svc, admission.SOURCE, keep=True)
    policy, sha256 = _policy(svc)
    try:
        outcome = await run_in_threadpool(
            admission.decide,
            svc.db,
            delivery,
            policy,
            policy_sha256=sha256,
        )
    except RejectedInput as exc:
        await run_in_threadpool(svc.quarantine, delivery, exc)
        raise
    body: dict[str, Any] = outcome.body
    model = AdmissionReviewModel.model_validate(body)
    return Response(model.model_dump_json(exclude_none=True), media_type="application/json")


__all__ = ["router"]
