"""POST /v1/scans and the scans in the reads, through the real app on both backends."""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.factories import digest, event
from tests.scan_reports import (
    cyclonedx_bom,
    ecr_scan,
    grype_report,
    harbor_scan,
    inspector_finding,
    trivy_report,
)

D, E = digest("api scanned"), digest("api other")
REPO = "registry.acme.io/acme/payments-api"
WHERE = {"workload": "deployment/pay", "namespace": "prod", "cluster": "eu-1", "container": "app"}
CRIT = [("CVE-2024-1111", "CRITICAL", "openssl", "3.1.4", "3.1.5")]


def _post(client: TestClient, body: Any, **params: str) -> Any:
    return client.post(
        "/v1/scans",
        content=json.dumps(body).encode(),  # json: any integer, as a sender may write it
        params=params,
        headers={"content-type": "application/json"},
    )


def _events(client: TestClient, *events: dict[str, Any]) -> None:
    assert client.post("/v1/events", json=list(events)).status_code == 202


def test_each_report_format_is_accepted_and_shown(client: TestClient) -> None:
    _events(client, event("artifact.pushed", 0, digest=D, repository=REPO, tag="v1"))
    assert _post(client, trivy_report(D, CRIT)).status_code == 202
    grype = grype_report(D, [("GHSA-aaaa-bbbb-cccc", "High", "x", "1", None)])
    assert _post(client, grype).status_code == 202
    bom = cyclonedx_bom(D, [("CVE-2024-2222", "medium", "y", "2", None)], flavour="trivy")
    bom["metadata"]["tools"]["components"][0]["name"] = "trivy-sbom"
    assert _post(client, bom).status_code == 202
    view = client.get(f"/v1/artifacts/{D}").json()
    by = {s["scanner"]: s for s in view["vulnerabilities"]}
    assert set(by) == {"trivy", "grype", "trivy-sbom"}
    assert by["trivy"]["worst"] == "critical"
    assert [v["id"] for v in by["trivy"]["vulnerabilities"]] == ["CVE-2024-1111"]
    assert by["grype"]["summary"]["high"] == 1
    listing = client.get("/v1/artifacts", params={"repository": REPO}).json()["items"]
    (item,) = listing
    assert item["vulnerabilities"] == {
        "critical": 1,
        "high": 1,
        "medium": 1,
        "low": 0,
        "unknown": 0,
    }
    timeline = client.get(f"/v1/artifacts/{D}/timeline").json()["events"]
    assert [e["type"] for e in timeline].count("artifact.scanned") == 3


