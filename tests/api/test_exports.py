"""Compliance exports as an auditor receives them, and the service key they are signed with."""

from __future__ import annotations

import base64
import copy
import csv
import hashlib
import io
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import rfc8785
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi.testclient import TestClient
from securesystemslib import dsse
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey
from typer.testing import CliRunner

from cli import app
from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import Delivery, SourceSecrets
from provenance.model.errors import InvalidConfiguration, Unavailable
from provenance.model.timeutil import utcnow
from provenance.query import exports
from provenance.store import Database
from provenance.trust.attestations import ServiceSigner, default_key_path
from tests.factories import at, digest, event
from tests.signing import Key, dsse_envelope, statement_v1, write_policy

D = "sha256:" + "7d" * 32
OTHER = "sha256:" + "8e" * 32
REPO = "registry.acme.io/acme/payments-api"
COMMIT = "1f3c0b99ee32fa789a58807755933c2f994a2acd"


def _story(client: TestClient, key: Key) -> None:
    events = [
        event("artifact.pushed", 1, digest=D, repository=REPO, tag="v1.4.2", actor="ci-bot"),
        event("artifact.pushed", 2, digest=OTHER, repository="docker.io/library/nginx", tag="1"),
        event(
            "deployment.applied",
            60,
            digest=D,
            cluster="eu-1",
            namespace="prod",
            workload="deployment/payments-api",
            container="api",
            environment="production",
            actor="argocd",
        ),
        event("artifact.pushed", 600, digest=digest("late"), repository=REPO, tag="v2"),
    ]
    assert client.post("/v1/events", content=orjson.dumps(events)).status_code == 202
    r = client.post("/v1/attestations", content=orjson.dumps(dsse_envelope(statement_v1(D), key)))
    assert r.json()["verdicts"][0]["verified"] is True


@pytest.fixture
def story(make_client: Callable[..., TestClient], tmp_path: Path) -> TestClient:
    key = Key.make()
    client = make_client(
        trust_policy=str(write_policy(tmp_path / "policy.yaml", {"ci-release": key})),
        signing_key=str(_signing_key(tmp_path)),
    )
    _story(client, key)
    return client


def _signing_key(tmp_path: Path) -> Path:
    path = tmp_path / "service-key.pem"
    path.write_bytes(Key.make().signer.private_bytes)
    return path


PERIOD = {"since": at(0), "until": at(120)}


def test_json_export_records(story: TestClient) -> None:
    r = story.get("/v1/exports/compliance", params={**PERIOD, "format": "json"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["period"] == PERIOD and doc["record_count"] == 3 == len(doc["records"])
    assert doc["audit_head"]["entries"] == 2 and len(doc["audit_head"]["head"]) == 64
    push, other, deployment = doc["records"]
    assert push["kind"] == "push" and push["digest"] == D and push["tag"] == "v1.4.2"
    assert push["actor"] == "ci-bot" and push["repository"] == REPO
    assert push["commit"] == COMMIT and push["build"] == "https://ci.acme.io/runs/42"
    assert push["builder"] == "https://ci.acme.io/runners/release"
    assert push["attested"] is True and push["signed"] is False
    (verdict,) = push["attestations"]
    assert verdict["verified"] is True and verdict["key"] == "ci-release"
    assert other["digest"] == OTHER and other["attested"] is False and other["commit"] is None
    assert deployment["kind"] == "deployment" and deployment["environment"] == "production"
    assert deployment["workload"] == "deployment/payments-api" and deployment["until"] is None
    assert deployment["commit"] == COMMIT and deployment["attested"] is True


def test_filters_and_bad_requests(story: TestClient) -> None:
    only = story.get(
        "/v1/exports/compliance", params={**PERIOD, "environment": "production"}
    ).json()
    assert only["filters"] == {"environment": "production"}
    assert [r["kind"] for r in only["records"]] == ["deployment"]
    repo = story.get("/v1/exports/compliance", params={**PERIOD, "repository": REPO}).json()
    assert {r["digest"] for r in repo["records"]} == {D}
    everything = story.get("/v1/exports/compliance").json()
    assert everything["record_count"] == 4
    assert story.get("/v1/exports/compliance", params={"format": "xml"}).status_code == 422
    backwards = {"since": PERIOD["until"], "until": PERIOD["since"]}
    assert story.get("/v1/exports/compliance", params=backwards).status_code == 422


def test_csv_and_ndjson_carry_the_same_records(story: TestClient) -> None:
    as_json = story.get("/v1/exports/compliance", params=PERIOD).json()["records"]
    nd = story.get("/v1/exports/compliance", params={**PERIOD, "format": "ndjson"})
    assert nd.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line) for line in nd.text.splitlines()] == as_json
    text = story.get("/v1/exports/compliance", params={**PERIOD, "format": "csv"}).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["digest"] for r in rows] == [r["digest"] for r in as_json]
    assert rows[0]["attested"] == "true" and rows[0]["commit"] == COMMIT
    assert json.loads(rows[0]["attestations"])[0]["verified"] is True


