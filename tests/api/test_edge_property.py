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
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from provenance.ingest.sources import SOURCES
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


EVENT_TYPES = ["artifact.pushed", "artifact.pulled", "tag.updated", "deployment.applied"]
FIELDS = ["id", "source", "digest", "repository", "tag", "actor", "client", "workload", "time"]
nasty_values = st.one_of(nasty_strings, nasty_numbers, json_values)


def _valid_event(n: int, etype: str) -> dict[str, Any]:
    return event(
        etype,
        digest=digest(f"p{n}"),
        repository="registry.acme.io/acme/api",
        tag="v1",
        actor="ci-bot",
        workload="deployment/api",
    )


# A valid event with up to two fields replaced by hostile values: the edge must either
# refuse it or accept something that projects.
hostile_events = st.builds(
    lambda n, etype, overrides, attributes: (
        _valid_event(n, etype)
        | overrides
        | ({"attributes": attributes} if attributes is not None else {})
    ),
    st.integers(0, 10**6),
    st.sampled_from(EVENT_TYPES),
    st.dictionaries(st.sampled_from(FIELDS), nasty_values, max_size=2),
    st.one_of(st.none(), json_values, st.builds(_deep, st.integers(20, 400))),
)


def _dist(n: int, target: dict[str, Any], actor: Any) -> dict[str, Any]:
    d = digest(f"dist{n}")
    return {
        "id": f"dist-{n}",
        "timestamp": "2026-03-09T14:00:00Z",
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": d,
            "repository": "acme/api",
            "url": f"https://registry.acme.io/v2/acme/api/manifests/{d}",
            "tag": "v1",
            "size": 1234,
        }
        | target,
        "actor": {"name": actor},
    }


hostile_envelopes = st.builds(
    lambda items: {"events": items},
    st.lists(
        st.builds(
            _dist,
            st.integers(0, 10**6),
            st.dictionaries(
                st.sampled_from(["digest", "repository", "tag", "size", "mediaType", "url"]),
                nasty_values,
                max_size=2,
            ),
            nasty_strings,
        ),
        min_size=1,
        max_size=3,
    ),
)

deliveries = st.one_of(
    st.tuples(st.just("/v1/events"), st.just("application/json"), hostile_events),
    st.tuples(
        st.just("/v1/events"), st.just("application/json"), st.lists(hostile_events, max_size=3)
    ),
    st.tuples(
        st.just("/v1/webhooks/distribution"),
        st.just("application/vnd.docker.distribution.events.v1+json"),
        hostile_envelopes,
    ),
    st.tuples(st.sampled_from(ROUTES), st.sampled_from(CONTENT_TYPES), json_values),
    st.tuples(st.sampled_from(ROUTES), st.sampled_from(CONTENT_TYPES), event_fields),
)


@pytest.fixture
def edge(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(ingest_token="i-tok", read_token="r-tok", admin_token="a-tok")


def _quarantined(client: TestClient) -> int:
    return len(client.get("/v1/quarantine?limit=1000", headers=ADMIN).json()["items"])


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(delivery=deliveries)
@example(
    delivery=(
        "/v1/events",
        "application/json",
        _valid_event(1, "artifact.pulled") | {"actor": "a" * 301},
    )
)
@example(
    delivery=(
        "/v1/events",
        "application/json",
        _valid_event(2, "artifact.pushed") | {"id": "x" * 400},
    )
)
@example(
    delivery=(
        "/v1/events",
        "application/json",
        _valid_event(3, "artifact.pushed") | {"attributes": _deep(350)},
    )
)
@example(
    delivery=(
        "/v1/events",
        "application/json",
        _valid_event(4, "artifact.pushed") | {"size": 2**63},
    )
)
@example(
    delivery=(
        "/v1/events",
        "application/json",
        _valid_event(5, "artifact.pushed") | {"actor": "a\x00"},
    )
)
def test_any_json_is_refused_and_kept_or_accepted_and_projected(
    edge: TestClient, delivery: tuple[str, str, Any]
) -> None:
    route, ctype, body = delivery
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
