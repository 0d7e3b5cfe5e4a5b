"""The `provenance` command as a person and a script use it."""

from __future__ import annotations

import gc
import io
import sys
from pathlib import Path

import orjson
import pytest
import uvicorn
from rich.console import Console
from typer.testing import CliRunner

from cli import app
from cli.tables import Style, blast_radius_tables, short, trace_view, when
from provenance.store import Database

runner = CliRunner()


def test_serve_refuses_a_public_address_without_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INGEST", "READ", "ADMIN"):
        monkeypatch.delenv(f"PROVENANCE_{name}_TOKEN", raising=False)
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--database-url", "sqlite://"])
    assert result.exit_code == 2
    assert "refusing" in result.output


def test_serve_leaves_its_startup_heap_out_of_later_collections(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What was built to start stays as long as the process: frozen before it serves."""
    frozen: list[int] = []
    monkeypatch.setattr(uvicorn, "run", lambda *_a, **_k: frozen.append(gc.get_freeze_count()))
    # The test process keeps its own logging (serve's would outlive the runner's streams).
    monkeypatch.setattr(sys.modules["cli.app"], "configure_logging", lambda *_a, **_k: None)
    try:
        url = f"sqlite:///{tmp_path / 'serve.sqlite'}"
        result = runner.invoke(app, ["serve", "--database-url", url])
    finally:
        gc.unfreeze()
    assert result.exit_code == 0, result.output
    assert frozen and frozen[0] > 0


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
    assert result.exit_code == 1 and "never been seen" in result.output  # a negative answer
    result = runner.invoke(app, ["blast-radius", "--key", "k", "--database-url", db.url])
    assert result.exit_code == 1 and "key" in result.output
    result = runner.invoke(app, ["blast-radius", "--database-url", db.url])
    assert result.exit_code == 2


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("provenance ")


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "verify"],
        ["trace", "sha256:" + "0" * 64],
        ["blast-radius", "--actor", "x"],
        ["export", "--format", "csv"],
        ["audit", "checkpoint"],
    ],
)
def test_reading_commands_never_create_a_database(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROVENANCE_DATABASE_URL", raising=False)
    monkeypatch.delenv("PROVENANCE_URL", raising=False)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "no database at" in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit)  # not a traceback
    missing = tmp_path / "elsewhere.db"
    result = runner.invoke(app, [*args, "--database-url", f"sqlite:///{missing}"])
    assert result.exit_code == 2 and "no database at" in result.output
    assert list(tmp_path.iterdir()) == []


def test_bad_and_unreachable_databases_are_one_line_not_a_traceback(tmp_path: Path) -> None:
    bad = runner.invoke(app, ["audit", "verify", "--database-url", "nosuch://x"])
    assert bad.exit_code == 2 and isinstance(bad.exception, SystemExit)
    assert len(bad.output.strip().splitlines()) == 1
    down = "postgresql+psycopg://someone:hunter2@127.0.0.1:1/nothing"
    gone = runner.invoke(app, ["audit", "verify", "--database-url", down])
    assert gone.exit_code == 3 and isinstance(gone.exception, SystemExit)
    assert "unreachable" in gone.output and "hunter2" not in gone.output
    assert "Traceback" not in gone.output


def test_digests_shortened_in_the_middle_and_one_time_format() -> None:
    d = "sha256:" + "0123456789abcdef" * 4
    assert short(d) == "sha256:01234567…cdef"
    assert short(f"artifact:{d} -> x") == "artifact:sha256:01234567…cdef -> x"
    assert short("commit:" + "a" * 40) == "commit:aaaaaaaa…aaaa"
    assert short("v2.0.0") == "v2.0.0"
    assert when("2026-05-04T11:12:13.456+02:00") == "2026-05-04T09:12:13Z"
    assert when(None) == "-"


def test_the_demo_fits_80_columns(db: Database) -> None:
    summary = orjson.loads(runner.invoke(app, ["demo", "--database-url", db.url, "--json"]).stdout)
    original = summary["digests"]["original"]
    traced = orjson.loads(
        runner.invoke(app, ["trace", original, "--database-url", db.url, "--json"]).stdout
    )
    radius = orjson.loads(
        runner.invoke(
            app, ["blast-radius", "--commit", summary["commit"], "--database-url", db.url, "--json"]
        ).stdout
    )
    out = io.StringIO()
    terminal = Console(file=out, width=80)
    _tree, table = trace_view(
        original,
        traced["artifact"],
        traced["lineage"]["up"],
        traced["lineage"]["down"],
        traced["timeline"],
        style=Style(),
    )
    terminal.print(table)
    tables = list(blast_radius_tables(radius, Style()))
    assert any(str(t.title).startswith("builds (") for t in tables)
    for t in tables:
        terminal.print(t)
    rendered = out.getvalue()
    assert max(len(line) for line in rendered.splitlines()) <= 80
    assert "…" in rendered and original not in rendered
    for cell in ("2026-05-04T09:15:10Z", "builds ("):
        assert cell in rendered


def test_search_finds_the_demo_digest_by_prefix_and_says_when_nothing_matches(
    tmp_path: Path,
) -> None:
    from provenance.ingest import demo
    from provenance.store import Database

    url = f"sqlite:///{tmp_path / 'search.db'}"
    db = Database(url)
    db.upgrade()
    info = demo.load(db)
    db.dispose()
    d = info["digests"]["rebuild"]
    runner = CliRunner()
    found = runner.invoke(app, ["search", d[7:20], "--database-url", url, "--json"])
    assert found.exit_code == 0, found.output
    assert {"kind": "artifact", "id": d} in [
        {"kind": i["kind"], "id": i["id"]} for i in orjson.loads(found.output)["items"]
    ]
    table = runner.invoke(app, ["search", d[7:20], "--database-url", url])
    assert table.exit_code == 0 and "artifact" in table.output
    none = runner.invoke(app, ["search", "nobody-ever-named-this", "--database-url", url])
    assert none.exit_code == 1
