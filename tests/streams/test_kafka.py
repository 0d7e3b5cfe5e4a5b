"""The distributed mode against a real Kafka-protocol broker (Tansu) and PostgreSQL:
`provenance api` -> Kafka -> `provenance worker` -> PostgreSQL, with real processes."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from provenance.ingest import wire
from provenance.ingest.sources import Delivery
from provenance.model.timeutil import utcnow
from provenance.store.models import LogEntry, QuarantineItem, TimelineEvent
from tests.conftest import sample_path
from tests.factories import sha
from tests.integration.conftest import free_port
from tests.streams.conftest import Stack

pytestmark = pytest.mark.integration

DIST = "application/vnd.docker.distribution.events.v1+json"
TOPICS = wire.Topics.named("provenance")


def _sample(name: str) -> bytes:
    return sample_path(f"distribution/{name}").read_bytes()


def _digest(body: bytes) -> str:
    target: dict[str, Any] = orjson.loads(body)["events"][0]["target"]
    return str(target["digest"])


def _merged(n: int, run: str) -> dict[str, Any]:
    """A cheap-to-project canonical event with a unique id (a merged change)."""
    return {
        "id": f"{run}-{n}",
        "type": "change.merged",
        "time": "2026-03-09T14:00:00Z",
        "source": "ci",
        "commit": sha(f"{run}-{n}"),
        "repository": f"git.acme.io/acme/repo-{n % 40:02d}",
    }


def _deliveries(run: str, count: int, per_delivery: int) -> list[tuple[str, list[Delivery]]]:
    """`count` events as (key, [delivery]) batches of `per_delivery` NDJSON events each."""
    out: list[tuple[str, list[Delivery]]] = []
    for start in range(0, count, per_delivery):
        events = [_merged(n, run) for n in range(start, min(start + per_delivery, count))]
        body = b"\n".join(orjson.dumps(e) for e in events)
        delivery = Delivery("events", body, utcnow(), "application/x-ndjson")
        out.append((events[0]["repository"], [delivery]))
    return out


def _exactly_once(stack: Stack, count: int, entries: int) -> None:
    """Every event once in the log (one entry per delivery), the graph and the chain."""
    with stack.db.read() as session:
        logged = session.execute(select(LogEntry.events)).scalars().all()
        ids = [e["id"] for events in logged for e in events]
        timeline = session.execute(
            select(func.count(), func.count(TimelineEvent.event_id.distinct()))
        ).one()
    assert len(ids) == len(set(ids)) == count
    assert len(logged) == entries
    assert tuple(timeline) == (count, count)
    verified = stack.verify()
    assert verified.ok and verified.entries == entries, verified


def test_api_to_kafka_to_worker_to_postgresql_and_back(stack: Stack) -> None:
    worker = stack.worker()
    api = stack.api()
    stack.wait_assigned(worker)
    push = _sample("push-manifest-v1.4.2.json")
    pull = _sample("pull-manifest-get-by-digest.json")
    repush = _sample("push-manifest-v1.4.2-repush.json")  # v1.4.2 moves to another digest
    url = "/v1/webhooks/distribution?registry=registry.acme.io"
    with httpx.Client(base_url=api.base_url, trust_env=False, timeout=10) as http:
        for body in (push, pull, repush):  # one after the other, as a registry sends them
            response = http.post(url, content=body, headers={"content-type": DIST})
            assert response.status_code == 202, response.text
            assert response.json()["accepted"] == 1 and response.json()["seq"] is None
        stack.wait_logged(3)

        artifact = http.get(f"/v1/artifacts/{_digest(push)}").json()
        assert artifact["repositories"] == ["registry.acme.io/acme/payments-api"]
        assert artifact["pulls"]["count"] == 1
        history = http.get(
            "/v1/tags/history",
            params={"repository": "registry.acme.io/acme/payments-api", "tag": "v1.4.2"},
        ).json()["history"]
        assert [h["digest"] for h in history] == [_digest(push), _digest(repush)]  # in order

        again = http.post(url, content=push, headers={"content-type": DIST}).json()
        assert (again["accepted"], again["duplicates"]) == (0, 1)
        verify = http.get("/v1/audit/verify").json()
        assert verify["ok"] and verify["entries"] == 3

        api_ready = http.get("/readyz").json()["checks"]
        assert api_ready["mode"] == "distributed" and api_ready["kafka"]["ok"]
        assert api_ready["kafka"]["partitions"] == 4
    worker_ready = httpx.get(worker.base_url + "/readyz", trust_env=False).json()["checks"]
    assert worker_ready["database"]["ok"] and worker_ready["kafka"]["ok"]
    assert worker_ready["processed"]["accepted"] == 3

    # the canonical events topic carries the log entries, in order, with their events
    messages = stack.consume(TOPICS.events, expect=3)
    entries = sorted((orjson.loads(m.value) for m in messages), key=lambda e: e["seq"])
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert [e["events"][0]["type"] for e in entries] == [
        "artifact.pushed",
        "artifact.pulled",
        "artifact.pushed",
    ]
    assert {m.key for m in messages} == {b"registry.acme.io/acme/payments-api"}

    # the tag move raised an alert; the leader publishes it to the alerts topic
    alerts = [orjson.loads(m.value) for m in stack.consume(TOPICS.alerts, expect=2)]
    assert sorted(a["kind"] for a in alerts) == ["new_puller", "tag_moved"]
    (alert,) = [a for a in alerts if a["kind"] == "tag_moved"]
    assert alert["details"]["previous_digest"] == _digest(push)
    assert alert["digest"] == _digest(repush) and alert["events"] == [3]


def test_a_worker_killed_mid_stream_loses_nothing_and_applies_nothing_twice(
    stack: Stack,
) -> None:
    # Small transactions, so that the kill lands between commits and acknowledgements.
    first = stack.worker("worker-1", PROVENANCE_WORKER_BATCH="5")
    stack.wait_assigned(first)
    stack.publish(_deliveries("kill", 5000, per_delivery=10))  # 500 messages

    deadline = time.monotonic() + 60
    while (logged := stack.events_logged()) < 500 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(first.process.pid, signal.SIGKILL)  # no shutdown, no offset commit
    first.process.wait(timeout=10)
    at_kill = stack.events_logged()
    assert 0 < logged <= at_kill < 5000, f"the kill did not land mid-stream ({at_kill})"

    second = stack.worker("worker-2", PROVENANCE_WORKER_BATCH="5")
    stack.wait_logged(5000)
    _exactly_once(stack, 5000, entries=500)
    processed = httpx.get(second.base_url + "/readyz", trust_env=False).json()["checks"]
    # it was handed the uncommitted offsets again: redelivered events were dropped as known
    assert processed["processed"]["accepted"] == 5000 - at_kill
    assert processed["processed"]["duplicates"] >= 0


def test_two_workers_share_the_partitions_and_apply_everything_once(stack: Stack) -> None:
    workers = [stack.worker("worker-1"), stack.worker("worker-2")]
    stack.wait_assigned(*workers)
    shares = [stack.assigned(w) for w in workers]
    assert all(shares) and not shares[0] & shares[1]

    stack.publish(_deliveries("pair", 2000, per_delivery=5))  # 400 messages, 40 keys
    stack.wait_logged(2000)
    _exactly_once(stack, 2000, entries=400)
    done = [
        httpx.get(w.base_url + "/readyz", trust_env=False).json()["checks"]["processed"]
        for w in workers
    ]
    assert all(d["messages"] > 0 for d in done), done  # both did their share
    assert sum(d["accepted"] for d in done) == 2000


def test_poison_goes_to_the_dead_letter_topic_and_the_stream_goes_on(stack: Stack) -> None:
    worker = stack.worker()
    stack.wait_assigned(worker)
    refused = Delivery(
        "distribution", b'{"events": [{"action": "push"}]}', utcnow(), DIST, params={"x": "1"}
    )
    good_before, good_after = _deliveries("poison", 20, per_delivery=10)
    deliveries = TOPICS.deliveries
    stack.produce(
        deliveries,
        [
            (b"k", b"\x00 not a batch at all"),
            (b"k", wire.encode([refused, *good_before[1]])),
            (good_after[0].encode(), wire.encode(good_after[1])),
        ],
    )
    stack.wait_logged(20)

    letters = stack.consume(TOPICS.dead_letters, expect=2)
    assert len(letters) == 2
    by_error = {dict(m.headers)["error"].decode(): m for m in letters}
    garbage, invalid = by_error["Unparseable"], by_error["InvalidPayload"]
    assert garbage.value == b"\x00 not a batch at all"
    assert b"not a delivery batch" in dict(garbage.headers)["reason"]
    assert dict(garbage.headers)["origin"].startswith(deliveries.encode())
    (replayable,) = wire.decode(invalid.value)  # the refused delivery alone, as sent
    assert replayable.body == refused.body and replayable.params == {"x": "1"}
    assert b"event.id is required" in dict(invalid.headers)["reason"]
    with stack.db.read() as session:
        reasons = session.execute(select(QuarantineItem.reason)).scalars().all()
    assert len(reasons) == 1 and "event.id is required" in reasons[0]
    assert worker.process.poll() is None  # still running
    processed = httpx.get(worker.base_url + "/readyz", trust_env=False).json()["checks"]
    assert processed["processed"]["dead_letters"] == 2


def test_kafka_unreachable_at_publish_time_is_a_503_never_a_202(stack: Stack) -> None:
    api = stack.api()
    body = orjson.dumps(_merged(1, "down"))
    with httpx.Client(base_url=api.base_url, trust_env=False, timeout=20) as http:
        assert http.post("/v1/events", content=body).status_code == 202
        stack.kafka.kill()
        response = http.post("/v1/events", content=orjson.dumps(_merged(2, "down")))
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == 503 and problem["type"].endswith("unavailable")
        ready = http.get("/readyz")
        assert ready.status_code == 503 and not ready.json()["checks"]["kafka"]["ok"]


def test_an_api_started_without_a_broker_answers_503(stack: Stack) -> None:
    nothing = f"kafka://127.0.0.1:{free_port()}"
    api = stack.api("api-no-broker", PROVENANCE_KAFKA_URL=nothing)
    with httpx.Client(base_url=api.base_url, trust_env=False, timeout=20) as http:
        response = http.post("/v1/events", content=orjson.dumps(_merged(1, "none")))
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert "Kafka unreachable" in response.json()["detail"]
        # refusals are still answered (and quarantined) without Kafka
        assert http.post("/v1/events", content=b"{broken").status_code == 400


def test_an_unexpected_error_stops_the_worker_and_the_message_comes_again(stack: Stack) -> None:
    first = stack.worker("worker-1")
    stack.wait_assigned(first)
    stack.publish(_deliveries("before", 10, per_delivery=10))
    stack.wait_logged(10)
    with stack.db.engine.begin() as conn:  # the database breaks under the worker's feet
        conn.exec_driver_sql("ALTER TABLE event_keys RENAME TO event_keys_away")
    stack.publish(_deliveries("during", 10, per_delivery=10))
    assert first.process.wait(timeout=60) == 1  # crashed, without acknowledging
    assert "ProgrammingError" in first.log() or "UndefinedTable" in first.log()
    with stack.db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE event_keys_away RENAME TO event_keys")
    stack.worker("worker-2")
    stack.wait_logged(20)  # the message that crashed the first worker was delivered again
    _exactly_once(stack, 20, entries=2)
