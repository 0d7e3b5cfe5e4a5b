"""Hostile input in the distributed mode (issue 8, items 4 and 5), with real processes:
Tansu, PostgreSQL, `provenance api` and `provenance worker`.

What the store cannot hold never stops the worker: a delivery refused by the shared
validation (`limits`), or one that passes it but that the store itself refuses (a
PostgreSQL trigger stands in for any constraint), is dead-lettered and quarantined while
the rest of its batch is logged; a log entry the graph cannot take is set aside and the
projection goes on. Through the API the same inputs are a 4xx, quarantined, every time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from sqlalchemy import select

from provenance.ingest import wire
from provenance.ingest.sources import Delivery
from provenance.model.timeutil import utcnow
from provenance.store.models import EventKey, LogEntry, QuarantineItem, TimelineEvent
from tests.conftest import SAMPLES
from tests.factories import sha
from tests.streams.conftest import Stack

pytestmark = pytest.mark.integration

TOPICS = wire.Topics.named("provenance")
STORE_REFUSES = "the-store-refuses-me"  # passes validation; a check of event_keys refuses it
GRAPH_REFUSES = "the-graph-refuses-me"  # logged; a check of the timeline refuses it
CHECK_MESSAGE = "refused by a check of the test"
DIST = "application/vnd.docker.distribution.events.v1+json"
REGISTRY = "registry.acme.io"


def _event(event_id: str, **fields: Any) -> dict[str, Any]:
    """A cheap-to-project canonical event (a merged change: one commit node)."""
    return {
        "id": event_id,
        "type": "change.merged",
        "time": "2026-03-09T14:00:00Z",
        "source": "ci",
        "commit": sha(event_id),
        "repository": "git.acme.io/acme/hostile",
    } | fields


def _body(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)


def _deep_body(depth: int) -> bytes:
    """An event whose attributes nest `depth` levels (orjson cannot write that deep)."""
    head = _body(_event("deep")).removesuffix(b"}")
    return head + b',"attributes":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


@dataclass(frozen=True)
class Hostile:
    name: str
    body: bytes
    error: str  # the refusal's class: the dead letter's `error`, the quarantine's
    reason: str  # a fragment of the reason
    status: int  # what the API answers
    content_type: str = "application/json"
    source: str = "events"
    registry: str = REGISTRY  # the `?registry=` of a Distribution webhook

    def delivery(self) -> Delivery:
        params = {"registry": self.registry} if self.source == "distribution" else {}
        return Delivery(self.source, self.body, utcnow(), self.content_type, params=params)

    @property
    def path(self) -> str:
        if self.source == "events":
            return "/v1/events"
        return f"/v1/webhooks/{self.source}?registry={quote(self.registry)}"


def _distribution_push(size: int) -> bytes:
    """The Distribution sample push, with the manifest's size replaced."""
    path = SAMPLES / "distribution" / "push-manifest-v1.4.2.json"
    if not path.exists():
        pytest.skip(f"sample {path} not available")
    envelope = orjson.loads(path.read_bytes())
    envelope["events"][0]["target"]["size"] = size
    return orjson.dumps(envelope)


HOSTILE = [
    Hostile("id of 400", _body(_event("x" * 400)), "InvalidPayload", "id has 400 characters", 422),
    Hostile("nested 400", _deep_body(400), "InvalidPayload", "nests deeper than 32", 422),
    Hostile(
        "integer past 2^53",
        _body(_event("big-int", attributes={"bytes": 2**53 + 1})),
        "InvalidPayload",
        "integer beyond 2^53",
        422,
    ),
    Hostile(
        "size past 2^53",
        _body(_event("big-size", size=2**63 - 1)),
        "InvalidPayload",
        "size 9223372036854775807 is out of range",
        422,
    ),
    Hostile(
        "a Distribution size past 2^53",
        _distribution_push(2**53 + 1),
        "InvalidPayload",
        "size 9007199254740993 is out of range",
        422,
        content_type=DIST,
        source="distribution",
    ),
    Hostile(
        "NUL in a query parameter",
        _distribution_push(1560),
        "InvalidPayload",
        "'registry' contains a NUL byte",
        422,
        content_type=DIST,
        source="distribution",
        registry="evil\x00x",
    ),
    Hostile(
        "time before year 1 in UTC",
        _body(_event("early", time="0001-01-01T00:00:00+01:00")),
        "InvalidPayload",
        "out of range in UTC",
        422,
    ),
    Hostile(
        "source of 33",
        _body(_event("long-source", source="s" * 33)),
        "InvalidPayload",
        "source has 33 characters",
        422,
    ),
    Hostile(
        "content type of 217",
        _body(_event("long-type")),
        "UnsupportedMedia",
        "content type of 217 characters",
        415,
        content_type="application/" + "x" * 200 + "+json",
    ),
    Hostile(
        "NUL in an id",
        _body(_event("nul\x00id")),
        "InvalidPayload",
        "id contains a NUL byte",
        422,
    ),
]


