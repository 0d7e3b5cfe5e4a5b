"""Kubernetes audit events (Event, EventList, NDJSON) -> deployment events."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance.ingest.sources import SourceSecrets
from provenance.ingest.sources import normalize as dispatch
from provenance.ingest.sources.k8s_audit import ImageReference, normalize, parse_image_reference
from provenance.model.errors import InvalidPayload, Unparseable, UnsupportedMedia
from provenance.model.events import EventType

D1 = "sha256:4ac6f96cde89127c04de259df08450fe1aa0073108b7b3f3471428fb628bcb30"
D2 = "sha256:701a31a46306cfafff7d96547c5f10a0d2d8f0e8c41b0159a94e36b3ab01e558"
REPO = "registry.acme.internal:5000/acme/payments-api"
IMAGE = f"{REPO}:v1.4.2@{D1}"
CREATE = "kubernetes/audit-event-deployment-create.json"
PATCH = "kubernetes/audit-event-deployment-patch.json"
EVENTLIST = "kubernetes/audit-webhook-eventlist.json"
ALL_SAMPLES = [CREATE, PATCH, EVENTLIST]
SECRETS = SourceSecrets()
CLUSTER = {"cluster": "eu-1"}


@pytest.fixture
def load(load_delivery):
    def run(relative: str, params=CLUSTER, **kwargs):
        return normalize(load_delivery("k8s-audit", relative, params=params, **kwargs), SECRETS)

    return run


def _run(make_delivery, body, params=CLUSTER, **kwargs):
    return normalize(make_delivery("k8s-audit", body, params=params, **kwargs), SECRETS)


def _create(sample_json, image=IMAGE, **changes):
    """The create sample with its (only) container's image replaced."""
    body = sample_json(CREATE)
    for key in ("requestObject", "responseObject"):
        body[key]["spec"]["template"]["spec"]["containers"][0]["image"] = image
    body.update(changes)
    return body


def _pod_spec(*images: str, init: tuple[str, ...] = ()) -> dict:
    return {
        "containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)],
        "initContainers": [{"name": f"init{i}", "image": image} for i, image in enumerate(init)],
    }


def _audit(resource, name, obj, *, verb="create", namespace="payments-staging", **extra):
    return {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "auditID": f"audit-{resource}-{verb}",
        "stage": "ResponseComplete",
        "requestURI": f"/apis/x/v1/namespaces/{namespace}/{resource}",
        "verb": verb,
        "user": {"username": "alice@acme.io"},
        "sourceIPs": ["203.0.113.9", "10.0.0.4"],
        "userAgent": "kubectl/v1.33.2",
        "objectRef": {"resource": resource, "namespace": namespace, "name": name},
        "responseStatus": {"code": 201 if verb == "create" else 200},
        "requestObject": obj,
        "responseObject": obj,
        "requestReceivedTimestamp": "2026-03-09T15:30:12.204511Z",
        "stageTimestamp": "2026-03-09T15:30:12.231870Z",
        **extra,
    }


# --- the samples ------------------------------------------------------------------------


def test_create_sample(load):
    [event] = load(CREATE)
    assert event.type == EventType.DEPLOYMENT_APPLIED
    assert event.source == "k8s-audit"
    assert event.id == "8bad5645-c13d-4fbb-967d-ec3cefc4d3b1:payments-api"
    assert event.digest == D1
    assert (event.repository, event.tag) == (REPO, "v1.4.2")
    assert event.workload == "deployment/payments-api"
    assert (event.namespace, event.cluster, event.container) == (
        "payments-staging",
        "eu-1",
        "payments-api",
    )
    assert event.actor == "system:serviceaccount:ci:payments-deployer"
    assert event.client == "10.40.12.7"
    assert event.user_agent == "kubectl/v1.33.2 (linux/amd64) kubernetes/a57b6f7"
    assert event.time == datetime(2026, 3, 9, 15, 30, 12, 231870, tzinfo=UTC)
    assert event.attributes["pinned"] is True
    assert event.attributes["image"] == IMAGE
    assert event.attributes["verb"] == "create"


