"""Deployments, alerts and dashboards over HTTP, with `as_of`."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.factories import at, digest, event, sha

REPO = "registry.acme.io/acme/shop"
A, B = digest("a"), digest("b")
C = sha("c")
C_DIGEST = digest("c")
PROD = {
    "workload": "deployment/shop",
    "namespace": "shop",
    "cluster": "eu-1",
    "environment": "production",
    "container": "shop",
}
STAGING = PROD | {"cluster": "eu-2", "environment": "staging"}


@pytest.fixture
def story(client: TestClient) -> TestClient:
    events = [
        event("build.finished", 0, build="run-1", commit=C, digest=A),
        event("artifact.pushed", 1, digest=A, repository=REPO, tag="v1", actor="ci"),
        event("artifact.signed", 2, digest=A),
        event("deployment.applied", 10, digest=A, **PROD),
        event("deployment.applied", 11, digest=A, **STAGING),
        event("artifact.pushed", 20, digest=B, repository=REPO, tag="v1", actor="bob"),
        event("deployment.applied", 30, digest=B, **STAGING),
        event("artifact.pulled", 31, digest=B, repository=REPO, actor="node-9"),
    ]
    assert client.post("/v1/events", content=orjson.dumps(events)).status_code == 202
    return client


def test_deployments_now_and_as_of(story: TestClient) -> None:
    now = story.get("/v1/deployments").json()["items"]
    assert [(d["environment"], d["digest"]) for d in now] == [("production", A), ("staging", B)]
    prod = now[0]
    # a canonical `artifact.signed` is a claim: only a signature this service verified counts
    assert (prod["commit"], prod["signed"], prod["attested"], prod["pinned"]) == (
        C,
        False,
        False,
        True,
    )
    before = story.get("/v1/deployments", params={"as_of": at(15)}).json()["items"]
    assert [(d["environment"], d["digest"], d["until"]) for d in before] == [
        ("production", A, None),
        ("staging", A, None),
    ]
    assert (
        story.get("/v1/deployments", params={"environment": "staging"}).json()["items"][0]["digest"]
        == B
    )
    assert story.get("/v1/deployments", params={"as_of": at(5)}).json()["items"] == []


def test_artifact_and_tag_history_as_of(story: TestClient) -> None:
    then = story.get(f"/v1/artifacts/{A}", params={"as_of": at(15)}).json()
    assert [t["current"] for t in then["tags"]] == [True]
    assert {d["environment"] for d in then["deployments"] if d["active"]} == {
        "production",
        "staging",
    }
    hist = story.get("/v1/tags/history", params={"repository": REPO, "tag": "v1", "as_of": at(15)})
    assert [(h["digest"], h["until"]) for h in hist.json()["history"]] == [(A, None)]
    radius = story.post("/v1/incidents/blast-radius", json={"digest": A, "as_of": at(15)}).json()
    assert radius["counts"]["deployments"] == 2 and radius["counts"]["tags"] == 1


def test_alerts_with_filters(story: TestClient) -> None:
    kinds = [a["kind"] for a in story.get("/v1/alerts").json()["items"]]
    assert kinds == [
        "unsigned_deployed",
        "unattested_deployed",
        "unsigned_deployed",
        "unattested_deployed",
        "tag_moved",
        "unsigned_deployed",
        "unattested_deployed",
        "new_puller",
    ]
    moved = story.get("/v1/alerts", params={"kind": "tag_moved"}).json()["items"]
    assert moved[0]["details"]["previous_digest"] == A and moved[0]["events"] == [1]
    late = story.get("/v1/alerts", params={"since": at(30)}).json()["items"]
    assert {a["kind"] for a in late} == {"unsigned_deployed", "unattested_deployed", "new_puller"}
    bad = story.get("/v1/alerts", params={"kind": "cosmic_ray"})
    assert bad.status_code == 422 and "tag_moved" in bad.json()["detail"]


def test_dashboards(story: TestClient) -> None:
    envs = story.get("/v1/dashboards/environments").json()["environments"]
    assert [(e["environment"], e["deployments"][0]["digest"]) for e in envs] == [
        ("production", A),
        ("staging", B),
    ]
    drift = story.get("/v1/dashboards/drift").json()["items"]
    assert drift == [
        {
            "workload": "deployment/shop",
            "container": "shop",
            "digests": {"production": [A], "staging": [B]},
        }
    ]
    assert story.get("/v1/dashboards/drift", params={"as_of": at(15)}).json()["items"] == []
    activity = story.get("/v1/dashboards/activity", params={"bucket": "hour"}).json()["items"]
    assert sum(b["total"] for b in activity) >= 8
    assert activity[0]["counts"]["artifact.pushed"] >= 1


def test_a_late_push_supersedes_an_alert_over_http(client: TestClient) -> None:
    first = [
        event("artifact.pushed", 0, digest=A, repository=REPO, tag="v1"),
        event("artifact.pushed", 20, digest=C_DIGEST, repository=REPO, tag="v1"),
    ]
    assert client.post("/v1/events", content=orjson.dumps(first)).status_code == 202
    late = event("artifact.pushed", 10, digest=B, repository=REPO, tag="v1")
    assert client.post("/v1/events", content=orjson.dumps([late])).status_code == 202
    current = client.get("/v1/alerts", params={"kind": "tag_moved"}).json()["items"]
    assert [(a["details"]["previous_digest"], a["digest"]) for a in current] == [
        (A, B),
        (B, C_DIGEST),
    ]
    assert not any(a["superseded"] for a in current)
    every = client.get("/v1/alerts", params={"kind": "tag_moved", "superseded": "true"}).json()
    (gone,) = [a for a in every["items"] if a["superseded"]]
    assert (gone["details"]["previous_digest"], gone["digest"]) == (A, C_DIGEST)
    assert gone["superseded_at"] is not None
    assert gone["superseded_by"] == [a["key"] for a in current if a["digest"] == C_DIGEST]
