"""Engines, sessions and migrations for SQLite (embedded) and PostgreSQL (production).

`Database.write()` is the one way to open a writing transaction: on SQLite it begins
IMMEDIATE (so two writers queue instead of failing to upgrade a read lock) and holds a
process lock; on PostgreSQL the log head row lock serializes appends.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    StatementError,
)
from sqlalchemy.orm import Session, sessionmaker

from provenance.model.errors import Unavailable

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_MIGRATE = 0x70726F76  # PostgreSQL advisory lock key held while migrating ("prov")


# orjson writes datetimes and dataclasses itself; passed through, they fail as with json.
_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def to_json(value: Any) -> str:
    """JSON columns' text: orjson (the stdlib encoder was ~11% of projection CPU). No
    stored JSON text is hashed or compared as text (the log's hash is over RFC 8785 of
    the values; lookups use JSON path functions), so only the meaning must be the same:
    what orjson refuses (integers past 64 bits, lone surrogates, non-string keys) is
    written by `json` as before. (NaN, which inputs cannot hold (parsed by orjson), would
    be written null.)"""
    try:
        return orjson.dumps(value, option=_PASSTHROUGH).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def _from_json(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # what `json` wrote and orjson refuses (e.g. NaN)


# SQLite's page cache per connection, in KiB (its default is 2 MiB). Past a few hundred
# thousand events the indexes outgrow 2 MiB and every insert reads its B-tree pages back
# from the OS (a system call each): the cost of an event grew with the graph. Writes are
# serialized in-process, so one pooled writing connection keeps its cache warm.
_WRITE_CACHE_KIB = 128 * 1024
_READ_CACHE_KIB = 16 * 1024
# The writer's cache while the log is replayed (`Database.replaying`): a replay's transactions
# are large (`rebuild.REPLAY_EVENTS`), and the pages one dirties must stay in the cache until
# its commit, or SQLite spills them to the WAL mid-transaction and reads them back. At a
# million events this made the replay 1.2x faster and its rate fall less as the graph grew
# (bench/README, "Sized by events"). It fills only as far as the database is large.
REPLAY_CACHE_KIB = 1024 * 1024
_CACHE = "provenance_cache_kib"  # in the DBAPI connection's info: its cache_size now


# Execution option of a writing transaction: False for one whose commit may wait for the
# next fsync (`Database.write(durable=False)`).
_DURABLE = "provenance_durable"


def _is_file(url: str) -> bool:
    """Not an in-memory database (whose pool is one connection per thread)."""
    return ":memory:" not in url and "mode=memory" not in url and url.rstrip("/") != "sqlite:"


def _sqlite_engine(
    url: str,
    *,
    immediate: bool,
    auto_checkpoint: Callable[[], bool] = lambda: True,
    write_cache_kib: Callable[[], int] = lambda: _WRITE_CACHE_KIB,
) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        json_serializer=to_json,
        json_deserializer=_from_json,
        # One kept writing connection (the process lock lets one write at a time); the
        # overflow ones, and their caches, are closed when given back.
        **({"pool_size": 1, "max_overflow": 10} if immediate and _is_file(url) else {}),
    )

    def cache_kib() -> int:
        return write_cache_kib() if immediate else _READ_CACHE_KIB

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed append survives power loss, which is what a 202 promises.
        cur.execute("PRAGMA synchronous=FULL")
        _record.info[_DURABLE] = "FULL"
        cur.execute("PRAGMA busy_timeout=30000")
        if not auto_checkpoint():
            # A commit that crosses the WAL threshold would copy the WAL back and fsync on
            # its caller's time (10 ms and more, while holding the writer): checkpoints
            # run beside the writers instead (`Database.checkpoint`).
            cur.execute("PRAGMA wal_autocheckpoint=0")
        _record.info[_CACHE] = kib = cache_kib()
        cur.execute(f"PRAGMA cache_size=-{kib}")  # negative: KiB, not pages
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if immediate:
            # The level can only change between transactions: set it before BEGIN, and
            # only when it changes (a pooled connection remembers what it was given).
            level = "FULL" if conn.get_execution_options().get(_DURABLE, True) else "NORMAL"
            info = conn.connection.info
            if info.get(_DURABLE) != level:
                conn.exec_driver_sql(f"PRAGMA synchronous={level}")
                info[_DURABLE] = level
            kib = cache_kib()  # a replay began or ended (`Database.replaying`)
            if info.get(_CACHE) != kib:
                conn.exec_driver_sql(f"PRAGMA cache_size=-{kib}")
                info[_CACHE] = kib
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """A database URL made usable: engines, sessions, schema migrations."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._checkpoints_beside = False
        self._write_cache_kib = _WRITE_CACHE_KIB
        if self.is_sqlite:
            self._write_engine = _sqlite_engine(
                url,
                immediate=True,
                auto_checkpoint=lambda: not self._checkpoints_beside,
                write_cache_kib=lambda: self._write_cache_kib,
            )
            self._read_engine = _sqlite_engine(url, immediate=False)
        else:
            self._write_engine = create_engine(
                url,
                pool_size=10,
                max_overflow=10,
                pool_pre_ping=True,
                json_serializer=to_json,
                json_deserializer=_from_json,
            )
            self._read_engine = self._write_engine
        self._writes = sessionmaker(self._write_engine, expire_on_commit=False)
        self._reads = sessionmaker(self._read_engine, expire_on_commit=False)
        # SQLite allows one writer; queueing here is cheaper than busy-waiting in SQLite.
        self._write_lock = threading.Lock() if self.is_sqlite else None

    def checkpoint_beside_writers(self) -> None:
        """SQLite file: from now on WAL checkpoints are this process's background work
        (`checkpoint`, called by a long-running loop), never a committing writer's: the
        tail latency of a write (an admission decision) is then its own commit's."""
        if not self.is_sqlite or not _is_file(self.url) or self._checkpoints_beside:
            return
        self._checkpoints_beside = True
        self._write_engine.dispose()  # the kept writer reconnects without auto-checkpoints

    @contextmanager
    def replaying(self, cache_kib: int = REPLAY_CACHE_KIB) -> Iterator[None]:
        """SQLite: the writer's page cache is `cache_kib` for the transactions begun inside
        (a replay of the log, whose transactions are large), and what it was after."""
        before, self._write_cache_kib = self._write_cache_kib, cache_kib
        try:
            yield
        finally:
            self._write_cache_kib = before

    def checkpoint(self) -> None:
        """A PASSIVE WAL checkpoint on a connection of its own, outside the writer lock:
        it copies what no reader still needs and waits for nobody."""
        if not self._checkpoints_beside:
            return
        raw = self._read_engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")  # type: ignore[union-attr]
        finally:
            raw.close()

    @property
    def engine(self) -> Engine:
        return self._write_engine

    @property
    def dialect(self) -> str:
        return self._write_engine.dialect.name

    def insert(self, table: Any) -> Any:
        """A dialect insert that supports ON CONFLICT (both dialects have it)."""
        return sqlite.insert(table) if self.is_sqlite else postgresql.insert(table)

    @contextmanager
    def write(self, *, durable: bool = True) -> Iterator[Session]:
        """A writing transaction: committed when the block ends, rolled back on error.

        `durable=False` is for what can be derived again from what is durable (the
        projection, from the log): its commit does not wait for the disk (SQLite
        `synchronous=NORMAL`, PostgreSQL `synchronous_commit=off`). It is still atomic and
        ordered: a power loss can only take the last such commits back, whole, and with
        them the cursor that said they were done, so their entries are projected again.
        Every commit of the log stays durable, and flushes whatever was written before it."""
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            with self._writes() as session, _unavailable_on_operational_error(), session.begin():
                if not durable:
                    if self.is_sqlite:
                        session.connection(execution_options={_DURABLE: False})
                    else:
                        session.execute(text("SET LOCAL synchronous_commit = off"))
                yield session
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reads() as session, _unavailable_on_operational_error(), session.begin():
            yield session

    def ping(self) -> None:
        with self.read() as session:
            session.execute(text("SELECT 1"))

    def upgrade(self) -> None:
        """Apply Alembic migrations up to head."""
        from alembic import command  # noqa: PLC0415 - alembic is only needed here
        from alembic.config import Config  # noqa: PLC0415

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self._write_engine.begin() as connection:
            if not self.is_sqlite:
                # API replicas and workers all migrate at start: one at a time (the lock
                # ends with this transaction); the others then find the schema at head.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATE})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self._write_engine.dispose()
        self._read_engine.dispose()


@contextmanager
def _unavailable_on_operational_error() -> Iterator[None]:
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        # Connection refused, server gone, database locked past the timeout. The detail
        # goes to the log, not to the client: a 503 must not map the network for outsiders.
        logger.warning("database unavailable: %s", exc.orig)
        raise Unavailable("database unavailable") from exc


def blames_the_input(exc: BaseException) -> bool:
    """Whether a failed write was caused by what was written (so it must be set aside,
    and retrying it will never succeed) rather than by the database (down, busy, a
    missing table, a permission): then the write must be retried, and nothing blamed.

    The input: a value the column refuses (DataError: too long, a NUL, out of range), a
    constraint (IntegrityError), a value the driver cannot bind (a StatementError around
    a Python error), or a plain Python error raised by our own code on that input."""
    if isinstance(exc, Unavailable):
        return False
    if isinstance(exc, DataError | IntegrityError):
        return True
    if isinstance(exc, DBAPIError):  # operational, programming, internal, interface...
        return False
    if isinstance(exc, StatementError):
        return not isinstance(exc.orig, DBAPIError | OSError)
    return isinstance(exc, Exception) and not isinstance(exc, OSError)


__all__ = ["Database", "blames_the_input"]
