"""SQLite WAL checkpoints beside the writers: with a projection loop running, no commit pays
for a checkpoint (the tail of an admission decision), and the loop's checkpoints still
carry every commit into the database file."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import text

from provenance.ingest.service import ProjectionRunner, ingest
from provenance.ingest.sources import SourceSecrets
from provenance.store import Database
from tests.factories import delivery, event


def _pushes(n: int) -> list[dict[str, object]]:
    return [
        event("artifact.pushed", i, digest=f"sha256:{i:064x}", repository="r.test/a", tag="v")
        for i in range(n)
    ]


def test_writers_leave_checkpoints_to_the_loop_which_still_makes_them(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    with db.write() as s:  # before: SQLite's default, a commit past 1000 pages checkpoints
        assert s.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 1000
    db.checkpoint_beside_writers()  # what the projection loop does when it starts
    try:
        with db.write() as s:
            assert s.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
        pushes = _pushes(300)
        for i in range(0, 300, 50):
            ingest(db, delivery(*pushes[i : i + 50]), SourceSecrets())
        ProjectionRunner(db).catch_up()
        copy = tmp_path / "copy.db"
        shutil.copy(path, copy)  # the database file alone, without its WAL
        assert _artifacts(copy) < 300  # the commits are still in the WAL only
        db.checkpoint()
        shutil.copy(path, copy)
        assert _artifacts(copy) == 300
    finally:
        db.dispose()


def test_the_projection_loop_takes_checkpoints_over(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'loop.db'}")
    db.upgrade()
    runner = ProjectionRunner(db, interval=3600)
    runner.start()
    try:
        with db.write() as s:
            assert s.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
    finally:
        runner.stop()
        db.dispose()


def test_without_a_loop_nothing_changes(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'plain.db'}")
    db.upgrade()
    db.checkpoint()  # nobody took checkpoints over: a no-op
    with db.write() as s:
        assert s.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 1000
    db.dispose()


def _artifacts(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM artifacts").fetchone()[0])
    except sqlite3.DatabaseError:
        return 0  # the copy may lack even the tables: they too sit in the WAL
    finally:
        conn.close()