def test_intoto_export_verifies_like_an_auditor_would(story: TestClient) -> None:
    pem = story.get("/v1/keys/signing")
    assert pem.status_code == 200 and pem.text.startswith("-----BEGIN PUBLIC KEY-----")
    r = story.get("/v1/exports/compliance", params={**PERIOD, "format": "intoto"})
    assert r.status_code == 200
    envelope = r.json()
    assert envelope["payloadType"] == "application/vnd.in-toto+json"

    statement = _auditor_verifies(envelope, pem.text)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    (subject,) = statement["subject"]
    predicate = statement["predicate"]
    assert subject["name"] == "compliance-export"
    assert (
        subject["digest"]["sha256"]
        == hashlib.sha256(rfc8785.dumps(predicate["records"])).hexdigest()
    )
    assert predicate["period"] == PERIOD and predicate["filters"] == {}
    assert predicate["record_count"] == 3 == len(predicate["records"])
    assert predicate["audit_head"]["entries"] == 2
    json_records = story.get("/v1/exports/compliance", params=PERIOD).json()["records"]
    assert predicate["records"] == json_records

    # One byte changed anywhere in what was signed, and it no longer verifies.
    payload = bytearray(base64.b64decode(envelope["payload"]))
    index = payload.index(b"v1.4.2")
    payload[index + 5] = ord("3")
    forged = copy.deepcopy(envelope)
    forged["payload"] = base64.b64encode(bytes(payload)).decode()
    with pytest.raises(VerificationError):
        _auditor_verifies(forged, pem.text)
    # Changing the records but keeping the statement's subject digest also gives it away.
    statement["predicate"]["records"][0]["tag"] = "v9"
    assert (
        subject["digest"]["sha256"]
        != hashlib.sha256(rfc8785.dumps(statement["predicate"]["records"])).hexdigest()
    )


def _auditor_verifies(envelope: dict[str, Any], pem: str) -> dict[str, Any]:
    """What an auditor runs: securesystemslib's DSSE verification with the published key."""
    key = SSlibKey.from_crypto(load_pem_public_key(pem.encode()))
    env = dsse.Envelope.from_dict(copy.deepcopy(envelope))
    env.verify([key], 1)
    statement: dict[str, Any] = json.loads(env.payload)
    return statement


def test_cli_export_in_every_format(story: TestClient, tmp_path: Path) -> None:
    svc = story.app.state.services  # type: ignore[attr-defined]
    runner = CliRunner()
    base = ["export", "--since", PERIOD["since"], "--until", PERIOD["until"]]
    common = ["--database-url", svc.db.url]
    env = {"PROVENANCE_SIGNING_KEY": svc.settings.signing_key}
    for fmt in ("json", "csv", "ndjson", "intoto"):
        out = tmp_path / f"export.{fmt}"
        result = runner.invoke(app, [*base, "--format", fmt, "-o", str(out), *common], env=env)
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 0
    statement = _auditor_verifies(
        orjson.loads((tmp_path / "export.intoto").read_bytes()), story.get("/v1/keys/signing").text
    )
    assert statement["predicate"]["record_count"] == 3
    printed = runner.invoke(app, [*base, "--format", "ndjson", *common])
    assert len(printed.stdout.splitlines()) == 3
    bad = runner.invoke(app, [*base, "--format", "pdf", *common])
    assert bad.exit_code == 2