def test_no_digest_is_a_422_and_the_param_supplies_it(client: TestClient) -> None:
    report = trivy_report(None, CRIT)
    refused = _post(client, report)
    assert refused.status_code == 422
    assert "digest" in refused.json()["detail"]
    assert _post(client, report, digest=D).status_code == 202
    assert _post(client, {"not": "a report"}).status_code == 422
    assert (
        client.post(
            "/v1/scans", content=b"{", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    again = _post(client, report, digest=D)
    assert again.status_code == 202 and again.json()["duplicates"] == 1


def test_scans_need_the_ingest_role(make_client: Any) -> None:
    client = make_client(ingest_token="in-secret", read_token="read-secret")
    assert _post(client, trivy_report(D, CRIT)).status_code == 401
    client.headers["authorization"] = "Bearer read-secret"
    assert _post(client, trivy_report(D, CRIT)).status_code == 403
    client.headers["authorization"] = "Bearer in-secret"
    assert _post(client, trivy_report(D, CRIT)).status_code == 202


def test_vulnerable_filter_and_counts_only_sources(client: TestClient) -> None:
    _events(
        client,
        event("artifact.pushed", 0, digest=D, repository=REPO),
        event("artifact.pushed", 0, digest=E, repository=REPO),
    )
    hook = {"content-type": "application/json"}
    harbor = client.post(
        "/v1/webhooks/harbor", content=orjson.dumps(harbor_scan(D, {"High": 2})), headers=hook
    )
    assert harbor.status_code == 202
    ecr = client.post("/v1/webhooks/ecr", content=orjson.dumps(ecr_scan(E, {})), headers=hook)
    assert ecr.status_code == 202
    vulnerable = client.get("/v1/artifacts", params={"vulnerable": "true"}).json()["items"]
    assert [i["digest"] for i in vulnerable] == [D]
    clean = client.get("/v1/artifacts", params={"vulnerable": "false"}).json()["items"]
    assert [i["digest"] for i in clean] == [E]
    (harbor_scan_view,) = client.get(f"/v1/artifacts/{D}").json()["vulnerabilities"]
    assert harbor_scan_view["ids_known"] is False and harbor_scan_view["summary"]["high"] == 2


def test_blast_radius_by_vulnerability_with_a_late_scan(client: TestClient) -> None:
    _events(
        client,
        event("artifact.pushed", 0, digest=D, repository=REPO, tag="v1"),
        event("artifact.pushed", 0, digest=E, repository=REPO, tag="v2"),
        event("deployment.applied", 2, digest=D, **WHERE),
    )
    # the scan arrives after the deployment, and says it was scanned before it
    finding = inspector_finding(D, "CVE-2024-1111", "CRITICAL", time="2026-03-09T13:00:00Z")
    hook = {"content-type": "application/json"}
    sent = client.post("/v1/webhooks/ecr", content=orjson.dumps(finding), headers=hook)
    assert sent.status_code == 202
    # and a Grype report of E lists a GHSA related to the same CVE
    related = grype_report(
        E, [("GHSA-1", "High", "x", "1", None)], related={"GHSA-1": "CVE-2024-1111"}
    )
    assert _post(client, related).status_code == 202
    answer = client.post("/v1/incidents/blast-radius", json={"vulnerability": "CVE-2024-1111"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert sorted(a["digest"] for a in body["artifacts"]) == sorted([D, E])
    assert sorted(t["tag"] for t in body["tags"]) == ["v1", "v2"]
    assert [d["digest"] for d in body["deployments"]] == [D]
    assert body["deployments"][0]["path"][0] == "vulnerability:CVE-2024-1111"
    alerts = client.get("/v1/alerts", params={"kind": "vulnerable_deployed"}).json()
    items = alerts["items"] if isinstance(alerts, dict) else alerts
    assert [a["digest"] for a in items] == [D]
    # as of before any scan, nothing listed it
    before = client.post(
        "/v1/incidents/blast-radius",
        json={"vulnerability": "CVE-2024-1111", "as_of": "2026-03-09T12:00:00Z"},
    )
    assert before.status_code == 200 and before.json()["artifacts"] == []
    # Inspector closes the finding: D no longer lists it, E (Grype) still does
    closed = inspector_finding(
        D, "CVE-2024-1111", "CRITICAL", status="CLOSED", time="2026-03-09T15:00:00Z"
    )
    assert (
        client.post("/v1/webhooks/ecr", content=orjson.dumps(closed), headers=hook).status_code
        == 202
    )
    after = client.post(
        "/v1/incidents/blast-radius", json={"vulnerability": "CVE-2024-1111"}
    ).json()
    assert [a["digest"] for a in after["artifacts"]] == [E]
    nothing = client.post("/v1/incidents/blast-radius", json={"vulnerability": "CVE-0000-0"})
    assert nothing.status_code == 200 and nothing.json()["artifacts"] == []


# --- any input: 202 or a 4xx, never a 500 ------------------------------------------------

_LEAVES = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
_JSON = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_REPORTS = [
    lambda: trivy_report(D, CRIT),
    lambda: trivy_report(None, CRIT),
    lambda: grype_report(D, [("GHSA-1", "High", "x", "1", "2")], related={"GHSA-1": "CVE-1"}),
    lambda: cyclonedx_bom(D, CRIT, vex={"CVE-2024-1111": "resolved"}),
    lambda: cyclonedx_bom(D, CRIT, flavour="trivy"),
]


def _mutated(data: st.DataObject, node: Any, depth: int = 0) -> Any:
    if isinstance(node, dict) and node and depth < 8:
        key = data.draw(st.sampled_from(sorted(node)))
        action = data.draw(st.sampled_from(["descend", "descend", "drop", "replace"]))
        if action == "drop":
            del node[key]
        elif action == "replace":
            node[key] = data.draw(_JSON)
        else:
            node[key] = _mutated(data, node[key], depth + 1)
        return node
    if isinstance(node, list) and node and depth < 8:
        index = data.draw(st.integers(0, len(node) - 1))
        node[index] = _mutated(data, node[index], depth + 1)
        return node
    return data.draw(_JSON)


_SCAN_EVENT = {
    "id": "scan-1",
    "type": "artifact.scanned",
    "time": "2026-03-09T14:00:00Z",
    "source": "ci",
    "digest": D,
    "scanner": "trivy",
    "vulnerabilities": [{"id": "CVE-1", "severity": "high", "package": "p"}],
    "summary": {"high": 1},
}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
@example(data=None)
def test_any_scan_input_is_accepted_or_refused_never_a_500(client: TestClient, data: Any) -> None:
    if data is None:  # the limits: too many findings, too long an id
        many = {
            **_SCAN_EVENT,
            "vulnerabilities": [{"id": f"CVE-{i}", "severity": "low"} for i in range(20_001)],
        }
        assert client.post("/v1/events", json=many).status_code == 422
        long_id = {
            **_SCAN_EVENT,
            "id": "s-2",
            "vulnerabilities": [{"id": "C" * 201, "severity": "low"}],
        }
        assert client.post("/v1/events", json=long_id).status_code == 422
        return
    if data.draw(st.booleans()):
        body = _mutated(data, data.draw(st.sampled_from(_REPORTS))())
        params = data.draw(st.sampled_from([{}, {"digest": D}, {"digest": "sha256:x"}]))
        answer = _post(client, body, **params)
    else:
        event = _mutated(data, copy.deepcopy(_SCAN_EVENT))
        answer = client.post(
            "/v1/events",
            content=json.dumps(event).encode(),
            headers={"content-type": "application/json"},
        )
    assert answer.status_code in (202, 400, 415, 422), answer.text
    if answer.status_code == 202 and answer.json()["accepted"]:
        # 202 promises the delivery projects: nothing was set aside
        assert client.get(f"/v1/artifacts/{D}").status_code in (200, 404)