def _case(name: str) -> Hostile:
    (case,) = [c for c in HOSTILE if c.name == name]
    return case


def _one(event: dict[str, Any]) -> Delivery:
    return Delivery("events", _body(event), utcnow(), "application/json")


def _refuse_in_postgres(stack: Stack, table: str, event_id: str) -> None:
    """A check the store enforces on `table` for one event id, as a constraint would."""
    with stack.db.engine.begin() as conn:
        conn.exec_driver_sql(
            f"""
            CREATE FUNCTION refuse_on_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.event_id = '{event_id}' THEN
                    RAISE EXCEPTION USING
                        MESSAGE = '{CHECK_MESSAGE}: ' || NEW.event_id,
                        ERRCODE = 'check_violation';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER refuse_on_{table} BEFORE INSERT ON {table}
                FOR EACH ROW EXECUTE FUNCTION refuse_on_{table}();
            """
        )


def _quarantined(stack: Stack) -> list[QuarantineItem]:
    with stack.db.read() as session:
        return list(session.execute(select(QuarantineItem).order_by(QuarantineItem.id)).scalars())


def _ids(stack: Stack, column: Any) -> set[str]:
    with stack.db.read() as session:
        return set(session.execute(select(column)).scalars())


def _processed(proc: Any) -> dict[str, int]:
    ready = httpx.get(proc.base_url + "/readyz", trust_env=False, timeout=10).json()
    counts: dict[str, int] = ready["checks"]["processed"]
    return counts


def _counted(ready: httpx.Response) -> int:
    messages: int = ready.json()["checks"]["processed"]["messages"]
    return messages


def _logged_ids(stack: Stack) -> list[str]:
    with stack.db.read() as session:
        logged = session.execute(select(LogEntry.events).order_by(LogEntry.seq)).scalars().all()
    return [e["id"] for events in logged for e in events]


def test_what_the_store_cannot_hold_is_dead_lettered_and_the_worker_goes_on(
    stack: Stack,
) -> None:
    worker = stack.worker()
    stack.wait_assigned(worker)
    _refuse_in_postgres(stack, "event_keys", STORE_REFUSES)
    _refuse_in_postgres(stack, "timeline", GRAPH_REFUSES)

    # One message, straight onto the topic (no API validated it): the hostile deliveries
    # among valid ones, one the store refuses, and one the graph refuses.
    first = ["ok-1", "ok-2", "ok-3", GRAPH_REFUSES]
    batch = [_one(_event("ok-1")), *(case.delivery() for case in HOSTILE)]
    batch += [_one(_event("ok-2")), _one(_event(STORE_REFUSES)), _one(_event(GRAPH_REFUSES))]
    batch += [_one(_event("ok-3"))]
    stack.publish([("git.acme.io/acme/hostile", batch)])
    stack.wait_logged(len(first))

    # Later deliveries are logged and projected past the entry the graph set aside.
    later = ["ok-4", "ok-5"]
    stack.publish([(f"later-{i}", [_one(_event(i))]) for i in later])
    stack.wait_logged(len(first) + len(later))

    assert worker.process.poll() is None  # never crashed: still the process we started
    # The counters move just after the commit (once the dead letters are acknowledged).
    stack.wait(worker, "/readyz", lambda r: _counted(r) == 1 + len(later), timeout=10)
    processed = _processed(worker)
    assert processed["accepted"] == len(first) + len(later)
    assert processed["dead_letters"] == len(HOSTILE) + 1
    assert "batch refused by the store; storing it delivery by delivery" in worker.log()

    # Logged: every valid event, each delivery one entry, in the order sent; the chain holds.
    logged = _logged_ids(stack)  # the later two went to partitions of their own
    assert logged[:4] == ["ok-1", "ok-2", GRAPH_REFUSES, "ok-3"] and set(logged[4:]) == {*later}
    assert _ids(stack, EventKey.event_id) == {*first, *later}
    verified = stack.verify()
    assert verified.ok and verified.entries == len(first) + len(later), verified
    # Projected: all but the one the graph refused.
    assert _ids(stack, TimelineEvent.event_id) == {"ok-1", "ok-2", "ok-3", *later}

    # Dead-lettered: each refused delivery alone, replayable, with its reason.
    letters = stack.consume(TOPICS.dead_letters, expect=len(HOSTILE) + 1)
    assert len(letters) == len(HOSTILE) + 1
    by_body = {wire.decode(m.value)[0].body: dict(m.headers) for m in letters}
    for case in HOSTILE:
        headers = by_body[case.body]
        assert headers["error"].decode() == case.error, case.name
        assert case.reason in headers["reason"].decode(), case.name
        assert headers["origin"].startswith(TOPICS.deliveries.encode())
    (ctype,) = [wire.decode(m.value)[0] for m in letters if b"long-type" in m.value]
    assert ctype.content_type == _case("content type of 217").content_type  # exactly as it came
    store = by_body[_body(_event(STORE_REFUSES))]
    assert store["error"] == b"StoreError"
    assert b"the store refused it: IntegrityError" in store["reason"]
    assert f"{CHECK_MESSAGE}: {STORE_REFUSES}".encode() in store["reason"]

    # Quarantined with the same reasons; the log entry the graph refused is set aside.
    items = _quarantined(stack)
    deliveries = [i for i in items if i.kind == "delivery"]
    assert len(deliveries) == len(HOSTILE) + 1
    kept = {i.body: i for i in deliveries}
    for case in HOSTILE:
        item = kept[case.body]
        assert (item.error, item.source) == (case.error, case.source), case.name
        assert case.reason in item.reason, case.name
    assert kept[_body(_event(STORE_REFUSES))].error == "StoreError"
    (aside,) = [i for i in items if i.kind == "projection"]
    with stack.db.read() as session:
        refused_seq = session.execute(
            select(EventKey.seq).where(EventKey.event_id == GRAPH_REFUSES)
        ).scalar_one()
    assert aside.seq == refused_seq and aside.error == "IntegrityError"
    assert f"{CHECK_MESSAGE}: {GRAPH_REFUSES}" in aside.reason
    assert len(items) == len(HOSTILE) + 2  # nothing else


