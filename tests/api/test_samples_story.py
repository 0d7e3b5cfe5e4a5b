"""The shared samples' story, loaded through the public routes in time order and again in
reverse (answers depend on event time, not arrival), answers the incident responder's
questions: where is the compromised digest running now, where was it running a week before,
which tag moved, which alerts fired."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from provenance.model.kinds import EdgeKind, NodeKind
from provenance.store import Database
from tests.conftest import SAMPLES, need
from tests.store.test_graph_kinds import stored_kinds

D1 = "sha256:4ac6f96cde89127c04de259df08450fe1aa0073108b7b3f3471428fb628bcb30"
D2 = "sha256:701a31a46306cfafff7d96547c5f10a0d2d8f0e8c41b0159a94e36b3ab01e558"
REPO = "registry.acme.internal:5000/acme/payments-api"
DIST = "application/vnd.docker.distribution.events.v1+json"

# (route, sample, content type), in the order the story happened.
STORY: list[tuple[str, str, str]] = [
    ("/v1/webhooks/cdevents", "cdevents/change-merged.json", "application/json"),
    ("/v1/webhooks/cdevents", "cdevents/build-queued.json", "application/json"),
    ("/v1/webhooks/cdevents", "cdevents/build-started.json", "application/json"),
    ("/v1/webhooks/distribution", "distribution/pull-blob-head-during-push.json", DIST),
    ("/v1/webhooks/distribution", "distribution/mount-blob-base-layer.json", DIST),
    ("/v1/webhooks/distribution", "distribution/push-blob-app-layer.json", DIST),
    ("/v1/webhooks/distribution", "distribution/push-manifest-v1.4.2.json", DIST),
    ("/v1/webhooks/distribution", "distribution/push-manifest-sha-tag.json", DIST),
    ("/v1/webhooks/cdevents", "cdevents/artifact-published.json", "application/json"),
    ("/v1/webhooks/cdevents", "cdevents/build-finished.json", "application/json"),
    ("/v1/webhooks/cdevents", "cdevents/artifact-signed.json", "application/json"),
    ("/v1/attestations", "in-toto/slsa-provenance-v1.dsse.json", "application/json"),
    ("/v1/attestations", "cosign/sigstore-bundle-v0.3.sign.json", "application/json"),
    ("/v1/webhooks/distribution", "distribution/push-manifest-cosign-sig-tag.json", DIST),
    (
        "/v1/webhooks/k8s-audit?cluster=staging-eu-west-1",
        "kubernetes/audit-event-deployment-create.json",
        "application/json",
    ),
    ("/v1/webhooks/cdevents", "cdevents/service-rolledback.json", "application/json"),
    (
        "/v1/webhooks/k8s-audit?cluster=prod-eu-west-1",
        "kubernetes/audit-webhook-eventlist.json",
        "application/json",
    ),
    ("/v1/webhooks/distribution", "distribution/pull-manifest-head-by-tag.json", DIST),
    ("/v1/webhooks/distribution", "distribution/pull-manifest-get-by-digest.json", DIST),
    ("/v1/webhooks/distribution", "distribution/pull-blob-app-layer.json", DIST),
    ("/v1/webhooks/cdevents", "cdevents/service-deployed.json", "application/json"),
    ("/v1/webhooks/distribution", "distribution/pull-manifest-anonymous.json", DIST),
    ("/v1/webhooks/cdevents", "cdevents/service-removed.json", "application/json"),
    ("/v1/webhooks/distribution", "distribution/push-manifest-v1.4.2-repush.json", DIST),
    ("/v1/webhooks/cdevents", "cdevents/service-upgraded.json", "application/json"),
    ("/v1/webhooks/distribution", "distribution/delete-manifest-old-digest.json", DIST),
    ("/v1/webhooks/distribution", "distribution/delete-tag-sha-tag.json", DIST),
]


def _policy(tmp_path: Path) -> Path:
    key = (SAMPLES / "cosign" / "acme-ci-signing-key.pub.pem").read_text()
    policy = tmp_path / "trust.yaml"
    indented = "\n".join("      " + line for line in key.strip().splitlines())
    policy.write_text(
        "version: 1\nkeys:\n  - id: acme-ci\n    public_key: |\n"
        f"{indented}\n"
        "builders:\n  - https://github.com/actions/runner/github-hosted\n"
    )
    return policy


@pytest.fixture(params=["in_order", "reversed"])
def story(
    request: pytest.FixtureRequest, make_client: Callable[..., TestClient], tmp_path: Path
) -> TestClient:
    need(SAMPLES.is_dir(), f"samples not found at {SAMPLES}")
    client = make_client(trust_policy=str(_policy(tmp_path)))
    order = STORY if request.param == "in_order" else STORY[::-1]
    for route, sample, ctype in order:
        response = client.post(
            route, content=(SAMPLES / sample).read_bytes(), headers={"content-type": ctype}
        )
        assert response.status_code == 202, f"{sample}: {response.text}"
    assert client.get("/v1/quarantine").json()["items"] == []
    return client


def _running(client: TestClient, digest: str, as_of: str | None = None) -> set[tuple[str, str]]:
    params = {"as_of": as_of} if as_of else {}
    items = client.get("/v1/deployments", params=params).json()["items"]
    return {(d["cluster"], d["namespace"]) for d in items if d["digest"] == digest}


def test_where_is_the_compromised_digest_running(story: TestClient) -> None:
    assert _running(story, D1) == set()  # prod was upgraded to D2, staging rolled back
    assert _running(story, D2) == {("prod-eu-west-1", "payments-prod")}
    assert _running(story, D1, "2026-03-17T00:00:00Z") == {("prod-eu-west-1", "payments-prod")}
    radius = story.post("/v1/incidents/blast-radius", json={"digest": D1}).json()
    ran = {(d["namespace"], d["active"]) for d in radius["deployments"]}
    assert ("payments-prod", False) in ran and ("payments-staging", False) in ran
    assert {p["actor"] for p in radius["pullers"]} >= {"svc-k8s-prod-pull"}


def test_which_tag_moved(story: TestClient) -> None:
    history = story.get("/v1/tags/history", params={"repository": REPO, "tag": "v1.4.2"}).json()
    assert [h["digest"] for h in history["history"]] == [D1, D2]
    moved = story.get("/v1/alerts", params={"kind": "tag_moved"}).json()["items"]
    assert [(a["details"]["previous_digest"], a["digest"]) for a in moved] == [(D1, D2)]
    d1 = story.get(f"/v1/artifacts/{D1}").json()
    assert d1["deleted"] is True and not any(t["current"] for t in d1["tags"])


def test_which_alerts_fired(story: TestClient) -> None:
    alerts = story.get("/v1/alerts").json()["items"]
    kinds = {a["kind"] for a in alerts}
    assert {"tag_moved", "new_puller", "unsigned_deployed"} <= kinds
    unsigned = {a["digest"] for a in alerts if a["kind"] == "unsigned_deployed"}
    assert D2 in unsigned and D1 not in unsigned  # D1 was signed before it was deployed
    assert all(a["events"] for a in alerts)  # each names the log entries that caused it
    assert "deleted_while_deployed" not in kinds  # D1 ran nowhere when it was deleted


def test_every_kind_the_story_writes_is_a_member(story: TestClient, db: Database) -> None:
    """The samples tell what the demo does not (signatures, attestations, keys): their
    kinds too are `provenance.model.kinds` members."""
    nodes, edges, prefixes = stored_kinds(db)
    assert nodes <= set(NodeKind), nodes - set(NodeKind)
    assert edges <= set(EdgeKind), edges - set(EdgeKind)
    assert prefixes <= set(NodeKind), prefixes - set(NodeKind)
    assert edges >= {EdgeKind.SIGNS, EdgeKind.ATTESTS, EdgeKind.SIGNED_WITH}
