"""The `provenance` command as a person and a script use it."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from provenance.cli import app
from provenance.store import Database

runner = CliRunner()


def test_serve_refuses_a_public_address_without_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INGEST", "READ", "ADMIN"):
        monkeypatch.delenv(f"PROVENANCE_{name}_TOKEN", raising=False)
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--database-url", "sqlite://"])
    assert result.exit_code == 2
    assert "refusing" in result.output


def test_demo_then_trace_and_blast_radius(db: Database) -> None:
    loaded = runner.invoke(app, ["demo", "--database-url", db.url, "--json"])
    assert loaded.exit_code == 0, loaded.output
    summary = orjson.loads(loaded.stdout)
    original = summary["digests"]["original"]

    traced = runner.invoke(app, ["trace", original, "--database-url", db.url])
    assert traced.exit_code == 0, traced.output
    assert "came from" in traced.output and "artifact.deleted" in traced.output

    as_json = orjson.loads(
        runner.invoke(app, ["trace", original, "--database-url", db.url, "--json"]).stdout
    )
    assert as_json["artifact"]["deleted"] is True
    assert any(e["type"] == "tag.updated" for e in as_json["timeline"])

    radius = runner.invoke(
        app, ["blast-radius", "--commit", summary["commit"], "--database-url", db.url, "--json"]
    )
    body = orjson.loads(radius.stdout)
    assert {a["digest"] for a in body["artifacts"]} == set(summary["digests"].values())
    human = runner.invoke(
        app, ["blast-radius", "--commit", summary["commit"], "--database-url", db.url]
    )
    assert human.exit_code == 0 and "deployments" in human.output


def test_questions_about_unknown_things_fail_clearly(db: Database) -> None:
    unknown = "sha256:" + "0" * 64
    result = runner.invoke(app, ["trace", unknown, "--database-url", db.url])
    assert result.exit_code == 2 and "never been seen" in result.output
    result = runner.invoke(app, ["blast-radius", "--key", "k", "--database-url", db.url])
    assert result.exit_code == 2 and "key" in result.output
    result = runner.invoke(app, ["blast-radius", "--database-url", db.url])
    assert result.exit_code == 2
