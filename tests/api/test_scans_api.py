"""POST /v1/scans and the scans in the reads, through the real app on both backends."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.testclient import TestClient

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
        content=orjson.dumps(body),
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
    derived = digest("built on the vulnerable base")
    _events(
        client,
        event("artifact.pushed", 0, digest=D, repository=REPO, tag="base"),
        event(
            "build.finished",
            1,
            build="b-1",
            digest=derived,
            attributes={"base_images": [{"digest": D}]},
        ),
        event("deployment.applied", 2, digest=D, **WHERE),
    )
    # the scan arrives after the deployment, and says it was scanned before it
    finding = inspector_finding(D, "CVE-2024-1111", "CRITICAL", time="2026-03-09T13:00:00Z")
    hook = {"content-type": "application/json"}
    assert (
        client.post("/v1/webhooks/ecr", content=orjson.dumps(finding), headers=hook).status_code
        == 202
    )
    answer = client.post("/v1/incidents/blast-radius", json={"vulnerability": "CVE-2024-1111"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert D in {a["digest"] for a in body["artifacts"]}
    assert [d["digest"] for d in body["deployments"]] == [D]
    alerts = client.get("/v1/alerts", params={"kind": "vulnerable_deployed"}).json()
    items = alerts["items"] if isinstance(alerts, dict) else alerts
    assert [a["digest"] for a in items] == [D]
    nothing = client.post("/v1/incidents/blast-radius", json={"vulnerability": "CVE-0000-0"})
    assert nothing.status_code == 200 and nothing.json()["artifacts"] == []
