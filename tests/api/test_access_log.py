"""Operators read the logs: one access line per request, the request id everywhere."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient

from provenance.logs import ConsoleFormatter, bound, configure_logging


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    yield stream
    root.handlers[:], root.level = saved, level


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    """Every line is JSON (asserted by parsing each); the buffer is emptied."""
    text = stream.getvalue()
    stream.seek(0)
    stream.truncate()
    return [orjson.loads(line) for line in text.splitlines()]


def test_access_line_with_route_template_and_request_id(
    client: TestClient, json_lines: io.StringIO
) -> None:
    _lines(json_lines)  # start from a clean slate (start-up lines)
    digest = "sha256:" + "1" * 64
    response = client.get(f"/v1/artifacts/{digest}", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "abc-123"  # a sane id is kept and echoed
    (line,) = [r for r in _lines(json_lines) if r["logger"] == "provenance.access"]
    assert line["route"] == "/v1/artifacts/{digest}" and digest not in str(line)
    assert line["method"] == "GET" and line["status"] == 404
    assert line["request_id"] == "abc-123"
    assert isinstance(line["duration_ms"], float)
    assert str(line["time"]).endswith("Z")  # UTC, with its offset

    hostile = client.get("/healthz", headers={"X-Request-ID": "x y\tz" * 40})
    generated = hostile.headers["X-Request-ID"]
    assert len(generated) == 32 and " " not in generated  # an insane id is replaced


def test_every_line_of_a_request_carries_its_id_and_secrets_are_redacted(
    client: TestClient, json_lines: io.StringIO
) -> None:
    _lines(json_lines)
    # A quarantined delivery logs from inside the request (in the threadpool).
    response = client.post(
        "/v1/webhooks/dockerhub?token=s3cret",
        content=b"not json",
        headers={"X-Request-ID": "rid-7", "content-type": "application/json"},
    )
    assert response.status_code in (400, 401, 422)
    lines = _lines(json_lines)
    assert "s3cret" not in str(lines)
    access = [r for r in lines if r["logger"] == "provenance.access"]
    assert access and access[0]["source"] == "dockerhub"
    inside = [r for r in lines if r["logger"] != "httpx"]  # the test client's own line
    assert any(r["logger"] == "provenance.ingest.service" for r in inside)
    assert all(r.get("request_id") == "rid-7" for r in inside), inside


def test_console_lines_show_the_extras() -> None:
    record = logging.LogRecord(
        "provenance.ingest.service", logging.WARNING, "", 0, "quarantined", (), None
    )
    record.source = "harbor"
    record.reason = "not this source's format"
    with bound(request_id="r1"):
        from provenance.logs import ContextFilter

        ContextFilter().filter(record)
    line = ConsoleFormatter().format(record)
    assert "quarantined" in line and "source=harbor" in line
    assert 'reason="not this source\'s format"' in line and "request_id=r1" in line
    assert line[:23].endswith("Z") or "Z " in line[:30]
