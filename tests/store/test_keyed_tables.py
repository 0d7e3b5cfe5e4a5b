"""Migration 0017: on SQLite the tables keyed by text alone are their key's B-tree.

`event_keys`, `pulls` and `artifacts` are WITHOUT ROWID there (one B-tree each, not a
table and its key's index); what they answer is unchanged, and the migration keeps every
row both ways."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import SourceSecrets
from provenance.query import artifacts
from provenance.store import Database
from provenance.store.db import MIGRATIONS
from tests.factories import delivery, digest, event

REPO = "registry.acme.example/acme/web"
A, B = digest("a"), digest("b")
KEYED = ("event_keys", "pulls", "artifacts")


def _story(db: Database) -> None:
    events = (
        event("artifact.pushed", 0, digest=A, repository=REPO, tag="v1", actor="alice"),
        event("artifact.pulled", 3, digest=A, repository=REPO, actor="k8s", client="10.0.0.1"),
        event("artifact.pulled", 4, digest=A, repository=REPO, actor="k8s", client="10.0.0.1"),
        event("artifact.pushed", 5, digest=B, repository=REPO, tag="v2", actor="bob"),
    )
    for e in events:
        assert ingest(db, delivery(e), SourceSecrets()).accepted == 1
        assert ingest(db, delivery(e), SourceSecrets()).accepted == 0  # idempotent
    ProjectionRunner(db).catch_up()


def _answers(db: Database) -> tuple[object, ...]:
    with db.read() as s:
        view = artifacts.artifact(s, A)
        keys = s.execute(text("SELECT count(*) FROM event_keys")).scalar_one()
        pulls = s.execute(text("SELECT digest, actor, client, count FROM pulls")).all()
        newest = s.execute(
            text("SELECT digest FROM artifacts ORDER BY first_seen DESC, digest DESC")
        ).scalars()
        return (view.first_seen, view.deleted, keys, [tuple(p) for p in pulls], list(newest))


def _without_rowid(url: str) -> dict[str, bool]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
        sql = {str(name): str(ddl) for name, ddl in rows}
    engine.dispose()
    return {t: sql[t].rstrip().upper().endswith("WITHOUT ROWID") for t in KEYED}


def _migrate(url: str, revision: str, *, down: bool) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", url)
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)
    engine.dispose()


def test_the_keyed_tables_answer_as_before(db: Database) -> None:
    _story(db)
    first_seen, deleted, keys, pulls, newest = _answers(db)
    assert (deleted, keys) == (False, 4)
    assert first_seen is not None and first_seen.minute == 0
    assert pulls == [(A, "k8s", "10.0.0.1", 2)]
    assert newest == [B, A]


def test_migration_0017_keeps_every_row_both_ways(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    db = Database(url)
    db.upgrade()
    _story(db)
    before = _answers(db)
    db.dispose()
    assert _without_rowid(url) == dict.fromkeys(KEYED, True)

    _migrate(url, "0016", down=True)
    assert _without_rowid(url) == dict.fromkeys(KEYED, False)
    db = Database(url)
    assert _answers(db) == before
    db.dispose()

    _migrate(url, "head", down=False)
    assert _without_rowid(url) == dict.fromkeys(KEYED, True)
    db = Database(url)
    assert _answers(db) == before
    # and the index the console's newest-first list reads is there again
    with db.read() as s:
        plan = s.execute(
            text("EXPLAIN QUERY PLAN SELECT digest FROM artifacts ORDER BY first_seen DESC")
        ).all()
    assert "ix_artifacts_first_seen" in " ".join(str(r[-1]) for r in plan)
    db.dispose()
