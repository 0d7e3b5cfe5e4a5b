"""CNCF Distribution notifications -> canonical events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from provenance.ingest.sources import SourceSecrets
from provenance.ingest.sources._common import client_ip
from provenance.ingest.sources.distribution import normalize
from provenance.model.errors import InvalidPayload, Unparseable, UnsupportedMedia
from provenance.model.events import EventType

D1 = "sha256:4ac6f96cde89127c04de259df08450fe1aa0073108b7b3f3471428fb628bcb30"
D2 = "sha256:701a31a46306cfafff7d96547c5f10a0d2d8f0e8c41b0159a94e36b3ab01e558"
V1 = "application/vnd.docker.distribution.events.v1+json"
REPO = "registry.acme.internal:5000/acme/payments-api"
SECRETS = SourceSecrets()

# sample -> (type, digest, tag, actor, client, user agent, method)
SAMPLES = {
    "push-manifest-v1.4.2.json": (
        EventType.ARTIFACT_PUSHED, D1, "v1.4.2", "ci-payments-api", "10.40.12.7",
        "buildkit/v0.20.2", "PUT",
    ),
    "push-manifest-sha-tag.json": (
        EventType.ARTIFACT_PUSHED, D1, "sha-1f3c0b9", "ci-payments-api", "10.40.12.7",
        "buildkit/v0.20.2", "PUT",
    ),
    "push-manifest-v1.4.2-repush.json": (
        EventType.ARTIFACT_PUSHED, D2, "v1.4.2", "ci-payments-api", "10.40.12.7",
        "buildkit/v0.20.2", "PUT",
    ),
    "pull-manifest-head-by-tag.json": (
        EventType.ARTIFACT_PULLED, D1, "v1.4.2", "svc-k8s-prod-pull", "10.60.3.21",
        "containerd/v2.0.4", "HEAD",
    ),
    "pull-manifest-get-by-digest.json": (
        EventType.ARTIFACT_PULLED, D1, None, "svc-k8s-prod-pull", "10.60.3.21",
        "containerd/v2.0.4", "GET",
    ),
    "delete-manifest-old-digest.json": (
        EventType.ARTIFACT_DELETED, D1, None, "ops-gc-bot", "10.40.0.15", "regctl/v0.8.3",
        "DELETE",
    ),
    "delete-tag-sha-tag.json": (
        EventType.TAG_DELETED, None, "sha-1f3c0b9", "ops-gc-bot", "10.40.0.15",
        "regctl/v0.8.3", "DELETE",
    ),
}  # fmt: skip

ALL_SAMPLES = sorted(
    [
        *SAMPLES,
        "pull-manifest-anonymous.json",
        "push-blob-app-layer.json",
        "pull-blob-app-layer.json",
        "pull-blob-head-during-push.json",
        "mount-blob-base-layer.json",
        "push-manifest-cosign-bundle-referrer.json",
        "push-manifest-cosign-sig-tag.json",
        "push-manifest-referrers-fallback-tag.json",
    ]
)


@pytest.fixture
def load(load_delivery):
    def run(name: str, **kwargs):
        kwargs.setdefault("content_type", V1)
        return normalize(load_delivery("distribution", f"distribution/{name}", **kwargs), SECRETS)

    return run


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_story_samples(load, name):
    etype, digest, tag, actor, client, user_agent, method = SAMPLES[name]
    [event] = load(name)
    assert event.type == etype
    assert event.source == "distribution"
    assert event.digest == digest
    assert event.tag == tag
    assert event.repository == REPO
    assert event.actor == actor
    assert event.client == client
    assert event.user_agent == user_agent
    assert event.attributes["method"] == method


def test_every_distribution_sample_normalizes(load, samples):
    on_disk = {p.name for p in (samples / "distribution").glob("*.json")}
    on_disk = {n for n in on_disk if not n.endswith(".headers.json")}
    assert on_disk == set(ALL_SAMPLES), "a new sample needs a test"
    for name in ALL_SAMPLES:
        assert len(load(name)) == 1


def test_push_keeps_ids_sizes_and_references(load):
    [event] = load("push-manifest-v1.4.2.json")
    assert event.id == "9b26d8f2-287e-472a-8421-3b4b75c8c643"
    assert event.time == datetime(2026, 3, 9, 14, 7, 41, 328512, tzinfo=UTC)
    assert event.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert event.size == 1560
    assert event.attributes["request_id"] == "66b26e3e-2893-4fd7-b860-02fb7235fbd0"
    assert event.attributes["instance_id"] == "f17a21cd-bf89-4844-a3c7-c2bb6afdfc2c"
    references = event.attributes["references"]
    assert len(references) == 5
    assert references[0]["mediaType"] == "application/vnd.oci.image.config.v1+json"


def test_content_type_comes_from_the_headers_file(load_delivery):
    delivery = load_delivery("distribution", "distribution/push-manifest-v1.4.2.json")
    assert delivery.content_type == V1
    assert delivery.headers["authorization"].startswith("Bearer ")


def test_anonymous_pull_has_no_actor(load):
    [event] = load("pull-manifest-anonymous.json")
    assert event.type == EventType.ARTIFACT_PULLED
    assert event.actor is None
    assert event.digest == D1
    assert event.client == "10.77.4.9"


def test_delete_fan_out_shares_the_request_id(load):
    [manifest] = load("delete-manifest-old-digest.json")
    [tag] = load("delete-tag-sha-tag.json")
    assert manifest.attributes["request_id"] == tag.attributes["request_id"]
    assert tag.digest is None


@pytest.mark.parametrize(
    ("name", "etype"),
    [
        ("push-blob-app-layer.json", EventType.BLOB_PUSHED),
        ("pull-blob-app-layer.json", EventType.BLOB_PULLED),
        ("pull-blob-head-during-push.json", EventType.BLOB_PULLED),
        ("mount-blob-base-layer.json", EventType.BLOB_MOUNTED),
    ],
)
def test_blob_traffic_is_not_an_artifact(load, name, etype):
    [event] = load(name)
    assert event.type == etype
    assert event.digest not in (D1, D2)
    assert event.repository == REPO


def test_mount_names_where_the_blob_came_from(load):
    [event] = load("mount-blob-base-layer.json")
    assert event.attributes["from_repository"] == "registry.acme.internal:5000/acme/base-debian"


def test_referrer_and_signature_pushes_are_artifacts(load):
    [sig] = load("push-manifest-cosign-sig-tag.json")
    assert sig.type == EventType.ARTIFACT_PUSHED
    assert sig.tag == f"sha256-{D1.removeprefix('sha256:')}.sig"
    [bundle] = load("push-manifest-cosign-bundle-referrer.json")
    assert bundle.type == EventType.ARTIFACT_PUSHED
    assert bundle.tag is None
    [index] = load("push-manifest-referrers-fallback-tag.json")
    assert index.media_type == "application/vnd.oci.image.index.v1+json"


def test_registry_query_parameter_names_the_host(load):
    [event] = load("push-manifest-v1.4.2.json", params={"registry": "https://Registry.Acme.IO/"})
    assert event.repository == "registry.acme.io/acme/payments-api"


def test_request_host_is_the_fallback(load_delivery):
    delivery = load_delivery("distribution", "distribution/delete-manifest-old-digest.json")
    [event] = normalize(delivery, SECRETS)
    assert event.repository == REPO  # no target.url on deletes: request.host


@pytest.mark.parametrize(
    "content_type",
    [
        "application/vnd.docker.distribution.events.v1+json",
        "application/vnd.docker.distribution.events.v2+json",
        "application/json",
    ],
)
def test_accepted_content_types(load, content_type):
    [event] = load(
        "push-manifest-v1.4.2.json", content_type=None, headers={"Content-Type": content_type}
    )
    assert event.digest == D1


@pytest.mark.parametrize("content_type", ["text/plain", "application/cloudevents+json", ""])
def test_other_content_types_are_415(sample_json, make_delivery, content_type):
    body = sample_json("distribution/push-manifest-v1.4.2.json")
    with pytest.raises(UnsupportedMedia):
        normalize(make_delivery("distribution", body, content_type=content_type), SECRETS)


def _one_event(sample_json, **changes):
    event = sample_json("distribution/push-manifest-v1.4.2.json")["events"][0]
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            event[section][field] = value
        else:
            event[section] = value
    return event


def test_v3_bare_event_is_accepted(sample_json, make_delivery):
    event = _one_event(sample_json)
    [out] = normalize(make_delivery("distribution", event, content_type=V1), SECRETS)
    assert out.id == event["id"]
    assert out.digest == D1


def test_ipv6_client_address_loses_its_port(sample_json, make_delivery):
    body = {"events": [_one_event(sample_json, request__addr="[2001:db8::7]:5000")]}
    [event] = normalize(make_delivery("distribution", body, content_type=V1), SECRETS)
    assert event.client == "2001:db8::7"


@pytest.mark.parametrize(
    ("addr", "ip"),
    [
        ("10.0.0.1:443", "10.0.0.1"),
        ("[::1]:5000", "::1"),
        ("::1", "::1"),
        ("10.0.0.1", "10.0.0.1"),
        ("", None),
        (None, None),
        ("[::1", None),
    ],
)
def test_client_ip(addr, ip):
    assert client_ip(addr) == ip


def test_annotations_claim_a_commit(sample_json, make_delivery):
    annotations = {
        "org.opencontainers.image.revision": "1f3c0b99ee32fa789a58807755933c2f994a2acd",
        "org.opencontainers.image.source": "https://github.com/acme/payments-api",
    }
    body = {"events": [_one_event(sample_json, target__annotations=annotations)]}
    [event] = normalize(make_delivery("distribution", body, content_type=V1), SECRETS)
    assert event.commit == "1f3c0b99ee32fa789a58807755933c2f994a2acd"
    assert event.vcs_url == "https://github.com/acme/payments-api"


def test_repository_removal_is_a_notice(sample_json, make_delivery):
    event = _one_event(sample_json, action="delete", target={"repository": "acme/payments-api"})
    [out] = normalize(make_delivery("distribution", {"events": [event]}, content_type=V1), SECRETS)
    assert out.type == EventType.REGISTRY_NOTICE
    assert out.repository == REPO


def test_media_type_decides_without_a_url(sample_json, make_delivery):
    target = {
        "repository": "acme/payments-api",
        "digest": D1,
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "size": 10,
    }
    event = _one_event(sample_json, target=target)
    [out] = normalize(make_delivery("distribution", {"events": [event]}, content_type=V1), SECRETS)
    assert out.type == EventType.BLOB_PUSHED


def test_empty_envelope_gives_no_events(make_delivery):
    assert normalize(make_delivery("distribution", {"events": []}, content_type=V1), SECRETS) == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not json", Unparseable),
        (b"{}", InvalidPayload),
        (b"[]", InvalidPayload),
        (b'{"events": {}}', InvalidPayload),
        (b'{"events": [1]}', InvalidPayload),
    ],
)
def test_rejections(make_delivery, body, error):
    with pytest.raises(error):
        normalize(make_delivery("distribution", body, content_type=V1), SECRETS)


@pytest.mark.parametrize(
    "changes",
    [
        {"target__digest": "sha256:abc"},
        {"action": "copy"},
        {"timestamp": "yesterday"},
        {"id": None},
        {"target__size": "big"},
        {"actor": "someone"},
    ],
)
def test_bad_fields_are_422(sample_json, make_delivery, changes):
    body = {"events": [_one_event(sample_json, **changes)]}
    with pytest.raises(InvalidPayload):
        normalize(make_delivery("distribution", body, content_type=V1), SECRETS)
