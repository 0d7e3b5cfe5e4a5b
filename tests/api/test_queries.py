"""Query routes over a small story: artifact, lineage formats, commits, blast radius."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.factories import digest, event, sha

REPO = "registry.acme.io/acme/app"
A, B, BASE = digest("a"), digest("b"), digest("base")
C = sha("c")


@pytest.fixture
def story(client: TestClient) -> TestClient:
    events = [
        event("change.merged", 0, commit=C, vcs_url="https://github.com/acme/app"),
        event(
            "build.finished",
            5,
            build="run-1",
            commit=C,
            builder="https://ci.acme.io/release",
            digest=A,
        ),
        event("artifact.pushed", 6, digest=A, repository=REPO, tag="v1", actor="ci"),
        event("artifact.pushed", 6.5, digest=A, repository=REPO, tag="sha-c", actor="ci"),
        *[
            event(
                "artifact.pulled", 7 + i, digest=A, actor=f"node-{i % 3}", client=f"10.0.0.{i % 3}"
            )
            for i in range(9)
        ],
        event(
            "deployment.applied",
            8,
            digest=A,
            workload="deployment/app",
            namespace="prod",
            cluster="eu-1",
            environment="production",
            container="app",
        ),
        event("artifact.pushed", 20, digest=B, repository=REPO, tag="v1", actor="bob"),
    ]
    r = client.post("/v1/events", content=orjson.dumps(events))
    assert r.status_code == 202
    return client


def test_artifact_view(story: TestClient) -> None:
    body = story.get(f"/v1/artifacts/{A}").json()
    assert body["repositories"] == [REPO]
    assert {(t["tag"], t["current"]) for t in body["tags"]} == {("v1", False), ("sha-c", True)}
    assert body["builds"] == ["run-1"]
    assert body["commits"] == [
        {"sha": C, "vcs_url": "https://github.com/acme/app", "evidence": "build"}
    ]
    assert body["pulls"]["count"] == 9 and body["pulls"]["actors"] == ["node-0", "node-1", "node-2"]
    assert body["deployments"][0]["active"] is True
    for key in (
        "digest",
        "media_type",
        "first_seen",
        "deleted",
        "signatures",
        "attestations",
        "base_images",
    ):
        assert key in body


def test_lineage_in_three_formats(story: TestClient) -> None:
    body = story.get(f"/v1/artifacts/{A}/lineage?direction=up&depth=3").json()
    kinds = {n["kind"] for n in body["nodes"]}
    assert {"artifact", "build", "commit", "builder", "actor"} <= kinds
    assert {"source", "target", "kind"} <= set(body["edges"][0])
    down = story.get(f"/v1/artifacts/{A}/lineage?direction=down").json()
    assert "deployment" in {n["kind"] for n in down["nodes"]}
    assert "commit" not in {n["kind"] for n in down["nodes"]}
    graphml = story.get(f"/v1/artifacts/{A}/lineage?format=graphml")
    assert graphml.headers["content-type"].startswith("application/graphml+xml")
    assert "<graphml" in graphml.text and f"commit:{C}" in graphml.text
    dot = story.get(f"/v1/artifacts/{A}/lineage?format=dot")
    assert dot.text.startswith("digraph lineage {") and "produced" in dot.text


def test_tag_history_and_commit(story: TestClient) -> None:
    hist = story.get("/v1/tags/history", params={"repository": REPO, "tag": "v1"}).json()["history"]
    assert [(h["digest"], h["until"] is None) for h in hist] == [(A, False), (B, True)]
    commit = story.get(f"/v1/commits/{C}").json()
    assert [a["digest"] for a in commit["artifacts"]] == [A]
    assert commit["deployments"][0]["workload"] == "deployment/app"


def test_blast_radius_by_commit_with_paths_and_pages(story: TestClient) -> None:
    r = story.post("/v1/incidents/blast-radius", json={"commit": C}).json()
    assert r["counts"] == {
        "builds": 1,
        "artifacts": 1,
        "derived": 0,
        "tags": 1,
        "deployments": 1,
        "pullers": 3,
    }
    assert r["tags"] == [
        {
            "repository": REPO,
            "tag": "sha-c",
            "digest": A,
            "path": [f"commit:{C}", "build:run-1", f"artifact:{A}", f"tag:{REPO}:sha-c"],
        }
    ]
    assert r["pullers"][0]["path"][-1].startswith("actor:node-")
    page1 = story.post("/v1/incidents/blast-radius", json={"commit": C, "limit": 2}).json()
    assert len(page1["pullers"]) == 2 and page1["next_cursor"]
    page2 = story.post(
        "/v1/incidents/blast-radius", json={"commit": C, "limit": 2, "cursor": page1["next_cursor"]}
    ).json()
    assert len(page2["pullers"]) == 1 and page2["next_cursor"] is None
    names = {p["actor"] for p in page1["pullers"] + page2["pullers"]}
    assert names == {"node-0", "node-1", "node-2"}


def test_blast_radius_by_actor_build_and_digest(story: TestClient) -> None:
    bob = story.post("/v1/incidents/blast-radius", json={"actor": "bob"}).json()
    assert [a["digest"] for a in bob["artifacts"]] == [B]
    assert bob["tags"][0]["tag"] == "v1"
    run = story.post("/v1/incidents/blast-radius", json={"build": "run-1"}).json()
    assert run["counts"]["artifacts"] == 1
    dig = story.post("/v1/incidents/blast-radius", json={"digest": A}).json()
    assert dig["artifacts"][0]["path"] == [f"artifact:{A}"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "exactly one"),
        ({"digest": A, "commit": C}, "exactly one"),
        ({"digest": "sha256:nope"}, "sha256"),
    ],
)
def test_blast_radius_refusals_are_clear(
    story: TestClient, body: dict[str, str], fragment: str
) -> None:
    r = story.post("/v1/incidents/blast-radius", json=body)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert fragment in r.json()["detail"]


def test_blast_radius_by_builder_and_unknown_key(story: TestClient) -> None:
    r = story.post("/v1/incidents/blast-radius", json={"builder": "https://ci.acme.io/release"})
    assert r.status_code == 200
    assert r.json()["builds"][0]["path"][0] == "builder:https://ci.acme.io/release"
    assert r.json()["counts"]["artifacts"] == 1
    assert story.post("/v1/incidents/blast-radius", json={"key": "nobody"}).status_code == 404


def test_health_and_metrics(story: TestClient) -> None:
    ready = story.get("/readyz").json()
    assert ready["ready"] and ready["checks"]["database"]["projection_lag"] == 0
    metrics = story.get("/metrics").text
    assert 'provenance_events_total{outcome="accepted",source="events"}' in metrics
    assert "provenance_log_entries 1.0" in metrics