def test_streamed_export_memory_does_not_grow_with_the_period(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'big.db'}")
    db.upgrade()

    def load(n: int, offset: int) -> None:
        events = [
            event(
                "artifact.pushed",
                (offset + i) / 100,
                digest=digest(f"d{offset + i}"),
                repository=REPO,
            )
            for i in range(n)
        ]
        body = b"\n".join(orjson.dumps(e) for e in events)
        delivery = Delivery(
            source="events", body=body, received_at=utcnow(), content_type="application/x-ndjson"
        )
        ingest(db, delivery, SourceSecrets())
        ProjectionRunner(db, batch=50).catch_up()

    def peak() -> tuple[int, int]:
        for _ in exports.stream(db, exports.Export(), "ndjson", page=50):
            pass  # warm up: compiled statements are cached once, not per record
        tracemalloc.start()
        count = 0
        for chunk in exports.stream(db, exports.Export(), "ndjson", page=50):
            count += chunk.count(b"\n")
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return count, top

    load(200, 0)
    small_count, small_peak = peak()
    load(1000, 200)
    big_count, big_peak = peak()
    db.dispose()
    assert (small_count, big_count) == (200, 1200)
    assert big_peak < small_peak * 1.6, (small_peak, big_peak)


# --- the service key ------------------------------------------------------------------


def test_signing_key_from_settings_and_next_to_sqlite(tmp_path: Path) -> None:
    configured = _signing_key(tmp_path)
    a = ServiceSigner.for_service(str(configured), "postgresql+psycopg://x/y")
    assert a.origin == str(configured)
    inline = ServiceSigner.for_service(configured.read_text(), "sqlite://")
    assert inline.keyid == a.keyid

    url = f"sqlite:///{tmp_path / 'data' / 'provenance.db'}"
    (tmp_path / "data").mkdir()
    generated = ServiceSigner.for_service(None, url)
    path = default_key_path(url)
    assert path == tmp_path / "data" / "provenance-signing-key.pem" and path.exists()
    assert path.stat().st_mode & 0o777 == 0o600
    assert ServiceSigner.for_service(None, url).keyid == generated.keyid  # reused, not remade

    with pytest.raises(Unavailable, match="PROVENANCE_SIGNING_KEY"):
        ServiceSigner.for_service(None, "postgresql+psycopg://db/provenance")
    with pytest.raises(Unavailable):
        ServiceSigner.for_service(None, "sqlite://")
    with pytest.raises(InvalidConfiguration, match=r"missing\.pem"):
        ServiceSigner.for_service(str(tmp_path / "missing.pem"), url)
    (tmp_path / "junk.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    )
    with pytest.raises(InvalidConfiguration):
        ServiceSigner.for_service(str(tmp_path / "junk.pem"), url)


def test_signing_routes_without_a_key_on_postgresql(
    make_client: Callable[..., TestClient], db: Database
) -> None:
    client = make_client(signing_key=None)
    r = client.get("/v1/audit/checkpoint")
    if db.is_sqlite:
        assert r.status_code == 200  # a key was made next to the database file
        assert default_key_path(db.url) is not None
    else:
        assert r.status_code == 503
        assert "PROVENANCE_SIGNING_KEY" in r.json()["detail"]
        assert client.get("/v1/exports/compliance", params={"format": "intoto"}).status_code == 503
        assert client.get("/v1/exports/compliance", params={"format": "json"}).status_code == 200