def test_patch_sample_reads_the_response_object(load):
    [event] = load(PATCH)
    assert event.id == "889a0600-c155-479e-ba53-88652308cca5:payments-api"
    assert (event.digest, event.namespace, event.workload) == (
        D1,
        "payments-prod",
        "deployment/payments-api",
    )
    assert event.actor == "system:serviceaccount:argocd:argocd-application-controller"
    assert event.time == datetime(2026, 3, 10, 9, 15, 2, 503914, tzinfo=UTC)
    assert event.attributes["object"] == "responseObject"


def test_eventlist_sample(load):
    # the patch item gives one event; the Metadata-level ReplicaSet item gives none
    [event] = load(EVENTLIST)
    [patch] = load(PATCH)
    assert event == patch  # the same audit record: redelivery dedupes on the id


def test_content_type_of_the_samples(load_delivery):
    assert load_delivery("k8s-audit", CREATE).content_type == "application/json"


def test_dispatch_by_source_name(load_delivery):
    [event] = dispatch(load_delivery("k8s-audit", CREATE, params=CLUSTER))
    assert event.cluster == "eu-1"


# --- clusters and environments ----------------------------------------------------------


def test_cluster_comes_from_the_url_parameter(load):
    [event] = load(CREATE, params={})
    assert event.cluster is None
    [event] = load(CREATE, params={"cluster": " us-2 "})
    assert event.cluster == "us-2"
    with pytest.raises(InvalidPayload):
        load(CREATE, params={"cluster": "eu-1/payments"})


def test_environments_name_the_environment_and_the_namespace_entry_wins(load_delivery):
    secrets = SourceSecrets(environments={"eu-1": "production", "eu-1/payments-staging": "staging"})
    [staging] = dispatch(load_delivery("k8s-audit", CREATE, params=CLUSTER), secrets)
    [prod] = dispatch(load_delivery("k8s-audit", PATCH, params=CLUSTER), secrets)
    assert staging.environment == "staging"  # eu-1/payments-staging
    assert prod.environment == "production"  # eu-1 (no entry for payments-prod)
    [other] = dispatch(load_delivery("k8s-audit", PATCH, params={"cluster": "us-2"}), secrets)
    assert other.environment is None


# --- images ------------------------------------------------------------------------------


def test_image_by_tag_is_unpinned(sample_json, make_delivery):
    [event] = _run(make_delivery, _create(sample_json, f"{REPO}:v1.4.2"))
    assert (event.repository, event.tag, event.digest) == (REPO, "v1.4.2", None)
    assert event.attributes["pinned"] is False
    assert event.attributes["image"] == f"{REPO}:v1.4.2"


def test_image_by_digest_is_pinned(sample_json, make_delivery):
    [event] = _run(make_delivery, _create(sample_json, f"{REPO}@{D2}"))
    assert (event.repository, event.tag, event.digest) == (REPO, None, D2)
    assert event.attributes["pinned"] is True


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("nginx", ImageReference("docker.io/library/nginx", "latest", None, tag_implied=True)),
        ("nginx:1.27", ImageReference("docker.io/library/nginx", "1.27", None)),
        ("acme/x", ImageReference("docker.io/acme/x", "latest", None, tag_implied=True)),
        ("acme/x:v1", ImageReference("docker.io/acme/x", "v1", None)),
        (f"nginx@{D1}", ImageReference("docker.io/library/nginx", None, D1)),
        (f"nginx:1.27@{D1}", ImageReference("docker.io/library/nginx", "1.27", D1)),
        ("docker.io/nginx:1", ImageReference("docker.io/library/nginx", "1", None)),
        ("index.docker.io/acme/x:1", ImageReference("docker.io/acme/x", "1", None)),
        ("host:5000/x:tag", ImageReference("host:5000/x", "tag", None)),
        ("host:5000/x", ImageReference("host:5000/x", "latest", None, tag_implied=True)),
        (f"host:5000/a/b@{D2}", ImageReference("host:5000/a/b", None, D2)),
        ("localhost/x:dev", ImageReference("localhost/x", "dev", None)),
        ("Registry.Acme.IO/team/app:v2", ImageReference("registry.acme.io/team/app", "v2", None)),
        (
            "europe-west4-docker.pkg.dev/p/r/acme/payments-api:v1.4.2",
            ImageReference("europe-west4-docker.pkg.dev/p/r/acme/payments-api", "v1.4.2", None),
        ),
        (IMAGE, ImageReference(REPO, "v1.4.2", D1)),
    ],
)
def test_parse_image_reference(image, expected):
    assert parse_image_reference(image) == expected


