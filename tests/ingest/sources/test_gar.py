"""Google Artifact Registry (Pub/Sub push) -> canonical events."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance.ingest.sources import SourceSecrets
from provenance.ingest.sources.gar import normalize
from provenance.model.errors import InvalidPayload, Unparseable, UnsupportedMedia
from provenance.model.events import EventType

D1 = "sha256:4ac6f96cde89127c04de259df08450fe1aa0073108b7b3f3471428fb628bcb30"
D2 = "sha256:701a31a46306cfafff7d96547c5f10a0d2d8f0e8c41b0159a94e36b3ab01e558"
REFERRER = "sha256:883a1946ed9cc80c2525c258ba4c6fc075cea830a3d43870dde735c14cc07c9c"
REPO = "europe-west4-docker.pkg.dev/acme-prod-4412/containers/acme/payments-api"
SECRETS = SourceSecrets()

# envelope sample -> (type, digest, tag, time, messageId)
SAMPLES = {
    "insert-v1.4.2.pubsub-push.json": (
        EventType.ARTIFACT_PUSHED, D1, "v1.4.2",
        datetime(2026, 3, 9, 14, 7, 41, 328000, tzinfo=UTC), "5618019140448698",
    ),
    "insert-v1.4.2-repush.pubsub-push.json": (
        EventType.ARTIFACT_PUSHED, D2, "v1.4.2",
        datetime(2026, 4, 2, 11, 20, 5, 640000, tzinfo=UTC), "6808257624178971",
    ),
    "insert-untagged-referrer.pubsub-push.json": (
        EventType.ARTIFACT_PUSHED, REFERRER, None,
        datetime(2026, 3, 9, 14, 8, 11, 201000, tzinfo=UTC), "5161221517909736",
    ),
    "delete-digest.pubsub-push.json": (
        EventType.ARTIFACT_DELETED, D1, None,
        datetime(2026, 4, 16, 3, 0, 7, 118000, tzinfo=UTC), "3454285072315936",
    ),
    "delete-tag.pubsub-push.json": (
        EventType.TAG_DELETED, None, "sha-1f3c0b9",
        datetime(2026, 4, 16, 3, 0, 6, 200000, tzinfo=UTC), "9852511624514964",
    ),
}  # fmt: skip
ALL_SAMPLES = sorted(SAMPLES)


@pytest.fixture
def load(load_delivery):
    def run(name: str, **kwargs):
        return normalize(load_delivery("gar", f"gar/{name}", **kwargs), SECRETS)

    return run


def _encode(data) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.b64encode(raw).decode()


def _envelope(sample_json, data, name="insert-v1.4.2.pubsub-push.json"):
    body = sample_json(f"gar/{name}")
    body["message"]["data"] = data if isinstance(data, str) else _encode(data)
    return body


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_story_samples(load, name):
    etype, digest, tag, time, message_id = SAMPLES[name]
    [event] = load(name)
    assert event.type == etype
    assert event.source == "gar"
    assert event.id == message_id
    assert event.digest == digest
    assert event.tag == tag
    assert event.time == time
    assert event.repository == REPO
    assert event.attributes["subscription"] == (
        "projects/acme-prod-4412/subscriptions/gcr-provenance-push"
    )


def test_every_gar_sample_is_covered(samples):
    on_disk = {p.name for p in (samples / "gar").glob("*.pubsub-push.json")}
    assert on_disk == set(ALL_SAMPLES)


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_the_decoded_data_samples_match_the_envelopes(sample_json, name):
    envelope = sample_json(f"gar/{name}")
    decoded = json.loads(base64.b64decode(envelope["message"]["data"]))
    assert decoded == sample_json(f"gar/{name.replace('.pubsub-push.', '.data.')}")


def test_tag_only_insert_is_a_digestless_push(sample_json, make_delivery):
    data = {"action": "INSERT", "tag": f"{REPO}:v1.4.2"}
    [event] = normalize(make_delivery("gar", _envelope(sample_json, data)), SECRETS)
    assert event.type == EventType.ARTIFACT_PUSHED
    assert (event.repository, event.tag, event.digest) == (REPO, "v1.4.2", None)
    assert event.attributes["digest_unresolved"] is True


@pytest.mark.parametrize(
    ("data", "repository", "tag", "digest"),
    [
        (
            {"action": "INSERT", "digest": f"gcr.io/acme-prod/payments-api@{D1}",
             "tag": "gcr.io/acme-prod/payments-api:latest"},
            "gcr.io/acme-prod/payments-api", "latest", D1,
        ),
        (
            {"action": "INSERT", "digest": f"EU.GCR.IO/acme-prod/team/a/b@{D2}"},
            "eu.gcr.io/acme-prod/team/a/b", None, D2,
        ),
        (
            {"action": "DELETE", "tag": "us-docker.pkg.dev/p/r/img:v1.0.0-rc.1"},
            "us-docker.pkg.dev/p/r/img", "v1.0.0-rc.1", None,
        ),
    ],
)  # fmt: skip
def test_image_paths(sample_json, make_delivery, data, repository, tag, digest):
    [event] = normalize(make_delivery("gar", _envelope(sample_json, data)), SECRETS)
    assert (event.repository, event.tag, event.digest) == (repository, tag, digest)


def test_bare_message_and_snake_case_fields(sample_json, make_delivery):
    message = sample_json("gar/insert-v1.4.2.pubsub-push.json")["message"]
    bare = {k: v for k, v in message.items() if k not in ("messageId", "publishTime")}
    [event] = normalize(make_delivery("gar", bare), SECRETS)
    assert (event.id, event.digest) == ("5618019140448698", D1)
    assert "subscription" not in event.attributes


def test_urlsafe_base64_is_accepted(sample_json, make_delivery):
    data = {"action": "INSERT", "digest": f"{REPO}@{D1}", "tag": f"{REPO}:a~~~~"}
    raw = json.dumps(data).encode()
    encoded = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert "-" in encoded or "_" in encoded
    [event] = normalize(make_delivery("gar", _envelope(sample_json, encoded)), SECRETS)
    assert event.tag == "a~~~~"


def test_unpadded_standard_base64_is_accepted(sample_json, make_delivery):
    encoded = _encode({"action": "DELETE", "digest": f"{REPO}@{D1}"}).rstrip("=")
    [event] = normalize(make_delivery("gar", _envelope(sample_json, encoded)), SECRETS)
    assert event.digest == D1


@pytest.mark.parametrize(
    "data",
    [
        "not base64 at all!",
        _encode(b"\xff\xfe not json"),
        _encode([1, 2]),
        _encode({"action": "UPDATE", "digest": f"{REPO}@{D1}"}),
        _encode({"action": "INSERT"}),
        _encode({"action": "INSERT", "digest": f"{REPO}@sha256:abc"}),
        _encode({"action": "INSERT", "digest": REPO}),
        _encode({"action": "DELETE", "tag": REPO}),
        _encode({"action": "INSERT", "digest": f"payments-api@{D1}"}),
        _encode({"action": "INSERT", "digest": f"{REPO}@{D1}", "tag": "gcr.io/other/img:v1"}),
        "",
    ],
)
def test_bad_data_is_422(sample_json, make_delivery, data):
    with pytest.raises(InvalidPayload):
        normalize(make_delivery("gar", _envelope(sample_json, data)), SECRETS)


@pytest.mark.parametrize(
    "change",
    [{"messageId": None, "message_id": None}, {"publishTime": "now"}, {"data": 12}],
)
def test_bad_envelope_fields_are_422(sample_json, make_delivery, change):
    body = sample_json("gar/insert-v1.4.2.pubsub-push.json")
    body["message"].update(change)
    with pytest.raises(InvalidPayload):
        normalize(make_delivery("gar", body), SECRETS)


@pytest.mark.parametrize(
    ("body", "error"),
    [(b"nope", Unparseable), (b"{}", InvalidPayload), (b'{"message": []}', InvalidPayload)],
)
def test_rejections(make_delivery, body, error):
    with pytest.raises(error):
        normalize(make_delivery("gar", body), SECRETS)


def test_other_content_types_are_415(sample_json, make_delivery):
    body = sample_json("gar/insert-v1.4.2.pubsub-push.json")
    with pytest.raises(UnsupportedMedia):
        normalize(make_delivery("gar", body, content_type="text/plain"), SECRETS)


# --- properties -------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_arbitrary_message_data_is_events_or_rejected(
    data, json_values, sample_json, make_delivery, check_total
):
    payload = data.draw(json_values | st.binary(max_size=100))
    check_total(normalize, make_delivery("gar", _envelope(sample_json, _encode(payload))))
