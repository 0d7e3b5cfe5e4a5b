"""Hostile input at the HTTP edge (issue 8), on SQLite and PostgreSQL.

Each test is one finding of the attack on the webhook receiver: credentials per source,
nothing stored without them, per-event acceptance, what the store can hold refused at the
edge with a 4xx, entries that fail to project set aside while the graph goes on, readers
that survive whatever was accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from provenance.ingest.sources import Delivery
from provenance.model.timeutil import utcnow
from provenance.store import Database, log, projection
from tests.factories import digest, event

DIST = "application/vnd.docker.distribution.events.v1+json"
ADMIN = {"authorization": "Bearer a-tok"}
INGEST = {"authorization": "Bearer i-tok"}
READ = {"authorization": "Bearer r-tok"}
SECRET = "acme-webhook-secret"
TOKENS = {"ingest_token": "i-tok", "read_token": "r-tok", "admin_token": "a-tok"}


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(**TOKENS, github_webhook_secret=SECRET)


def _dist_event(n: int, **target: Any) -> dict[str, Any]:
    return {
        "id": f"dist-{n}",
        "timestamp": "2026-03-09T14:00:00Z",
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest(f"d{n}"),
            "repository": "acme/api",
            "url": f"https://registry.acme.io/v2/acme/api/manifests/{digest(f'd{n}')}",
            "tag": "v1",
            "size": 1234,
        }
        | target,
        "actor": {"name": "ci-bot"},
        "request": {"addr": "10.0.0.1:5000", "useragent": "docker/27"},
    }


def _envelope(*events: dict[str, Any]) -> bytes:
    return orjson.dumps({"events": list(events)})


def _state(client: TestClient) -> tuple[int, int]:
    """(log entries, quarantined items): what a request stored."""
    entries = client.get("/v1/audit/log?limit=1000", headers=READ).json()["entries"]
    items = client.get("/v1/quarantine?limit=1000", headers=ADMIN).json()["items"]
    return len(entries), len(items)


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def _artifact(client: TestClient, d: str) -> Any:
    return client.get(f"/v1/artifacts/{d}", headers=READ)


# --- 1 and 2: credentials per source; nothing stored without them -----------------------


def test_the_github_secret_opens_no_other_route(client: TestClient) -> None:
    """Finding 1: with the secret set, a forged Distribution push without credentials
    was a 202 and a permanent log entry."""
    body = _envelope(_dist_event(1))
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    for source in ("distribution", "harbor", "dockerhub", "quay", "ecr", "acr", "gar"):
        r = client.post(f"/v1/webhooks/{source}", content=body, headers={"content-type": DIST})
        _problem(r, 401)
        # A valid GitHub signature is a credential on ghcr only.
        signed = {"content-type": DIST, "x-hub-signature-256": signature}
        _problem(client.post(f"/v1/webhooks/{source}", content=body, headers=signed), 401)
    assert _state(client) == (0, 0)
    assert _artifact(client, digest("d1")).status_code == 404


def test_every_source_takes_the_bearer_token(client: TestClient) -> None:
    r = client.post("/v1/webhooks/distribution", content=_envelope(_dist_event(1)), headers=INGEST)
    assert r.status_code == 202, r.text
    # The read token may not write, on any route.
    _problem(client.post("/v1/webhooks/distribution", content=b"{}", headers=READ), 403)
    _problem(client.post("/v1/events", content=b"{}", headers=READ), 403)


def test_unauthenticated_requests_store_nothing_and_add_no_metric_series(
    client: TestClient,
) -> None:
    """Finding 2: bad signatures and made-up source names wrote 1 MB quarantine rows and
    one Prometheus series each."""
    big = b'{"x": "' + b"a" * 1_000_000 + b'"}'
    ghcr = {"content-type": "application/json", "x-github-event": "package"}
    for n in range(5):
        bad = ghcr | {"x-hub-signature-256": "sha256=" + "0" * 64}
        _problem(client.post("/v1/webhooks/ghcr", content=big, headers=bad), 401)
        _problem(client.post(f"/v1/webhooks/made-up-{n}", content=big), 401)
        _problem(client.post("/v1/webhooks/ghcr", content=big, headers=ghcr), 401)
    assert _state(client) == (0, 0)
    metrics = client.get("/metrics").text
    assert "made-up" not in metrics
    # An authenticated sender's unknown source is kept (404), under a label we chose.
    _problem(client.post("/v1/webhooks/made-up-x", content=b"{}", headers=INGEST), 404)
    assert _state(client) == (0, 1)
    assert "made-up" not in client.get("/metrics").text


def test_a_valid_github_signature_is_the_credential_of_ghcr(client: TestClient) -> None:
    payload = {"action": "published", "package": {"name": "x", "package_type": "npm"}}
    body = orjson.dumps(payload)
    good = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"content-type": "application/json", "x-github-event": "package"}
    r = client.post(
        "/v1/webhooks/ghcr", content=body, headers=headers | {"x-hub-signature-256": good}
    )
    assert r.status_code == 202, r.text
    forged = body + b" "
    r = client.post(
        "/v1/webhooks/ghcr", content=forged, headers=headers | {"x-hub-signature-256": good}
    )
    assert _problem(r, 401)["detail"] == "X-Hub-Signature-256 does not match the body"
    assert _state(client) == (1, 0)


@pytest.mark.parametrize("source", ["dockerhub", "quay"])
def test_the_url_token_is_a_credential_of_dockerhub_and_quay_only(
    client: TestClient, source: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = orjson.dumps({"anything": True})
    r = client.post(f"/v1/webhooks/{source}?token=i-tok&x=1", content=body)
    assert r.status_code in (202, 422), r.text  # authenticated: judged on its content
    _problem(client.post(f"/v1/webhooks/{source}?token=wrong", content=body), 401)
    _problem(client.post(f"/v1/webhooks/{source}?token=r-tok", content=body), 403)
    other = "/v1/webhooks/distribution?token=i-tok"
    _problem(
        client.post(other, content=_envelope(_dist_event(1)), headers={"content-type": DIST}), 401
    )
    entries = client.get("/v1/audit/log", headers=READ).json()["entries"]
    items = client.get("/v1/quarantine", headers=ADMIN).json()["items"]
    stored = orjson.dumps([entries, items]).decode()
    assert "i-tok" not in stored  # the token is a credential, never evidence
    assert all(e["params"] == {"x": "1"} for e in entries + items)
    # Nor in any line the service logs (the test client's own request log aside).
    ours = [r for r in caplog.records if not r.name.startswith("httpx")]
    assert ours and all("i-tok" not in r.getMessage() for r in ours)


def test_log_lines_redact_url_tokens() -> None:
    from provenance.logs import RedactingFilter

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/v1/webhooks/quay?x=1&token=i-tok", "1.1", 202),
        None,
    )
    RedactingFilter().filter(record)
    assert "i-tok" not in record.getMessage()
    assert "/v1/webhooks/quay?x=1&token=[redacted]" in record.getMessage()


# --- the Pub/Sub push OIDC token on gar ----------------------------------------------------


@pytest.fixture
def gar_client(make_client: Callable[..., TestClient]) -> Iterator[tuple[TestClient, Any]]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.trust.test_pubsub_auth import ACCOUNT, AUDIENCE, KID, CertsServer, jwks

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = CertsServer()
    server.publish(jwks({KID: key}))
    client = make_client(
        **TOKENS, gar_audience=AUDIENCE, gar_service_account=ACCOUNT, google_certs_url=server.url
    )
    yield client, key
    server.stop()


def test_gar_takes_the_pubsub_push_token(gar_client: tuple[TestClient, Any]) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.trust.test_pubsub_auth import claims, sign

    client, key = gar_client
    message = {"action": "INSERT", "digest": f"us-docker.pkg.dev/p/r/img@{digest('g1')}"}
    import base64

    body = orjson.dumps(
        {
            "message": {
                "data": base64.b64encode(orjson.dumps(message)).decode(),
                "messageId": "m-1",
                "publishTime": "2026-03-09T14:00:00Z",
            },
            "subscription": "projects/p/subscriptions/gcr",
        }
    )
    good = sign(key, claims())
    r = client.post("/v1/webhooks/gar", content=body, headers={"authorization": f"Bearer {good}"})
    assert r.status_code == 202, r.text
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for token in (
        sign(key, claims(aud="https://elsewhere.example")),
        sign(key, claims(email="intruder@evil.iam.gserviceaccount.com")),
        sign(key, claims(exp=1_600_000_000, iat=1_599_999_000)),
        sign(other, claims()),
    ):
        r = client.post(
            "/v1/webhooks/gar", content=body, headers={"authorization": f"Bearer {token}"}
        )
        _problem(r, 401)
    # The push token is a credential of gar only.
    r = client.post(
        "/v1/webhooks/distribution",
        content=_envelope(_dist_event(1)),
        headers={"authorization": f"Bearer {good}", "content-type": DIST},
    )
    _problem(r, 401)
    assert _state(client) == (1, 0)


# --- deliveries of several events ---------------------------------------------------------


def test_one_bad_event_does_not_refuse_its_neighbours(client: TestClient) -> None:
    """Distribution retries any non-2xx forever: one bad event must not block the queue."""
    body = _envelope(_dist_event(1), _dist_event(2, digest="sha256:nothex"), _dist_event(3))
    r = client.post(
        "/v1/webhooks/distribution", content=body, headers=INGEST | {"content-type": DIST}
    )
    assert r.status_code == 202, r.text
    answer = r.json()
    assert answer["accepted"] == 2
    assert [x["index"] for x in answer["rejected"]] == [1]
    assert "sha256:nothex" in answer["rejected"][0]["reason"]
    items = client.get("/v1/quarantine?kind=event", headers=ADMIN).json()["items"]
    assert [(i["kind"], i["index"]) for i in items] == [("event", 1)]
    assert _artifact(client, digest("d1")).status_code == 200
    assert _artifact(client, digest("d3")).status_code == 200
    # The same delivery again is a duplicate of what was accepted, refused the same way.
    again = client.post(
        "/v1/webhooks/distribution", content=body, headers=INGEST | {"content-type": DIST}
    )
    assert again.json()["duplicates"] == 2 and [x["index"] for x in again.json()["rejected"]] == [1]


@pytest.mark.parametrize("framing", ["array", "ndjson"])
def test_canonical_events_are_accepted_one_by_one(client: TestClient, framing: str) -> None:
    good = [event("artifact.pushed", digest=digest(f"c{i}")) for i in range(3)]
    bad = event("artifact.pushed", digest=digest("c9") + "\n")
    items = [good[0], bad, good[1], {"not": "an event"}, good[2]]
    if framing == "array":
        body, ctype = orjson.dumps(items), "application/json"
    else:
        body = b"\n".join(orjson.dumps(i) for i in items) + b"\n{broken\n"
        ctype = "application/x-ndjson"
    r = client.post("/v1/events", content=body, headers=INGEST | {"content-type": ctype})
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 3
    expected = [1, 3] if framing == "array" else [1, 3, 5]
    assert [x["index"] for x in r.json()["rejected"]] == expected
    # Only a delivery with no valid event at all is a 422.
    _problem(client.post("/v1/events", content=orjson.dumps([bad]), headers=INGEST), 422)


def test_a_kubernetes_event_list_and_a_cdevents_batch_are_taken_item_by_item(
    client: TestClient,
) -> None:
    pod = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "auditID": "a-1",
        "stage": "ResponseComplete",
        "verb": "create",
        "objectRef": {"resource": "pods", "namespace": "prod", "name": "api-1", "apiVersion": "v1"},
        "responseStatus": {"code": 201},
        "requestReceivedTimestamp": "2026-03-09T14:00:00.000000Z",
        "stageTimestamp": "2026-03-09T14:00:00.100000Z",
        "user": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
        "responseObject": {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": "api-1", "namespace": "prod"},
            "spec": {
                "containers": [
                    {"name": "api", "image": f"registry.acme.io/acme/api@{digest('k1')}"}
                ]
            },
        },
    }
    broken = pod | {
        "auditID": "a-2",
        "requestReceivedTimestamp": "yesterday",
        "stageTimestamp": "no",
    }
    body = orjson.dumps(
        {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [pod, broken]}
    )
    r = client.post("/v1/webhooks/k8s-audit?cluster=eu-1", content=body, headers=INGEST)
    assert r.status_code == 202, r.text
    assert [x["index"] for x in r.json()["rejected"]] == [1]


# --- 3, 5 and 7: what the store cannot hold is a 4xx, quarantined; the graph goes on ------

LONG = "x" * 400


@pytest.mark.parametrize(
    ("name", "make", "status"),
    [
        (
            "actor over 300",
            lambda: event("artifact.pulled", digest=digest("h"), actor="a" * 301),
            422,
        ),
        ("NUL in actor", lambda: event("artifact.pulled", digest=digest("h"), actor="a\x00b"), 422),
        ("NUL in id", lambda: event("artifact.pushed", digest=digest("h")) | {"id": "a\x00"}, 422),
        ("id over 300", lambda: event("artifact.pushed", digest=digest("h")) | {"id": LONG}, 422),
        (
            "source over 32",
            lambda: event("artifact.pushed", digest=digest("h"), source=LONG[:33]),
            422,
        ),
        ("digest with a newline", lambda: event("artifact.pushed", digest=digest("h") + "\n"), 422),
        (
            "integer past 2^53",
            lambda: event("artifact.pushed", digest=digest("h"), size=2**53 + 1),
            422,
        ),
        (
            "attribute past 2^53",
            lambda: event("artifact.pushed", digest=digest("h"), attributes={"n": 2**60}),
            422,
        ),
        (
            "attributes 350 deep",
            lambda: event("artifact.pushed", digest=digest("h"), attributes=_nested(350)),
            422,
        ),
        (
            "time overflows in UTC",
            lambda: event("artifact.pushed", digest=digest("h"), time="0001-01-01T00:00:00+01:00"),
            422,
        ),
        (
            "time past year 9998",
            lambda: event("artifact.pushed", digest=digest("h"), time="9999-12-31T23:59:59-01:00"),
            422,
        ),
        (
            "tag over 128",
            lambda: event("tag.updated", digest=digest("h"), repository="r.io/a", tag="t" * 129),
            422,
        ),
    ],
)
def test_what_the_store_cannot_hold_is_refused_at_the_edge(
    client: TestClient, name: str, make: Callable[[], dict[str, Any]], status: int
) -> None:
    body = json.dumps(make()).encode()  # orjson writes at most 254 levels
    for _ in range(2):  # a retry gets the same answer, never a 500
        _problem(client.post("/v1/events", content=body, headers=INGEST), status)
    assert _state(client) == (0, 2)  # both kept in quarantine with the reason
    _good_delivery_still_projects(client)


def test_hostile_request_metadata_is_refused_and_kept(client: TestClient) -> None:
    body = _envelope(_dist_event(1))
    r = client.post(
        "/v1/webhooks/distribution?registry=evil%00x",
        content=body,
        headers=INGEST | {"content-type": DIST},
    )
    _problem(r, 422)
    r = client.post(
        "/v1/events",
        content=orjson.dumps(event("artifact.pushed", digest=digest("m"))),
        headers=INGEST | {"content-type": "application/" + "x" * 250},
    )
    _problem(r, 415)
    for ctype in ("text/plain", "image/png"):
        _problem(
            client.post("/v1/events", content=b"{}", headers=INGEST | {"content-type": ctype}), 415
        )
        _problem(
            client.post(
                "/v1/attestations", content=b"{}", headers=INGEST | {"content-type": ctype}
            ),
            415,
        )
    assert _state(client) == (0, 6)
    _good_delivery_still_projects(client)


def test_a_body_too_large_is_a_413_quarantined_for_an_authenticated_sender(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(**TOKENS, max_body_bytes=1000)
    body = orjson.dumps([event("artifact.pushed", digest=digest(f"b{i}")) for i in range(20)])
    _problem(client.post("/v1/events", content=body, headers=INGEST), 413)
    _problem(client.post("/v1/events", content=body), 401)  # an outsider's is not kept
    [item] = client.get("/v1/quarantine", headers=ADMIN).json()["items"]
    assert item["error"] == "BodyTooLarge" and "exceeds the limit" in item["reason"]


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"n": value}
    return value


def _good_delivery_still_projects(client: TestClient) -> None:
    d = digest("after-the-attack")
    r = client.post(
        "/v1/events", content=orjson.dumps(event("artifact.pushed", digest=d)), headers=INGEST
    )
    assert r.status_code == 202, r.text
    assert _artifact(client, d).status_code == 200
    ready = client.get("/readyz").json()
    assert ready["checks"]["database"]["projection_lag"] == 0


# --- a log entry that fails to project is set aside; the projection goes on ---------------


def _poison_timeline(db: Database, event_id: str) -> None:
    """A real failure of the store for one entry (a constraint it violates), as a bug of
    the projection on some input would cause, on either backend."""
    with db.engine.begin() as conn:
        if db.is_sqlite:
            conn.exec_driver_sql(
                "CREATE TRIGGER poison BEFORE INSERT ON timeline "
                f"WHEN NEW.event_id = '{event_id}' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.event_id = '{event_id}' THEN RAISE EXCEPTION 'poisoned' "
                "USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER poison BEFORE INSERT ON timeline "
                "FOR EACH ROW EXECUTE FUNCTION poison()"
            )


def test_an_entry_that_fails_to_project_is_set_aside_and_the_graph_goes_on(
    db: Database, make_client: Callable[..., TestClient]
) -> None:
    """Finding 3: one accepted delivery stopped the embedded projection for good."""
    _poison_timeline(db, "poison-1")
    client = make_client(**TOKENS)
    posts = [
        event("artifact.pushed", digest=digest("p1")),
        event("artifact.pushed", digest=digest("p2")) | {"id": "poison-1"},
        event("artifact.pushed", digest=digest("p3")),
    ]
    for e in posts:  # one delivery each: three log entries
        assert client.post("/v1/events", content=orjson.dumps(e), headers=INGEST).status_code == 202
    assert _artifact(client, digest("p1")).status_code == 200
    assert _artifact(client, digest("p3")).status_code == 200
    assert _artifact(client, digest("p2")).status_code == 404
    [item] = client.get("/v1/quarantine?kind=projection", headers=ADMIN).json()["items"]
    assert item["seq"] == 2 and "poisoned" in item["reason"]
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert ready.json()["checks"]["projection"] == {"ok": False, "set_aside": 1}
    assert "provenance_projection_set_aside 1.0" in client.get("/metrics").text
    # A restart does not stop at it either.
    again = make_client(**TOKENS)
    later = event("artifact.pushed", digest=digest("p4"))
    assert again.post("/v1/events", content=orjson.dumps(later), headers=INGEST).status_code == 202
    assert _artifact(again, digest("p4")).status_code == 200
    # Once the cause is fixed, a rebuild projects it.
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "DROP TRIGGER poison" if db.is_sqlite else "DROP TRIGGER poison ON timeline"
        )
    from provenance.store import projection

    with db.write() as session:
        projection.rebuild(session)
    with db.write() as session:
        projection.project_pending(session)
    assert _artifact(again, digest("p2")).status_code == 200
    assert again.get("/readyz").json()["status"] == "ready"


def test_a_broken_database_is_not_blamed_on_the_entry(
    db: Database, make_client: Callable[..., TestClient]
) -> None:
    """A missing table is the database's fault: nothing is set aside, the cursor waits."""
    client = make_client(**TOKENS)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE timeline RENAME TO timeline_away")
    r = client.post(
        "/v1/events",
        content=orjson.dumps(event("artifact.pushed", digest=digest("w"))),
        headers=INGEST,
    )
    assert r.status_code == 202  # durably logged; the projection will catch up
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE timeline_away RENAME TO timeline")
    assert client.get("/v1/quarantine?kind=projection", headers=ADMIN).json()["items"] == []
    from provenance.store import projection

    with db.write() as session:
        projection.project_pending(session)
    assert _artifact(client, digest("w")).status_code == 200


