"""Docker Hub push webhooks -> canonical events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from provenance.ingest.sources import SourceSecrets
from provenance.ingest.sources import normalize as dispatch
from provenance.ingest.sources.dockerhub import normalize
from provenance.model.errors import InvalidPayload, Unparseable, UnsupportedMedia
from provenance.model.events import EventType

REPO = "docker.io/acme/payments-api"
SECRETS = SourceSecrets()
ALL_SAMPLES = ["push-v1.4.2.json", "push-v1.4.2-repush.json"]

# sample -> time (pushed_at)
SAMPLES = {
    "push-v1.4.2.json": datetime(2026, 3, 9, 14, 7, 41, tzinfo=UTC),
    "push-v1.4.2-repush.json": datetime(2026, 4, 2, 11, 20, 5, tzinfo=UTC),
}


@pytest.fixture
def load(load_delivery):
    def run(name: str, **kwargs):
        return normalize(load_delivery("dockerhub", f"dockerhub/{name}", **kwargs), SECRETS)

    return run


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_story_samples(load, name):
    [event] = load(name)
    assert event.type == EventType.ARTIFACT_PUSHED
    assert event.source == "dockerhub"
    assert event.repository == REPO
    assert event.tag == "v1.4.2"
    assert event.digest is None  # Docker Hub sends none
    assert event.actor == "acmeci"
    assert event.time == SAMPLES[name]
    assert event.attributes["digest_unresolved"] is True


def test_every_dockerhub_sample_is_covered(samples):
    on_disk = {p.name for p in (samples / "dockerhub").glob("*.json")}
    assert {n for n in on_disk if not n.endswith(".headers.json")} == set(ALL_SAMPLES)


def test_retry_has_the_same_id_and_repush_another(load):
    [first] = load("push-v1.4.2.json")
    [again] = load("push-v1.4.2.json")
    [repush] = load("push-v1.4.2-repush.json")
    assert first.id == again.id
    assert first.id.startswith("dockerhub-")
    assert repush.id != first.id


def test_id_ignores_counters_and_callback(sample_json, make_delivery):
    body = sample_json("dockerhub/push-v1.4.2.json")
    [first] = normalize(make_delivery("dockerhub", body), SECRETS)
    body["repository"]["star_count"] = 12
    body["callback_url"] = "https://registry.hub.docker.com/u/acme/payments-api/hook/other/"
    [second] = normalize(make_delivery("dockerhub", body), SECRETS)
    assert first.id == second.id


def test_dispatch_by_source_name(load_delivery):
    [event] = dispatch(load_delivery("dockerhub", "dockerhub/push-v1.4.2.json"))
    assert event.repository == REPO


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        (
            {"namespace": "library", "name": "nginx", "repo_name": "nginx"},
            "docker.io/library/nginx",
        ),
        ({"name": "nginx", "repo_name": "nginx", "is_official": True}, "docker.io/library/nginx"),
        ({"repo_name": "nginx"}, "docker.io/library/nginx"),
        ({"repo_name": "Acme/Payments-API"}, "docker.io/acme/payments-api"),
        ({"namespace": "acme", "name": "api"}, "docker.io/acme/api"),
    ],
)
def test_repository_naming(sample_json, make_delivery, repository, expected):
    body = sample_json("dockerhub/push-v1.4.2.json")
    body["repository"] = repository
    [event] = normalize(make_delivery("dockerhub", body), SECRETS)
    assert event.repository == expected


def test_missing_pushed_at_uses_the_receive_time(sample_json, make_delivery):
    body = sample_json("dockerhub/push-v1.4.2.json")
    del body["push_data"]["pushed_at"]
    delivery = make_delivery("dockerhub", body)
    [event] = normalize(delivery, SECRETS)
    assert event.time == delivery.received_at
    assert event.attributes["time_from_receipt"] is True


@pytest.mark.parametrize(
    "change",
    [
        {"push_data": {"pushed_at": 1773065261, "pusher": "acmeci"}},  # no tag
        {"push_data": {"tag": "v1", "pushed_at": "yesterday"}},
        {"push_data": []},
        {"repository": {}},
        {"repository": {"repo_name": "a//b"}},
    ],
)
def test_bad_fields_are_422(sample_json, make_delivery, change):
    body = {**sample_json("dockerhub/push-v1.4.2.json"), **change}
    with pytest.raises(InvalidPayload):
        normalize(make_delivery("dockerhub", body), SECRETS)


@pytest.mark.parametrize(
    ("body", "error"),
    [(b"not json", Unparseable), (b"[]", InvalidPayload), (b'{"push_data": {}}', InvalidPayload)],
)
def test_rejections(make_delivery, body, error):
    with pytest.raises(error):
        normalize(make_delivery("dockerhub", body), SECRETS)


def test_other_content_types_are_415(sample_json, make_delivery):
    body = sample_json("dockerhub/push-v1.4.2.json")
    with pytest.raises(UnsupportedMedia):
        normalize(make_delivery("dockerhub", body, content_type="text/plain"), SECRETS)
