"""Amazon ECR (EventBridge) events -> canonical events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from provenance.ingest.sources import SourceSecrets
from provenance.ingest.sources.ecr import normalize
from provenance.model.errors import InvalidPayload, Unparseable, UnsupportedMedia
from provenance.model.events import EventType

D1 = "sha256:4ac6f96cde89127c04de259df08450fe1aa0073108b7b3f3471428fb628bcb30"
D2 = "sha256:701a31a46306cfafff7d96547c5f10a0d2d8f0e8c41b0159a94e36b3ab01e558"
REFERRER = "sha256:fac0a11bc0155956e3a60c412a2c7d667a975c4dd1397a18d4c3e1c2287df8ba"
REPO = "318845221907.dkr.ecr.eu-west-1.amazonaws.com/acme/payments-api"
SECRETS = SourceSecrets()

# sample -> (type, digest, tag, time, id)
SAMPLES = {
    "image-action-push.json": (
        EventType.ARTIFACT_PUSHED, D1, "v1.4.2", datetime(2026, 3, 9, 14, 7, 41, tzinfo=UTC),
        "71ed4eda-5ab5-4800-8812-d2f4079b1f28",
    ),
    "image-action-push-sha-tag.json": (
        EventType.ARTIFACT_PUSHED, D1, "sha-1f3c0b9", datetime(2026, 3, 9, 14, 7, 41, tzinfo=UTC),
        "76ac14ab-85ba-41e6-b2b7-492723a137c0",
    ),
    "image-action-push-v1.4.2-repush.json": (
        EventType.ARTIFACT_PUSHED, D2, "v1.4.2", datetime(2026, 4, 2, 11, 20, 5, tzinfo=UTC),
        "50108993-d1b9-4556-b64f-0b387211446b",
    ),
    "image-action-delete.json": (
        EventType.ARTIFACT_DELETED, D1, "sha-1f3c0b9", datetime(2026, 4, 16, 3, 0, 7, tzinfo=UTC),
        "a2684717-b6aa-4e9c-9db4-fffe77211a7d",
    ),
    "image-scan-basic.json": (
        EventType.ARTIFACT_SCANNED, D1, None, datetime(2026, 3, 9, 14, 8, 3, tzinfo=UTC),
        "64dbe196-f177-45d4-93bc-d396d4b556ae",
    ),
    "referrer-action-restore.json": (
        EventType.REGISTRY_NOTICE, REFERRER, None, datetime(2026, 3, 30, 7, 41, 12, tzinfo=UTC),
        "5edb4e3a-d6d0-441d-98f4-c8ddbcca0e65",
    ),
}  # fmt: skip
ALL_SAMPLES = sorted(SAMPLES)


@pytest.fixture
def load(load_delivery):
    def run(name: str, **kwargs):
        return normalize(load_delivery("ecr", f"ecr/{name}", **kwargs), SECRETS)

    return run


def _envelope(sample_json, name="image-action-push.json", **detail):
    body = sample_json(f"ecr/{name}")
    body["detail"].update(detail)
    return body


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_story_samples(load, name):
    etype, digest, tag, time, event_id = SAMPLES[name]
    [event] = load(name)
    assert event.type == etype
    assert event.source == "ecr"
    assert event.id == event_id
    assert event.digest == digest
    assert event.tag == tag
    assert event.time == time
    assert event.repository == REPO
    assert event.actor is None  # ECR names no actor (CloudTrail does)


def test_every_ecr_sample_is_covered(samples):
    on_disk = {p.name for p in (samples / "ecr").glob("*.json")}
    assert {n for n in on_disk if not n.endswith(".headers.json")} == set(ALL_SAMPLES)


def test_content_type_with_charset_comes_from_the_headers_file(load_delivery):
    delivery = load_delivery("ecr", "ecr/image-action-push.json")
    assert delivery.content_type == "application/json"


def test_scan_details(load):
    [event] = load("image-scan-basic.json")
    assert event.attributes["scan_status"] == "COMPLETE"
    assert event.attributes["image_tags"] == ["v1.4.2", "sha-1f3c0b9"]
    assert event.attributes["severity_counts"] == {"HIGH": 1, "MEDIUM": 3, "LOW": 3}


def test_referrer_restore_is_a_storage_class_notice(load):
    [event] = load("referrer-action-restore.json")
    assert event.attributes["notice"] == "storage_class_changed"
    assert event.attributes["target_storage_class"] == "STANDARD"
    assert (
        event.attributes["artifact_media_type"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    )
    assert event.media_type == "application/vnd.oci.image.manifest.v1+json"


def test_delete_with_only_a_tag_is_a_tag_delete(sample_json, make_delivery):
    body = _envelope(sample_json, "image-action-delete.json")
    del body["detail"]["image-digest"]
    [event] = normalize(make_delivery("ecr", body), SECRETS)
    assert (event.type, event.repository, event.tag) == (EventType.TAG_DELETED, REPO, "sha-1f3c0b9")


def test_failure_is_a_notice(sample_json, make_delivery):
    body = _envelope(sample_json, result="FAILURE")
    [event] = normalize(make_delivery("ecr", body), SECRETS)
    assert event.type == EventType.REGISTRY_NOTICE
    assert event.attributes["notice"] == "push.failed"
    assert event.digest == D1


def test_storage_class_change_of_an_image_is_a_notice(sample_json, make_delivery):
    body = _envelope(sample_json, **{"action-type": "UPDATE_STORAGE_CLASS"})
    body["detail"]["target-storage-class"] = "ARCHIVE"
    [event] = normalize(make_delivery("ecr", body), SECRETS)
    assert event.type == EventType.REGISTRY_NOTICE
    assert event.attributes["target_storage_class"] == "ARCHIVE"


def test_referrer_push_is_an_artifact(sample_json, make_delivery):
    body = _envelope(sample_json, "referrer-action-restore.json", **{"action-type": "PUSH"})
    [event] = normalize(make_delivery("ecr", body), SECRETS)
    assert (event.type, event.digest) == (EventType.ARTIFACT_PUSHED, REFERRER)


def test_replication_is_on_the_source_repository(sample_json, make_delivery):
    body = sample_json("ecr/image-action-push.json")
    body["detail-type"] = "ECR Replication Action"
    body["region"] = "us-east-1"
    body["detail"] = {
        "result": "SUCCESS",
        "repository-name": "acme/payments-api",
        "image-digest": D1,
        "image-tag": "v1.4.2",
        "action-type": "REPLICATE",
        "source-account": "318845221907",
        "source-region": "eu-west-1",
    }
    [event] = normalize(make_delivery("ecr", body), SECRETS)
    assert event.type == EventType.ARTIFACT_REPLICATED
    assert (event.repository, event.digest, event.tag) == (REPO, D1, "v1.4.2")
    assert event.attributes["destination"] == (
        "318845221907.dkr.ecr.us-east-1.amazonaws.com/acme/payments-api"
    )


def test_pull_through_cache_is_a_notice(sample_json, make_delivery):
    body = sample_json("ecr/image-action-push.json")
    body["detail-type"] = "ECR Pull Through Cache Action"
    body["detail"] = {
        "rule-version": "1",
        "sync-status": "SUCCESS",
        "ecr-repository-prefix": "docker-hub",
        "repository-name": "docker-hub/library/nginx",
        "upstream-registry-url": "public.ecr.aws",
        "image-tag": "1.27",
        "image-digest": D2,
    }
    [event] = normalize(make_delivery("ecr", body), SECRETS)
    assert event.type == EventType.REGISTRY_NOTICE
    assert event.repository == (
        "318845221907.dkr.ecr.eu-west-1.amazonaws.com/docker-hub/library/nginx"
    )
    assert event.attributes["details"]["sync-status"] == "SUCCESS"
    assert event.attributes["notice"] == "ECR Pull Through Cache Action"


def test_china_regions_use_their_domain(sample_json, make_delivery):
    body = sample_json("ecr/image-action-push.json")
    body["region"] = "cn-north-1"
    [event] = normalize(make_delivery("ecr", body), SECRETS)
    assert event.repository == "318845221907.dkr.ecr.cn-north-1.amazonaws.com.cn/acme/payments-api"


def test_an_array_of_envelopes(sample_json, make_delivery):
    body = [sample_json("ecr/image-action-push.json"), sample_json("ecr/image-scan-basic.json")]
    events = normalize(make_delivery("ecr", body), SECRETS)
    assert [e.type for e in events] == [EventType.ARTIFACT_PUSHED, EventType.ARTIFACT_SCANNED]
    body[1]["source"] = "aws.s3"
    with pytest.raises(InvalidPayload, match="envelope #1"):
        normalize(make_delivery("ecr", body), SECRETS)


@pytest.mark.parametrize(
    "change",
    [
        {"source": "aws.inspector2"},
        {"id": None},
        {"time": "not a time"},
        {"account": None},
        {"detail": "PUSH"},
        {"detail": {"action-type": "PUSH", "result": "SUCCESS", "image-digest": D1}},
        {"detail": {"action-type": "PUSH", "repository-name": "x", "image-digest": "sha256:1"}},
    ],
)
def test_bad_fields_are_422(sample_json, make_delivery, change):
    body = {**sample_json("ecr/image-action-push.json"), **change}
    with pytest.raises(InvalidPayload):
        normalize(make_delivery("ecr", body), SECRETS)


@pytest.mark.parametrize(
    ("body", "error"),
    [(b"{not json", Unparseable), (b"{}", InvalidPayload), (b"[1]", InvalidPayload)],
)
def test_rejections(make_delivery, body, error):
    with pytest.raises(error):
        normalize(make_delivery("ecr", body), SECRETS)


def test_other_content_types_are_415(sample_json, make_delivery):
    body = sample_json("ecr/image-action-push.json")
    with pytest.raises(UnsupportedMedia):
        normalize(make_delivery("ecr", body, content_type="text/xml"), SECRETS)
