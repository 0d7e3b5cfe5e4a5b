"""Every scan format normalized to `artifact.scanned`, on payloads in their real shapes
(built by `tests/scan_reports.py`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from provenance.ingest.sources import Delivery, normalize
from provenance.model.errors import InvalidPayload, RejectedInput
from provenance.model.events import Event, EventType
from tests.factories import digest
from tests.scan_reports import (
    CONFIG,
    REPO,
    cyclonedx_bom,
    ecr_scan,
    grype_report,
    harbor_scan,
    inspector_finding,
    trivy_report,
)

D = digest("scanned image")
NOW = datetime(2026, 3, 10, tzinfo=UTC)
FINDINGS = [
    ("CVE-2024-0001", "CRITICAL", "openssl", "3.1.4-r5", "3.1.4-r6"),
    ("CVE-2024-0002", "MEDIUM", "busybox", "1.36.1-r15", None),
    ("CVE-2024-0003", "LOW", "zlib", "1.3-r2", None),
]


def _one(source: str, body: Any, **params: str) -> Event:
    delivery = Delivery(source=source, body=orjson.dumps(body), received_at=NOW, params=params)
    (event,) = normalize(delivery)
    return event


def _ids(event: Event) -> list[str]:
    return [v["id"] for v in event.vulnerabilities or ()]


def test_trivy_report_digest_from_repo_digests_never_image_id() -> None:
    event = _one("scans", trivy_report(D, FINDINGS))
    assert event.type is EventType.ARTIFACT_SCANNED
    assert event.digest == D != CONFIG
    assert event.repository == REPO
    assert event.scanner == "trivy"
    assert _ids(event) == ["CVE-2024-0001", "CVE-2024-0002", "CVE-2024-0003"]
    first = event.vulnerabilities[0]  # type: ignore[index]
    assert first == {
        "id": "CVE-2024-0001",
        "severity": "critical",
        "package": "openssl",
        "version": "3.1.4-r5",
        "fixed_version": "3.1.4-r6",
    }
    assert event.summary == {"critical": 1, "high": 0, "medium": 1, "low": 1, "unknown": 0}
    assert event.time == datetime(2026, 3, 9, 14, 8, 3, 123456, tzinfo=UTC)


def test_trivy_report_of_a_tarball_needs_the_digest_param() -> None:
    report = trivy_report(None, FINDINGS)
    with pytest.raises(InvalidPayload, match=r"\?digest="):
        _one("scans", report)
    assert _one("scans", report, digest=D).digest == D
    # ?digest= overrides what the report says
    other = digest("other")
    assert _one("scans", trivy_report(D, FINDINGS), digest=other).digest == other
    with pytest.raises(InvalidPayload):
        _one("scans", report, digest="sha256:nothex")


def test_trivy_clean_report_and_results_without_vulnerabilities() -> None:
    report = trivy_report(D, [])
    report["Results"].append({"Target": "x", "Class": "secret"})
    event = _one("scans", report)
    assert event.vulnerabilities == () and event.summary["critical"] == 0  # type: ignore[index]


def test_grype_report_keeps_related_vulnerabilities() -> None:
    findings = [("GHSA-jfhm-5ghh-2f97", "High", "cryptography", "41.0.0", "42.0.2")]
    report = grype_report(D, findings, related={"GHSA-jfhm-5ghh-2f97": "CVE-2023-50782"})
    event = _one("scans", report)
    assert event.scanner == "grype" and event.digest == D
    assert event.vulnerabilities == (
        {
            "id": "GHSA-jfhm-5ghh-2f97",
            "severity": "high",
            "package": "cryptography",
            "version": "41.0.0",
            "fixed_version": "42.0.2",
            "related": ["CVE-2023-50782"],
        },
    )
    assert event.attributes["scanner_version"] == "0.74.7"


def test_grype_manifest_digest_when_no_repo_digests_and_negligible_is_low() -> None:
    report = grype_report(D, [("CVE-1", "Negligible", "x", "1", None)], manifest_only=True)
    event = _one("scans", report)
    assert event.digest == D
    assert event.summary["low"] == 1  # type: ignore[index]


@pytest.mark.parametrize("flavour", ["grype", "trivy"])
def test_cyclonedx_digest_from_the_subject(flavour: str) -> None:
    event = _one("scans", cyclonedx_bom(D, FINDINGS, flavour=flavour))
    assert event.digest == D
    assert event.scanner == flavour
    # the worst rating decides ("none" from CVSSv2 does not hide "CRITICAL")
    assert event.vulnerabilities[0]["severity"] == "critical"  # type: ignore[index]
    assert event.vulnerabilities[0]["package"] == "openssl"  # type: ignore[index]


def test_cyclonedx_vex_withdraws_findings() -> None:
    vex = {"CVE-2024-0001": "not_affected", "CVE-2024-0002": "in_triage"}
    event = _one("scans", cyclonedx_bom(D, FINDINGS, vex=vex))
    assert _ids(event) == ["CVE-2024-0002", "CVE-2024-0003"]
    assert event.attributes["withdrawn"] == ["CVE-2024-0001"]


def test_cyclonedx_names_that_are_not_strings_name_nothing() -> None:
    """A list where a bom-ref or a VEX state belongs (a fuzzer found it) is no key: the
    finding stays, unwithdrawn, and nothing raises."""
    bom = cyclonedx_bom(D, FINDINGS)
    for component in bom.get("components", []):
        component["bom-ref"] = [component.get("bom-ref")]
    bom["vulnerabilities"][0]["analysis"] = {"state": ["not_affected"]}
    event = _one("scans", bom)
    assert _ids(event) == [f[0] for f in FINDINGS]
    assert "withdrawn" not in event.attributes


def test_cyclonedx_without_vulnerabilities_or_subject_is_refused() -> None:
    bom = cyclonedx_bom(D, FINDINGS)
    del bom["vulnerabilities"]
    with pytest.raises(InvalidPayload, match="vulnerabilities"):
        _one("scans", bom)
    with pytest.raises(InvalidPayload, match="digest"):
        _one("scans", cyclonedx_bom(None, FINDINGS))


def test_an_unknown_report_is_refused() -> None:
    with pytest.raises(RejectedInput):
        _one("scans", {"hello": "world"})
    with pytest.raises(RejectedInput):
        _one("scans", [1, 2])


def test_the_same_report_twice_is_the_same_event() -> None:
    report = trivy_report(D, FINDINGS)
    assert _one("scans", report).id == _one("scans", report).id


def test_harbor_scanning_completed_gives_counts_only() -> None:
    counts = {"Critical": 1, "High": 2, "Negligible": 3, "None": 1}
    event = _one("harbor", harbor_scan(D, counts))
    assert event.type is EventType.ARTIFACT_SCANNED
    assert event.scanner == "harbor/trivy"
    assert event.vulnerabilities == ()
    assert event.attributes["ids_known"] is False
    assert event.summary == {"critical": 1, "high": 2, "medium": 0, "low": 3, "unknown": 1}


@pytest.mark.parametrize(
    ("kind", "status"), [("SCANNING_FAILED", "Error"), ("SCANNING_STOPPED", "Stopped")]
)
def test_harbor_failed_scans_are_notices(kind: str, status: str) -> None:
    event = _one("harbor", harbor_scan(D, {}, kind=kind, status=status))
    assert event.type is EventType.REGISTRY_NOTICE


def test_ecr_basic_scan_gives_counts_only() -> None:
    event = _one("ecr", ecr_scan(D, {"CRITICAL": 2, "INFORMATIONAL": 4, "UNDEFINED": 1}))
    assert event.scanner == "ecr-basic"
    assert event.summary == {"critical": 2, "high": 0, "medium": 0, "low": 4, "unknown": 1}
    assert event.attributes["ids_known"] is False
    failed = _one("ecr", ecr_scan(D, {}, status="FAILED"))
    assert failed.type is EventType.REGISTRY_NOTICE


def test_inspector_finding_active_lists_closed_withdraws() -> None:
    active = _one("ecr", inspector_finding(D, "CVE-2024-7", "CRITICAL"))
    assert active.type is EventType.ARTIFACT_SCANNED
    assert active.scanner == "amazon-inspector"
    assert active.repository == "318845221907.dkr.ecr.eu-west-1.amazonaws.com/acme/payments-api"
    assert active.attributes["finding"] == "CVE-2024-7"
    assert active.vulnerabilities == (
        {
            "id": "CVE-2024-7",
            "severity": "critical",
            "package": "openssl",
            "version": "3.1.4",
            "fixed_version": "3.1.5",
        },
    )
    for status in ("CLOSED", "SUPPRESSED"):
        closed = _one("ecr", inspector_finding(D, "CVE-2024-7", "CRITICAL", status=status))
        assert closed.vulnerabilities == ()
        assert closed.attributes["withdrawn"] == ["CVE-2024-7"]


def test_inspector_finding_on_something_else_is_a_notice() -> None:
    body = inspector_finding(D, "CVE-2024-7", "HIGH")
    body["detail"]["resources"][0]["details"] = {"awsEc2Instance": {"type": "t3.micro"}}
    assert _one("ecr", body).type is EventType.REGISTRY_NOTICE
    body["source"] = "aws.guardduty"
    with pytest.raises(InvalidPayload):
        _one("ecr", body)


def test_canonical_scan_event_round_trips_and_is_checked() -> None:
    data = {
        "id": "s-1",
        "type": "artifact.scanned",
        "time": "2026-03-09T14:00:00Z",
        "source": "ci",
        "digest": D,
        "scanner": "trivy",
        "vulnerabilities": [{"id": "CVE-1", "severity": "high", "package": "x"}],
        "summary": {"high": 1},
    }
    event = Event.from_dict(data)
    assert Event.from_dict(event.to_dict()) == event
    assert event.to_dict()["vulnerabilities"] == data["vulnerabilities"]
    for bad in (
        {"vulnerabilities": [{"id": "CVE-1", "severity": "HIGH"}]},
        {"vulnerabilities": [{"id": "", "severity": "high"}]},
        {"vulnerabilities": [{"id": "CVE-1", "severity": "high", "cvss": 9}]},
        {"vulnerabilities": {"id": "CVE-1"}},
        {"summary": {"severe": 1}},
        {"summary": {"high": -1}},
        {"digest": None},
    ):
        with pytest.raises(InvalidPayload):
            Event.from_dict({**data, **bad})
    with pytest.raises(InvalidPayload):  # findings only on scans
        Event.from_dict({**data, "type": "artifact.pulled"})


def test_limits_refuse_what_the_scan_tables_cannot_hold() -> None:
    base = {
        "id": "s-1",
        "type": "artifact.scanned",
        "time": "2026-03-09T14:00:00Z",
        "source": "ci",
        "digest": D,
    }
    fine = Delivery(source="events", body=orjson.dumps(base), received_at=NOW)
    assert len(normalize(fine)) == 1
    for extra in (
        {"attributes": {"finding": "C" * 201}},
        {"attributes": {"withdrawn": ["C" * 201]}},
        {"vulnerabilities": [{"id": "C" * 201, "severity": "low"}]},
        {"vulnerabilities": [{"id": "CVE-1", "severity": "low", "package": "p" * 301}]},
        {"vulnerabilities": [{"id": "CVE-1", "severity": "low", "related": ["R"] * 51}]},
        {"vulnerabilities": [{"id": f"CVE-{i}", "severity": "low"} for i in range(20_001)]},
        {"scanner": "s" * 101},
    ):
        body = orjson.dumps({**base, **extra})
        with pytest.raises(InvalidPayload):
            normalize(Delivery(source="events", body=body, received_at=NOW))
