"""A worker's /metrics (its faust web port) after a small stream: every worker family the
dashboard queries is there, and what counts the stream is non-zero."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from provenance.ingest import wire
from tests.api.test_dashboard import alert_metrics, dashboard_metrics
from tests.streams.conftest import Stack
from tests.streams.test_kafka import TOPICS, _deliveries


def test_worker_metrics_after_a_stream(stack: Stack) -> None:
    worker = stack.worker()
    stack.wait_assigned(worker)
    batches = _deliveries("metrics", 12, per_delivery=3)
    stack.produce(
        TOPICS.deliveries,
        [(b"k", b"\x00 not a batch"), *((key.encode(), wire.encode(d)) for key, d in batches)],
    )
    stack.wait_logged(12)
    response = httpx.get(worker.base_url + "/metrics", timeout=10.0, trust_env=False)
    assert response.status_code == 200
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    wanted = {
        m for m in dashboard_metrics() | alert_metrics() if m.startswith("provenance_worker_")
    }
    missing = sorted(wanted - samples.keys())
    assert not missing, missing
    lag = samples["provenance_worker_consumer_lag"]
    assert {labels["partition"] for labels, _ in lag} == {"0", "1", "2", "3"}
    assert all(value == 0 for _, value in lag)  # everything produced was consumed
    for name in wanted - {"provenance_worker_consumer_lag"}:
        assert any(value > 0 for _, value in samples[name]), name
    assert samples["process_resident_memory_bytes"][0][1] > 0
