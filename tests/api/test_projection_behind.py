"""Embedded ingest with `project_before_accept=False`: a 202 means stored (in the log) and
the projection thread takes what is pending behind it, in batches; the answers, once the
lag is 0, are those of projecting before each 202."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import orjson
from fastapi.testclient import TestClient

from tests.factories import digest, event


def _deliveries(n: int) -> list[list[dict[str, object]]]:
    out = []
    for i in range(n):
        d = digest(f"behind-{i}")
        out.append(
            [
                event("artifact.pushed", i, digest=d, repository="team/app", tag="latest"),
                event("artifact.pulled", i + 0.5, digest=d, repository="team/app", actor="ci"),
            ]
        )
    return out


def _caught_up(client: TestClient, *, within: float = 60.0) -> dict[str, object]:
    deadline = time.monotonic() + within
    while True:
        ready = client.get("/readyz").json()
        if ready["checks"]["database"]["projection_lag"] == 0:
            return dict(ready)
        assert time.monotonic() < deadline, f"projection still behind: {ready}"
        time.sleep(0.05)


def _answers(client: TestClient, n: int) -> list[object]:
    history = client.get("/v1/tags/history", params={"repository": "team/app", "tag": "latest"})
    assert history.status_code == 200
    artifacts = [client.get(f"/v1/artifacts/{digest(f'behind-{i}')}").json() for i in range(n)]
    return [history.json(), [(a["digest"], a["first_seen"]) for a in artifacts]]


def test_accepted_deliveries_are_projected_behind_with_the_same_answers(
    make_client: Callable[..., TestClient],
) -> None:
    n = 24
    deliveries = _deliveries(n)
    client = make_client(project_before_accept=False)
    with ThreadPoolExecutor(4) as pool:
        codes = list(
            pool.map(
                lambda evs: client.post("/v1/events", content=orjson.dumps(evs)).status_code,
                deliveries,
            )
        )
    assert codes == [202] * n
    # Every 202 is in the log at once, projected or not.
    assert client.get("/v1/audit/verify").json()["entries"] == n
    ready = _caught_up(client)
    assert ready["ready"]
    behind = _answers(client, n)
    history, firsts = behind
    assert isinstance(history, dict) and len(history["history"]) == n
    # First seen at its push (event time), whichever batch projected it.
    assert firsts == [(digest(f"behind-{i}"), evs[0]["time"]) for i, evs in enumerate(deliveries)]
    assert "provenance_projection_lag 0.0" in client.get("/metrics").text
    # The same deliveries again are duplicates, and change nothing.
    again = [client.post("/v1/events", content=orjson.dumps(evs)) for evs in deliveries]
    assert all(r.json()["accepted"] == 0 for r in again)
    _caught_up(client)
    assert _answers(client, n) == behind
