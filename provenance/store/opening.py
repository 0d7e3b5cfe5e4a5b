"""Opening the database a command names, with the CLI's promises kept.

Entry point: `open_database(url, create=...)`. A reading command passes `create=False`: a
SQLite file that does not exist is an `InvalidConfiguration` and nothing is created (an
empty database would answer "never seen" and "log intact: 0 entries"). A URL SQLAlchemy
cannot use is an `InvalidConfiguration`; a server that does not answer, `Unavailable`.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from provenance.model.errors import InvalidConfiguration, Unavailable
from provenance.store import Database


def shown(url: str) -> str:
    """`url` as it may be printed: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite URL names; None for another backend or an in-memory database."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidConfiguration(
            "--database-url / PROVENANCE_DATABASE_URL is not a database URL"
        ) from exc
    if not parsed.drivername.startswith("sqlite"):
        return None
    name = parsed.database or ""
    if name in ("", ":memory:") or name.startswith("file:"):
        return None
    return Path(name)


def open_database(url: str, *, create: bool) -> Database:
    """A migrated `Database` at `url`; the caller disposes of it."""
    path = sqlite_path(url)
    if path is not None and not create and not path.exists():
        raise InvalidConfiguration(
            f"no database at {path.resolve()} (give --database-url, set PROVENANCE_DATABASE_URL, "
            "or ask a running service with --server)"
        )
    if path is not None and create and not path.parent.exists():
        raise InvalidConfiguration(f"cannot create a database in {path.parent}: no such directory")
    try:
        db = Database(url)
    except ArgumentError as exc:  # an unknown dialect, or arguments it does not take
        raise InvalidConfiguration(f"not a usable database URL {shown(url)}: {exc}") from exc
    except ImportError as exc:  # the dialect's driver is not installed
        raise InvalidConfiguration(f"no driver for {shown(url)}: {exc}") from exc
    try:
        db.ping()  # Unavailable when the server does not answer, before Alembic would raise
        db.upgrade()
    except Unavailable as exc:
        db.dispose()
        # The store keeps the reason out of 503s; the operator at this terminal needs it.
        cause = getattr(exc.__cause__, "orig", None) or exc.__cause__
        reason = str(cause).strip().splitlines()[0] if cause else exc.detail
        raise Unavailable(f"database {shown(url)} unreachable: {reason}") from exc
    except BaseException:
        db.dispose()
        raise
    return db


__all__ = ["open_database", "shown", "sqlite_path"]
