"""`PROVENANCE_ALERT_MIN_SEVERITY`: read once, by `Settings`, and passed to the projection."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from provenance.settings import Settings
from tests.factories import digest, event

A = digest("settings-a")
WHERE = {"workload": "deployment/app", "namespace": "prod", "cluster": "eu-1", "container": "app"}


def test_the_threshold_defaults_to_critical_and_is_validated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PROVENANCE_ALERT_MIN_SEVERITY", raising=False)
    assert Settings().alert_min_severity == "critical"
    monkeypatch.setenv("PROVENANCE_ALERT_MIN_SEVERITY", " High ")
    assert Settings().alert_min_severity == "high"
    monkeypatch.setenv("PROVENANCE_ALERT_MIN_SEVERITY", "severe")
    with pytest.raises(ValidationError):
        Settings()


def _vulnerable(client: TestClient) -> list[Any]:
    found = [
        event("deployment.applied", 0, digest=A, **WHERE),
        event(
            "artifact.scanned",
            1,
            digest=A,
            scanner="trivy",
            vulnerabilities=[{"id": "CVE-3", "severity": "high"}],
        ),
    ]
    assert client.post("/v1/events", json=found).status_code == 202
    answer = client.get("/v1/alerts", params={"kind": "vulnerable_deployed"})
    assert answer.status_code == 200
    items: list[Any] = answer.json()["items"]
    return items


def test_the_api_projects_with_its_settings_threshold(make_client: Any) -> None:
    assert _vulnerable(make_client()) == []  # high is below the default (critical)


def test_a_lower_threshold_from_settings_raises_the_alert(make_client: Any) -> None:
    (alert,) = _vulnerable(make_client(alert_min_severity="high"))
    assert alert["digest"] == A and alert["details"]["min_severity"] == "high"
