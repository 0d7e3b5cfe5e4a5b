"""`GET /v1/reports/retention` over HTTP: the verdicts of a story posted as events, the
CSV and NDJSON exports, the read role, and refused windows."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from provenance.ingest import demo
from provenance.model.retention import REASONS, Item
from provenance.query.columns import names
from provenance.store import Database
from tests.factories import at, digest, event

REPO = "registry.acme.test/team/app"
BASES = "registry.acme.test/team/base"
RUNNING, BASE, SIG, OLD, PULLED = (digest(n) for n in ("running", "base", "sig", "old", "pulled"))


def _story() -> list[dict[str, Any]]:
    """RUNNING (untagged later, deployed) is built on BASE, whose cosign signature is SIG;
    OLD was tagged and pulled long ago; PULLED was pulled recently."""
    sig_tag = "sha256-" + BASE.removeprefix("sha256:") + ".sig"
    return [
        event("artifact.pushed", 0, digest=BASE, repository=REPO, tag="base"),
        event("artifact.pushed", 1, digest=SIG, repository=REPO, tag=sig_tag),
        event("artifact.pushed", 2, digest=RUNNING, repository=REPO, tag="v1"),
        event(
            "artifact.attested", 3, digest=RUNNING, attributes={"dependencies": [{"digest": BASE}]}
        ),
        event("artifact.pushed", 4, digest=OLD, repository=REPO, tag="v0"),
        event("artifact.pulled", 5, digest=OLD, repository=REPO, actor="node-1"),
        event("artifact.pushed", 6, digest=PULLED, repository=REPO),
        event(
            "deployment.applied",
            7,
            digest=RUNNING,
            workload="deployment/app",
            namespace="prod",
            cluster="eu-1",
            environment="production",
        ),
        event("tag.deleted", 8, repository=REPO, tag="v1"),
        event("tag.deleted", 8, repository=REPO, tag="v0"),
        event("tag.deleted", 8, repository=REPO, tag="base"),
        event("tag.deleted", 8, repository=REPO, tag=sig_tag),
        event("artifact.pulled", 60, digest=PULLED, repository=REPO, actor="node-2"),
    ]


@pytest.fixture
def posted(client: TestClient) -> TestClient:
    r = client.post("/v1/events", json=_story())
    assert r.status_code == 202, r.text
    return client


def _report(client: TestClient, **params: Any) -> dict[str, Any]:
    r = client.get("/v1/reports/retention", params={"repository": REPO, **params})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_verdicts_with_every_reason_and_the_evidence(posted: TestClient) -> None:
    report = _report(posted, unused_since=at(30))
    items = {i["digest"]: i for i in report["items"]}
    assert set(items) == {RUNNING, BASE, SIG, OLD, PULLED}
    assert items[RUNNING]["reasons"] == ["deployed_now", "deployed_since"]
    assert items[RUNNING]["last_deployed"] == at(7)
    assert items[BASE]["reasons"] == ["base_of_kept"]
    assert items[BASE]["base_of"] == [RUNNING]
    assert items[SIG]["reasons"] == ["evidence_of_kept"]
    assert items[SIG]["evidence_of"] == [BASE]
    assert items[PULLED]["reasons"] == ["pulled_since"]
    assert items[PULLED]["last_pull"] == at(60)
    assert items[OLD]["verdict"] == "delete" and items[OLD]["reasons"] == []
    assert items[OLD]["last_pull"] == at(5) and items[OLD]["tags"] == []
    assert report["summary"] == {"keep": 4, "delete": 1}
    assert set(REASONS) >= {r for i in items.values() for r in i["reasons"]}
    assert [i["digest"] for i in report["items"]] == sorted(items)


def test_as_of_answers_as_the_graph_stood_then(posted: TestClient) -> None:
    # Minute 7.5: the tags were still there and RUNNING was already deployed.
    then = _report(posted, unused_since=at(7), as_of=at(7.5))
    items = {i["digest"]: i for i in then["items"]}
    assert items[OLD]["reasons"] == ["tagged"] and items[OLD]["tags"] == ["v0"]
    assert items[RUNNING]["reasons"][:2] == ["tagged", "deployed_now"]
    assert PULLED in items and items[PULLED]["last_pull"] is None
    # Before the pushes: nothing to judge.
    assert _report(posted, as_of=at(-1))["items"] == []


def test_csv_and_ndjson_exports_hold_the_same_items(posted: TestClient) -> None:
    report = _report(posted, unused_since=at(30))
    r = posted.get(
        "/v1/reports/retention",
        params={"repository": REPO, "unused_since": at(30), "format": "csv"},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert tuple(rows[0]) == names(Item)
    assert [(row["digest"], row["verdict"]) for row in rows] == [
        (i["digest"], i["verdict"]) for i in report["items"]
    ]
    base = next(row for row in rows if row["digest"] == BASE)
    assert orjson.loads(base["reasons"]) == ["base_of_kept"]
    r = posted.get(
        "/v1/reports/retention",
        params={"repository": REPO, "unused_since": at(30), "format": "ndjson"},
    )
    assert r.headers["content-type"].startswith("application/x-ndjson")
    assert [orjson.loads(line) for line in r.text.splitlines()] == report["items"]


def test_an_unknown_repository_has_an_empty_report(client: TestClient) -> None:
    r = client.get("/v1/reports/retention", params={"repository": "nowhere/at-all"})
    assert r.status_code == 200
    assert r.json()["items"] == [] and r.json()["summary"] == {"keep": 0, "delete": 0}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"repository": ""},
        {"repository": REPO, "unused_since": "yesterday"},
        {"repository": REPO, "unused_since": "2026-01-01T00:00:00"},  # no offset
        {"repository": REPO, "format": "xml"},
        {"repository": "a\x00b"},
    ],
)
def test_refused_questions_are_422(client: TestClient, params: dict[str, str]) -> None:
    r = client.get("/v1/reports/retention", params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_the_report_needs_the_read_role(make_client: Callable[..., TestClient]) -> None:
    client = make_client(ingest_token="i-tok", read_token="r-tok", admin_token="a-tok")
    path, params = "/v1/reports/retention", {"repository": REPO}
    assert client.get(path, params=params).status_code == 401
    bad = client.get(path, params=params, headers={"authorization": "Bearer i-tok"})
    assert bad.status_code == 403
    ok = client.get(path, params=params, headers={"authorization": "Bearer r-tok"})
    assert ok.status_code == 200


def test_the_demo_report(db: Database, client: TestClient) -> None:
    story = demo.load(db)
    r = client.get("/v1/reports/retention", params={"repository": demo.REPOSITORY})
    body = r.json()
    assert [i["digest"] for i in body["items"]] == [story["digests"]["rebuild"]]
    assert body["already_deleted"] == 1
