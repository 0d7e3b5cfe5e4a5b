"""One property for every adapter: whatever arrives is valid events or a deliberate rejection.

Each source is one row of `SOURCES`: its route name, its normalizer, the samples it is
mutated from (the lists its own test module keeps) and what varies with it: content types,
query parameters, headers (GitHub's event name and signature), and a source's own way to
mutate a sample (EventBridge's detail-type, Pub/Sub's base64 message data). The property is
`check_total` (tests/ingest/sources/conftest.py): every event validates and round-trips
through its canonical JSON, and any refusal is an adapter's own `RejectedInput`, never its
safety net catching a shape it should have checked.

Properties that only one adapter has (arbitrary Pub/Sub message data, mutated pod
templates, image references) stay in that adapter's module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance.ingest.sources import SOURCES as WEBHOOK_SOURCES
from provenance.ingest.sources import (
    acr,
    cdevents,
    distribution,
    dockerhub,
    ecr,
    gar,
    ghcr,
    harbor,
    k8s_audit,
    quay,
    scans,
)
from tests import scan_reports
from tests.ingest.sources import (
    test_acr,
    test_cdevents,
    test_distribution,
    test_dockerhub,
    test_ecr,
    test_gar,
    test_ghcr,
    test_harbor,
    test_k8s_audit,
    test_quay,
)

JSON = "application/json"

Headers = Callable[[st.DataObject, str | None, bytes], dict[str, str]]
Tweak = Callable[[st.DataObject, str, Any, Callable[..., Any], Callable[[str], Any]], Any]


def _no_headers(data: st.DataObject, sample: str | None, body: bytes) -> dict[str, str]:
    return {}


def _mutated(
    data: st.DataObject,
    path: str,
    doc: Any,
    mutate: Callable[..., Any],
    sample_json: Callable[[str], Any],
) -> Any:
    return mutate(data, doc)


@dataclass(frozen=True)
class Source:
    name: str  # the route's source name
    normalize: Callable[..., Any]
    samples: Sequence[str]  # relative to tests/samples
    json_types: Sequence[str] = (JSON,)  # content types arbitrary JSON is sent with
    byte_types: Sequence[str] = (JSON,)  # content types arbitrary bytes are sent with
    params: Sequence[Mapping[str, str]] = ({},)
    sample_type: Callable[[str], str] = field(default=lambda _path: JSON)
    headers: Headers = _no_headers
    mutate_sample: Tweak = _mutated
    # Payloads the tests build (tests/scan_reports.py) instead of reading a sample file.
    built: Mapping[str, Callable[[], Any]] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


def _ghcr_headers(data: st.DataObject, sample: str | None, body: bytes) -> dict[str, str]:
    if sample is None:
        event = data.draw(test_ghcr.EVENT_NAMES)
    else:
        event = (
            "registry_package" if sample.rpartition("/")[2].startswith("registry_") else "package"
        )
    return {"X-GitHub-Event": event, "X-Hub-Signature-256": test_ghcr.sign(body)}


def _ecr_sample(data, path, doc, mutate, sample_json):
    doc = mutate(data, doc)
    if data.draw(st.booleans()):
        doc["detail-type"] = data.draw(
            st.sampled_from(["ECR Replication Action", "ECR Pull Through Cache Action"])
        )
    return doc


def _gar_sample(data, path, doc, mutate, sample_json):
    if data.draw(st.booleans()):  # mutate the decoded message data, re-encoded
        decoded = sample_json(path.replace(".pubsub-push.", ".data."))
        doc["message"]["data"] = test_gar._encode(mutate(data, decoded))
        return doc
    return mutate(data, doc)


def _harbor_type(path: str) -> str:
    return test_harbor.CE if ".cloudevents." in path else JSON


def _under(folder: str, names: Sequence[str]) -> list[str]:
    return [f"{folder}/{name}" for name in names]


_D = "sha256:" + "ab" * 32
_F = [
    ("CVE-2024-1", "CRITICAL", "openssl", "3.1.4", "3.1.5"),
    ("GHSA-aaaa-bbbb-cccc", "Negligible", "x", "1", None),
]
SCAN_REPORTS: dict[str, Callable[[], Any]] = {
    "built:trivy": lambda: scan_reports.trivy_report(_D, _F),
    "built:trivy-tarball": lambda: scan_reports.trivy_report(None, _F),
    "built:grype": lambda: scan_reports.grype_report(
        _D, _F, related={"GHSA-aaaa-bbbb-cccc": "CVE-1"}
    ),
    "built:cyclonedx-grype": lambda: scan_reports.cyclonedx_bom(_D, _F),
    "built:cyclonedx-trivy-vex": lambda: scan_reports.cyclonedx_bom(
        _D, _F, flavour="trivy", vex={"CVE-2024-1": "not_affected"}
    ),
}
INSPECTOR: dict[str, Callable[[], Any]] = {
    "built:inspector-active": lambda: scan_reports.inspector_finding(_D, "CVE-2024-1", "HIGH"),
    "built:inspector-closed": lambda: scan_reports.inspector_finding(
        _D, "CVE-2024-1", "HIGH", status="CLOSED"
    ),
    "built:ecr-scan": lambda: scan_reports.ecr_scan(_D, {"CRITICAL": 1}),
}

SOURCES = [
    Source(
        "acr",
        acr.normalize,
        _under("acr", test_acr.ALL_SAMPLES),
        params=({}, {"registry": "acmeprod"}),
    ),
    Source(
        "cdevents",
        cdevents.normalize,
        test_cdevents.ALL,
        json_types=(JSON, test_cdevents.STRUCTURED, test_cdevents.BATCH),
    ),
    Source(
        "distribution",
        distribution.normalize,
        _under("distribution", test_distribution.ALL_SAMPLES),
        json_types=(test_distribution.V1,),
        byte_types=(test_distribution.V1,),
        params=({}, {"registry": "registry.acme.io"}),
        sample_type=lambda _path: test_distribution.V1,
    ),
    Source("dockerhub", dockerhub.normalize, _under("dockerhub", test_dockerhub.ALL_SAMPLES)),
    Source(
        "ecr",
        ecr.normalize,
        [*_under("ecr", test_ecr.ALL_SAMPLES), *INSPECTOR],
        mutate_sample=_ecr_sample,
        built=INSPECTOR,
    ),
    Source("gar", gar.normalize, _under("gar", test_gar.ALL_SAMPLES), mutate_sample=_gar_sample),
    Source(
        "ghcr",
        ghcr.normalize,
        _under("github", test_ghcr.SAMPLES),
        byte_types=(JSON, "application/x-www-form-urlencoded"),
        headers=_ghcr_headers,
    ),
    Source(
        "harbor",
        harbor.normalize,
        _under("harbor", test_harbor.ALL_SAMPLES),
        json_types=(JSON, test_harbor.CE),
        sample_type=_harbor_type,
    ),
    Source(
        "k8s-audit",
        k8s_audit.normalize,
        test_k8s_audit.ALL_SAMPLES,
        json_types=(JSON, "application/x-ndjson"),
        byte_types=(JSON, "application/x-ndjson"),
        params=({}, test_k8s_audit.CLUSTER),
    ),
    Source(
        "quay",
        quay.normalize,
        _under("quay", test_quay.ALL_SAMPLES),
        params=({}, *({"event": name} for name in test_quay.EVENT_NAMES)),
    ),
    Source(
        "scans",
        scans.normalize,
        list(SCAN_REPORTS),
        json_types=scans.CONTENT_TYPES,
        byte_types=scans.CONTENT_TYPES,
        params=({}, {"digest": _D}, {"digest": "sha256:short"}),
        built=SCAN_REPORTS,
    ),
]

each_source = pytest.mark.parametrize("source", SOURCES, ids=str)


@each_source
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_arbitrary_json_is_events_or_rejected(
    source, data, json_values, make_delivery, check_total
):
    body = json.dumps(data.draw(json_values)).encode()
    delivery = make_delivery(
        source.name,
        body,
        content_type=data.draw(st.sampled_from(source.json_types)),
        headers=source.headers(data, None, body),
    )
    check_total(source.normalize, delivery)


@each_source
@settings(max_examples=200, deadline=None)
@given(data=st.data(), body=st.binary(max_size=200))
def test_arbitrary_bytes_are_events_or_rejected(source, data, body, make_delivery, check_total):
    delivery = make_delivery(
        source.name,
        body,
        content_type=data.draw(st.sampled_from(source.byte_types)),
        headers=source.headers(data, None, body),
    )
    check_total(source.normalize, delivery)


@each_source
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_samples_are_events_or_rejected(
    source, data, sample_json, mutate, make_delivery, check_total
):
    path = data.draw(st.sampled_from(source.samples))
    original = source.built[path]() if path in source.built else sample_json(path)
    doc = source.mutate_sample(data, path, original, mutate, sample_json)
    body = json.dumps(doc).encode()
    delivery = make_delivery(
        source.name,
        body,
        content_type=source.sample_type(path),
        headers=source.headers(data, path, body),
        params=data.draw(st.sampled_from(source.params)),
    )
    check_total(source.normalize, delivery)


def test_every_webhook_adapter_has_its_row():
    # A new adapter must join the property, not copy it (scanners' reports have their
    # own route, /v1/scans).
    assert {source.name for source in SOURCES} == set(WEBHOOK_SOURCES) | {"scans"}
