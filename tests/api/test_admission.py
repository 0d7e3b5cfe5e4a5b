"""POST /v1/admission over HTTP: AdmissionReview in, AdmissionReview out, decisions logged.

The graph is fed as in production: pushes and tags through /v1/events, signatures and
attestations really signed (tests.signing) through /v1/attestations, judged by the trust
policy the service loaded.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli import app as cli
from provenance.store import Database
from tests.conftest import sample_path
from tests.factories import digest, event
from tests.signing import Key, dsse_envelope, simple_signing, statement_v1, write_policy

REPO = "registry.acme.io/acme/payments-api"
SIGNED = digest("signed-and-attested")
UNSIGNED = digest("unsigned")
UNKNOWN = digest("never-seen")
DSSE = "application/vnd.dsse.envelope.v1+json"
Client = Callable[..., TestClient]


# --- reviews, as the API server writes them ------------------------------------------


def _containers(*images: str) -> list[dict[str, Any]]:
    return [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]


def pod(*images: str, init: tuple[str, ...] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": _containers(*images)}
    if init:
        spec["initContainers"] = [{"name": f"init{i}", "image": x} for i, x in enumerate(init)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api-0"}, "spec": spec}


def deployment(*images: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "payments-api"},
        "spec": {"template": {"spec": {"containers": _containers(*images)}}},
    }


def cronjob(*images: str) -> dict[str, Any]:
    template = {"spec": {"containers": _containers(*images), "restartPolicy": "OnFailure"}}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": template}}},
    }


_GROUPS = {
    "Pod": ("", "pods"),
    "Deployment": ("apps", "deployments"),
    "CronJob": ("batch", "cronjobs"),
}


def review(
    obj: dict[str, Any] | None,
    *,
    operation: str = "CREATE",
    version: str = "v1",
    uid: str | None = None,
    kind: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    kind = kind or (obj or {}).get("kind", "Pod")
    group, resource = _GROUPS.get(kind, ("", kind.lower() + "s"))
    request: dict[str, Any] = {
        "uid": uid or str(uuid.uuid4()),
        "kind": {"group": group, "version": "v1", "kind": kind},
        "resource": {"group": group, "version": "v1", "resource": resource},
        "name": (obj or {}).get("metadata", {}).get("name", "x"),
        "namespace": "payments-prod",
        "operation": operation,
        "userInfo": {"username": "system:serviceaccount:argocd:argocd-application-controller"},
        "object": obj,
        "oldObject": None,
        "dryRun": dry_run,
    }
    return {
        "apiVersion": f"admission.k8s.io/{version}",
        "kind": "AdmissionReview",
        "request": request,
    }


def admit(client: TestClient, doc: dict[str, Any]) -> dict[str, Any]:
    r = client.post(
        "/v1/admission", content=orjson.dumps(doc), headers={"content-type": "application/json"}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["apiVersion"] == doc["apiVersion"] and body["kind"] == "AdmissionReview"
    assert body["response"]["uid"] == doc["request"]["uid"]
    return body["response"]


# --- the graph -------------------------------------------------------------------------


def make(
    make_client: Client,
    tmp_path: Path,
    key: Key,
    admission: dict[str, Any] | None,
    **settings_: Any,
) -> TestClient:
    extra = {} if admission is None else {"admission": admission}
    path = write_policy(tmp_path / "policy.yaml", {"ci-release": key}, **extra)
    return make_client(trust_policy=str(path), **settings_)


def post_events(client: TestClient, *events: dict[str, Any]) -> None:
    r = client.post("/v1/events", content=orjson.dumps(list(events)))
    assert r.status_code == 202, r.text


def seed(client: TestClient, key: Key) -> None:
    """SIGNED: pushed as :v1, signed and attested (SLSA, trusted builder); UNSIGNED: pushed
    as :v2. Both are known."""
    post_events(
        client,
        event("artifact.pushed", 0, digest=SIGNED, repository=REPO, tag="v1"),
        event("artifact.pushed", 1, digest=UNSIGNED, repository=REPO, tag="v2"),
    )
    for doc, media in (
        (simple_signing(SIGNED, key, repository=REPO), "application/json"),
        (dsse_envelope(statement_v1(SIGNED, name=REPO), key), DSSE),
    ):
        r = client.post(
            "/v1/attestations", content=orjson.dumps(doc), headers={"content-type": media}
        )
        assert r.status_code == 202 and r.json()["verdicts"][0]["verified"] is True, r.text


ENFORCE = {
    "mode": "enforce",
    "require": ["signed", "attested"],
    "registries": ["registry.acme.io/"],
}


@pytest.fixture
def key() -> Key:
    return Key.make()


@pytest.fixture
def enforcing(make_client: Client, tmp_path: Path, key: Key) -> TestClient:
    client = make(make_client, tmp_path, key, ENFORCE)
    seed(client, key)
    return client


# --- decisions -------------------------------------------------------------------------


def test_signed_pod_pinned_by_digest_is_allowed(enforcing: TestClient) -> None:
    response = admit(enforcing, review(pod(f"{REPO}@{SIGNED}")))
    assert response["allowed"] is True
    assert "status" not in response and "warnings" not in response


def test_unsigned_deployment_by_tag_is_refused_one_reason_per_rule(enforcing: TestClient) -> None:
    response = admit(enforcing, review(deployment(f"{REPO}:v2")))
    assert response["allowed"] is False
    status = response["status"]
    assert status["code"] == 403
    assert f"{REPO}:v2 (container c0): not signed" in status["message"]
    assert "not attested" in status["message"]
    assert status["message"].count(f"{REPO}:v2") == 2  # two rules failed, two reasons


def test_signed_deployment_by_tag_resolves_through_the_graph(enforcing: TestClient) -> None:
    assert admit(enforcing, review(deployment(f"{REPO}:v1")))["allowed"] is True


def test_cronjob_follows_the_tag_where_it_points_now(enforcing: TestClient) -> None:
    assert admit(enforcing, review(cronjob(f"{REPO}:v1")))["allowed"] is True
    # v1 moves to the unsigned digest: the same CronJob is now refused.
    post_events(enforcing, event("tag.updated", 5, digest=UNSIGNED, repository=REPO, tag="v1"))
    response = admit(enforcing, review(cronjob(f"{REPO}:v1")))
    assert response["allowed"] is False and "not signed" in response["status"]["message"]


def test_a_late_tag_move_lands_at_its_event_time(enforcing: TestClient) -> None:
    """A move stated with an event time before the first push does not change what the tag
    holds now: the history is ordered by event time, not arrival."""
    post_events(enforcing, event("tag.updated", -30, digest=UNSIGNED, repository=REPO, tag="v1"))
    assert admit(enforcing, review(cronjob(f"{REPO}:v1")))["allowed"] is True


def test_every_image_of_the_pod_is_judged(enforcing: TestClient) -> None:
    response = admit(enforcing, review(pod(f"{REPO}@{SIGNED}", init=(f"{REPO}@{UNSIGNED}",))))
    assert response["allowed"] is False
    message = response["status"]["message"]
    assert f"{REPO}@{UNSIGNED} (container init0): not signed" in message
    assert f"{REPO}@{SIGNED}" not in message


def test_unknown_images_denied_or_allowed_by_policy(
    enforcing: TestClient, make_client: Client, tmp_path: Path, key: Key
) -> None:
    for image in (f"{REPO}@{UNKNOWN}", f"{REPO}:never-pushed"):
        response = admit(enforcing, review(pod(image)))
        assert response["allowed"] is False
        assert "unknown image" in response["status"]["message"]
        assert "not signed" not in response["status"]["message"]  # nothing else to judge

    lenient = make(make_client, tmp_path, key, ENFORCE | {"unknown_image": "allow"})
    response = admit(lenient, review(pod(f"{REPO}@{UNKNOWN}")))
    assert response["allowed"] is True
    assert "unknown image admitted by policy" in response["warnings"][0]


def test_registries_outside_the_list_are_refused(enforcing: TestClient) -> None:
    response = admit(enforcing, review(pod("nginx:1.27", f"{REPO}@{SIGNED}")))
    assert response["allowed"] is False
    message = response["status"]["message"]
    assert "nginx:1.27 (container c0): registry not allowed" in message
    # a look-alike host is not under the prefix either
    response = admit(enforcing, review(pod(f"registry.acme.io.evil.com/acme/x@{SIGNED}")))
    assert "registry not allowed" in response["status"]["message"]


def test_warn_mode_allows_with_the_reasons_as_warnings(
    make_client: Client, tmp_path: Path, key: Key
) -> None:
    client = make(make_client, tmp_path, key, ENFORCE | {"mode": "warn"})
    seed(client, key)
    response = admit(client, review(deployment(f"{REPO}:v2", f"{REPO}:v1")))
    assert response["allowed"] is True
    assert response["warnings"] == [
        f"{REPO}:v2 (container c0): not signed: no signature verified under the trust policy",
        f"{REPO}:v2 (container c0): not attested: no attestation verified under the trust policy",
    ]


def test_without_an_admission_section_the_webhook_only_warns(
    make_client: Client, tmp_path: Path, key: Key
) -> None:
    client = make(make_client, tmp_path, key, None)
    seed(client, key)
    response = admit(client, review(pod(f"{REPO}@{UNSIGNED}")))
    assert response["allowed"] is True and len(response["warnings"]) == 2


def test_known_build_requires_a_build_record(make_client: Client, tmp_path: Path, key: Key) -> None:
    client = make(make_client, tmp_path, key, {"require": ["known_build"]})
    seed(client, key)  # SIGNED's build is in its verified SLSA provenance
    assert admit(client, review(pod(f"{REPO}@{SIGNED}")))["allowed"] is True
    response = admit(client, review(pod(f"{REPO}@{UNSIGNED}")))
    assert "no known build" in response["status"]["message"]
    post_events(client, event("build.finished", 3, build="ci-7", digest=UNSIGNED))
    assert admit(client, review(pod(f"{REPO}@{UNSIGNED}")))["allowed"] is True


def _scan(minutes: float, dig: str, *severities: str, scanner: str = "trivy") -> dict[str, Any]:
    found = [{"id": f"CVE-2026-{i}", "severity": sev} for i, sev in enumerate(severities)]
    return event("artifact.scanned", minutes, digest=dig, scanner=scanner, vulnerabilities=found)


def test_the_severity_ceiling_judges_the_latest_scan(
    make_client: Client, tmp_path: Path, key: Key
) -> None:
    client = make(make_client, tmp_path, key, ENFORCE | {"max_severity": "high"})
    seed(client, key)
    pinned = review(pod(f"{REPO}@{SIGNED}"))
    assert admit(client, pinned)["allowed"] is True  # never scanned: nothing above the ceiling
    post_events(client, _scan(5, SIGNED, "high", "low"))
    assert admit(client, review(pod(f"{REPO}@{SIGNED}")))["allowed"] is True  # at the ceiling
    post_events(client, _scan(6, SIGNED, "critical", scanner="grype"))
    response = admit(client, review(deployment(f"{REPO}:v1")))  # by tag: the same digest
    assert response["allowed"] is False
    assert response["status"]["message"].endswith(
        "(container c0): vulnerable: its latest scan found critical, above high"
    )
    # grype scans again, clean; a late trivy scan (older by event time) changes nothing
    post_events(client, _scan(8, SIGNED, scanner="grype"), _scan(4, SIGNED, "critical"))
    assert admit(client, review(pod(f"{REPO}@{SIGNED}")))["allowed"] is True


def test_without_a_ceiling_findings_refuse_nothing(enforcing: TestClient) -> None:
    post_events(enforcing, _scan(5, SIGNED, "critical"))
    assert admit(enforcing, review(pod(f"{REPO}@{SIGNED}")))["allowed"] is True


def test_v1beta1_is_answered_in_v1beta1(enforcing: TestClient) -> None:
    doc = review(pod(f"{REPO}@{UNSIGNED}"), version="v1beta1")
    response = admit(enforcing, doc)  # admit checks the apiVersion echoed
    assert response["allowed"] is False


def test_the_sample_review_is_answered(enforcing: TestClient) -> None:
    doc = orjson.loads(
        sample_path("kubernetes/validating-admissionreview-request.json").read_bytes()
    )
    response = admit(enforcing, doc)
    assert response["allowed"] is False  # its registry is not registry.acme.io
    assert "registry not allowed" in response["status"]["message"]


def test_deletes_and_objects_without_pods_are_allowed_unjudged(enforcing: TestClient) -> None:
    unsigned = pod(f"{REPO}@{UNSIGNED}")
    for doc in (
        review(unsigned, operation="DELETE"),
        review(unsigned, operation="CONNECT"),
        review({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
        review(None, kind="Pod"),
    ):
        response = admit(enforcing, doc)
        assert response == {"uid": doc["request"]["uid"], "allowed": True} | (
            {"auditAnnotations": response["auditAnnotations"]}
        )


# --- the evidence ----------------------------------------------------------------------


def _decisions(client: TestClient) -> list[dict[str, Any]]:
    entries = client.get("/v1/audit/log", params={"limit": 1000}).json()["entries"]
    return [e for e in entries if e["source"] == "admission"]


def test_decisions_are_logged_once_per_uid_and_the_chain_verifies(
    enforcing: TestClient, db: Database
) -> None:
    doc = review(deployment(f"{REPO}:v2"), uid="5d1f6a0e-0000-4000-8000-000000000001")
    first = admit(enforcing, doc)
    again = admit(enforcing, doc)  # the API server retries on a timeout
    assert first["allowed"] is again["allowed"] is False
    (entry,) = _decisions(enforcing)
    assert first["auditAnnotations"] == {"log-seq": str(entry["seq"])}
    assert orjson.loads(entry["body"]) == doc  # the review as received
    (decided,) = entry["events"]
    assert decided["type"] == "admission.decided" and decided["id"] == doc["request"]["uid"]
    assert decided["namespace"] == "payments-prod"
    assert decided["workload"] == "deployment/payments-api"
    attrs = decided["attributes"]
    assert attrs["allowed"] is False and attrs["mode"] == "enforce"
    (image,) = attrs["images"]
    assert image["image"] == f"{REPO}:v2" and image["digest"] == UNSIGNED
    assert image["resolved_by"] == "tag" and len(image["reasons"]) == 2

    assert enforcing.get("/v1/audit/verify", params={"full": "true"}).json()["ok"] is True
    result = CliRunner().invoke(cli, ["audit", "verify", "--database-url", db.url, "--json"])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output)["ok"] is True


def test_a_posted_decision_cannot_claim_a_review_uid(enforcing: TestClient) -> None:
    """Decisions are the service's own evidence: one posted to /v1/events (by type, or by
    the admission source) is refused, so it cannot make the real decision a duplicate."""
    uid = "5d1f6a0e-0000-4000-8000-0000000000f0"
    forged = [
        {"id": uid, "type": "admission.decided", "time": "2026-05-01T00:00:00Z", "source": "x"},
        {"id": uid, "type": "artifact.pulled", "time": "2026-05-01T00:00:00Z",
         "source": "admission", "digest": UNSIGNED},
    ]  # fmt: skip
    for sent in forged:
        r = enforcing.post("/v1/events", content=orjson.dumps(sent))
        assert r.status_code == 422, r.text
        assert "written by the service itself" in r.json()["detail"]
    admit(enforcing, review(deployment(f"{REPO}:v2"), uid=uid))
    (entry,) = _decisions(enforcing)
    assert entry["events"][0]["id"] == uid


def test_dry_runs_are_judged_but_not_logged(enforcing: TestClient) -> None:
    response = admit(enforcing, review(pod(f"{REPO}@{UNSIGNED}"), dry_run=True))
    assert response["allowed"] is False and "auditAnnotations" not in response
    assert _decisions(enforcing) == []


def test_malformed_reviews_are_problems_and_quarantined(enforcing: TestClient) -> None:
    good = review(pod(f"{REPO}@{SIGNED}"))
    no_uid = copy.deepcopy(good)
    del no_uid["request"]["uid"]
    wrong_version = good | {"apiVersion": "admission.k8s.io/v2"}
    cases = [(b"{not json", 400), (orjson.dumps(no_uid), 422), (orjson.dumps(wrong_version), 422)]
    for body, status in cases:
        r = enforcing.post(
            "/v1/admission", content=body, headers={"content-type": "application/json"}
        )
        assert r.status_code == status, r.text
        assert r.headers["content-type"] == "application/problem+json"
    assert _decisions(enforcing) == []
    items = enforcing.get("/v1/quarantine").json()["items"]
    assert sum(1 for i in items if i["source"] == "admission") == 3


def test_without_credentials_nothing_is_stored(
    make_client: Client, tmp_path: Path, key: Key
) -> None:
    client = make(
        make_client, tmp_path, key, ENFORCE, ingest_token="in", admin_token="adm", read_token="rd"
    )
    doc = orjson.dumps(review(pod(f"{REPO}@{SIGNED}")))
    assert client.post("/v1/admission", content=doc).status_code == 401
    reader = {"authorization": "Bearer rd"}
    assert client.post("/v1/admission", content=doc, headers=reader).status_code == 403
    read = {"authorization": "Bearer adm"}
    entries = client.get("/v1/audit/log", headers=read).json()["entries"]
    assert entries == []
    ok = client.post("/v1/admission", content=doc, headers={"authorization": "Bearer in"})
    assert ok.status_code == 200 and ok.json()["response"]["allowed"] is False


# --- any body: an answer or a 4xx ------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def bodies(draw: st.DrawFn) -> Any:
    """Anything JSON (integers beyond 64 bits too), or an AdmissionReview with one of its
    parts replaced by anything."""
    if draw(st.booleans()):
        return draw(_json)
    doc = review(draw(st.sampled_from([pod(f"{REPO}@{SIGNED}"), deployment("x"), cronjob("y:1")])))
    where = draw(
        st.sampled_from(["request", "object", "spec", "containers", "image", "uid", "kind"])
    )
    value = draw(_json)
    req = doc["request"]
    if where == "request":
        doc["request"] = value
    elif where == "object":
        req["object"] = value
    elif where == "uid":
        req["uid"] = value
    elif where == "kind":
        req["kind"] = value
    else:
        spec = req["object"]["spec"]
        spec = spec.get("template", {}).get("spec", spec)
        if where == "spec":
            spec.clear()
            spec["containers"] = value
        elif where == "containers":
            spec["containers"] = [value]
        else:
            spec["containers"] = [{"name": "c", "image": value}]
    return doc


def test_any_body_is_answered_or_refused_never_500(enforcing: TestClient) -> None:
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(bodies())
    def check(doc: Any) -> None:
        r = enforcing.post("/v1/admission", content=json.dumps(doc).encode())
        assert r.status_code == 200 or 400 <= r.status_code < 500, r.text
        if r.status_code == 200:
            body = r.json()
            assert body["kind"] == "AdmissionReview"
            assert body["response"]["uid"] == doc["request"]["uid"]
            assert isinstance(body["response"]["allowed"], bool)

    check()