# --- 6: readers survive every accepted entry; paging out of range is a 422 ---------------


def test_readers_survive_an_entry_nested_deeper_than_any_reader_renders(
    db: Database, make_client: Callable[..., TestClient]
) -> None:
    """Finding 6: an event nested 300 deep (accepted before the edge knew better) made its
    page of the audit log answer 500."""
    deep = event("artifact.pushed", digest=digest("deep"), attributes=_nested(300))
    with db.write() as session:  # what an older release accepted
        log.append(
            session,
            Delivery("events", json.dumps(deep).encode(), utcnow(), "application/json"),
            [_unchecked(deep)],
        )
    # Projected before the readers are asked (not left to the app's background thread,
    # whose timing would decide whether the timeline exists yet).
    with db.write() as session:
        projection.project_pending(session)
    client = make_client(**TOKENS)
    page = client.get("/v1/audit/log", headers=READ)
    assert page.status_code == 200, page.text
    assert page.json()["entries"][0]["seq"] == 1
    assert client.get("/v1/audit/verify", headers=READ).json()["ok"] is True
    timeline = client.get(f"/v1/artifacts/{digest('deep')}/timeline", headers=READ)
    assert timeline.status_code == 200, timeline.text
    for route in ("", "/lineage", "/lineage?format=graphml", "/evidence"):
        answer = client.get(f"/v1/artifacts/{digest('deep')}{route}", headers=READ)
        assert answer.status_code == 200, (route, answer.text)
    export = client.get("/v1/exports/compliance?format=ndjson", headers=READ)
    assert export.status_code == 200, export.text


