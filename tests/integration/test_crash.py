"""A 202 is a promise: SIGKILL right after it, restart, and the event is there."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from tests.factories import digest, event
from tests.integration.conftest import Proc, _start, _wait_http, free_port

pytestmark = pytest.mark.integration

VENV_BIN = Path(sys.executable).parent


def _serve(tmp_path: Path, db_path: Path, name: str) -> Proc:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")}
    env["PROVENANCE_DATABASE_URL"] = f"sqlite:///{db_path}"
    log_path = tmp_path / f"{name}.log"
    argv = [str(VENV_BIN / "provenance"), "serve", "--port", str(port)]
    proc = Proc(
        name,
        _start(name, argv, env, log_path, cwd=tmp_path),
        log_path,
        f"http://127.0.0.1:{port}",
        port,
    )
    _wait_http(proc, "/readyz", lambda r: r.status_code == 200)
    return proc


def test_sigkill_right_after_202_loses_nothing(tmp_path: Path) -> None:
    db_path = tmp_path / "crash.db"
    first = _serve(tmp_path, db_path, "serve-1")
    events = [
        event("artifact.pushed", i, digest=digest(f"k{i}"), repository="r.io/a/b", tag=f"t{i}")
        for i in range(50)
    ]
    with httpx.Client(base_url=first.base_url, trust_env=False) as client:
        statuses = [client.post("/v1/events", content=orjson.dumps(e)).status_code for e in events]
    os.killpg(first.process.pid, signal.SIGKILL)  # no shutdown hooks, no flush
    first.process.wait(timeout=10)
    assert statuses == [202] * len(events)

    second = _serve(tmp_path, db_path, "serve-2")
    try:
        with httpx.Client(base_url=second.base_url, trust_env=False) as client:
            for e in events:
                timeline = client.get(f"/v1/artifacts/{e['digest']}/timeline")
                assert timeline.status_code == 200, timeline.text
                assert [x["id"] for x in timeline.json()["events"]] == [e["id"]]
            verify = client.get("/v1/audit/verify").json()
            assert verify["ok"] and verify["entries"] == len(events)
            again = client.post("/v1/events", content=orjson.dumps(events[-1])).json()
            assert again["duplicates"] == 1
    finally:
        os.killpg(second.process.pid, signal.SIGTERM)
        second.process.wait(timeout=10)
