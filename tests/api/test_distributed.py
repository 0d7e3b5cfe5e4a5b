"""`provenance api` semantics with an in-memory publisher (no Kafka): 202 only once the
publisher acknowledged, known duplicates never published, refusals answered and
quarantined here, a publisher that cannot deliver is a 503."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from api import create_app
from provenance.ingest import wire
from provenance.ingest.service import ingest_batch
from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.model.errors import Unavailable
from provenance.model.timeutil import utcnow
from provenance.settings import Settings
from provenance.store import Database
from tests.factories import digest, event


class FakePublisher:
    """Keeps what it is given; `down` makes it refuse like an unreachable broker."""

    def __init__(self) -> None:
        self.published: list[tuple[Delivery, str]] = []
        self.down = False
        self.started = self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def publish(self, delivery: Delivery, *, key: str) -> None:
        if self.down:
            raise Unavailable("Kafka unreachable at fake:9092")
        self.published.append((delivery, key))

    async def check(self) -> dict[str, Any]:
        if self.down:
            raise Unavailable("Kafka unreachable at fake:9092")
        return {"brokers": 1}


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def client(db: Database, publisher: FakePublisher, service_key: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=db.url, kafka_url="kafka://fake:9092", signing_key=str(service_key)
    )
    with TestClient(create_app(settings, db=db, embedded=False, publisher=publisher)) as c:
        yield c


def _push(n: int) -> dict[str, Any]:
    return event("artifact.pushed", n, digest=digest(f"x{n}"), repository="r.io/a/b", tag="v1")


def test_accepted_means_published_with_the_repository_as_key(
    client: TestClient, publisher: FakePublisher
) -> None:
    e = _push(1)
    response = client.post(
        "/v1/events", content=orjson.dumps(e), headers={"authorization": "Bearer x"}
    )
    assert response.status_code == 202, response.text
    assert response.json() == {
        "accepted": 1,
        "duplicates": 0,
        "ids": [e["id"]],
        "seq": None,
        "rejected": [],
    }
    ((delivery, key),) = publisher.published
    assert key == "r.io/a/b" and delivery.body == orjson.dumps(e)
    assert publisher.started
    # what travels on the wire keeps no credentials
    (decoded,) = wire.decode(wire.encode([delivery]))
    assert "authorization" not in decoded.headers


def test_known_duplicates_are_answered_and_not_published(
    client: TestClient, publisher: FakePublisher, db: Database
) -> None:
    e = _push(2)
    body = orjson.dumps(e)
    ingest_batch(db, [Delivery("events", body, received_at=utcnow())], SourceSecrets())
    response = client.post("/v1/events", content=body)
    assert response.status_code == 202
    assert response.json()["duplicates"] == 1 and response.json()["accepted"] == 0
    assert publisher.published == []


def test_refusals_are_answered_here_and_quarantined(
    client: TestClient, publisher: FakePublisher
) -> None:
    response = client.post("/v1/events", content=b"{broken")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert publisher.published == []
    items = client.get("/v1/quarantine").json()["items"]
    assert len(items) == 1 and items[0]["error"] == "Unparseable"


def test_an_unreachable_broker_is_a_503_never_a_202(
    client: TestClient, publisher: FakePublisher
) -> None:
    publisher.down = True
    response = client.post("/v1/events", content=orjson.dumps(_push(3)))
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "Kafka unreachable" in response.json()["detail"]
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["kafka"] == {"ok": False, "error": response.json()["detail"]}


def test_readiness_reports_the_database_and_kafka(client: TestClient) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["mode"] == "distributed"
    assert checks["database"]["ok"] and checks["kafka"] == {"ok": True, "brokers": 1}


def test_api_mode_admits_only_credentials_and_publishes_nothing_else(
    db: Database, publisher: FakePublisher
) -> None:
    """Issue 8, finding 1 in `api` mode: the GitHub secret opens no route, an outsider
    publishes nothing and stores nothing, and one bad event of a delivery is refused
    alone (quarantined here; the rest is published)."""
    settings = Settings(
        database_url=db.url,
        kafka_url="kafka://fake:9092",
        ingest_token="i-tok",
        admin_token="a-tok",
        github_webhook_secret="s3cret",
    )
    with TestClient(create_app(settings, db=db, embedded=False, publisher=publisher)) as c:
        push = orjson.dumps(
            {
                "events": [
                    {
                        "id": "e-1",
                        "timestamp": "2026-03-09T14:00:00Z",
                        "action": "push",
                        "target": {
                            "mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": digest("forged"),
                            "repository": "acme/api",
                            "url": "https://registry.acme.io/v2/acme/api/manifests/x",
                        },
                    }
                ]
            }
        )
        r = c.post("/v1/webhooks/distribution", content=push)
        assert r.status_code == 401
        assert c.post("/v1/events", content=orjson.dumps(_push(1))).status_code == 401
        assert publisher.published == []
        admin = {"authorization": "Bearer a-tok"}
        assert c.get("/v1/quarantine", headers=admin).json()["items"] == []
        mixed = orjson.dumps([_push(2), _push(3) | {"id": "x" * 400}])
        r = c.post("/v1/events", content=mixed, headers={"authorization": "Bearer i-tok"})
        assert r.status_code == 202, r.text
        assert [x["index"] for x in r.json()["rejected"]] == [1]
        [(published, _)] = publisher.published
        assert published.body == mixed  # the exact bytes travel; the worker skips item 1
        [item] = c.get("/v1/quarantine", headers=admin).json()["items"]
        assert (item["kind"], item["index"]) == ("event", 1)