def test_hostile_posts_are_refused_with_the_same_4xx_every_time(stack: Stack) -> None:
    worker = stack.worker()
    api = stack.api()
    stack.wait_assigned(worker)
    _refuse_in_postgres(stack, "timeline", GRAPH_REFUSES)
    with httpx.Client(base_url=api.base_url, trust_env=False, timeout=20) as http:
        for case in HOSTILE:
            answers = [
                http.post(case.path, content=case.body, headers={"content-type": case.content_type})
                for _ in range(2)  # a retry gets the same answer, never a 5xx
            ]
            for response in answers:
                assert response.status_code == case.status, (case.name, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert case.reason in response.json()["detail"], case.name
            assert answers[0].json() == answers[1].json()
        refused = _quarantined(stack)
        assert [(i.kind, i.error) for i in refused] == [
            ("delivery", case.error) for case in HOSTILE for _ in range(2)
        ]
        for case, item in zip(HOSTILE, refused[::2], strict=True):
            assert item.body == case.body and case.reason in item.reason, case.name
        assert stack.events_logged() == 0  # nothing reached the worker

        # A delivery of several events: the hostile ones refused one by one (quarantined by
        # the API, once), the rest accepted, and the worker logs and projects those.
        lines = [
            _body(_event("line-0")),
            _case("id of 400").body,
            _body(_event("line-2")),
            _case("integer past 2^53").body,
            _case("NUL in an id").body,
        ]
        mixed = http.post(
            "/v1/events",
            content=b"\n".join(lines),
            headers={"content-type": "application/x-ndjson"},
        )
        assert mixed.status_code == 202, mixed.text
        answer = mixed.json()
        assert answer["accepted"] == 2
        assert [r["index"] for r in answer["rejected"]] == [1, 3, 4]
        # Then one the graph refuses (its log entry is set aside), and one after it. One
        # repository, one partition: the worker logs them in the order they were accepted.
        for event_id in (GRAPH_REFUSES, "line-after"):
            response = http.post("/v1/events", content=_body(_event(event_id)))
            assert response.status_code == 202, response.text
        stack.wait_logged(4)

        assert _logged_ids(stack) == ["line-0", "line-2", GRAPH_REFUSES, "line-after"]
        for visible in ("line-0", "line-2", "line-after"):
            assert http.get(f"/v1/commits/{sha(visible)}").status_code == 200, visible
        assert http.get(f"/v1/commits/{sha(GRAPH_REFUSES)}").status_code == 404
        events = http.get("/v1/quarantine", params={"kind": "event"}).json()["items"]
        assert [(i["index"], i["error"]) for i in events] == [
            (1, "InvalidPayload"),
            (3, "InvalidPayload"),
            (4, "InvalidPayload"),
        ]  # once each: the worker, normalizing the same bytes, did not add them again
        aside = http.get("/v1/quarantine", params={"kind": "projection"}).json()["items"]
        assert len(aside) == 1 and GRAPH_REFUSES in aside[0]["reason"]
        ready = http.get("/readyz").json()
        assert ready["status"] == "degraded"
        assert ready["checks"]["projection"] == {"ok": False, "set_aside": 1}
    assert worker.process.poll() is None
    assert _processed(worker)["dead_letters"] == 0  # the API refused them all synchronously
