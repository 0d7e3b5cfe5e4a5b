"""Azure Container Registry webhooks -> canonical events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from provenance.ingest.sources import SourceSecrets
from provenance.ingest.sources.acr import HELM_CHART, normalize
from provenance.model.errors import InvalidPayload, Unparseable, UnsupportedMedia
from provenance.model.events import EventType

D1 = "sha256:4ac6f96cde89127c04de259df08450fe1aa0073108b7b3f3471428fb628bcb30"
D2 = "sha256:701a31a46306cfafff7d96547c5f10a0d2d8f0e8c41b0159a94e36b3ab01e558"
CHART = "sha256:5689e7712cca9de9a8c12b248292473a74ef972149e8ee16e7516979b356e217"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REPO = "acmeprod.azurecr.io/acme/payments-api"
SECRETS = SourceSecrets()

# sample -> (type, digest, tag, time, id)
T = UTC
SAMPLES = {
    "push.json": (
        EventType.ARTIFACT_PUSHED, D1, "v1.4.2", datetime(2026, 3, 9, 14, 7, 41, 328512, tzinfo=T),
        "6ce503b4-bb02-43fa-a495-7e612e5c8605",
    ),
    "push-v1.4.2-repush.json": (
        EventType.ARTIFACT_PUSHED, D2, "v1.4.2", datetime(2026, 4, 2, 11, 20, 5, 640118, tzinfo=T),
        "f703aeca-0e55-4096-ab44-e7e4f126dfa5",
    ),
    "delete.json": (
        EventType.ARTIFACT_DELETED, D1, None, datetime(2026, 4, 16, 3, 0, 7, 118745, tzinfo=UTC),
        "0cfd9d49-d6a7-42dc-9a44-45da1e6fb8a9",
    ),
    "quarantine.json": (
        EventType.REGISTRY_NOTICE, D1, "v1.4.2", datetime(2026, 3, 9, 14, 7, 41, 900000, tzinfo=T),
        "8168430e-ba1b-42ef-ba82-eb28cb739689",
    ),
}  # fmt: skip
CHARTS = ["chart-push.json", "chart-delete.json"]
ALL_SAMPLES = sorted([*SAMPLES, *CHARTS])


@pytest.fixture
def load(load_delivery):
    def run(name: str, **kwargs):
        return normalize(load_delivery("acr", f"acr/{name}", **kwargs), SECRETS)

    return run


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_story_samples(load, name):
    etype, digest, tag, time, event_id = SAMPLES[name]
    [event] = load(name)
    assert event.type == etype
    assert event.source == "acr"
    assert event.id == event_id
    assert event.digest == digest
    assert event.tag == tag
    assert event.time == time
    assert event.repository == REPO
    assert event.media_type == OCI_MANIFEST
    assert event.actor is None  # ACR sends no actor


def test_every_acr_sample_is_covered(samples):
    on_disk = {p.name for p in (samples / "acr").glob("*.json")}
    assert {n for n in on_disk if not n.endswith(".headers.json")} == set(ALL_SAMPLES)


def test_push_keeps_size_user_agent_and_request(load):
    [event] = load("push.json")
    assert event.size == 1560
    assert event.user_agent == "buildkit/v0.20.2"
    assert event.attributes["request_id"] == "ecaef450-c1ca-4837-bcc0-fbf600a84a4c"
    assert event.attributes["method"] == "PUT"


def test_quarantine_is_a_notice(load):
    [event] = load("quarantine.json")
    assert event.attributes["notice"] == "quarantine"


@pytest.mark.parametrize(
    ("name", "etype"),
    [
        ("chart-push.json", EventType.ARTIFACT_PUSHED),
        ("chart-delete.json", EventType.ARTIFACT_DELETED),
    ],
)
def test_charts(load, name, etype):
    [event] = load(name)
    assert event.type == etype
    assert event.digest == CHART
    assert event.media_type == HELM_CHART
    assert event.tag == "1.4.2"
    assert event.attributes["chart_file"] == "payments-api-1.4.2.tgz"
    assert event.repository == "payments-api"  # no request block, so no host
    [event] = load(name, params={"registry": "acmeprod"})
    assert event.repository == "acmeprod.azurecr.io/payments-api"


def test_registry_parameter_wins(load):
    [event] = load("push.json", params={"registry": "https://acmeprod.azurecr.io/"})
    assert event.repository == REPO
    [event] = load("push.json", params={"registry": "registry.acme.io"})
    assert event.repository == "registry.acme.io/acme/payments-api"


def test_ping_is_a_notice(make_delivery):
    body = {"id": "5a1b", "timestamp": "2026-03-01T10:00:00.1234567Z", "action": "ping"}
    [event] = normalize(make_delivery("acr", body), SECRETS)
    assert event.type == EventType.REGISTRY_NOTICE
    assert event.attributes["notice"] == "ping"


def test_delete_without_a_digest(sample_json, make_delivery):
    body = sample_json("acr/delete.json")
    del body["target"]["digest"]
    [event] = normalize(make_delivery("acr", body), SECRETS)
    assert (event.type, event.attributes["notice"]) == (
        EventType.REGISTRY_NOTICE,
        "repository.deleted",
    )
    body["target"]["tag"] = "v1.4.2"
    [event] = normalize(make_delivery("acr", body), SECRETS)
    assert (event.type, event.tag) == (EventType.TAG_DELETED, "v1.4.2")


@pytest.mark.parametrize(
    "change",
    [
        {"action": "copy"},
        {"id": None},
        {"timestamp": "tuesday"},
        {"target": {"repository": "acme/x", "digest": "sha256:abc"}},
        {"target": {"repository": "acme/x"}},  # a push names neither digest nor tag
        {"target": {"digest": D1, "tag": "v1"}},  # no repository
        {"target": "push"},
        {"request": {"host": "a b"}},
    ],
)
def test_bad_fields_are_422(sample_json, make_delivery, change):
    body = {**sample_json("acr/push.json"), **change}
    with pytest.raises(InvalidPayload):
        normalize(make_delivery("acr", body), SECRETS)


@pytest.mark.parametrize(
    ("body", "error"),
    [(b"", Unparseable), (b"[]", InvalidPayload), (b'{"action": "push"}', InvalidPayload)],
)
def test_rejections(make_delivery, body, error):
    with pytest.raises(error):
        normalize(make_delivery("acr", body), SECRETS)


def test_other_content_types_are_415(sample_json, make_delivery):
    with pytest.raises(UnsupportedMedia):
        normalize(make_delivery("acr", sample_json("acr/push.json"), content_type=""), SECRETS)
