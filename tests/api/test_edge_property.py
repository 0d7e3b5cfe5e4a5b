"""The whole edge as a property (issue 8), on SQLite and PostgreSQL.

Arbitrary bounded JSON (with the values that broke the store before: NULs, integers past
2^53, deep nesting, long strings, out-of-range times) through every ingest route either
is refused with a 4xx and quarantined, or is accepted and then projected: nothing set
aside, no lag, and a good delivery after it still reaches the graph.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import count
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.sources import SOURCES
from tests.factories import digest, event

ADMIN = {"authorization": "Bearer a-tok"}
ROUTES = ["/v1/events", "/v1/attestations", *(f"/v1/webhooks/{s}" for s in sorted(SOURCES))]
CONTENT_TYPES = [
    "application/json",
    "application/x-ndjson",
    "application/vnd.docker.distribution.events.v1+json",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
]
_good = count()

nasty_strings = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            "a\x00b",
            "x" * 400,
            "sha256:" + "a" * 64 + "\n",
            digest("known"),
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "2026-03-09T14:00:00Z",
            "artifact.pushed",
            "deployment.applied",
            "registry.acme.io/acme/api",
        ]
    ),
)
nasty_numbers = st.one_of(
    st.integers(-(2**70), 2**70), st.sampled_from([2**53, 2**63, -(2**63) - 1, 0])
)
scalars = st.one_of(st.none(), st.booleans(), nasty_numbers, nasty_strings)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(nasty_strings, inner, max_size=5)
    ),
    max_leaves=25,
)
event_fields = st.fixed_dictionaries(
    {"id": nasty_strings, "type": nasty_strings, "time": nasty_strings, "source": nasty_strings},
    optional={
        "digest": nasty_strings,
        "repository": nasty_strings,
        "tag": nasty_strings,
        "actor": nasty_strings,
        "size": nasty_numbers,
        "workload": nasty_strings,
        "attributes": json_values,
    },
)


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"n": value}
    return value


bodies = st.one_of(
    json_values,
    event_fields,
    st.lists(event_fields, min_size=1, max_size=3),
    st.builds(lambda e, d: e | {"attributes": _deep(d)}, event_fields, st.integers(30, 400)),
    st.builds(lambda events: {"events": events}, st.lists(json_values, max_size=3)),
)


@pytest.fixture
def edge(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(ingest_token="i-tok", read_token="r-tok", admin_token="a-tok")


def _quarantined(client: TestClient) -> int:
    return len(client.get("/v1/quarantine?limit=1000", headers=ADMIN).json()["items"])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(route=st.sampled_from(ROUTES), ctype=st.sampled_from(CONTENT_TYPES), body=bodies)
def test_any_json_is_refused_and_kept_or_accepted_and_projected(
    edge: TestClient, route: str, ctype: str, body: Any
) -> None:
    before = _quarantined(edge)
    raw = json.dumps(body).encode()  # json: writes any depth (orjson stops at 254)
    r = edge.post(route, content=raw, headers=ADMIN | {"content-type": ctype})
    assert r.status_code < 500, r.text
    if r.status_code == 202:
        answer = r.json()
        assert _quarantined(edge) == before + len(answer["rejected"])
        ready = edge.get("/readyz").json()
        assert ready["checks"]["database"]["projection_lag"] == 0
        assert ready["checks"]["projection"] == {"ok": True, "set_aside": 0}, raw[:300]
    else:
        assert 400 <= r.status_code < 500
        assert r.headers["content-type"] == "application/problem+json"
        assert _quarantined(edge) == before + 1, (route, r.text)
    good = digest(f"good-{next(_good)}")
    ok = edge.post(
        "/v1/events", content=json.dumps(event("artifact.pushed", digest=good)), headers=ADMIN
    )
    assert ok.status_code == 202, ok.text
    assert edge.get(f"/v1/artifacts/{good}", headers=ADMIN).status_code == 200
