"""Payloads as their sources send them, through the public routes, to the answers they
must give: an artifact seen only by a pull, a workload running an unpinned image, a GHCR
container push in GitHub's own example shape."""

from __future__ import annotations

import copy

import orjson
from fastapi.testclient import TestClient

from tests.conftest import sample_path
from tests.factories import digest

DIST = "application/vnd.docker.distribution.events.v1+json"
D1 = "sha256:4ac6f96cde89127c04de259df08450fe1aa0073108b7b3f3471428fb628bcb30"
REPO = "registry.acme.internal:5000/acme/payments-api"
NGINX = "docker.io/library/nginx"


def _post(client: TestClient, route: str, body: bytes, ctype: str = "application/json") -> None:
    response = client.post(route, content=body, headers={"content-type": ctype})
    assert response.status_code == 202, response.text


def test_an_artifact_seen_only_by_a_pull_has_its_repository_and_media_type(
    client: TestClient,
) -> None:
    body = sample_path("distribution/pull-manifest-get-by-digest.json").read_bytes()
    _post(client, "/v1/webhooks/distribution", body, DIST)
    view = client.get(f"/v1/artifacts/{D1}").json()
    assert view["repositories"] == [REPO]
    assert view["media_type"] == "application/vnd.oci.image.manifest.v1+json"
    assert view["pulls"]["count"] == 1
    assert view["tags"] == []  # a pull by digest says nothing about tags


def _nginx(audit_id: str, time: str) -> bytes:
    raw = orjson.loads(
        sample_path("vendor/kubernetes/audit-event-deployment-create-nginx.json").read_bytes()
    )
    doc = copy.deepcopy(raw)
    doc["auditID"] = audit_id
    doc["stageTimestamp"] = doc["requestReceivedTimestamp"] = time
    doc["verb"] = "update"
    return orjson.dumps(doc)


def test_a_workload_running_an_unpinned_image_is_listed(client: TestClient) -> None:
    body = sample_path("vendor/kubernetes/audit-event-deployment-create-nginx.json").read_bytes()
    _post(client, "/v1/webhooks/k8s-audit?cluster=kind", body)
    [running] = client.get("/v1/deployments").json()["items"]
    # `nginx` and no push of it seen: what runs is known by its reference only
    assert running["workload"] == "deployment/nginx-deployment"
    assert (running["cluster"], running["namespace"], running["container"]) == (
        "kind",
        "default",
        "nginx",
    )
    assert running["pinned"] is False
    assert running["digest"] is None
    assert running["image"] == f"{NGINX}:latest"
    assert running["since"].startswith("2026-03-11T08:00:00.145")

    # nginx:latest is pushed; the next rollout runs the digest the tag points to then
    pushed = digest("nginx-1.27")
    events = [
        {
            "id": "push-nginx",
            "type": "artifact.pushed",
            "time": "2026-03-11T09:00:00Z",
            "source": "test",
            "digest": pushed,
            "repository": NGINX,
            "tag": "latest",
        }
    ]
    _post(client, "/v1/events", orjson.dumps(events))
    _post(client, "/v1/webhooks/k8s-audit?cluster=kind", _nginx("b2", "2026-03-11T10:00:00Z"))
    [now] = client.get("/v1/deployments").json()["items"]
    assert (now["digest"], now["pinned"], now["image"]) == (pushed, False, f"{NGINX}:latest")
    assert now["since"].startswith("2026-03-11T10:00:00")

    # and what ran before stays what it was
    [then] = client.get("/v1/deployments", params={"as_of": "2026-03-11T09:30:00Z"}).json()["items"]
    assert (then["digest"], then["until"]) == (None, None)
    env = client.get("/v1/dashboards/environments").json()["environments"]
    assert [d["digest"] for e in env for d in e["deployments"]] == [pushed]


def test_a_late_push_from_before_the_rollout_resolves_the_unpinned_image(
    client: TestClient,
) -> None:
    # Event time, not arrival: the tag held this digest when the workload was created, so
    # the workload ran it, though the push arrived after the rollout.
    body = sample_path("vendor/kubernetes/audit-event-deployment-create-nginx.json").read_bytes()
    _post(client, "/v1/webhooks/k8s-audit?cluster=kind", body)
    assert client.get("/v1/deployments").json()["items"][0]["digest"] is None
    pushed = digest("nginx-1.26")
    early = {
        "id": "push-nginx-early",
        "type": "artifact.pushed",
        "time": "2026-03-11T07:00:00Z",
        "source": "test",
        "digest": pushed,
        "repository": NGINX,
        "tag": "latest",
    }
    _post(client, "/v1/events", orjson.dumps([early]))
    [running] = client.get("/v1/deployments").json()["items"]
    assert (running["digest"], running["pinned"], running["image"]) == (
        pushed,
        False,
        f"{NGINX}:latest",
    )
    assert running["since"].startswith("2026-03-11T08:00:00.145")


def test_githubs_container_example_records_the_artifact(client: TestClient) -> None:
    body = sample_path("vendor/github/package-published.docker.json").read_bytes()
    response = client.post(
        "/v1/webhooks/ghcr",
        content=body,
        headers={"content-type": "application/json", "x-github-event": "package"},
    )
    assert response.status_code == 202, response.text
    hello = "sha256:3da1996a8115d7616457760d9920b815241d0a03b34cf5f04e9a0e9d8de37498"
    view = client.get(f"/v1/artifacts/{hello}").json()
    assert view["repositories"] == ["ghcr.io/codertocat/hello-world"]
    assert view["first_seen"].startswith("2019-05-09T23:28:29")
