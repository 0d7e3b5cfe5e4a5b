"""SQLite: the tables keyed by text alone are their key's B-tree (WITHOUT ROWID).

`event_keys` (source, event id), `pulls` (digest, actor, client) and `artifacts` (digest)
were rowid tables with a text primary key: two B-trees each, the table and the key's
index, so every accepted event's idempotency key, every pull and every artifact row was
inserted twice at random places, and every read by key found the index entry and then
the row by its rowid. Their rows are small (well under a twentieth of a page), which is
where SQLite's documentation recommends WITHOUT ROWID: one B-tree, the row in its key.
A CI actor's blast radius reads 22,000 pull rows by digest (their count and last time):
that half of its pullers statement was the table lookups (bench/README, "Stop 24").

PostgreSQL has no rowid: nothing changes there. The rows are copied as they are.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 09:20:00.000000
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# The tables as 0001..0016 left them: columns, primary key, indexes.
_TABLES: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    "event_keys": (
        ("source VARCHAR(32) NOT NULL", "event_id VARCHAR(300) NOT NULL", "seq BIGINT NOT NULL"),
        "CONSTRAINT pk_event_keys PRIMARY KEY (source, event_id)",
        (),
    ),
    "pulls": (
        (
            "digest VARCHAR(71) NOT NULL",
            "actor VARCHAR(300) NOT NULL",
            "client VARCHAR(100) NOT NULL",
            "count BIGINT NOT NULL",
            "first DATETIME NOT NULL",
            "last DATETIME NOT NULL",
        ),
        "CONSTRAINT pk_pulls PRIMARY KEY (digest, actor, client)",
        (),
    ),
    "artifacts": (
        (
            "digest VARCHAR(71) NOT NULL",
            "media_type VARCHAR(200)",
            "size BIGINT",
            "first_seen DATETIME NOT NULL",
            "deleted BOOLEAN NOT NULL",
            "deleted_at DATETIME",
            "life_key VARCHAR(64)",
        ),
        "CONSTRAINT pk_artifacts PRIMARY KEY (digest)",
        ("CREATE INDEX ix_artifacts_first_seen ON artifacts (first_seen, digest)",),
    ),
}


def _rebuild(*, rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    suffix = "" if rowid else " WITHOUT ROWID"
    for table, (columns, key, indexes) in _TABLES.items():
        names = ", ".join(c.split()[0] for c in columns)
        op.execute(f"CREATE TABLE {table}__new ({', '.join((*columns, key))}){suffix}")
        op.execute(f"INSERT INTO {table}__new ({names}) SELECT {names} FROM {table}")  # noqa: S608
        op.execute(f"DROP TABLE {table}")
        op.execute(f"ALTER TABLE {table}__new RENAME TO {table}")
        for index in indexes:
            op.execute(index)


def upgrade() -> None:
    _rebuild(rowid=False)


def downgrade() -> None:
    _rebuild(rowid=True)