@pytest.mark.parametrize(
    "image", ["", "  ", "nginx@sha256:abc", "nginx@md5:00", "a b", "nginx:", "host:5000//x", "/x"]
)
def test_bad_image_references_are_422(image):
    with pytest.raises(InvalidPayload):
        parse_image_reference(image)


def test_bad_digest_in_a_workload_is_422(sample_json, make_delivery):
    with pytest.raises(InvalidPayload, match="digest"):
        _run(make_delivery, _create(sample_json, f"{REPO}@sha256:1234"))


# --- verbs and resources -----------------------------------------------------------------


def test_patch_without_response_object_reads_the_patch(sample_json, make_delivery):
    body = sample_json(PATCH)
    del body["responseObject"]
    body["level"] = "Request"
    [event] = _run(make_delivery, body)
    assert event.digest == D1
    assert event.attributes["object"] == "requestObject"


def test_patch_that_does_not_name_an_image_yields_nothing(sample_json, make_delivery):
    body = sample_json(PATCH)
    del body["responseObject"]
    body["requestObject"] = {"spec": {"replicas": 6}}
    assert _run(make_delivery, body) == []
    body["requestObject"] = [{"op": "replace", "path": "/spec/replicas", "value": 6}]  # JSON patch
    assert _run(make_delivery, body) == []


def test_patch_response_wins_over_the_request(sample_json, make_delivery):
    body = sample_json(PATCH)
    containers = body["responseObject"]["spec"]["template"]["spec"]["containers"]
    containers[0]["image"] = f"{REPO}:v1.4.3@{D2}"
    [event] = _run(make_delivery, body)
    assert (event.digest, event.tag) == (D2, "v1.4.3")


def test_delete_is_a_removal(make_delivery):
    body = _audit("deployments", "payments-api", None, verb="delete")
    body["responseObject"] = {"kind": "Status", "status": "Success"}
    [event] = _run(make_delivery, body)
    assert event.type == EventType.DEPLOYMENT_REMOVED
    assert (event.workload, event.namespace, event.cluster) == (
        "deployment/payments-api",
        "payments-staging",
        "eu-1",
    )
    assert event.container is None
    assert event.id == "audit-deployments-delete"


def test_delete_at_metadata_level_is_still_a_removal(make_delivery):
    body = _audit("statefulsets", "db", None, verb="delete", level="Metadata")
    del body["requestObject"], body["responseObject"]
    [event] = _run(make_delivery, body)
    assert (event.type, event.workload) == (EventType.DEPLOYMENT_REMOVED, "statefulset/db")


def test_pod_with_init_containers(make_delivery):
    pod = {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": "payments-api-6d9c7b5f48-x2x9q",
            "ownerReferences": [
                {"kind": "ReplicaSet", "name": "payments-api-6d9c7b5f48", "controller": True}
            ],
        },
        "spec": _pod_spec(f"{REPO}@{D1}", "busybox:1.36", init=("alpine",)),
        "status": {},
    }
    body = _audit("pods", "", pod)  # a create by generateName: objectRef names no pod
    events = _run(make_delivery, body)
    assert [e.container for e in events] == ["c0", "c1", "init0"]
    assert {e.workload for e in events} == {"pod/payments-api-6d9c7b5f48-x2x9q"}
    assert [e.id for e in events] == [f"audit-pods-create:{c}" for c in ("c0", "c1", "init0")]
    assert events[1].repository == "docker.io/library/busybox"
    assert events[2].attributes["init_container"] is True
    assert events[2].attributes["tag_implied"] is True
    assert events[0].attributes["owner"] == "replicaset/payments-api-6d9c7b5f48"
    assert events[0].client == "10.0.0.4"  # the last source IP


