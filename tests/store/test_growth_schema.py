"""Migration 0016: the projection's indexes and columns that grew with the graph.

A tag fact keeps no event JSON (the move's `tag.updated` row and its finding are built from
the push's timeline row), the timeline's rows are found by their place in the log, and
SQLite keeps no second index of once-only edges: what each reader sees is unchanged."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, select, text

from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import SourceSecrets
from provenance.query import artifacts
from provenance.store import Database
from provenance.store.alerting import list_alerts
from provenance.store.db import MIGRATIONS
from provenance.store.models import Edge, TagFact
from provenance.store.projection import upserts
from tests.factories import delivery, digest, event

REPO = "registry.acme.example/acme/web"
A, B = digest("a"), digest("b")


def _ingest(db: Database, *events: dict[str, object]) -> None:
    for e in events:
        ingest(db, delivery(e), SourceSecrets())
        ProjectionRunner(db).catch_up()


def _indexes(db: Database, table: str) -> dict[str, list[str | None]]:
    return {i["name"]: i["column_names"] for i in inspect(db.engine).get_indexes(table)}


def test_indexes_with_random_keys_are_gone_and_the_readers_indexes_are_there(
    db: Database,
) -> None:
    edges, timeline = _indexes(db, "edges"), _indexes(db, "timeline")
    # Only writers side by side need the unique index (ON CONFLICT); SQLite probes first.
    assert ("ux_edges_once" in edges) is (not db.is_sqlite)
    assert edges["ix_edges_src_kind_dst_until"][:3] == ["src", "kind", "dst"]
    assert "ix_timeline_event_id" not in timeline
    assert timeline["ix_timeline_seq_event"] == ["seq", "event_id"]
    tag_facts = _indexes(db, "tag_facts")
    assert "ix_tag_facts_identity" not in tag_facts and "ix_tag_facts_digest" not in tag_facts
    assert tag_facts["ux_tag_facts_tag_okey"] == ["tag", "okey"]
    columns = {c["name"] for c in inspect(db.engine).get_columns("tag_facts")}
    assert "actor" in columns and "data" not in columns


def test_a_move_is_shown_from_the_pushes_timeline_row(db: Database) -> None:
    _ingest(
        db,
        event("artifact.pushed", 0, digest=A, repository=REPO, tag="v1", actor="alice"),
        event("artifact.pushed", 5, digest=B, repository=REPO, tag="v1", actor="bob"),
    )
    with db.read() as s:
        history = artifacts.tag_history(s, REPO, "v1").history
        moved = [t.event for t in artifacts.timeline(s, B).events if t.event.type == "tag.updated"]
    assert [(h.digest, h.actor) for h in history] == [(A, "alice"), (B, "bob")]
    assert [(m.digest, m.previous_digest, m.actor) for m in moved] == [(B, A, "bob")]
    with db.read() as s:
        (alert,) = list_alerts(s, kind="tag_moved")
        actors = s.execute(select(TagFact.actor).order_by(TagFact.okey)).scalars().all()
        tagged = s.execute(select(Edge.attrs).where(Edge.kind == "tagged")).scalars().all()
    assert alert.details["previous_digest"] == A and alert.digest == B
    assert actors == ["alice", "bob"]
    assert sorted(a["actor"] for a in tagged) == ["alice", "bob"]


def test_the_same_once_only_edge_in_two_batches_is_stored_once(db: Database) -> None:
    pushed = {"digest": A, "repository": REPO, "actor": "alice"}
    _ingest(db, event("artifact.pushed", 5, **pushed), event("artifact.pushed", 1, **pushed))
    with db.read() as s:
        rows = s.execute(
            select(Edge.since).where(Edge.kind == "pushed", Edge.dst == f"artifact:{A}")
        ).all()
    assert len(rows) == 1  # and it keeps the earlier time it was said
    assert rows[0].since.minute == 1


def test_the_once_only_edge_statements_seek_the_covering_index(tmp_path: Path) -> None:
    """SQLite's one writer probes each once-only edge by (src, kind, dst). The kind is cast
    so that SQLite does not prepare the statements again at each row (it weighs a bare
    parameter against `ix_edges_deployed`'s predicate): the seek must stay the index's."""
    db = Database(f"sqlite:///{tmp_path / 'plan.sqlite'}")
    db.upgrade()
    probes = {
        upserts._NEW_EDGE: ("s", "d", "built", "t", 1, "{}", "s", "built", "d"),
        upserts._EARLIER_EDGE: ("t", 1, "s", "built", "d", "t"),
    }
    with db.engine.connect() as conn:
        for statement, params in probes.items():
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
            details = " ".join(row[-1] for row in plan)
            assert "INDEX ix_edges_src_kind_dst_until (src=? AND kind=? AND dst=?" in details


def _alembic(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def test_migration_0016_moves_the_actor_out_of_the_json_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    db = Database(url)
    db.upgrade()
    _ingest(db, event("artifact.pushed", 0, digest=A, repository=REPO, tag="v1", actor="alice"))
    db.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        config = _alembic(url)
        config.attributes["connection"] = conn
        command.downgrade(config, "0015")
    with engine.connect() as conn:
        data = conn.execute(text("SELECT data FROM tag_facts")).scalar_one()
        assert '"actor":"alice"' in data.replace(" ", "")
        conn.execute(text('UPDATE tag_facts SET data = \'{"actor": "carol"}\''))
        conn.commit()
    with engine.begin() as conn:
        config = _alembic(url)
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT actor FROM tag_facts")).scalar_one() == "carol"
    engine.dispose()
