"""CDEvents (bare, CloudEvents structured/binary/batch) -> canonical events."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import strategies as st

from provenance.ingest.sources import SourceSecrets
from provenance.ingest.sources.cdevents import image_ref, normalize
from provenance.model.errors import InvalidPayload, Unparseable, UnsupportedMedia
from provenance.model.events import EventType

D1 = "sha256:4ac6f96cde89127c04de259df08450fe1aa0073108b7b3f3471428fb628bcb30"
D2 = "sha256:701a31a46306cfafff7d96547c5f10a0d2d8f0e8c41b0159a94e36b3ab01e558"
D0 = "sha256:1962f15971864fd168f408b5473d4d803ad67fd49776e2cc30ca8fb072b3cd54"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
REPO = "registry.acme.internal:5000/acme/payments-api"
BUILD = "https://github.com/acme/payments-api/actions/runs/13877012345/attempts/1"
SECRETS = SourceSecrets()

# sample -> (type, digest, tag, actor)
SAMPLES = {
    "artifact-published.json": (EventType.ARTIFACT_PUSHED, D1, "v1.4.2", "ci-payments-api"),
    "artifact-downloaded.json": (EventType.ARTIFACT_PULLED, D1, None, "svc-k8s-prod-pull"),
    "artifact-deleted.json": (EventType.ARTIFACT_DELETED, D1, None, "ops-gc-bot"),
    "artifact-signed.json": (EventType.ARTIFACT_SIGNED, D1, None, None),
    "artifact-packaged.json": (EventType.REGISTRY_NOTICE, D1, "v1.4.2", None),
    "build-queued.json": (EventType.BUILD_QUEUED, None, None, None),
    "build-started.json": (EventType.BUILD_STARTED, None, None, None),
    "build-finished.json": (EventType.BUILD_FINISHED, D1, "v1.4.2", None),
    "change-merged.json": (EventType.REGISTRY_NOTICE, None, None, None),
    "service-deployed.json": (EventType.DEPLOYMENT_APPLIED, D1, "v1.4.2", None),
    "service-upgraded.json": (EventType.DEPLOYMENT_APPLIED, D2, "v1.4.2", None),
    "service-rolledback.json": (EventType.DEPLOYMENT_APPLIED, D0, "v1.4.1", None),
    "service-removed.json": (EventType.DEPLOYMENT_REMOVED, None, None, None),
    "environment-created.json": (EventType.ENVIRONMENT_CREATED, None, None, None),
    "environment-deleted.json": (EventType.ENVIRONMENT_DELETED, None, None, None),
}
CLOUDEVENTS = [
    "binary-build-finished.body.json",
    "structured-artifact-published.json",
    "structured-service-deployed.json",
]


@pytest.fixture
def load(load_delivery):
    def run(relative: str, **kwargs):
        return normalize(load_delivery("cdevents", relative, **kwargs), SECRETS)

    return run


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_cdevents_samples(load, sample_json, name):
    etype, digest, tag, actor = SAMPLES[name]
    [event] = load(f"cdevents/{name}")
    context = sample_json(f"cdevents/{name}")["context"]
    assert event.type == etype
    assert event.source == "cdevents"
    assert event.id == context["id"]
    assert event.digest == digest
    assert event.tag == tag
    assert event.actor == actor
    if digest is not None:
        assert event.repository == REPO
    assert event.attributes["cdevent_type"] == context["type"]


def test_every_sample_is_covered(samples):
    assert {p.name for p in (samples / "cdevents").glob("*.json")} == set(SAMPLES)
    on_disk = {p.name for p in (samples / "cloudevents").glob("*.json")}
    assert {n for n in on_disk if not n.endswith(".headers.json")} == set(CLOUDEVENTS)


def test_build_events_name_the_build(load):
    for name in ("build-queued.json", "build-started.json", "build-finished.json"):
        [event] = load(f"cdevents/{name}")
        assert event.build == BUILD
    [finished] = load("cdevents/build-finished.json")
    assert finished.time == datetime(2026, 3, 9, 14, 7, 52, tzinfo=UTC)


def test_service_deployed_uses_custom_data(load):
    [event] = load("cdevents/service-deployed.json")
    assert event.environment == "prod-eu-west-1"
    assert event.cluster == "prod-eu-west-1"
    assert event.namespace == "payments-prod"
    assert event.workload == "deployment/payments-api"
    assert event.time == datetime(2026, 3, 10, 9, 16, 30, 512000, tzinfo=UTC)
    # Argo CD's syncRevision is a GitOps revision, not a claim about the image
    assert event.commit is None
    assert event.attributes["custom_data"]["syncRevision"].startswith("1f3c0b9")


def test_workload_derived_from_the_service_name(load):
    [upgraded] = load("cdevents/service-upgraded.json")
    assert upgraded.workload == "deployment/payments-api"
    assert upgraded.environment == "prod-eu-west-1"
    assert upgraded.namespace is None
    [removed] = load("cdevents/service-removed.json")
    assert removed.workload == "deployment/payments-api"
    assert removed.environment == "preview-418"


def test_signed_keeps_the_signature(load):
    [event] = load("cdevents/artifact-signed.json")
    assert event.attributes["signature"].startswith("MEUCIQC78KFJ")
    assert event.attributes["custom_data"]["signatureManifestDigest"].startswith("sha256:3a65")


def test_packaged_without_a_build_is_a_notice_linking_the_change(load):
    [event] = load("cdevents/artifact-packaged.json")
    assert event.type == EventType.REGISTRY_NOTICE
    assert event.vcs_url == "https://github.com/acme/payments-api"
    assert event.attributes["change"] == "pull/418"


def test_packaged_with_a_build_is_build_finished(sample_json, make_delivery):
    body = sample_json("cdevents/artifact-packaged.json")
    body["customData"] = {"buildUrl": BUILD, "commit": "1F3C0B99EE32FA789A58807755933C2F994A2ACD"}
    [event] = normalize(make_delivery("cdevents", body), SECRETS)
    assert event.type == EventType.BUILD_FINISHED
    assert event.build == BUILD
    assert event.digest == D1
    assert event.commit == "1f3c0b99ee32fa789a58807755933c2f994a2acd"


def test_change_merged_without_commit_is_a_notice(load):
    [event] = load("cdevents/change-merged.json")
    assert event.type == EventType.REGISTRY_NOTICE
    assert event.vcs_url == "https://github.com/acme/payments-api"
    assert event.attributes["change"] == "pull/418"


def test_change_merged_with_commit(sample_json, make_delivery):
    body = sample_json("cdevents/change-merged.json")
    body["customData"] = {"mergeCommitSha": "1f3c0b99ee32fa789a58807755933c2f994a2acd"}
    [event] = normalize(make_delivery("cdevents", body), SECRETS)
    assert event.type == EventType.CHANGE_MERGED
    assert event.commit == "1f3c0b99ee32fa789a58807755933c2f994a2acd"
    assert event.vcs_url == "https://github.com/acme/payments-api"
    assert event.time == datetime(2026, 3, 9, 14, 2, 11, tzinfo=UTC)


def test_environment_events(load):
    [created] = load("cdevents/environment-created.json")
    assert created.environment == "preview-418"
    assert created.attributes["uri"] == "https://preview-418.payments.acme.dev"


# --- CloudEvents bindings ---------------------------------------------------------------


def test_structured_mode_equals_the_bare_cdevent(load, load_delivery):
    delivery = load_delivery("cdevents", "cloudevents/structured-artifact-published.json")
    assert delivery.content_type == STRUCTURED  # from the headers file
    [structured] = normalize(delivery, SECRETS)
    [bare] = load("cdevents/artifact-published.json")
    assert structured == bare


def test_structured_service_deployed(load):
    [structured] = load("cloudevents/structured-service-deployed.json", content_type=STRUCTURED)
    [bare] = load("cdevents/service-deployed.json")
    assert structured == bare


def test_binary_mode(load_delivery, load):
    delivery = load_delivery("cdevents", "cloudevents/binary-build-finished.body.json")
    assert delivery.headers["ce-type"] == "dev.cdevents.build.finished.0.3.0"
    assert delivery.content_type == "application/json"
    [binary] = normalize(delivery, SECRETS)
    [bare] = load("cdevents/build-finished.json")
    assert binary == bare
    assert binary.build == BUILD
    assert binary.digest == D1


def test_batch_mode(sample_json, make_delivery):
    batch = [
        sample_json("cloudevents/structured-artifact-published.json"),
        sample_json("cloudevents/structured-service-deployed.json"),
    ]
    events = normalize(make_delivery("cdevents", batch, content_type=BATCH), SECRETS)
    assert [e.type for e in events] == [EventType.ARTIFACT_PUSHED, EventType.DEPLOYMENT_APPLIED]
    assert normalize(make_delivery("cdevents", [], content_type=BATCH), SECRETS) == []
    with pytest.raises(InvalidPayload):
        normalize(make_delivery("cdevents", batch[0], content_type=BATCH), SECRETS)


def test_data_base64(sample_json, make_delivery):
    envelope = sample_json("cloudevents/structured-artifact-published.json")
    data = envelope.pop("data")
    envelope["data_base64"] = base64.b64encode(json.dumps(data).encode()).decode()
    [event] = normalize(make_delivery("cdevents", envelope, content_type=STRUCTURED), SECRETS)
    assert event.digest == D1


def test_v04_context_version_is_tolerated(sample_json, make_delivery):
    body = sample_json("cdevents/artifact-published.json")
    body["context"]["version"] = body["context"].pop("specversion").replace("0.5.1", "0.4.1")
    body["subject"]["type"] = "artifact"
    [event] = normalize(make_delivery("cdevents", body), SECRETS)
    assert event.type == EventType.ARTIFACT_PUSHED
    assert event.attributes["spec_version"] == "0.4.1"


def test_other_cdevents_are_notices(sample_json, make_delivery):
    body = sample_json("cdevents/build-started.json")
    body["context"]["type"] = "dev.cdevents.pipelinerun.started.0.2.0"
    [event] = normalize(make_delivery("cdevents", body), SECRETS)
    assert event.type == EventType.REGISTRY_NOTICE


def test_non_oci_artifacts_are_notices(sample_json, make_delivery):
    body = sample_json("cdevents/artifact-published.json")
    body["subject"]["id"] = "pkg:npm/%40acme/payments-sdk@1.4.2"
    [event] = normalize(make_delivery("cdevents", body), SECRETS)
    assert event.type == EventType.REGISTRY_NOTICE
    assert event.digest is None


def test_bad_purl_digest_is_422(sample_json, make_delivery):
    body = sample_json("cdevents/artifact-published.json")
    body["subject"]["id"] = "pkg:oci/payments-api@sha256%3Adeadbeef"
    with pytest.raises(InvalidPayload):
        normalize(make_delivery("cdevents", body), SECRETS)


@pytest.mark.parametrize(
    ("purl", "digest", "repository", "tag"),
    [
        (
            f"pkg:oci/payments-api@{D1.replace(':', '%3A')}"
            "?repository_url=registry.acme.internal%3A5000/acme/payments-api&tag=v1.4.2",
            D1, REPO, "v1.4.2",
        ),
        # oci purls are registry-agnostic (purl spec): no repository_url, no repository
        (f"pkg:oci/payments-api@{D1.replace(':', '%3A')}", D1, None, None),
        (f"pkg:oci/payments-api@{D1.replace(':', '%3A')}?tag=v1", D1, None, "v1"),
        (f"pkg:oci/api@{D1}?repository_url=https://ghcr.io/acme/api/", D1, "ghcr.io/acme/api",
         None),
        (f"pkg:docker/nginx@{D1.replace(':', '%3A')}", D1, "docker.io/library/nginx", None),
        ("pkg:docker/acme/api@v1?repository_url=gcr.io", None, "gcr.io/acme/api", "v1"),
        # docker purls: docker.io by default, unless the namespace starts with a registry
        ("pkg:docker/cassandra@latest", None, "docker.io/library/cassandra", "latest"),
        (f"pkg:docker/smartentry/debian@{D1}", D1, "docker.io/smartentry/debian", None),
        (f"pkg:docker/ghcr.io/acme/api@{D1}", D1, "ghcr.io/acme/api", None),
        (f"pkg:docker/registry.acme.internal%3A5000/acme/api@{D1}", D1,
         "registry.acme.internal:5000/acme/api", None),
        (f"pkg:docker/localhost/api@{D1}", D1, "localhost/api", None),
        ("pkg:npm/left-pad@1.3.0", None, None, None),
        ("https://example.com/x", None, None, None),
        ("pkg:oci", None, None, None),
    ],
)  # fmt: skip
def test_image_ref(purl, digest, repository, tag):
    ref = image_ref(purl)
    assert (ref.digest, ref.repository, ref.tag) == (digest, repository, tag)


@pytest.mark.parametrize(
    ("custom", "subject_id", "workload"),
    [
        ({}, "payments-api", "deployment/payments-api"),
        ({}, "Payments-API", "deployment/payments-api"),
        ({}, "statefulset/db", "statefulset/db"),
        ({}, "argocd/apps/payments-api", "deployment/payments-api"),
        ({"workload": "StatefulSet/Ledger"}, "payments-api", "statefulset/ledger"),
        ({"workload": "ledger"}, "payments-api", "deployment/ledger"),
    ],
)
def test_workload_naming(sample_json, make_delivery, custom, subject_id, workload):
    body = sample_json("cdevents/service-upgraded.json")
    body["subject"]["id"] = subject_id
    body["customData"] = custom
    [event] = normalize(make_delivery("cdevents", body), SECRETS)
    assert event.workload == workload


def test_deployment_digest_from_custom_image(sample_json, make_delivery):
    body = sample_json("cdevents/service-deployed.json")
    body["subject"]["content"]["artifactId"] = "pkg:generic/payments-api"
    [event] = normalize(make_delivery("cdevents", body), SECRETS)
    assert event.type == EventType.DEPLOYMENT_APPLIED
    assert event.digest == D1
    del body["customData"]
    [event] = normalize(make_delivery("cdevents", body), SECRETS)
    assert event.type == EventType.REGISTRY_NOTICE


def test_published_by_tag_only(sample_json, make_delivery):
    body = sample_json("cdevents/artifact-published.json")
    body["subject"]["id"] = "pkg:oci/payments-api?repository_url=ghcr.io/acme/payments-api&tag=v2"
    [event] = normalize(make_delivery("cdevents", body), SECRETS)
    assert event.type == EventType.ARTIFACT_PUSHED
    assert (event.digest, event.repository, event.tag) == (None, "ghcr.io/acme/payments-api", "v2")
    body = sample_json("cdevents/artifact-downloaded.json")
    body["subject"]["id"] = "pkg:oci/payments-api?repository_url=ghcr.io/acme/payments-api&tag=v2"
    [event] = normalize(make_delivery("cdevents", body), SECRETS)
    assert event.type == EventType.REGISTRY_NOTICE  # a pull needs the digest


def test_deployment_by_tag_only(sample_json, make_delivery):
    body = sample_json("cdevents/service-upgraded.json")
    body["subject"]["content"]["artifactId"] = (
        "pkg:oci/payments-api?repository_url=registry.acme.internal%3A5000/acme/payments-api"
        "&tag=v1.4.2"
    )
    [event] = normalize(make_delivery("cdevents", body), SECRETS)
    assert event.type == EventType.DEPLOYMENT_APPLIED
    assert (event.digest, event.repository, event.tag) == (None, REPO, "v1.4.2")
    # a digest in customData `image` beats a tag-only purl
    body["customData"] = {"image": f"{REPO}:v1.4.2@{D2}"}
    [event] = normalize(make_delivery("cdevents", body), SECRETS)
    assert event.digest == D2


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (b"nope", "application/json", Unparseable),
        (b'{"hello": "world"}', "application/json", InvalidPayload),
        (b'{"specversion": "1.0", "id": "1", "type": "x", "data": {"a": 1}}', STRUCTURED,
         InvalidPayload),
        (b'{"specversion": "1.0", "id": "1", "type": "x"}', STRUCTURED, InvalidPayload),
        (b'{"context": {"type": "com.example.x", "id": "1", "timestamp": "2026-01-01T00:00:00Z"},'
         b' "subject": {"id": "x", "content": {}}}', "application/json", InvalidPayload),
        (b"{}", "text/plain", UnsupportedMedia),
        (b"{}", "application/xml", UnsupportedMedia),
    ],
)  # fmt: skip
def test_rejections(make_delivery, body, content_type, error):
    with pytest.raises(error):
        normalize(make_delivery("cdevents", body, content_type=content_type), SECRETS)


# --- properties -------------------------------------------------------------------------

ALL = [f"cdevents/{name}" for name in sorted(SAMPLES)] + [f"cloudevents/{n}" for n in CLOUDEVENTS]
CONTENT_TYPES = st.sampled_from(["application/json", STRUCTURED, BATCH])


# --- CDEvents' own conformance examples ---------------------------------------------------

MYAPP = "sha256:0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427"


def test_conformance_deployment_of_a_registry_agnostic_purl(load_delivery):
    # `pkg:oci/myapp@sha256:...` names content, not a place: the deployment runs the digest,
    # and no host-less repository `myapp` is made up.
    delivery = load_delivery("cdevents", "vendor/cdevents/service-deployed.conformance.json")
    [event] = normalize(delivery, SECRETS)
    assert event.type == EventType.DEPLOYMENT_APPLIED
    assert event.digest == MYAPP
    assert event.repository is None
    assert event.environment == "test123"


def test_docker_purl_without_repository_url_is_on_docker_hub(load_delivery):
    delivery = load_delivery("cdevents", "vendor/cdevents/artifact-published.docker-purl.json")
    [event] = normalize(delivery, SECRETS)
    assert event.type == EventType.ARTIFACT_PUSHED
    assert (event.digest, event.repository, event.tag) == (
        MYAPP,
        "docker.io/smartentry/debian",
        "latest",
    )
