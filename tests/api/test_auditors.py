"""The README's "For auditors" commands, run as written against real exports and checkpoints."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.conftest import need
from tests.factories import digest, event
from tests.signing import Key, dsse_envelope, statement_v1, write_policy

README = Path(__file__).resolve().parents[2] / "README.md"
D = "sha256:" + "9f" * 32


def snippet(name: str) -> str:
    found = re.search(
        rf"<!-- auditor: {re.escape(name)} -->\s*```\w+\n(.*?)```", README.read_text(), re.S
    )
    assert found, f"README has no auditor snippet {name}"
    return found.group(1)


def run(tmp: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp / name
    script.write_text(snippet(name))
    # `python3` in the snippets is this interpreter: it has securesystemslib and rfc8785.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    cmd = ["bash", "-e", str(script)] if name.endswith(".sh") else [sys.executable, str(script)]
    return subprocess.run(
        [*cmd, *args], cwd=tmp, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def service(make_client: Callable[..., TestClient], tmp_path: Path) -> TestClient:
    for tool in ("openssl", "jq", "base64", "bash"):
        need(shutil.which(tool) is not None, f"{tool} is needed for the auditor commands")
    key = Key.make()
    signing = tmp_path / "service-key.pem"
    signing.write_bytes(Key.make().signer.private_bytes)
    client = make_client(
        trust_policy=str(write_policy(tmp_path / "policy.yaml", {"ci-release": key})),
        signing_key=str(signing),
    )
    events = [
        event("artifact.pushed", 1, digest=D, repository="registry.acme.io/acme/api", tag="v1"),
        event("artifact.pushed", 2, digest=digest("x"), repository="docker.io/library/x"),
    ]
    assert client.post("/v1/events", content=orjson.dumps(events)).status_code == 202
    r = client.post("/v1/attestations", content=orjson.dumps(dsse_envelope(statement_v1(D), key)))
    assert r.status_code == 202
    (tmp_path / "signing-key.pub.pem").write_text(client.get("/v1/keys/signing").text)
    return client


def _flip_one_byte(envelope: dict[str, Any]) -> dict[str, Any]:
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[payload.index(b'"v1"') + 2] = ord("2")
    return {**envelope, "payload": base64.b64encode(bytes(payload)).decode()}


def test_export_commands(service: TestClient, tmp_path: Path) -> None:
    envelope = service.get("/v1/exports/compliance", params={"format": "intoto"}).json()
    (tmp_path / "export.intoto.json").write_bytes(orjson.dumps(envelope))

    shell = run(tmp_path, "export.sh")
    assert shell.returncode == 0, shell.stderr
    assert "Verified OK" in shell.stdout and "2 records" in shell.stdout
    python = run(tmp_path, "verify_export.py", "export.intoto.json", "signing-key.pub.pem")
    assert python.returncode == 0, python.stderr

    (tmp_path / "export.intoto.json").write_bytes(orjson.dumps(_flip_one_byte(envelope)))
    assert run(tmp_path, "export.sh").returncode != 0
    failed = run(tmp_path, "verify_export.py", "export.intoto.json", "signing-key.pub.pem")
    assert failed.returncode != 0 and "VerificationError" in failed.stderr


def test_checkpoint_commands(service: TestClient, tmp_path: Path) -> None:
    (tmp_path / "checkpoint.json").write_text(service.get("/v1/audit/checkpoint").text)
    more = orjson.dumps(event("artifact.pushed", 3, digest=digest("later")))
    assert service.post("/v1/events", content=more).status_code == 202

    entries: list[dict[str, Any]] = []
    after = 0
    while True:  # the pages of GET /v1/audit/log, as the README says
        page = service.get("/v1/audit/log", params={"after": after, "limit": 1}).json()
        entries += page["entries"]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    (tmp_path / "log.json").write_bytes(orjson.dumps(entries))

    shell = run(tmp_path, "checkpoint.sh")
    assert shell.returncode == 0, shell.stderr
    assert "Verified OK" in shell.stdout
    log_check = run(tmp_path, "verify_log.py", "checkpoint.json", "log.json")
    assert log_check.returncode == 0, log_check.stderr
    assert "extends the checkpoint: entry 2 of 3" in log_check.stdout

    rewritten = [dict(e) for e in entries]
    rewritten[0]["events"] = []
    (tmp_path / "log.json").write_bytes(orjson.dumps(rewritten))
    failed = run(tmp_path, "verify_log.py", "checkpoint.json", "log.json")
    assert failed.returncode != 0 and "entry 1" in failed.stderr

    forged = orjson.loads((tmp_path / "checkpoint.json").read_bytes())
    forged["entries"] = 1
    (tmp_path / "checkpoint.json").write_bytes(orjson.dumps(forged))
    assert run(tmp_path, "checkpoint.sh").returncode != 0
