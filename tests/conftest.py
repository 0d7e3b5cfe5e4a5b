"""Shared fixtures: a fresh database per test on SQLite and on the real PostgreSQL.

PostgreSQL is the one on 127.0.0.1:5432 (trust auth). Each test session creates a
throwaway database and drops it at the end. Locally a missing server skips those
tests with a reason; under CI=true it is a failure.

The golden payloads live in tests/samples (a copy of the shared samples, so a plain clone
runs every test). Under CI=true any skipped test makes the run fail (`pytest_sessionfinish`),
so a requirement that quietly went missing cannot pass for green.
"""

from __future__ import annotations

import os
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


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty database, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'provenance.db'}"
    url: str = request.getfixturevalue("pg_server")
    _reset_postgres(url)
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A migrated database, on each backend."""
    database = Database(database_url)
    database.upgrade()
    yield database
    database.dispose()
