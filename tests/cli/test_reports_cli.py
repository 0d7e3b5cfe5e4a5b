"""The report commands (search, retention, deployments, alerts) print the same from the
database and from `--server`: both render the query's dataclass (the server's JSON parsed
back into it), so the tables and `--json` agree line for line."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import create_app
from cli import app
from provenance.client import ServiceClient
from provenance.ingest import demo
from provenance.settings import Settings
from provenance.store import Database
from provenance.trust.attestations import ServiceSigner

runner = CliRunner()
SERVER = "http://testserver"


@pytest.fixture
def served(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """The demo story in `db`, and `--server` answered by an app on the same database."""
    loaded = demo.load(db)
    key = tmp_path / "service-key.pem"
    ServiceSigner.load_or_create(key)
    app_ = create_app(Settings(database_url=db.url, signing_key=str(key)), db=db)
    with TestClient(app_) as http:
        # The CLI's own client, over the test app's transport instead of a socket.
        monkeypatch.setattr(
            importlib.import_module("cli.app"),  # the module; `cli.app` is the command
            "_client",
            lambda url, token: ServiceClient(url, token, transport=http._transport),
        )
        yield loaded


def _both(args: list[str], url: str) -> tuple[str, str]:
    local = runner.invoke(app, [*args, "--database-url", url])
    remote = runner.invoke(app, [*args, "--server", SERVER])
    assert local.exit_code == 0, local.output
    assert remote.exit_code == 0, remote.output
    return local.stdout, remote.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["retention", "--repository", demo.REPOSITORY, "--as-of", "2026-05-20T00:00:00Z"],
        ["retention", "--repository", demo.REPOSITORY, "--unused-since", "2026-05-13T00:00:00Z"],
        ["retention", "--repository", demo.REPOSITORY, "--wide"],
        ["search", demo.REPOSITORY],
        ["deployments"],
        ["deployments", "--environment", "staging", "--as-of", "2026-05-05T00:00:00Z", "--wide"],
        ["alerts"],
        ["alerts", "--kind", "tag_moved", "--superseded", "--since", "2026-05-10T00:00:00Z"],
    ],
)
def test_a_report_reads_the_same_from_the_database_and_the_server(
    served: dict, db: Database, args: list[str]
) -> None:
    local, remote = _both(args, db.url)
    assert local == remote and local.strip()
    local_json, remote_json = _both([*args, "--json"], db.url)
    assert orjson.loads(local_json) == orjson.loads(remote_json)


def test_the_retention_table_shows_the_item_fields_a_person_reads(
    served: dict, db: Database
) -> None:
    args = ["retention", "--repository", demo.REPOSITORY, "--as-of", "2026-05-20T00:00:00Z"]
    out = runner.invoke(app, [*args, "--database-url", db.url]).stdout
    header = out.splitlines()[0].split()
    assert header == ["digest", "verdict", "reasons", "tags", "last", "pull", "last", "deployed"]
    assert "2 keep, 0 delete; " in out


def test_deployments_and_alerts_tables_and_their_refusals(served: dict, db: Database) -> None:
    running = runner.invoke(app, ["deployments", "--database-url", db.url]).stdout
    assert running.split()[:4] == ["environment", "cluster", "namespace", "workload"]
    assert "deployment/shop-api" in running and "…" in running
    found = runner.invoke(app, ["alerts", "--kind", "tag_moved", "--database-url", db.url])
    assert found.exit_code == 0 and "tag_moved" in found.stdout
    for where in (["--database-url", db.url], ["--server", SERVER]):
        wrong = runner.invoke(app, ["alerts", "--kind", "nope", *where])
        assert wrong.exit_code == 2 and "kind must be one of" in wrong.output
    nothing = runner.invoke(
        app, ["deployments", "--environment", "nowhere", "--database-url", db.url]
    )
    assert nothing.exit_code == 0 and "nothing deployed" in nothing.output