def test_cronjob_reads_the_job_template(make_delivery):
    cronjob = {
        "kind": "CronJob",
        "metadata": {"name": "Nightly-Report"},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {"spec": {"template": {"spec": _pod_spec(f"acme/report:v2@{D2}")}}},
        },
    }
    [event] = _run(make_delivery, _audit("cronjobs", "Nightly-Report", cronjob, verb="update"))
    assert event.workload == "cronjob/nightly-report"
    assert (event.repository, event.tag, event.digest) == ("docker.io/acme/report", "v2", D2)


@pytest.mark.parametrize(
    ("resource", "kind"),
    [("statefulsets", "statefulset"), ("daemonsets", "daemonset"), ("jobs", "job")],
)
def test_other_workloads(make_delivery, resource, kind):
    obj = {"spec": {"template": {"spec": _pod_spec("nginx:1.27")}}}
    [event] = _run(make_delivery, _audit(resource, "w", obj))
    assert event.workload == f"{kind}/w"


def test_revision_annotations_claim_a_commit(sample_json, make_delivery):
    body = sample_json(CREATE)
    body["responseObject"]["spec"]["template"]["metadata"]["annotations"] = {
        "org.opencontainers.image.revision": "1f3c0b99ee32fa789a58807755933c2f994a2acd",
        "org.opencontainers.image.source": "https://github.com/acme/payments-api",
    }
    [event] = _run(make_delivery, body)
    assert event.commit == "1f3c0b99ee32fa789a58807755933c2f994a2acd"
    assert event.vcs_url == "https://github.com/acme/payments-api"


def test_impersonation_is_kept(sample_json, make_delivery):
    body = sample_json(CREATE)
    body["impersonatedUser"] = {"username": "bob"}
    [event] = _run(make_delivery, body)
    assert event.actor == "system:serviceaccount:ci:payments-deployer"
    assert event.attributes["impersonated_user"] == "bob"


def test_time_falls_back_to_request_received(sample_json, make_delivery):
    body = sample_json(CREATE)
    del body["stageTimestamp"]
    [event] = _run(make_delivery, body)
    assert event.time == datetime(2026, 3, 9, 15, 30, 12, 204511, tzinfo=UTC)


# --- what yields nothing ----------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"stage": "RequestReceived"},
        {"stage": "ResponseStarted"},
        {"stage": "Panic"},
        {"responseStatus": {"code": 409, "reason": "AlreadyExists"}},
        {"responseStatus": {"code": 403}},
        {"responseStatus": None},
        {"verb": "get"},
        {"verb": "watch"},
        {"verb": "deletecollection"},
        {"objectRef": {"resource": "configmaps", "namespace": "x", "name": "y"}},
        {"objectRef": {"resource": "deployments", "subresource": "scale", "name": "payments-api"}},
        {"requestURI": "/apis/apps/v1/namespaces/x/deployments?dryRun=All"},
        {"level": "Metadata", "requestObject": None, "responseObject": None},
    ],
)
def test_items_that_yield_nothing(sample_json, make_delivery, change):
    body = {**sample_json(CREATE), **change}
    assert _run(make_delivery, body) == []


def test_skipped_items_need_no_valid_timestamps(sample_json, make_delivery):
    body = {**sample_json(CREATE), "stage": "RequestReceived", "stageTimestamp": "soon"}
    assert _run(make_delivery, body) == []


def test_empty_eventlist(make_delivery):
    body = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": []}
    assert _run(make_delivery, body) == []


# --- framings ---------------------------------------------------------------------------


