"""The OpenAPI says what is true: bearer scheme, ingest bodies, problem+json, 405 `Allow`;
and what it promises holds: paging bounds, NUL bytes and epoch numbers are 422s."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.openapi import MAX_ID, PROBLEM
from provenance.ingest.sources import SOURCES

ADMIN = "openapi-admin"
OPEN = {"/healthz", "/readyz", "/metrics"}


@pytest.fixture
def authed(make_client: Callable[..., TestClient]) -> TestClient:
    client = make_client(admin_token=ADMIN)
    client.headers["Authorization"] = f"Bearer {ADMIN}"
    return client


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(p, m, op) for p, ops in doc["paths"].items() for m, op in ops.items()]


def test_every_route_behind_a_token_declares_the_bearer_scheme(authed: TestClient) -> None:
    doc = authed.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert {k: v for k, v in schemes["bearer"].items() if k != "description"} == {
        "type": "http",
        "scheme": "bearer",
    }
    # The one alternative a source may use, each valid on its own source only.
    assert schemes["urlToken"] | {"description": ""} == {
        "type": "apiKey",
        "in": "query",
        "name": "token",
        "description": "",
    }
    assert schemes["githubSignature"]["name"] == "X-Hub-Signature-256"
    for path, method, op in _operations(doc):
        if path in OPEN:
            assert "security" not in op, path
            continue
        if path == "/v1/webhooks/{source}":
            expected = [{"bearer": []}, {"urlToken": []}, {"githubSignature": []}]
            assert op["security"] == expected
        else:
            assert op["security"] == [{"bearer": []}], (method, path)
        for status in ("401", "403"):
            content = op["responses"][status]["content"]
            assert content == {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        assert "WWW-Authenticate" in op["responses"]["401"]["headers"]
        # Every documented error is problem+json (readyz's 503 is its own JSON report).
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                assert list(response["content"]) == [PROBLEM], (method, path, status)


def test_with_auth_off_no_route_claims_a_token(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert "securitySchemes" not in doc["components"]
    assert all("security" not in op for _, _, op in _operations(doc))


def test_the_problem_schema_names_the_rfc_9457_members(client: TestClient) -> None:
    problem = client.get("/openapi.json").json()["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}


def test_the_canonical_event_schema_follows_the_domain(client: TestClient) -> None:
    event = client.get("/openapi.json").json()["components"]["schemas"]["CanonicalEvent"]
    assert event["required"] == ["id", "type", "time", "source"]
    assert "artifact.pushed" in event["properties"]["type"]["enum"]
    assert event["properties"]["time"] == {"type": "string", "format": "date-time"}
    digest = event["properties"]["digest"]["anyOf"][0]
    assert digest == {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"}


def test_ingest_bodies_and_the_known_sources(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    webhook = paths["/v1/webhooks/{source}"]["post"]
    (source,) = webhook["parameters"]
    assert source["schema"]["enum"] == sorted(SOURCES)
    kinds = webhook["requestBody"]["content"]
    assert webhook["requestBody"]["required"] is True
    assert {
        "application/json",
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "application/vnd.docker.distribution.events.v1+json",
        "application/x-ndjson",
    } <= set(kinds)
    events = paths["/v1/events"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-ndjson"} <= set(events)
    one = {"$ref": "#/components/schemas/CanonicalEvent"}
    assert events["application/x-ndjson"]["schema"]["items"] == one
    assert one in events["application/json"]["schema"]["oneOf"]
    attestations = paths["/v1/attestations"]["post"]["requestBody"]["content"]
    assert "application/vnd.dsse.envelope.v1+json" in attestations
    for op in (webhook, paths["/v1/events"]["post"], paths["/v1/attestations"]["post"]):
        assert {"400", "401", "403", "413", "415", "422", "503"} <= set(op["responses"])


def test_every_documented_webhook_media_type_is_taken_by_some_source(
    client: TestClient,
) -> None:
    """No media type is documented that every source would refuse with a 415."""
    kinds = client.get("/openapi.json").json()["paths"]["/v1/webhooks/{source}"]["post"]
    for kind in kinds["requestBody"]["content"]:
        answers = {
            client.post(
                f"/v1/webhooks/{s}", content=b"{}", headers={"content-type": kind}
            ).status_code
            for s in sorted(SOURCES)
        }
        assert answers != {415}, kind


def test_405_names_the_allowed_methods_as_a_problem(authed: TestClient) -> None:
    r = authed.put("/v1/events")
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    assert r.headers["content-type"] == PROBLEM and r.json()["status"] == 405
    r = authed.delete("/v1/audit/log")
    assert r.status_code == 405 and r.headers["allow"] == "GET"


@pytest.mark.parametrize("path", ["/v1/audit/log", "/v1/alerts", "/v1/quarantine"])
def test_paging_past_the_store_is_422(authed: TestClient, path: str) -> None:
    assert authed.get(path, params={"after": MAX_ID}).status_code == 200
    r = authed.get(path, params={"after": "99999999999999999999"})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/v1/tags/history", {"params": {"repository": "a\x00b", "tag": "x"}}),
        ("GET", "/v1/deployments", {"params": {"environment": "prod\x00"}}),
        ("GET", "/v1/exports/compliance", {"params": {"repository": "r\x00"}}),
        ("GET", "/v1/alerts", {"params": {"x\x00": "1"}}),
        ("POST", "/v1/incidents/blast-radius", {"json": {"actor": "mallory\x00"}}),
        ("POST", "/v1/incidents/blast-radius", {"json": {"key": "k\x00"}}),
        ("POST", "/v1/incidents/blast-radius", {"json": {"builder": "b\x00"}}),
    ],
)
def test_a_nul_in_a_query_is_422_on_both_backends(
    authed: TestClient, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    r = authed.request(method, path, **kwargs)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    assert "NUL" in r.json()["detail"]


def test_times_are_rfc_3339_text(authed: TestClient) -> None:
    """pydantic alone reads `0.5` or `1700000000` as epoch seconds: not what `date-time` says."""
    for path, name in [
        ("/v1/deployments", "as_of"),
        ("/v1/dashboards/activity", "until"),
        ("/v1/exports/compliance", "since"),
        ("/v1/alerts", "since"),
    ]:
        for value in ("0.5", "1700000000", "yesterday"):
            assert authed.get(path, params={name: value}).status_code == 422, (path, value)
        assert authed.get(path, params={name: "2026-01-31T12:00:00Z"}).status_code == 200
    r = authed.post("/v1/incidents/blast-radius", json={"actor": "a", "as_of": 0.5})
    assert r.status_code == 422


def test_blast_radius_documents_exactly_one_target(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["BlastRadiusRequest"]
    assert [branch["required"] for branch in schema["oneOf"]] == [
        ["digest"],
        ["commit"],
        ["build"],
        ["builder"],
        ["actor"],
        ["key"],
        ["vulnerability"],
    ]
    r = client.post("/v1/incidents/blast-radius", json={"actor": None, "key": None})
    assert r.status_code == 422