def _unchecked(raw: dict[str, Any]) -> Any:
    from provenance.model.events import Event, EventType
    from provenance.model.timeutil import parse_time

    return Event(
        id=raw["id"],
        type=EventType(raw["type"]),
        time=parse_time(raw["time"]),
        source=raw["source"],
        digest=raw["digest"],
        attributes=raw["attributes"],
    )


@pytest.mark.parametrize("route", ["/v1/audit/log", "/v1/alerts", "/v1/quarantine"])
def test_paging_out_of_range_is_a_422(client: TestClient, route: str) -> None:
    _problem(client.get(f"{route}?after=99999999999999999999", headers=ADMIN), 422)
    _problem(client.get(f"{route}?after=-1", headers=ADMIN), 422)


# --- 7: the chain's verification, tampered rows, the 503 ----------------------------------


def test_verify_is_bounded_and_says_what_it_checked(client: TestClient) -> None:
    for i in range(3):
        client.post(
            "/v1/events",
            content=orjson.dumps(event("artifact.pushed", digest=digest(f"v{i}"))),
            headers=INGEST,
        )
    first = client.get("/v1/audit/verify", headers=READ).json()
    assert first | {"head": None} == {
        "ok": True,
        "entries": 3,
        "head": None,
        "first_bad_seq": None,
        "reason": None,
        "checked_from": 1,
        "checked": 3,
        "full": True,
    }
    client.post(
        "/v1/events",
        content=orjson.dumps(event("artifact.pushed", digest=digest("v9"))),
        headers=INGEST,
    )
    second = client.get("/v1/audit/verify", headers=READ).json()
    assert (second["ok"], second["entries"], second["checked_from"], second["checked"]) == (
        True,
        4,
        4,
        1,
    )
    assert second["full"] is False
    _problem(client.get("/v1/audit/verify?full=true", headers=READ), 403)
    full = client.get("/v1/audit/verify?full=true", headers=ADMIN).json()
    assert (full["ok"], full["checked"], full["full"]) == (True, 4, True)


