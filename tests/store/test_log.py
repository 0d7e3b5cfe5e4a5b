"""The hash-chained log: append, deduplicate, verify, detect tampering."""

from __future__ import annotations

from sqlalchemy import update
from typer.testing import CliRunner

from cli import app
from provenance.ingest.sources import normalize
from provenance.model.hashchain import GENESIS
from provenance.store import Database, log
from provenance.store.models import LogEntry
from tests.factories import delivery, digest, event


def _append(db: Database, *events: dict[str, object]) -> log.AppendResult:
    d = delivery(*events)
    with db.write() as session:
        return log.append(session, d, normalize(d))


def test_entries_chain_to_their_predecessor(db: Database) -> None:
    first = _append(db, event("artifact.pushed", digest=digest("a")))
    second = _append(db, event("artifact.pulled", digest=digest("a")))
    with db.read() as session:
        rows = log.entries(session)
        assert [r.seq for r in rows] == [first.seq, second.seq] == [1, 2]
        assert rows[0].prev_hash == GENESIS
        assert rows[1].prev_hash == rows[0].hash
        assert log.verify(session).ok
        assert log.head(session) == (2, rows[1].hash)


def test_duplicates_are_counted_and_change_nothing(db: Database) -> None:
    e1 = event("artifact.pushed", digest=digest("a"))
    e2 = event("artifact.pushed", digest=digest("b"))
    first = _append(db, e1)
    again = _append(db, e1)
    mixed = _append(db, e1, e2, e2)
    assert (len(first.accepted), len(first.duplicates)) == (1, 0)
    assert again.seq is None and len(again.duplicates) == 1
    assert [e.id for e in mixed.accepted] == [e2["id"]]
    assert len(mixed.duplicates) == 2  # one seen before, one repeated inside the delivery
    with db.read() as session:
        assert log.head(session)[0] == 2


def test_the_stored_bytes_are_exactly_what_was_received(db: Database) -> None:
    d = delivery(event("artifact.pushed", digest=digest("a")))
    with db.write() as session:
        log.append(session, d, normalize(d))
    with db.read() as session:
        assert log.entries(session)[0].body == d.body


def _tamper(db: Database, seq: int, **values: object) -> None:
    with db.write() as session:
        session.execute(update(LogEntry).where(LogEntry.seq == seq).values(**values))


def test_verify_names_the_first_altered_entry(db: Database) -> None:
    for name in "abcd":
        _append(db, event("artifact.pushed", digest=digest(name)))
    _tamper(db, 3, body=b'{"forged": true}')
    with db.read() as session:
        result = log.verify(session)
    assert not result.ok
    assert result.first_bad_seq == 3
    assert result.entries == 2
    assert "altered" in (result.reason or "")


def test_verify_detects_rewritten_events_and_deleted_entries(db: Database) -> None:
    for name in "abc":
        _append(db, event("artifact.pushed", digest=digest(name)))
    _tamper(db, 2, events=[])
    with db.read() as session:
        assert log.verify(session).first_bad_seq == 2
    _tamper(db, 2, events=None)  # restore is impossible without the original: delete instead
    with db.write() as session:
        session.query(LogEntry).filter(LogEntry.seq == 2).delete()
    with db.read() as session:
        result = log.verify(session)
    assert result.first_bad_seq == 3
    assert "missing" in (result.reason or "")


def test_cli_audit_verify_exits_1_naming_the_bad_entry(db: Database) -> None:
    for name in "ab":
        _append(db, event("artifact.pushed", digest=digest(name)))
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--database-url", db.url])
    assert ok.exit_code == 0, ok.output
    assert "2 entries" in ok.output
    _tamper(db, 1, source="forged")
    bad = runner.invoke(app, ["audit", "verify", "--database-url", db.url])
    assert bad.exit_code == 1
    assert "entry 1" in bad.output


def test_cli_audit_verify_names_a_row_rewritten_with_another_type(db: Database) -> None:
    """Issue 8, finding 7: a SQLite body rewritten as text, PostgreSQL headers set to JSON
    null made `audit verify` crash with a traceback instead of naming the entry."""
    from sqlalchemy import text

    for name in "abc":
        _append(db, event("artifact.pushed", digest=digest(name)))
    with db.engine.begin() as conn:
        if db.is_sqlite:
            conn.execute(text("UPDATE log_entries SET body = CAST(body AS TEXT) WHERE seq = 2"))
        else:
            conn.execute(text("UPDATE log_entries SET headers = 'null' WHERE seq = 2"))
    bad = CliRunner().invoke(app, ["audit", "verify", "--database-url", db.url])
    assert bad.exit_code == 1, bad.output
    assert "entry 2" in bad.output
    assert bad.exception is None or isinstance(bad.exception, SystemExit)
