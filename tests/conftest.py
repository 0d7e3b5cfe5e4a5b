"""Shared fixtures: a fresh database per test on SQLite and on the real PostgreSQL.

PostgreSQL is the one on 127.0.0.1:5432 (trust auth). Each test session creates a
throwaway database and drops it at the end. Locally a missing server skips those
tests with a reason; under CI=true it is a failure.

Migrating is the slow part of a fresh database, so each backend migrates once per session:
a SQLite test gets a copy of a migrated file, a PostgreSQL test the session's database
emptied back to what the migrations left (`_MigratedPostgres`). Not a savepoint per test:
the tests run the API, the projection thread and the CLI on connections of their own and
check what they commit, which one rolled-back outer transaction would hide.

The golden payloads live in tests/samples (a copy of the shared samples, so a plain clone
runs every test). Under CI=true any skipped test makes the run fail (`pytest_sessionfinish`),
so a requirement that quietly went missing cannot pass for green.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from provenance.store import Database

PG_ADMIN_URL = os.environ.get("PROVENANCE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
SAMPLES = Path(__file__).resolve().parent / "samples"


def need(condition: bool, reason: str) -> None:
    """Skip locally, fail under CI=true: real parts must run in CI."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


def sample_path(relative: str | Path) -> Path:
    """A file under tests/samples; its absence skips locally and fails under CI=true."""
    path = SAMPLES / relative
    need(path.is_file(), f"sample {relative} is absent from {SAMPLES}")
    return path


# --- under CI=true a skip is a failure ----------------------------------------------------

pytest_plugins = ["pytester"]  # tests/test_ci_skips.py runs pytest inside pytest


class SkipsFailUnderCI:
    """Registered under CI=true: any skipped test (not an xfail) fails the run, and the
    summary names them. `make test` and `.ci/run` both go through here."""

    def __init__(self) -> None:
        self.skipped: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skipped.append(report.nodeid)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.skipped and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.skipped:
            terminalreporter.write_sep(
                "=", f"CI=true: {len(self.skipped)} skipped test(s) fail the run"
            )
            for nodeid in self.skipped:
                terminalreporter.write_line(f"skipped: {nodeid}")


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI:
        config.pluginmanager.register(SkipsFailUnderCI(), "skips-fail-under-ci")


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test session; yields its base URL."""
    problem = _pg_available()
    need(problem is None, problem or "")
    import psycopg

    name = f"prov_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


class _MigratedPostgres:
    """The session's PostgreSQL database at head, emptied back to its migrated state.

    After migrating, it notes every table's rows (the migrations seed some) and sequence.
    Emptying deletes every row with foreign keys off, puts the seeds back and restarts the
    sequences: milliseconds, where DROP SCHEMA and a migration take a second. A test that
    left the schema changed (a table renamed, a trigger added) gets it rebuilt."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._rebuild()

    def _rebuild(self) -> None:
        from sqlalchemy import create_engine, text

        _reset_postgres(self.url)
        database = Database(self.url)
        database.upgrade()
        database.dispose()
        engine = create_engine(self.url)
        with engine.connect() as conn:
            self.tables = sorted(self._tables(conn))
            self.shape = self._shape(conn)
            self.seeds = {
                t: [dict(r._mapping) for r in conn.execute(text(f'SELECT * FROM "{t}"'))]
                for t in self.tables
            }
            self.sequences = [
                r[0]
                for r in conn.execute(
                    text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
                )
            ]
        engine.dispose()

    @staticmethod
    def _tables(conn: object) -> set[str]:
        from sqlalchemy import text

        rows = conn.execute(  # type: ignore[attr-defined]
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
        return {r[0] for r in rows}

    @staticmethod
    def _shape(conn: object) -> list[tuple[str, ...]]:
        """Tables, columns, indexes, triggers and functions: what a test may have left."""
        from sqlalchemy import text

        query = text(
            """
            SELECT 'column', table_name, column_name, data_type FROM information_schema.columns
                WHERE table_schema = 'public'
            UNION ALL SELECT 'index', tablename, indexname, '' FROM pg_indexes
                WHERE schemaname = 'public'
            UNION ALL SELECT 'trigger', tgrelid::regclass::text, tgname, '' FROM pg_trigger
                WHERE NOT tgisinternal
            UNION ALL SELECT 'function', proname, '', '' FROM pg_proc
                WHERE pronamespace = 'public'::regnamespace
            """
        )
        return sorted(tuple(r) for r in conn.execute(query))  # type: ignore[attr-defined]

    def empty(self) -> str:
        from sqlalchemy import column as col
        from sqlalchemy import create_engine, insert, table, text

        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                changed = self._shape(conn) != self.shape
            if changed:
                engine.dispose()
                self._rebuild()
                return self.url
            with engine.begin() as conn:
                # replica role: no foreign key triggers, so any order deletes
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                for t in self.tables:
                    conn.execute(text(f'DELETE FROM "{t}"'))
                    if self.seeds[t]:
                        columns = [col(c) for c in self.seeds[t][0]]
                        conn.execute(insert(table(t, *columns)), self.seeds[t])
                for seq in self.sequences:
                    conn.execute(text(f'ALTER SEQUENCE "{seq}" RESTART'))
        finally:
            engine.dispose()
        return self.url


@pytest.fixture(scope="session")
def pg_migrated(pg_server: str) -> _MigratedPostgres:
    return _MigratedPostgres(pg_server)


@pytest.fixture(scope="session")
def sqlite_migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("migrated") / "provenance.db"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    database.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of a database fresh from the migrations, once per backend."""
    if request.param == "sqlite":
        path = tmp_path / "provenance.db"
        shutil.copyfile(request.getfixturevalue("sqlite_migrated"), path)
        return f"sqlite:///{path}"
    migrated: _MigratedPostgres = request.getfixturevalue("pg_migrated")
    return migrated.empty()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A migrated database, on each backend."""
    database = Database(database_url)
    database.upgrade()  # at head already: proves it, in milliseconds
    yield database
    database.dispose()
