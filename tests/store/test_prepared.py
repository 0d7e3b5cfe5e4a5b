"""`provenance.store.prepared`: rows written through a statement compiled once and bound as
tuples are stored exactly as SQLAlchemy stores them (the text of every column), so the
readers, and a rebuild through the other path, see the same graph."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.dialects import sqlite

from provenance.store import Database
from provenance.store.models import TagFact, UTCDateTime
from provenance.store.prepared import sqlite_time
from provenance.store.projection import upserts

_T = datetime(2026, 3, 9, 14, 0, 1, 250, tzinfo=UTC)
_PLUS_TWO = timezone(timedelta(hours=2))


def _sqlalchemy_text(value: datetime) -> str:
    """What Session.execute binds for a `UTCDateTime` on SQLite."""
    dialect = sqlite.dialect()
    naive = UTCDateTime().process_bind_param(value, dialect)
    processor = sqlite.DATETIME().bind_processor(dialect)
    assert processor is not None
    return str(processor(naive))


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
    )
)
def test_a_time_is_the_text_sqlalchemy_writes(value: datetime) -> None:
    assert sqlite_time(value) == _sqlalchemy_text(value)


def _rows() -> dict[str, list[dict[str, Any]]]:
    later = _T.astimezone(_PLUS_TWO) + timedelta(minutes=5)
    return {
        "timeline": [
            {
                "seq": 1,
                "ord": 0,
                "derived_tag": None,
                "event_id": "e-1",
                "type": "artifact.pulled",
                "time": later,
                "source": "distribution",
                "digest": "sha256:" + "a" * 64,
                "previous_digest": None,
                "repository": "r.io/app",
                "tag": None,
                "actor": "ci-bot",
                "data": {"id": "e-1", "attributes": {"ünï": ["code", 1, None, True]}},
            }
        ],
        "pulls": [
            {
                "digest": "sha256:" + "a" * 64,
                "actor": "ci-bot",
                "client": "",
                "count": 2,
                "first": _T,
                "last": later,
            }
        ],
        "nodes": [
            {"id": "actor:ci-bot", "kind": "actor", "attrs": {"name": "ci-bot"}, "first_seen": _T}
        ],
        "artifacts": [
            {
                "digest": "sha256:" + "a" * 64,
                "media_type": None,
                "size": 12,
                "first_seen": _T,
                "deleted": True,
                "deleted_at": later,
                "life_key": "k1",
            }
        ],
        "edges": [
            {
                "src": "artifact:sha256:" + "a" * 64,
                "dst": "actor:ci-bot",
                "kind": "pulled_by",
                "since": later,
                "until": None,
                "seq": 1,
                "attrs": {},
            }
        ],
        "tag_facts": [
            {
                "tag": "r.io/app:v1",
                "repository": "r.io/app",
                "source": "distribution",
                "event_id": "e-2",
                "okey": "k2",
                "time": later,
                "seq": 1,
                "ord": 1,
                "kind": "point",
                "digest": "sha256:" + "a" * 64,
                "explicit": True,
                "actor": "ci-bot",
            }
        ],
    }


def _write(db: Database, *, prepared: bool) -> None:
    """The rows through the projection's SQLite functions, or the same statements (the
    upserts' builders) through Session.execute."""
    rows = _rows()
    with db.write() as session:
        if prepared:
            upserts.timeline(session, rows["timeline"])
            upserts.pulls(session, rows["pulls"])
            upserts.nodes(session, rows["nodes"])
            upserts.artifacts(session, rows["artifacts"])
            upserts.once_edges(session, {(r["src"], r["dst"], r["kind"]): r for r in rows["edges"]})
            upserts.facts(session, sqlite.insert, rows["tag_facts"], [], [])
            return
        session.execute(sqlite.insert(upserts._TIMELINE), rows["timeline"])
        session.execute(upserts._pulls_upsert(sqlite.insert), rows["pulls"])
        session.execute(upserts._nodes_upsert(sqlite.insert), rows["nodes"])
        session.execute(upserts._artifacts_upsert(sqlite.insert), rows["artifacts"])
        if not session.execute(text("SELECT 1 FROM edges")).first():  # once-only
            session.execute(sqlite.insert(upserts._EDGES), rows["edges"])
        tags = upserts._fact_insert(sqlite.insert, TagFact, ["tag", "okey"])
        session.execute(tags, rows["tag_facts"])


def _dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as conn:
        return {
            table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in ("timeline", "pulls", "nodes", "artifacts", "edges", "tag_facts")
        }


def test_rows_are_stored_as_session_execute_stores_them(
    sqlite_migrated: Path, tmp_path: Path
) -> None:
    paths = {}
    for prepared in (True, False):
        path = tmp_path / f"{prepared}.db"
        shutil.copyfile(sqlite_migrated, path)
        db = Database(f"sqlite:///{path}")
        _write(db, prepared=prepared)
        _write(db, prepared=prepared)  # and the upserts' conflict branches, the second time
        db.dispose()
        paths[prepared] = path
    fast, core = _dump(paths[True]), _dump(paths[False])
    assert all(fast[table] for table in fast)
    assert fast == core