def test_tampered_rows_are_named_not_crashed_on(db: Database, client: TestClient) -> None:
    for i in range(3):
        client.post(
            "/v1/events",
            content=orjson.dumps(event("artifact.pushed", digest=digest(f"t{i}"))),
            headers=INGEST,
        )
    with db.engine.begin() as conn:
        if db.is_sqlite:  # the body rewritten as text
            conn.execute(text("UPDATE log_entries SET body = CAST(body AS TEXT) WHERE seq = 2"))
        else:  # the headers set to JSON null
            conn.execute(text("UPDATE log_entries SET headers = 'null' WHERE seq = 2"))
    with db.read() as session:
        result = log.verify(session)
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert "not what was written" in (result.reason or "")
    answer = client.get("/v1/audit/verify?full=true", headers=ADMIN).json()
    assert (answer["ok"], answer["first_bad_seq"]) == (False, 2)
    assert client.get("/v1/audit/log", headers=READ).status_code == 200


def test_the_503_names_no_host() -> None:
    from provenance.model.errors import Unavailable

    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(Unavailable) as caught:
        db.ping()
    assert "127.0.0.1" not in caught.value.detail and ":1" not in caught.value.detail


# --- credentials come before the body ----------------------------------------------------


@pytest.fixture
def live_server(db: Database) -> Iterator[str]:
    """The app on a real socket (uvicorn in a thread), for what a test client hides."""
    import socket
    import threading
    import time

    import uvicorn

    from api import create_app
    from provenance.settings import Settings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(Settings(database_url=db.url, **TOKENS, github_webhook_secret=SECRET), db=db)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_credentials_are_checked_before_the_body_is_read(live_server: str) -> None:
    """An outsider announcing 9 MB gets its 401 at once: the server answers without
    waiting for (or buffering) a byte of the body."""
    import socket

    host, port = live_server.split(":")
    for path, extra in [
        ("/v1/webhooks/distribution", ""),
        ("/v1/webhooks/made-up", ""),
        ("/v1/events", "Authorization: Bearer wrong\r\n"),
        ("/v1/webhooks/quay?token=wrong", ""),
    ]:
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: 9000000\r\n{extra}\r\n".encode()
            )
            head = sock.recv(4096)  # times out (a failure) if the server waits for the body
        assert head.startswith(b"HTTP/1.1 401"), (path, head[:200])


def test_the_documented_distribution_envelope_keeps_its_valid_push(client: TestClient) -> None:
    """Issue 9: the envelope of Distribution's own documentation was refused whole because
    its layer events carry a malformed (65-hex) digest."""
    from tests.conftest import SAMPLES

    body = (SAMPLES / "vendor/distribution/notifications-doc-envelope.json").read_bytes()
    r = client.post(
        "/v1/webhooks/distribution", content=body, headers=INGEST | {"content-type": DIST}
    )
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 1
    assert [x["index"] for x in r.json()["rejected"]] == [1, 2]
    manifest = "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf"
    view = _artifact(client, manifest).json()
    assert view["repositories"] == ["example.com/library/test"]
