"""Signed checkpoints: the log head signed now, proven extended (or rewritten) later."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import rfc8785
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from cli import app
from provenance.model.hashchain import GENESIS, EntryContent, entry_hash
from provenance.store import Database
from provenance.store.models import LogEntry, LogHead
from tests.factories import digest, event
from tests.signing import Key

runner = CliRunner()


@pytest.fixture
def signed(make_client: Callable[..., TestClient], tmp_path: Path) -> tuple[TestClient, Path]:
    key = tmp_path / "service-key.pem"
    key.write_bytes(Key.make().signer.private_bytes)
    return make_client(signing_key=str(key)), key


def _push(client: TestClient, name: str) -> None:
    body = orjson.dumps(event("artifact.pushed", digest=digest(name)))
    assert client.post("/v1/events", content=body).status_code == 202


def _verify(db: Database, checkpoint: Path, key: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(
        app,
        ["audit", "verify", "--checkpoint", str(checkpoint), "--database-url", db.url, *extra],
        env={"PROVENANCE_SIGNING_KEY": str(key)},
    )
    return result.exit_code, result.output


def test_checkpoint_is_the_signed_log_head(signed: tuple[TestClient, Path]) -> None:
    client, _ = signed
    _push(client, "a")
    _push(client, "b")
    cp = client.get("/v1/audit/checkpoint").json()
    head = client.get("/v1/audit/verify").json()
    assert (cp["entries"], cp["head"]) == (2, head["head"]) and cp["time"].endswith("Z")
    env = cp["signature"]
    assert env["payloadType"] == "application/vnd.provenance.checkpoint.v1+json"
    payload = base64.b64decode(env["payload"])
    assert payload == rfc8785.dumps({k: cp[k] for k in ("entries", "head", "time")})
    assert client.get("/v1/keys/signing").headers["x-key-id"] == env["signatures"][0]["keyid"]


def test_the_log_extends_an_earlier_checkpoint(
    signed: tuple[TestClient, Path], db: Database, tmp_path: Path
) -> None:
    client, key = signed
    _push(client, "a")
    _push(client, "b")
    saved = tmp_path / "checkpoint.json"
    saved.write_text(client.get("/v1/audit/checkpoint").text)
    _push(client, "c")  # the log grows after the checkpoint: still an extension
    code, out = _verify(db, saved, key)
    assert code == 0, out
    assert "extends the checkpoint" in out
    code, out = _verify(db, saved, key, "--json")
    assert code == 0 and json.loads(out)["entries"] == 3

    pub = tmp_path / "service.pub.pem"
    pub.write_text(client.get("/v1/keys/signing").text)
    assert _verify(db, saved, key, "--key", str(pub))[0] == 0
    other = tmp_path / "other.pub.pem"
    other.write_text(Key.make().pem)
    code, out = _verify(db, saved, key, "--key", str(other))
    assert code == 1 and "verifies" in out


def test_a_forged_checkpoint_is_rejected(
    signed: tuple[TestClient, Path], db: Database, tmp_path: Path
) -> None:
    client, key = signed
    _push(client, "a")
    cp = client.get("/v1/audit/checkpoint").json()
    cp["entries"] = 0  # claim an earlier head than was signed
    saved = tmp_path / "forged.json"
    saved.write_bytes(orjson.dumps(cp))
    code, out = _verify(db, saved, key)
    assert code == 1 and "differ" in out


def test_a_rewritten_history_does_not_extend_the_checkpoint(
    signed: tuple[TestClient, Path], db: Database, tmp_path: Path
) -> None:
    client, key = signed
    for name in ("a", "b", "c"):
        _push(client, name)
    saved = tmp_path / "checkpoint.json"
    saved.write_text(client.get("/v1/audit/checkpoint").text)
    _rewrite_history(db, seq=2, body=b'[{"forged": true}]')
    # The chain alone is consistent again (every hash recomputed)...
    assert runner.invoke(app, ["audit", "verify", "--database-url", db.url]).exit_code == 0
    # ...but it is not the log that was checkpointed.
    code, out = _verify(db, saved, key)
    assert code == 1 and "rewritten" in out


def test_a_truncated_log_does_not_extend_the_checkpoint(
    signed: tuple[TestClient, Path], db: Database, tmp_path: Path
) -> None:
    client, key = signed
    _push(client, "a")
    _push(client, "b")
    saved = tmp_path / "checkpoint.json"
    saved.write_text(client.get("/v1/audit/checkpoint").text)
    with db.write() as session:
        session.execute(LogEntry.__table__.delete().where(LogEntry.seq == 2))
        first = session.get(LogEntry, 1)
        assert first is not None
        session.execute(update(LogHead).values(seq=1, hash=first.hash))
    code, out = _verify(db, saved, key)
    assert code == 1 and "fewer" in out


def _rewrite_history(db: Database, *, seq: int, body: bytes) -> None:
    """What an attacker with database access does: change an entry, rehash everything."""
    with db.write() as session:
        session.execute(update(LogEntry).where(LogEntry.seq == seq).values(body=body))
        prev = GENESIS
        for row in session.execute(select(LogEntry).order_by(LogEntry.seq)).scalars():
            content = EntryContent(
                seq=row.seq,
                received_at=row.received_at,
                source=row.source,
                content_type=row.content_type,
                params=row.params,
                headers=row.headers,
                body=row.body,
                events=row.events,
            )
            row.prev_hash, row.hash = prev, entry_hash(prev, content)
            prev = row.hash
        session.flush()
        session.execute(update(LogHead).values(hash=prev))


def test_cli_writes_a_checkpoint(db: Database, tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    key.write_bytes(Key.make().signer.private_bytes)
    out = tmp_path / "cp.json"
    result = runner.invoke(
        app,
        ["audit", "checkpoint", "-o", str(out), "--database-url", db.url],
        env={"PROVENANCE_SIGNING_KEY": str(key)},
    )
    assert result.exit_code == 0, result.output
    assert orjson.loads(out.read_bytes())["entries"] == 0
    assert _verify(db, out, key)[0] == 0
