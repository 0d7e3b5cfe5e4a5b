"""POST /v1/attestations over HTTP, and what the graph learns from it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient

from provenance.store import Database
from tests.factories import event
from tests.signing import (
    BUILDER,
    Key,
    dsse_envelope,
    sbom_statement,
    simple_signing,
    statement_v1,
    tamper_payload,
    write_policy,
)

D = "sha256:" + "1a" * 32
DERIVED = "sha256:" + "2b" * 32
BASE = "sha256:" + "3c" * 32
COMMIT = "1f3c0b99ee32fa789a58807755933c2f994a2acd"
DSSE = "application/vnd.dsse.envelope.v1+json"


def _client(make_client: Callable[..., TestClient], tmp_path: Path, key: Key) -> TestClient:
    return make_client(
        trust_policy=str(write_policy(tmp_path / "policy.yaml", {"ci-release": key}))
    )


def _post(client: TestClient, doc: dict[str, Any], **params: str) -> Any:
    return client.post(
        "/v1/attestations", content=orjson.dumps(doc), params=params, headers={"content-type": DSSE}
    )


def test_valid_attestation_202_with_its_verdict(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    key = Key.make()
    client = _client(make_client, tmp_path, key)
    r = _post(client, dsse_envelope(statement_v1(D), key))
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["accepted"] == 1 and body["duplicates"] == 0
    (verdict,) = body["verdicts"]
    assert verdict["verified"] is True and verdict["key"] == "ci-release"
    assert verdict["digest"] == D and verdict["kind"] == "attestation"
    assert len(verdict["policy_sha256"]) == 64 and verdict["evaluated_at"]
    assert verdict["signatures"][0]["verified"] is True

    again = _post(client, dsse_envelope(statement_v1(D), key))  # a new signature: new bytes
    assert again.json()["accepted"] == 1
    same = client.post(
        "/v1/attestations", content=orjson.dumps(dsse_envelope(statement_v1(D), key))
    )
    assert same.status_code == 202


def test_the_same_envelope_twice_is_a_duplicate(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    key = Key.make()
    client = _client(make_client, tmp_path, key)
    doc = dsse_envelope(statement_v1(D), key)
    assert _post(client, doc).json()["accepted"] == 1
    second = _post(client, doc).json()
    assert second["accepted"] == 0 and second["duplicates"] == 1
    assert second["verdicts"][0]["verified"] is True


def test_bad_signature_is_accepted_unverified(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    key, stranger = Key.make(), Key.make()
    client = _client(make_client, tmp_path, key)
    wrong_key = _post(client, dsse_envelope(statement_v1(D), stranger))
    assert wrong_key.status_code == 202
    assert wrong_key.json()["verdicts"][0]["verified"] is False
    forged = tamper_payload(
        dsse_envelope(statement_v1(D), key),
        lambda s: s["predicate"]["runDetails"]["builder"].update(id="https://evil.example"),
    )
    r = _post(client, forged).json()["verdicts"][0]
    assert r["verified"] is False and "no trusted key" in r["reason"]
    untrusted_builder = _post(
        client, dsse_envelope(statement_v1(D, builder="https://x.example"), key)
    )
    v = untrusted_builder.json()["verdicts"][0]
    assert v["signature_verified"] is True and v["verified"] is False
    assert v["builder_trusted"] is False


def test_malformed_input_is_422_and_quarantined(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = _client(make_client, tmp_path, Key.make())
    sig = b'"signatures": [{"sig": "AA=="}]'
    bad = [
        b'{"payloadType": "application/vnd.in-toto+json", "payload": "@@", ' + sig + b"}",
        b'{"payloadType": "text/plain", "payload": "aGk=", ' + sig + b"}",
        b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", '
        b'"verificationMaterial": {}}',
    ]
    for raw in bad:
        r = client.post("/v1/attestations", content=raw, headers={"content-type": DSSE})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
    assert client.post("/v1/attestations", content=b"{nope").status_code == 400
    r = client.post("/v1/attestations", content=b"{}", headers={"content-type": "image/png"})
    assert r.status_code == 415
    items = client.get("/v1/quarantine").json()["items"]
    assert len(items) == 5 and {i["source"] for i in items} == {"attestations"}
    assert any("base64" in i["reason"] for i in items)
    assert client.get("/v1/audit/verify").json()["entries"] == 0


def test_attestations_are_not_a_webhook_source(client: TestClient) -> None:
    r = client.post("/v1/webhooks/attestations", content=b"{}")
    assert r.status_code == 404


def test_without_a_policy_everything_is_unverified(client: TestClient) -> None:
    key = Key.make()
    (v,) = _post(client, dsse_envelope(statement_v1(D), key)).json()["verdicts"]
    assert v["verified"] is False and v["reason"] == "no trust policy"


def test_graph_learns_the_build_side_and_shows_verdicts(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    key = Key.make()
    client = _client(make_client, tmp_path, key)
    _post(client, dsse_envelope(statement_v1(D), key))
    _post(client, dsse_envelope(sbom_statement(D), key))
    _post(client, simple_signing(D, key))

    view = client.get(f"/v1/artifacts/{D}").json()
    assert view["builds"] == ["https://ci.acme.io/runs/42"]
    assert view["commits"][0] == {
        "sha": COMMIT,
        "vcs_url": "https://github.com/acme/payments-api",
        "evidence": "build",
    }
    assert len(view["attestations"]) == 2 and len(view["signatures"]) == 1
    slsa = next(a for a in view["attestations"] if a["predicate_type"].endswith("provenance/v1"))
    assert slsa["verified"] is True and slsa["key"] == "ci-release"
    assert slsa["origin"] == "arrival" and slsa["builder_trusted"] is True
    assert view["signatures"][0]["verified"] is True

    types = [e["type"] for e in client.get(f"/v1/artifacts/{D}/timeline").json()["events"]]
    assert types == ["artifact.attested", "artifact.attested", "artifact.signed"]

    lineage = client.get(f"/v1/artifacts/{D}/lineage?direction=up").json()
    kinds = {
        (e["source"].split(":")[0], e["kind"], e["target"].split(":")[0]) for e in lineage["edges"]
    }
    assert ("commit", "built", "build") in kinds
    assert ("builder", "ran", "build") in kinds
    assert ("build", "produced", "artifact") in kinds
    assert ("attestation", "attests", "artifact") in kinds
    assert ("key", "signed_with", "signature") in kinds

    history = client.get(f"/v1/artifacts/{D}/evidence").json()["items"]
    assert len(history) == 3 and all(h["origin"] == "arrival" for h in history)


def test_blast_radius_by_builder_reaches_builds_artifacts_derived_tags_deployments(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    key = Key.make()
    client = _client(make_client, tmp_path, key)
    _post(client, dsse_envelope(statement_v1(D), key))
    # DERIVED was built FROM D (its provenance lists D as a resolved OCI dependency)
    derived = statement_v1(
        DERIVED, builder="https://other.example/ci", invocation="run-7", bases=[D]
    )
    _post(client, dsse_envelope(derived, key))
    events = [
        event("artifact.pushed", 1, digest=D, repository="registry.acme.io/acme/api", tag="v1"),
        event(
            "artifact.pushed", 2, digest=DERIVED, repository="registry.acme.io/acme/app", tag="v2"
        ),
        event(
            "deployment.applied",
            3,
            digest=DERIVED,
            cluster="eu-1",
            namespace="prod",
            workload="deployment/app",
            container="app",
            environment="production",
        ),
    ]
    assert client.post("/v1/events", content=orjson.dumps(events)).status_code == 202

    r = client.post("/v1/incidents/blast-radius", json={"builder": BUILDER})
    assert r.status_code == 200, r.text
    radius = r.json()
    root = f"builder:{BUILDER}"
    (build,) = radius["builds"]
    assert build == {
        "build": "https://ci.acme.io/runs/42",
        "path": [root, "build:https://ci.acme.io/runs/42"],
    }
    assert [a["digest"] for a in radius["artifacts"]] == [D]
    assert radius["artifacts"][0]["path"] == [
        root,
        "build:https://ci.acme.io/runs/42",
        f"artifact:{D}",
    ]
    assert [d["digest"] for d in radius["derived"]] == [DERIVED]
    assert radius["derived"][0]["path"][-2:] == [f"artifact:{D}", f"artifact:{DERIVED}"]
    assert {(t["repository"], t["tag"]) for t in radius["tags"]} == {
        ("registry.acme.io/acme/api", "v1"),
        ("registry.acme.io/acme/app", "v2"),
    }
    (dep,) = radius["deployments"]
    assert dep["digest"] == DERIVED and dep["environment"] == "production" and dep["active"]
    assert dep["path"][0] == root and dep["path"][-2] == f"artifact:{DERIVED}"
    assert all(item["path"][0] == root for item in radius["tags"])

    by_base = client.post("/v1/incidents/blast-radius", json={"digest": D}).json()
    assert [d["digest"] for d in by_base["derived"]] == [DERIVED]
    base_view = client.get(f"/v1/artifacts/{DERIVED}").json()
    assert base_view["base_images"] == [D]


def test_blast_radius_by_key(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    key = Key.make()
    client = _client(make_client, tmp_path, key)
    _post(client, simple_signing(D, key))
    radius = client.post("/v1/incidents/blast-radius", json={"key": "ci-release"}).json()
    (art,) = radius["artifacts"]
    assert art["digest"] == D and art["path"][0] == "key:ci-release"
    assert art["path"][1].startswith("signature:")
    missing = client.post("/v1/incidents/blast-radius", json={"key": "nobody"})
    assert missing.status_code == 404


def test_not_ready_while_nothing_can_be_signed(
    make_client: Callable[..., TestClient], db: Database
) -> None:
    """On PostgreSQL with no PROVENANCE_SIGNING_KEY, checkpoints and signed exports answer
    503: /readyz says so rather than ready. On SQLite the key is kept next to the file."""
    client = make_client(signing_key=None)
    ready = client.get("/readyz")
    signing = ready.json()["checks"]["signing"]
    if db.is_sqlite:
        assert ready.status_code == 200 and signing["ok"] and signing["origin"].endswith(".pem")
    else:
        assert ready.status_code == 503 and not ready.json()["ready"]
        assert signing["ok"] is False and "PROVENANCE_SIGNING_KEY" in signing["error"]
        assert client.get("/v1/audit/checkpoint").status_code == 503
    keyed = make_client()
    assert keyed.get("/readyz").json()["checks"]["signing"]["ok"]
