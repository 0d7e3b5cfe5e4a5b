"""Harbor webhooks (Default and CloudEvents formats) -> canonical events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from provenance.ingest.sources import SourceSecrets
from provenance.ingest.sources.harbor import normalize
from provenance.model.errors import InvalidPayload, Unparseable, UnsupportedMedia
from provenance.model.events import EventType

D1 = "sha256:4ac6f96cde89127c04de259df08450fe1aa0073108b7b3f3471428fb628bcb30"
D2 = "sha256:701a31a46306cfafff7d96547c5f10a0d2d8f0e8c41b0159a94e36b3ab01e558"
CE = "application/cloudevents+json"
REPO = "harbor.acme.example/acme/payments-api"
SECRETS = SourceSecrets()

# sample -> (type, digest, tag, actor, time)
ARTIFACT_SAMPLES = {
    "push-artifact.json": (
        EventType.ARTIFACT_PUSHED, D1, "v1.4.2", "robot$acme+ci-push",
        datetime(2026, 3, 9, 14, 7, 41, tzinfo=UTC),
    ),
    "push-artifact.cloudevents.json": (
        EventType.ARTIFACT_PUSHED, D1, "v1.4.2", "robot$acme+ci-push",
        datetime(2026, 3, 9, 14, 7, 41, tzinfo=UTC),
    ),
    "push-artifact-v1.4.2-repush.json": (
        EventType.ARTIFACT_PUSHED, D2, "v1.4.2", "robot$acme+ci-push",
        datetime(2026, 4, 2, 11, 20, 5, tzinfo=UTC),
    ),
    "pull-artifact-by-digest.json": (
        EventType.ARTIFACT_PULLED, D1, None, "robot$acme+k8s-prod-pull",
        datetime(2026, 3, 10, 9, 15, 42, tzinfo=UTC),
    ),
    "pull-artifact-by-digest.cloudevents.json": (
        EventType.ARTIFACT_PULLED, D1, None, "robot$acme+k8s-prod-pull",
        datetime(2026, 3, 10, 9, 15, 42, tzinfo=UTC),
    ),
    "delete-artifact.json": (
        EventType.ARTIFACT_DELETED, D1, None, "ops-gc-bot",
        datetime(2026, 4, 16, 3, 0, 7, tzinfo=UTC),
    ),
    "delete-artifact.cloudevents.json": (
        EventType.ARTIFACT_DELETED, D1, None, "ops-gc-bot",
        datetime(2026, 4, 16, 3, 0, 7, tzinfo=UTC),
    ),
    "scanning-completed.json": (
        EventType.ARTIFACT_SCANNED, D1, "v1.4.2", "robot$acme+ci-push",
        datetime(2026, 3, 9, 14, 8, 3, tzinfo=UTC),
    ),
}  # fmt: skip

OTHER_SAMPLES = ["quota-warning.json", "replication.json", "tag-retention.json"]
ALL_SAMPLES = sorted([*ARTIFACT_SAMPLES, *OTHER_SAMPLES])


def _content_type(name: str) -> str:
    return CE if ".cloudevents." in name else "application/json"


@pytest.fixture
def load(load_delivery):
    def run(name: str, **kwargs):
        kwargs.setdefault("content_type", _content_type(name))
        return normalize(load_delivery("harbor", f"harbor/{name}", **kwargs), SECRETS)

    return run


@pytest.mark.parametrize("name", sorted(ARTIFACT_SAMPLES))
def test_artifact_samples(load, name):
    etype, digest, tag, actor, time = ARTIFACT_SAMPLES[name]
    [event] = load(name)
    assert event.type == etype
    assert event.source == "harbor"
    assert event.digest == digest
    assert event.tag == tag
    assert event.actor == actor
    assert event.time == time
    assert event.repository == REPO


def test_every_harbor_sample_is_covered(samples):
    on_disk = {p.name for p in (samples / "harbor").glob("*.json")}
    assert {n for n in on_disk if not n.endswith(".headers.json")} == set(ALL_SAMPLES)


def test_content_type_of_the_cloudevents_sample_comes_from_its_headers(load_delivery):
    delivery = load_delivery("harbor", "harbor/push-artifact.cloudevents.json")
    assert delivery.content_type == CE


def test_cloudevents_id_is_the_event_id(load):
    [event] = load("push-artifact.cloudevents.json")
    assert event.id == "30f33963-8094-4680-aa25-96bb370d5de2"
    assert event.attributes["request_id"] == "7fffd356-f132-4643-9a36-cb2883209e86"


def test_cloudevents_body_is_recognized_under_application_json(load):
    [event] = load("delete-artifact.cloudevents.json", content_type="application/json")
    assert event.id == "05a034b3-c223-4694-96eb-6f6d5dae375a"


def test_default_format_ids_are_stable_and_distinct(load):
    [first] = load("push-artifact.json")
    [again] = load("push-artifact.json")
    [repush] = load("push-artifact-v1.4.2-repush.json")
    assert first.id == again.id
    assert first.id.startswith("harbor-")
    assert first.id != repush.id


def test_default_and_cloudevents_formats_agree(load):
    [default] = load("pull-artifact-by-digest.json")
    [cloud] = load("pull-artifact-by-digest.cloudevents.json")
    fields = ("type", "time", "digest", "repository", "tag", "actor")
    assert [getattr(default, f) for f in fields] == [getattr(cloud, f) for f in fields]


def test_scan_summary_in_attributes(load):
    [event] = load("scanning-completed.json")
    assert event.attributes["scan_status"] == "Success"
    assert event.attributes["severity"] == "High"
    assert event.attributes["severity_counts"] == {"High": 1, "Medium": 3, "Low": 3}
    assert event.attributes["scanner"]["name"] == "Trivy"
    assert event.attributes["scan_type"] == "vulnerability"


def test_replication(load):
    [event] = load("replication.json")
    assert event.type == EventType.ARTIFACT_REPLICATED
    assert event.repository == REPO
    assert event.tag == "v1.4.2"
    assert event.actor == "admin"
    assert event.attributes["destination"] == "harbor-dr.acme.example/acme/payments-api"
    assert event.attributes["status"] == "Success"


def test_quota_warning_is_a_notice(load):
    [event] = load("quota-warning.json")
    assert event.type == EventType.REGISTRY_NOTICE
    assert "85%" in event.attributes["details"]["Details"]
    assert event.attributes["digests"] == [D2]


def test_tag_retention_is_a_notice_plus_deletes_by_tag(load):
    notice, *deletes = load("tag-retention.json")
    assert notice.type == EventType.REGISTRY_NOTICE
    assert notice.attributes["retained"] == 40
    # `repo:tag` names no digest: the projection resolves the one the tag held then
    assert [(e.type, e.repository, e.tag, e.digest) for e in deletes] == [
        (EventType.ARTIFACT_DELETED, REPO, "v1.3.7", None),
        (EventType.ARTIFACT_DELETED, REPO, "v1.3.8", None),
    ]
    assert len({notice.id, *(e.id for e in deletes)}) == 3


def _body(sample_json, name="push-artifact.json"):
    return sample_json(f"harbor/{name}")


def test_several_resources_give_several_events(sample_json, make_delivery):
    body = _body(sample_json)
    second = dict(body["event_data"]["resources"][0], tag="latest")
    body["event_data"]["resources"].append(second)
    events = normalize(make_delivery("harbor", body), SECRETS)
    assert [e.tag for e in events] == ["v1.4.2", "latest"]
    assert len({e.id for e in events}) == 2

    ce = _body(sample_json, "push-artifact.cloudevents.json")
    ce["data"]["resources"].append(second)
    events = normalize(make_delivery("harbor", ce, content_type=CE), SECRETS)
    assert [e.id for e in events] == [f"{ce['id']}-0", f"{ce['id']}-1"]


def test_repository_falls_back_to_repo_full_name(sample_json, make_delivery):
    body = _body(sample_json)
    del body["event_data"]["resources"][0]["resource_url"]
    [event] = normalize(make_delivery("harbor", body), SECRETS)
    assert event.repository == "acme/payments-api"
    delivery = make_delivery("harbor", body, params={"registry": "harbor.acme.example"})
    [event] = normalize(delivery, SECRETS)
    assert event.repository == REPO


def test_resource_url_with_a_port_keeps_it(sample_json, make_delivery):
    body = _body(sample_json)
    body["event_data"]["resources"][0]["resource_url"] = "harbor.acme.example:8443/acme/api:v1"
    [event] = normalize(make_delivery("harbor", body), SECRETS)
    assert event.repository == "harbor.acme.example:8443/acme/api"


def test_unknown_types_are_422(sample_json, make_delivery):
    body = _body(sample_json)
    body["type"] = "SOMETHING_NEW"
    with pytest.raises(InvalidPayload):
        normalize(make_delivery("harbor", body), SECRETS)
    ce = _body(sample_json, "push-artifact.cloudevents.json")
    ce["type"] = "harbor.something.new"
    with pytest.raises(InvalidPayload):
        normalize(make_delivery("harbor", ce, content_type=CE), SECRETS)


def test_bad_digest_is_422(sample_json, make_delivery):
    body = _body(sample_json)
    body["event_data"]["resources"][0]["digest"] = "sha256:1234"
    with pytest.raises(InvalidPayload):
        normalize(make_delivery("harbor", body), SECRETS)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", ""])
def test_other_content_types_are_415(sample_json, make_delivery, content_type):
    with pytest.raises(UnsupportedMedia):
        normalize(make_delivery("harbor", _body(sample_json), content_type=content_type), SECRETS)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"<xml/>", Unparseable),
        (b"[]", InvalidPayload),
        (b'{"type": "PUSH_ARTIFACT"}', InvalidPayload),
    ],
)
def test_rejections(make_delivery, body, error):
    with pytest.raises(error):
        normalize(make_delivery("harbor", body), SECRETS)


# --- Harbor's documented payloads (goharbor.io, configure-webhooks) ----------------------


@pytest.mark.parametrize("name", ["tag-retention.json", "tag-retention.cloudevents.json"])
def test_documented_tag_retention_keeps_the_project(load_delivery, name):
    delivery = load_delivery("harbor", f"vendor/harbor/{name}", content_type=_content_type(name))
    notice, deleted = normalize(delivery, SECRETS)
    assert notice.type == EventType.REGISTRY_NOTICE
    assert notice.attributes["project"] == "harbor"
    # name_tag `alpine:3.8` names the repository inside project `harbor` on `localhost`
    assert (deleted.type, deleted.repository, deleted.tag) == (
        EventType.ARTIFACT_DELETED,
        "localhost/harbor/alpine",
        "3.8",
    )


def test_retention_name_tag_with_its_project_is_not_doubled(sample_json, make_delivery):
    body = sample_json("vendor/harbor/tag-retention.json")
    body["event_data"]["retention"]["deleted_artifact"][0]["name_tag"] = "harbor/alpine:3.8"
    _, deleted = normalize(make_delivery("harbor", body), SECRETS)
    assert deleted.repository == "localhost/harbor/alpine"


@pytest.mark.parametrize("name", ["replication.json", "replication.cloudevents.json"])
def test_documented_replication_drops_the_item_count(load_delivery, name):
    delivery = load_delivery("harbor", f"vendor/harbor/{name}", content_type=_content_type(name))
    [event] = normalize(delivery, SECRETS)
    assert event.type == EventType.ARTIFACT_REPLICATED
    # `alpine [1 item(s) in total]`: the repository is `alpine`, its tags are not listed
    assert event.repository == "docker.io/library/alpine"
    assert event.tag is None
    assert event.attributes["destination"] == "localhost/harbor/alpine"
    assert event.attributes["items"] == 1
    assert "tags" not in event.attributes
    assert event.attributes["status"] == "Success"
