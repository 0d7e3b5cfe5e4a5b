"""The dashboard and the alert rules are built on what `serve` really exports: after a small
stream, every family they query has samples, and the ones that count something are non-zero."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from provenance.ingest import demo
from tests.signing import Key

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "provenance.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
_METRIC = re.compile(r"\b((?:provenance|process|python)_[a-z0-9_]+)\b")
# Gauges whose healthy value is 0 once the embedded projection caught up: present is enough.
HEALTHY_AT_ZERO = frozenset(
    {
        "provenance_projection_lag",
        "provenance_projection_lag_seconds",
        "provenance_projection_set_aside",
    }
)


def _queried(exprs: list[str]) -> set[str]:
    return {name for expr in exprs for name in _METRIC.findall(expr)}


def dashboard_metrics() -> set[str]:
    doc: dict[str, Any] = orjson.loads(DASHBOARD.read_bytes())
    return _queried([t["expr"] for p in doc["panels"] for t in p.get("targets", [])])


def alert_metrics() -> set[str]:
    doc = yaml.safe_load(ALERTS.read_text())
    return _queried([r["expr"] for g in doc["groups"] for r in g["rules"]])


def scrape(client: TestClient) -> dict[str, list[float]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    samples: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample.value)
    return samples


def _small_stream(client: TestClient) -> None:
    for delivery in demo.story().deliveries[:12]:
        response = client.post(
            f"/v1/webhooks/{delivery.source}",
            content=delivery.body,
            headers={**delivery.headers, "content-type": delivery.content_type},
            params=dict(delivery.params),
        )
        assert response.status_code == 202, response.text
    refused = client.post(
        "/v1/webhooks/harbor", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert refused.status_code == 400
    assert client.get("/v1/audit/verify").json()["ok"]
    for fmt in ("csv", "intoto"):
        assert client.get("/v1/exports/compliance", params={"format": fmt}).status_code == 200


def test_every_metric_the_dashboard_and_alerts_query_is_exported(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    key = tmp_path / "service-key.pem"
    key.write_bytes(Key.make().signer.private_bytes)
    client = make_client(signing_key=str(key))
    _small_stream(client)
    samples = scrape(client)
    wanted = dashboard_metrics() | alert_metrics()
    served = {m for m in wanted if not m.startswith("provenance_worker_")}
    assert len(served) >= 15, served  # the regex found the queries
    missing = sorted(m for m in served if m not in samples)
    assert not missing, f"queried but not exported by serve: {missing}"
    zero = sorted(m for m in served - HEALTHY_AT_ZERO if not any(v != 0 for v in samples[m]))
    assert not zero, f"exported but never non-zero after a stream: {zero}"


def test_worker_families_are_the_workers_own() -> None:
    """What the serve test leaves out is exactly the worker page's families."""
    from streams.metrics import WorkerMetrics

    worker = WorkerMetrics()
    worker.applied(3, 2, 1, ["InvalidPayload"])
    exported = {
        s.name
        for family in text_string_to_metric_families(worker.render().decode())
        for s in family.samples
    }
    queried = {
        m for m in dashboard_metrics() | alert_metrics() if m.startswith("provenance_worker_")
    }
    assert queried and queried - {"provenance_worker_consumer_lag"} <= exported
