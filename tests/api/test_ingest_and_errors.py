"""Ingest over HTTP: 202 semantics, duplicates, every problem+json, quarantine, auth."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.conftest import sample_path
from tests.factories import digest, event

DIST = "application/vnd.docker.distribution.events.v1+json"
D1 = "sha256:4ac6f96cde89127c04de259df08450fe1aa0073108b7b3f3471428fb628bcb30"


def _sample(path: str) -> bytes:
    return sample_path(path).read_bytes()


def _problem(response: object, status: int) -> dict[str, object]:
    r = response
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = r.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    assert {"type", "title", "status", "detail"} <= set(body)
    return body


def test_same_distribution_envelope_twice_is_one_event(client: TestClient) -> None:
    body = _sample("distribution/push-manifest-v1.4.2.json")
    url = "/v1/webhooks/distribution?registry=registry.acme.io"
    first = client.post(url, content=body, headers={"content-type": DIST})
    second = client.post(url, content=body, headers={"content-type": DIST})
    assert first.status_code == second.status_code == 202
    assert first.json()["accepted"] == 1 and first.json()["duplicates"] == 0
    assert second.json() == {
        "accepted": 0,
        "duplicates": 1,
        "ids": [],
        "seq": None,
        "rejected": [],
    }
    events = client.get(f"/v1/artifacts/{D1}/timeline").json()["events"]
    assert [e["type"] for e in events] == ["artifact.pushed"]
    assert events[0]["repository"] == "registry.acme.io/acme/payments-api"
    assert client.get("/v1/audit/verify").json()["entries"] == 1


def test_canonical_events_as_array_and_ndjson(client: TestClient) -> None:
    a, b = (
        event("artifact.pushed", digest=digest("a")),
        event("artifact.pushed", digest=digest("b")),
    )
    r = client.post("/v1/events", content=orjson.dumps([a, b]))
    assert r.status_code == 202 and r.json()["ids"] == [a["id"], b["id"]]
    c = event("artifact.pulled", digest=digest("a"))
    nd = b"\n".join(orjson.dumps(x) for x in (a, c)) + b"\n"
    r = client.post("/v1/events", content=nd, headers={"content-type": "application/x-ndjson"})
    assert r.json()["accepted"] == 1 and r.json()["duplicates"] == 1


@pytest.mark.parametrize(
    ("path", "body", "ctype", "status"),
    [
        ("/v1/events", b"{not json", "application/json", 400),
        ("/v1/webhooks/distribution", b"{}", "text/plain", 415),
        ("/v1/webhooks/distribution", b'{"hello": "world"}', DIST, 422),
        (
            "/v1/events",
            b'{"id":"x","type":"artifact.pushed","time":"2026-01-01T00:00:00Z",'
            b'"source":"t","digest":"sha256:short"}',
            "application/json",
            422,
        ),
        ("/v1/webhooks/artifactory", b"{}", "application/json", 404),
    ],
)
def test_refused_content_is_a_problem_and_is_quarantined(
    make_client: Callable[..., TestClient], path: str, body: bytes, ctype: str, status: int
) -> None:
    client = make_client()
    problem = _problem(client.post(path, content=body, headers={"content-type": ctype}), status)
    items = client.get("/v1/quarantine").json()["items"]
    assert len(items) == 1
    assert items[0]["body"] == body.decode()
    assert items[0]["reason"] == problem["detail"]
    assert client.get("/v1/audit/verify").json()["entries"] == 0  # nothing half-applied


def test_body_size_limit(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=1000)
    big = orjson.dumps([event("artifact.pushed", digest=digest(str(i))) for i in range(20)])
    _problem(client.post("/v1/events", content=big), 413)
    assert client.get("/v1/audit/verify").json()["entries"] == 0


def test_roles(make_client: Callable[..., TestClient]) -> None:
    client = make_client(ingest_token="i-tok", read_token="r-tok", admin_token="a-tok")
    body = orjson.dumps(event("artifact.pushed", digest=digest("a")))
    _problem(client.post("/v1/events", content=body), 401)
    _problem(client.post("/v1/events", content=body, headers={"authorization": "Bearer nope"}), 401)
    _problem(
        client.post("/v1/events", content=body, headers={"authorization": "Bearer r-tok"}), 403
    )
    assert (
        client.post(
            "/v1/events", content=body, headers={"authorization": "Bearer i-tok"}
        ).status_code
        == 202
    )
    path = f"/v1/artifacts/{digest('a')}"
    _problem(client.get(path, headers={"authorization": "Bearer i-tok"}), 403)
    assert client.get(path, headers={"authorization": "Bearer r-tok"}).status_code == 200
    assert client.get(path, headers={"authorization": "Bearer a-tok"}).status_code == 200
    _problem(client.get("/v1/quarantine", headers={"authorization": "Bearer r-tok"}), 403)
    assert (
        client.get("/v1/quarantine", headers={"authorization": "Bearer a-tok"}).status_code == 200
    )
    assert client.get("/healthz").status_code == 200  # probes carry no token


def _github(name: str) -> tuple[bytes, dict[str, str]]:
    body = _sample(f"github/{name}.json")
    headers = orjson.loads(_sample(f"github/{name}.headers.json"))
    return body, {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}


def test_a_valid_github_signature_authenticates_the_webhook(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(
        ingest_token="i-tok",
        admin_token="a-tok",
        github_webhook_secret="acme-test-webhook-secret-2026",
    )
    body, headers = _github("package-published")
    r = client.post("/v1/webhooks/ghcr", content=body, headers=headers)
    assert r.status_code == 202, r.text
    again = client.post("/v1/webhooks/ghcr", content=body, headers=headers)
    assert again.json()["duplicates"] == 1
    forged = body.rstrip() + b" \n"  # same JSON, different bytes: the HMAC must fail
    _problem(client.post("/v1/webhooks/ghcr", content=forged, headers=headers), 401)
    unsigned = {k: v for k, v in headers.items() if not k.lower().startswith("x-hub-signature")}
    _problem(client.post("/v1/webhooks/ghcr", content=body, headers=unsigned), 401)
    # A failed credential stores nothing, not even in the quarantine.
    items = client.get("/v1/quarantine", headers={"authorization": "Bearer a-tok"}).json()["items"]
    assert items == []


def test_secrets_never_reach_the_log(make_client: Callable[..., TestClient]) -> None:
    client = make_client(ingest_token="i-tok", read_token="r-tok")
    body = orjson.dumps(event("artifact.pushed", digest=digest("a")))
    client.post(
        "/v1/events", content=body, headers={"authorization": "Bearer i-tok", "cookie": "s=1"}
    )
    entry = client.get("/v1/audit/log", headers={"authorization": "Bearer r-tok"}).json()[
        "entries"
    ][0]
    assert "authorization" not in entry["headers"] and "cookie" not in entry["headers"]
    assert "i-tok" not in orjson.dumps(entry).decode()


def test_unknown_routes_and_methods_are_problems(client: TestClient) -> None:
    _problem(client.get("/v1/nothing-here"), 404)
    _problem(client.get(f"/v1/artifacts/{digest('zz')}"), 404)
    _problem(client.get("/v1/artifacts/sha256:nothex"), 422)
    _problem(client.get("/v1/tags/history?repository=r&tag=t"), 404)
    _problem(client.get("/v1/artifacts/x/timeline?limit=0"), 422)
