"""`provenance retention` on the database: the table, `--json` (the API's shape), and the
exit codes of the query commands."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from cli import app
from provenance.ingest import demo
from provenance.store import Database

runner = CliRunner()


def test_retention_table_and_json_on_the_demo(db: Database) -> None:
    loaded = demo.load(db)
    rebuild = loaded["digests"]["rebuild"]
    args = ["retention", "--repository", demo.REPOSITORY, "--database-url", db.url]
    as_json = runner.invoke(app, [*args, "--unused-since", "2026-05-13T00:00:00Z", "--json"])
    assert as_json.exit_code == 0, as_json.output
    report = orjson.loads(as_json.stdout)
    assert [(i["digest"], i["verdict"]) for i in report["items"]] == [(rebuild, "keep")]
    assert report["summary"] == {"keep": 1, "delete": 0} and report["already_deleted"] == 1
    assert report["items"][0]["last_deployed"].endswith("Z")

    human = runner.invoke(app, [*args, "--as-of", "2026-05-20T00:00:00Z", "--wide"])
    assert human.exit_code == 0, human.output
    assert loaded["digests"]["original"] in human.stdout and demo.SHA_TAG in human.stdout
    assert "deployed_now" in human.stdout and "2 keep, 0 delete" in human.stdout


def test_retention_exit_codes(db: Database) -> None:
    demo.load(db)
    base = ["retention", "--database-url", db.url]
    nothing = runner.invoke(app, [*base, "--repository", "nowhere/at-all"])
    assert nothing.exit_code == 1 and "no digest" in nothing.output
    bad_time = runner.invoke(app, [*base, "--repository", demo.REPOSITORY, "--as-of", "soon"])
    assert bad_time.exit_code == 2 and "Traceback" not in bad_time.output
    missing = runner.invoke(app, ["retention", "--database-url", db.url])
    assert missing.exit_code == 2
    down = runner.invoke(
        app, [*base, "--repository", demo.REPOSITORY, "--server", "http://127.0.0.1:9"]
    )
    assert down.exit_code == 3 and "Traceback" not in down.output
