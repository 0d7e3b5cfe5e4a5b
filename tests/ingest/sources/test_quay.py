"""Quay repository notifications -> canonical events."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from provenance.ingest.sources import SourceSecrets
from provenance.ingest.sources.quay import normalize
from provenance.model.errors import InvalidPayload, Unparseable, UnsupportedMedia
from provenance.model.events import EventType

REPO = "quay.io/acme/payments-api"
COMMIT = "1f3c0b99ee32fa789a58807755933c2f994a2acd"
BUILD = "5ba57c60-2f94-4a99-882b-f41a6496ffca"
SECRETS = SourceSecrets()
ALL_SAMPLES = [
    "build_success.json",
    "repo_push-v1.4.2-repush.json",
    "repo_push.json",
    "vulnerability_found.json",
]
EVENT_NAMES = [
    "repo_push",
    "build_queued",
    "build_start",
    "build_success",
    "build_failure",
    "build_cancelled",
    "vulnerability_found",
    "repo_mirror_sync_success",
]


@pytest.fixture
def load(load_delivery):
    def run(name: str, **kwargs):
        return normalize(load_delivery("quay", f"quay/{name}", **kwargs), SECRETS)

    return run


def _later(delivery, seconds: float):
    return dataclasses.replace(
        delivery, received_at=delivery.received_at + timedelta(seconds=seconds)
    )


@pytest.mark.parametrize("name", ["repo_push.json", "repo_push-v1.4.2-repush.json"])
def test_push_samples(load_delivery, name):
    delivery = load_delivery("quay", f"quay/{name}")
    [event] = normalize(delivery, SECRETS)
    assert event.type == EventType.ARTIFACT_PUSHED
    assert event.source == "quay"
    assert (event.repository, event.tag, event.digest) == (REPO, "v1.4.2", None)
    assert event.attributes["digest_unresolved"] is True
    assert event.time == delivery.received_at  # Quay sends no timestamp
    assert event.actor is None


def test_every_quay_sample_is_covered(samples):
    on_disk = {p.name for p in (samples / "quay").glob("*.json")}
    assert {n for n in on_disk if not n.endswith(".headers.json")} == set(ALL_SAMPLES)


def test_identical_pushes_at_different_times_are_two_events(load_delivery):
    first = load_delivery("quay", "quay/repo_push.json")
    repush = load_delivery("quay", "quay/repo_push-v1.4.2-repush.json")
    assert first.body == repush.body  # the quirk: nothing tells them apart
    [a] = normalize(first, SECRETS)
    [b] = normalize(_later(repush, 3600), SECRETS)
    assert a.id != b.id
    # a retry within the same second is the same event
    [c] = normalize(_later(first, 0.4), SECRETS)
    assert c.id == a.id


def test_one_event_per_updated_tag(sample_json, make_delivery):
    body = sample_json("quay/repo_push.json")
    body["updated_tags"] = ["v1.4.2", "latest"]
    events = normalize(make_delivery("quay", body), SECRETS)
    assert [e.tag for e in events] == ["v1.4.2", "latest"]
    assert len({e.id for e in events}) == 2


def test_build_success_is_a_finished_build(load):
    [event] = load("build_success.json")
    assert event.type == EventType.BUILD_FINISHED
    assert event.build == BUILD
    assert event.commit == COMMIT
    assert event.repository == REPO
    assert event.attributes["docker_tags"] == ["v1.4.2", "sha-1f3c0b9"]
    assert event.attributes["trigger_kind"] == "github"
    assert event.attributes["ref"] == "refs/tags/v1.4.2"
    assert event.digest is None  # image_id is Quay's legacy id, not a manifest digest
    [again] = load("build_success.json")
    assert again.id == event.id  # one event per build and phase: retries dedupe


def test_vcs_url_from_commit_info(sample_json, make_delivery):
    body = sample_json("quay/build_success.json")
    body["trigger_metadata"]["commit_info"] = {
        "url": "https://github.com/acme/payments-api/commit/1f3c0b9"
    }
    [event] = normalize(make_delivery("quay", body), SECRETS)
    assert event.vcs_url == "https://github.com/acme/payments-api"  # the commit page's repository
    body["trigger_metadata"]["git_url"] = "git@github.com:acme/payments-api.git"
    [event] = normalize(make_delivery("quay", body), SECRETS)
    assert event.vcs_url == "https://github.com/acme/payments-api"


def test_github_trigger_build_names_the_repository_as_the_labels_do(load_delivery):
    # Quay's GitHub trigger: git_url is the repository's ssh_url (scp form), commit_info.url
    # the commit page. Distribution, GHCR and Kubernetes labels say https://github.com/o/r.
    delivery = load_delivery("quay", "vendor/quay/build_success.github-trigger.json")
    [event] = normalize(dataclasses.replace(delivery, params={"event": "build_success"}), SECRETS)
    assert event.type == EventType.BUILD_FINISHED
    assert event.commit == COMMIT
    assert event.vcs_url == "https://github.com/acme/payments-api"


def test_vulnerability_found_is_a_notice(load):
    [event] = load("vulnerability_found.json")
    assert event.type == EventType.REGISTRY_NOTICE
    assert event.repository == REPO
    assert event.attributes["tags"] == ["v1.4.2", "sha-1f3c0b9"]
    assert event.attributes["vulnerabilities"][0]["id"] == "CVE-2026-21877"
    assert event.attributes["vulnerabilities"][0]["priority"] == "High"


@pytest.mark.parametrize(
    ("extra", "etype", "quay_event"),
    [
        ({"is_manual": False}, EventType.BUILD_QUEUED, "build_queued"),
        ({}, EventType.BUILD_STARTED, "build_start"),
        ({"error_message": "boom"}, EventType.REGISTRY_NOTICE, "build_failure"),
    ],
)
def test_other_build_events_are_inferred(sample_json, make_delivery, extra, etype, quay_event):
    body = sample_json("quay/build_success.json")
    del body["image_id"]
    body.update(extra)
    [event] = normalize(make_delivery("quay", body), SECRETS)
    assert (event.type, event.attributes["quay_event"]) == (etype, quay_event)
    assert event.build == BUILD


def test_event_parameter_names_the_event(load):
    [event] = load("build_success.json", params={"event": "build_cancelled"})
    assert event.type == EventType.REGISTRY_NOTICE
    assert event.attributes["notice"] == "build_cancelled"
    [success] = load("build_success.json")
    assert success.id != event.id
    with pytest.raises(InvalidPayload):
        load("build_success.json", params={"event": "repo_deleted"})


def test_self_hosted_docker_url(sample_json, make_delivery):
    body = sample_json("quay/repo_push.json")
    body["docker_url"] = "Quay.Acme.Internal:8443/acme/payments-api"
    [event] = normalize(make_delivery("quay", body), SECRETS)
    assert event.repository == "quay.acme.internal:8443/acme/payments-api"
    del body["docker_url"]
    [event] = normalize(make_delivery("quay", body), SECRETS)
    assert event.repository == REPO
    delivery = make_delivery("quay", body, params={"registry": "quay.acme.internal"})
    [event] = normalize(delivery, SECRETS)
    assert event.repository == "quay.acme.internal/acme/payments-api"


def test_mirror_event_is_a_notice(sample_json, make_delivery):
    body = {k: v for k, v in sample_json("quay/repo_push.json").items() if k != "updated_tags"}
    body["message"] = "Mirror finished"
    [event] = normalize(make_delivery("quay", body), SECRETS)
    assert event.type == EventType.REGISTRY_NOTICE
    assert event.attributes["message"] == "Mirror finished"


@pytest.mark.parametrize(
    "change",
    [
        {"updated_tags": []},
        {"updated_tags": [""]},
        {"updated_tags": "v1"},
        {"docker_url": "payments-api"},
        {"docker_url": 5},
    ],
)
def test_bad_fields_are_422(sample_json, make_delivery, change):
    body = {**sample_json("quay/repo_push.json"), **change}
    with pytest.raises(InvalidPayload):
        normalize(make_delivery("quay", body), SECRETS)


@pytest.mark.parametrize(
    ("body", "error"),
    [(b"{", Unparseable), (b"[]", InvalidPayload), (b'{"updated_tags": ["v1"]}', InvalidPayload)],
)
def test_rejections(make_delivery, body, error):
    with pytest.raises(error):
        normalize(make_delivery("quay", body), SECRETS)


def test_other_content_types_are_415(sample_json, make_delivery):
    body = sample_json("quay/repo_push.json")
    with pytest.raises(UnsupportedMedia):
        normalize(make_delivery("quay", body, content_type="text/html"), SECRETS)
