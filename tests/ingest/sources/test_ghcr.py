"""GitHub `package` / `registry_package` webhooks (GHCR) -> canonical events."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from hypothesis import strategies as st

from provenance.ingest.sources import SourceSecrets
from provenance.ingest.sources.ghcr import normalize
from provenance.model.errors import BadSignature, InvalidPayload, Unparseable, UnsupportedMedia
from provenance.model.events import EventType
from provenance.trust.credentials import verify_github_signature

D1 = "sha256:4ac6f96cde89127c04de259df08450fe1aa0073108b7b3f3471428fb628bcb30"
D2 = "sha256:701a31a46306cfafff7d96547c5f10a0d2d8f0e8c41b0159a94e36b3ab01e558"
SECRET = b"acme-test-webhook-secret-2026"
# The signature is a credential, checked before the adapter (provenance.trust.credentials):
# the adapter reads signed and unsigned deliveries alike.
WITH_SECRET = NO_SECRET = SourceSecrets()
COMMIT = "1f3c0b99ee32fa789a58807755933c2f994a2acd"
SAMPLES = [
    "package-published.json",
    "registry_package-published.json",
    "package-published-v1.4.2-repush.json",
]


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@pytest.fixture
def load(load_delivery):
    def run(name: str, secrets: SourceSecrets = WITH_SECRET, **kwargs):
        return normalize(load_delivery("ghcr", f"github/{name}", **kwargs), secrets)

    return run


@pytest.mark.parametrize("name", SAMPLES)
def test_samples_verify_with_the_test_secret(load, name):
    [event] = load(name)
    assert event.type == EventType.ARTIFACT_PUSHED
    assert event.source == "ghcr"


def test_every_github_sample_is_covered(samples):
    on_disk = {p.name for p in (samples / "github").glob("*.json")}
    assert {n for n in on_disk if not n.endswith(".headers.json")} == set(SAMPLES)


def test_push_fields(load):
    [event] = load("package-published.json")
    assert event.id == "ghcr-version-401239871"
    assert event.digest == D1
    assert event.repository == "ghcr.io/acme/payments-api"
    assert event.tag == "v1.4.2"
    assert event.actor == "maria-okafor"
    assert event.time == datetime(2026, 3, 9, 14, 7, 41, tzinfo=UTC)
    assert event.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert event.size == 1560
    assert event.commit == COMMIT
    assert event.vcs_url == "https://github.com/acme/payments-api"


def test_repush_is_a_new_version(load):
    [event] = load("package-published-v1.4.2-repush.json")
    assert event.id == "ghcr-version-428810552"
    assert event.digest == D2
    assert event.tag == "v1.4.2"
    assert event.time == datetime(2026, 4, 2, 11, 20, 5, tzinfo=UTC)


def test_package_and_registry_package_are_the_same_event(load):
    [package] = load("package-published.json")
    [registry_package] = load("registry_package-published.json")
    assert package.id == registry_package.id
    assert package == registry_package


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "sha256=" + "0" * 64,
        sign(b"something else"),
        sign(b"", secret=b"wrong"),
        "sha1=72f96992842003142b779614ab606f678d88409f",
        "sha256=ü",
    ],
)
def test_missing_or_wrong_signature_is_401(load_delivery, signature):
    delivery = load_delivery("ghcr", "github/package-published.json")
    headers = dict(delivery.headers)
    headers.pop("x-hub-signature-256")
    if signature is not None:
        headers["x-hub-signature-256"] = signature
    with pytest.raises(BadSignature):
        verify_github_signature(delivery.body, headers.get("x-hub-signature-256"), SECRET)


def test_the_sample_signature_verifies(load_delivery):
    delivery = load_delivery("ghcr", "github/package-published.json")
    verify_github_signature(delivery.body, delivery.headers["x-hub-signature-256"], SECRET)


def test_tampered_body_is_401(load_delivery):
    delivery = load_delivery("ghcr", "github/package-published.json")
    body = delivery.body.replace(b"maria-okafor", b"mallory-evil1")
    with pytest.raises(BadSignature):
        verify_github_signature(body, delivery.headers["x-hub-signature-256"], SECRET)


def test_the_adapter_reads_unsigned_deliveries(load_delivery):
    delivery = load_delivery("ghcr", "github/package-published.json")
    headers = {k: v for k, v in delivery.headers.items() if not k.startswith("x-hub-")}
    [event] = normalize(_replace(delivery, headers=headers), NO_SECRET)
    assert event.digest == D1


def test_form_encoded_payload(sample_json, samples, make_delivery):
    raw = (samples / "github" / "package-published.json").read_text()
    body = urlencode({"payload": raw}).encode()
    headers = {"X-GitHub-Event": "package", "X-Hub-Signature-256": sign(body)}
    delivery = make_delivery(
        "ghcr", body, content_type="application/x-www-form-urlencoded", headers=headers
    )
    [event] = normalize(delivery, WITH_SECRET)
    assert event.id == "ghcr-version-401239871"
    assert event.digest == D1


def test_form_without_payload_is_422(make_delivery):
    delivery = make_delivery(
        "ghcr", b"foo=bar", content_type="application/x-www-form-urlencoded",
        headers={"X-GitHub-Event": "package"},
    )  # fmt: skip
    with pytest.raises(InvalidPayload):
        normalize(delivery, NO_SECRET)


def test_ping_is_a_notice(make_delivery):
    body = {"zen": "Keep it logically awesome.", "hook_id": 512337801, "hook": {}}
    headers = {"X-GitHub-Event": "ping", "X-GitHub-Delivery": "abc-123"}
    [event] = normalize(make_delivery("ghcr", body, headers=headers), NO_SECRET)
    assert event.type == EventType.REGISTRY_NOTICE
    assert event.id == "ghcr-ping-abc-123"
    assert event.attributes["hook_id"] == 512337801


def test_other_github_events_are_422(sample_json, make_delivery):
    body = sample_json("github/package-published.json")
    with pytest.raises(InvalidPayload):
        normalize(make_delivery("ghcr", body, headers={"X-GitHub-Event": "push"}), NO_SECRET)


def test_event_name_is_inferred_without_the_header(sample_json, make_delivery):
    body = sample_json("github/registry_package-published.json")
    [event] = normalize(make_delivery("ghcr", body), NO_SECRET)
    assert event.id == "ghcr-version-401239871"


def test_non_container_packages_are_notices(sample_json, make_delivery):
    body = sample_json("github/package-published.json")
    body["package"]["package_type"] = "npm"
    body["package"]["ecosystem"] = "npm"
    body["package"]["registry"]["type"] = "npm"
    body["package"]["package_version"]["version"] = "1.4.2"
    [event] = normalize(
        make_delivery("ghcr", body, headers={"X-GitHub-Event": "package"}), NO_SECRET
    )
    assert event.type == EventType.REGISTRY_NOTICE
    assert event.attributes["package_type"] == "npm"
    del body["package"]["registry"]  # then package_type decides
    [event] = normalize(
        make_delivery("ghcr", body, headers={"X-GitHub-Event": "package"}), NO_SECRET
    )
    assert event.type == EventType.REGISTRY_NOTICE


def test_untagged_push_and_repository_without_package_url(sample_json, make_delivery):
    body = sample_json("github/package-published.json")
    version = body["package"]["package_version"]
    version["container_metadata"]["tag"]["name"] = ""
    del version["package_url"]
    body["package"]["name"] = "Payments-API"
    [event] = normalize(
        make_delivery("ghcr", body, headers={"X-GitHub-Event": "package"}), NO_SECRET
    )
    assert event.tag is None
    assert event.repository == "ghcr.io/acme/payments-api"


def test_no_digest_anywhere_is_422(sample_json, make_delivery):
    body = sample_json("github/package-published.json")
    version = body["package"]["package_version"]
    version["version"] = version["name"] = "latest"
    del version["container_metadata"]
    with pytest.raises(InvalidPayload):
        normalize(make_delivery("ghcr", body, headers={"X-GitHub-Event": "package"}), NO_SECRET)


@pytest.mark.parametrize("content_type", ["text/plain", "application/cloudevents+json"])
def test_other_content_types_are_415(load_delivery, content_type):
    delivery = load_delivery("ghcr", "github/package-published.json")
    with pytest.raises(UnsupportedMedia):
        normalize(_replace(delivery, content_type=content_type), WITH_SECRET)


def test_unparseable_body(make_delivery):
    with pytest.raises(Unparseable):
        normalize(make_delivery("ghcr", b"{", headers={"X-GitHub-Event": "package"}), NO_SECRET)


def _replace(delivery, **changes):
    from dataclasses import replace

    return replace(delivery, **changes)


# --- properties -------------------------------------------------------------------------

EVENT_NAMES = st.sampled_from(["package", "registry_package", "ping", "", "push"])


# --- GitHub's own examples (octokit/webhooks payload-examples, in GitHub's shape) --------

HELLO = "sha256:3da1996a8115d7616457760d9920b815241d0a03b34cf5f04e9a0e9d8de37498"


def _vendor(load_delivery, name: str, event: str):
    delivery = load_delivery("ghcr", f"vendor/github/{name}")
    headers = {
        **delivery.headers,
        "x-github-event": event,
        "x-hub-signature-256": sign(delivery.body),
    }
    return _replace(delivery, headers=headers)


@pytest.mark.parametrize(
    ("name", "event", "version_id"),
    [
        ("package-published.docker.json", "package", 57755790),
        ("registry_package-published.docker.json", "registry_package", 57755791),
    ],
)
def test_githubs_container_examples_are_container_pushes(load_delivery, name, event, version_id):
    # ecosystem `docker`, package_type `npm` (sic), registry.type CONTAINER: a container push
    [pushed] = normalize(_vendor(load_delivery, name, event), WITH_SECRET)
    assert pushed.type == EventType.ARTIFACT_PUSHED
    assert pushed.id == f"ghcr-version-{version_id}"
    assert pushed.digest == HELLO
    assert pushed.repository == "ghcr.io/codertocat/hello-world"
    assert pushed.tag is None  # container_metadata.tag.name is empty: an untagged push
    assert pushed.actor == "Codertocat"
    assert pushed.commit == "6c62fb45fe66bfb1ea9a66abc38f6a0cc974292b"
    assert pushed.vcs_url == "https://github.com/Codertocat/hello-world"
    # The manifest descriptor's digest is not a sha256 digest: its media type and size are
    # GitHub's word on this version, kept; a descriptor naming another digest would not be.
    assert pushed.media_type == "application/vnd.docker.distribution.manifest.v2+json"
    # package_version's timestamps are Go's zero time; package.updated_at is the real one
    assert pushed.time == datetime(2019, 5, 9, 23, 28, 29, tzinfo=UTC)


def test_zero_timestamps_everywhere_mean_the_receive_time(sample_json, make_delivery):
    body = sample_json("vendor/github/package-published.docker.json")
    for obj in (body["package"], body["package"]["package_version"]):
        obj["created_at"] = obj["updated_at"] = "0001-01-01T00:00:00Z"
    delivery = make_delivery("ghcr", body, headers={"X-GitHub-Event": "package"})
    [pushed] = normalize(delivery, NO_SECRET)
    assert pushed.time == delivery.received_at


def test_tag_of_a_documented_container_push(sample_json, make_delivery):
    body = sample_json("vendor/github/package-published.docker.json")
    body["package"]["package_version"]["container_metadata"]["tag"]["name"] = "nightly"
    [pushed] = normalize(
        make_delivery("ghcr", body, headers={"X-GitHub-Event": "package"}), NO_SECRET
    )
    assert (pushed.repository, pushed.tag, pushed.digest) == (
        "ghcr.io/codertocat/hello-world",
        "nightly",
        HELLO,
    )


def test_a_manifest_descriptor_of_another_digest_is_not_this_versions(sample_json, make_delivery):
    body = sample_json("vendor/github/package-published.docker.json")
    manifest = body["package"]["package_version"]["container_metadata"]["manifest"]
    manifest["digest"] = D2
    [pushed] = normalize(
        make_delivery("ghcr", body, headers={"X-GitHub-Event": "package"}), NO_SECRET
    )
    assert pushed.digest == HELLO
    assert (pushed.media_type, pushed.size) == (None, None)


def test_githubs_npm_example_is_a_notice(load_delivery):
    # The npm example also says ecosystem `docker`; registry.type `npm` is what decides.
    delivery = _vendor(load_delivery, "package-published.npm.json", "package")
    [event] = normalize(delivery, WITH_SECRET)
    assert event.type == EventType.REGISTRY_NOTICE
    assert event.digest is None
    assert event.attributes["package_type"] == "npm"
    assert event.attributes["version"] == "1.0.0"