def test_eventlist_returns_every_items_events(sample_json, make_delivery):
    create = sample_json(CREATE)
    patch = sample_json(PATCH)
    delete = _audit("deployments", "old-api", None, verb="delete")
    body = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [create, patch, delete]}
    events = _run(make_delivery, body)
    assert [e.type for e in events] == [
        EventType.DEPLOYMENT_APPLIED,
        EventType.DEPLOYMENT_APPLIED,
        EventType.DEPLOYMENT_REMOVED,
    ]
    bad = copy.deepcopy(body)
    bad["items"][1]["auditID"] = None
    with pytest.raises(InvalidPayload, match=r"items\[1\]"):
        _run(make_delivery, bad)


def test_ndjson_log_lines(sample_json, make_delivery):
    lines = [json.dumps(sample_json(CREATE)), "", json.dumps(sample_json(PATCH))]
    body = ("\n".join(lines) + "\n").encode()
    events = _run(make_delivery, body, content_type="application/x-ndjson")
    assert [e.namespace for e in events] == ["payments-staging", "payments-prod"]


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"},
        {"kind": "Event", "apiVersion": "v1"},  # a core Event, not an audit event
        {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": {}},
        {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [1]},
        {"apiVersion": "audit.k8s.io/v1"},
        [],
    ],
)
def test_non_audit_json_is_422(make_delivery, body):
    with pytest.raises(InvalidPayload):
        _run(make_delivery, body)


def test_admission_review_sample_is_422(load):
    with pytest.raises(InvalidPayload):
        load("kubernetes/validating-admissionreview-request.json")


@pytest.mark.parametrize(
    "change",
    [
        {"auditID": None},
        {"stageTimestamp": "later", "requestReceivedTimestamp": None},
        {"stageTimestamp": None, "requestReceivedTimestamp": None},
        {"responseStatus": {"code": "201"}},
        {"objectRef": "deployments"},
        {"user": "alice"},
    ],
)
def test_bad_fields_are_422(sample_json, make_delivery, change):
    body = {**sample_json(CREATE), **change}
    with pytest.raises(InvalidPayload):
        _run(make_delivery, body)


def test_bad_containers_are_422(sample_json, make_delivery):
    body = sample_json(CREATE)
    body["responseObject"]["spec"]["template"]["spec"]["containers"] = ["nginx"]
    with pytest.raises(InvalidPayload):
        _run(make_delivery, body)
    body["responseObject"]["spec"]["template"]["spec"]["containers"] = [{"image": "nginx"}]
    with pytest.raises(InvalidPayload):
        _run(make_delivery, body)


@pytest.mark.parametrize(("body", "error"), [(b"{", Unparseable), (b"null", InvalidPayload)])
def test_rejections(make_delivery, body, error):
    with pytest.raises(error):
        _run(make_delivery, body)


def test_other_content_types_are_415(sample_json, make_delivery):
    with pytest.raises(UnsupportedMedia):
        _run(make_delivery, sample_json(CREATE), content_type="application/yaml")


# --- properties -------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(image=st.text(max_size=40) | st.sampled_from(["nginx", IMAGE, f"x@{D1}", "h:1/x:y"]))
def test_arbitrary_images_are_parsed_or_rejected(image):
    try:
        ref = parse_image_reference(image)
    except InvalidPayload:
        return
    assert ref.digest or ref.tag
    assert "/" in ref.repository


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_workloads_are_events_or_rejected(data, mutate, make_delivery, check_total):
    resource = data.draw(st.sampled_from(["pods", "cronjobs", "deployments"]))
    spec = _pod_spec("nginx:1.27", f"{REPO}@{D1}", init=("alpine",))
    if resource == "pods":
        obj = {"metadata": {"name": "p"}, "spec": spec}
    elif resource == "cronjobs":
        obj = {"spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}}
    else:
        obj = {"spec": {"template": {"spec": spec}}}
    verb = data.draw(st.sampled_from(["create", "patch", "delete"]))
    doc = mutate(data, _audit(resource, "w", obj, verb=verb))
    check_total(normalize, make_delivery("k8s-audit", doc, params=CLUSTER))
