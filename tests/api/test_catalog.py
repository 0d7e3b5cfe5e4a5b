"""The catalog on the demo story: search by every kind of name, lists with keyset
pagination, references and unique prefixes wherever a digest or a sha is asked for."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from provenance.ingest import demo
from provenance.store import Database


@pytest.fixture
def story(db: Database, client: TestClient) -> dict[str, Any]:
    return demo.load(db)


def _kinds(client: TestClient, q: str) -> dict[str, list[str]]:
    r = client.get("/v1/search", params={"q": q})
    assert r.status_code == 200, r.text
    out: dict[str, list[str]] = {}
    for item in r.json()["items"]:
        assert item["label"]
        out.setdefault(item["kind"], []).append(item["id"])
    return out


def test_search_by_digest_prefix_reference_commit_actor_workload_repository(
    client: TestClient, story: dict[str, Any]
) -> None:
    original, rebuild = story["digests"]["original"], story["digests"]["rebuild"]
    repo, tag, commit = story["repository"], story["tag"], story["commit"]
    assert _kinds(client, original[7:19]) == {"artifact": [original]}
    assert _kinds(client, original)["artifact"] == [original]
    assert _kinds(client, original[7:18]).get("artifact") is None  # 11 hex: too short
    found = _kinds(client, f"{repo}:{tag}")
    assert found["tag"] == [f"{repo}:{tag}"]
    assert found["artifact"] == [rebuild]  # where the tag points now
    assert _kinds(client, f"{repo}@{original}")["artifact"] == [original]
    assert _kinds(client, commit[:7])["commit"] == [commit]
    assert "ci-shop-api" in _kinds(client, "ci-shop")["actor"]
    assert "deployment/shop-api" in _kinds(client, "deployment/shop-api")["workload"]
    assert repo in _kinds(client, "acme/shop-api")["repository"]
    assert _kinds(client, "nothing-like-this") == {}
    assert client.get("/v1/search", params={"q": ""}).status_code == 422


def test_repositories_and_artifacts_lists_paginate_by_keyset(
    client: TestClient, story: dict[str, Any]
) -> None:
    repo = story["repository"]
    seen: list[str] = []
    cursor = None
    while True:
        r = client.get(
            "/v1/repositories", params={"limit": 1, **({"cursor": cursor} if cursor else {})}
        )
        assert r.status_code == 200
        body = r.json()
        seen += [i["repository"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) and repo in seen
    first = client.get("/v1/repositories").json()["items"]
    mine = next(i for i in first if i["repository"] == repo)
    assert mine["artifacts"] == 2 and mine["tags"] >= 1 and mine["last_push"]

    digests: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/v1/artifacts", params=params).json()
        digests += [i["digest"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(digests) == sorted(story["digests"].values())
    current = client.get("/v1/artifacts", params={"repository": repo, "tag": story["tag"]}).json()
    assert [i["digest"] for i in current["items"]] == [story["digests"]["rebuild"]]
    item = current["items"][0]
    assert item["deployed"] is True and f"{repo}:{story['tag']}" in item["tags"]
    running = client.get("/v1/artifacts", params={"deployed": "true"}).json()["items"]
    assert story["digests"]["rebuild"] in {i["digest"] for i in running}
    assert client.get("/v1/artifacts", params={"cursor": "nope"}).status_code == 422


def test_routes_take_a_reference_or_unique_prefix(
    client: TestClient, story: dict[str, Any]
) -> None:
    rebuild = story["digests"]["rebuild"]
    r = client.get(f"/v1/artifacts/{rebuild[7:20]}")
    assert r.status_code == 200 and r.json()["digest"] == rebuild
    assert client.get(f"/v1/artifacts/{rebuild[:20]}/timeline").json()["digest"] == rebuild
    assert client.get(f"/v1/artifacts/{rebuild[7:20]}/lineage").json()["digest"] == rebuild
    by_ref = client.post(
        "/v1/incidents/blast-radius", json={"digest": f"{story['repository']}:{story['tag']}"}
    )
    assert by_ref.status_code == 200 and by_ref.json()["query"] == {"digest": rebuild}
    by_prefix = client.post("/v1/incidents/blast-radius", json={"commit": story["commit"][:7]})
    full = client.post("/v1/incidents/blast-radius", json={"commit": story["commit"]})
    assert by_prefix.status_code == 200 and by_prefix.json()["counts"] == full.json()["counts"]
    assert client.get("/v1/artifacts/0123456789ab").status_code == 404
    assert client.get("/v1/artifacts/0123").status_code == 422


def test_an_ambiguous_prefix_is_a_409_listing_the_candidates(
    client: TestClient, story: dict[str, Any], db: Database
) -> None:
    from provenance.store.models import Artifact

    rebuild = story["digests"]["rebuild"]
    twin = rebuild[:30] + ("0" if rebuild[30] != "0" else "1") + rebuild[31:]
    with db.write() as session:
        session.add(Artifact(digest=twin, first_seen=datetime.now(UTC)))
    r = client.get(f"/v1/artifacts/{rebuild[7:25]}")
    assert r.status_code == 409
    body = r.json()
    assert body["type"].endswith(":ambiguous")
    assert sorted(body["candidates"]) == sorted([rebuild, twin])
    assert client.get(f"/v1/artifacts/{rebuild[7:40]}").status_code == 200  # longer: unique
