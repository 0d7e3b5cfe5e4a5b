"""Projection growth: fewer index entries with random keys, no event JSON in tag facts.

Past a few hundred thousand events the projection's cost per event was set by B-tree
inserts at random places of indexes larger than the page cache (each one reads a leaf
page and writes it back at the commit). Per event, this removes:
- `ux_edges_once` on SQLite: it repeats the key of `ix_edges_src_kind_dst_until` and only
  serves `ON CONFLICT` for writers side by side (PostgreSQL); SQLite's one writer probes
  first, inside its transaction. PostgreSQL keeps it.
- `ix_timeline_event_id` (a random UUID): its two readers (rows rewritten by a deployment
  or a delete by tag) know the row's log seq, so `ix_timeline_seq_event` (seq first:
  rows go in at its end) replaces it.
- `ix_tag_facts_identity` (tag, source, event_id): an event has one place in the log, so
  (tag, okey) is the same identity; `ix_tag_facts_tag_okey` becomes unique instead.
- `ix_tag_facts_digest`: the tags that ever held a digest are the `dst` of its `tagged`
  edges (every point of a tag is in its derived intervals), which the walk's index has.
- The NULLs of `ix_timeline_previous_digest` and `ix_timeline_derived_tag_time` (nearly
  every row): partial indexes; their readers look up non-NULL values only.
And `tag_facts.data`, the event's JSON a third time (the log and the timeline hold it):
the tag history reads the timeline row when a tag moves, the pusher from `actor`.

Projection tables: what is dropped is derived again by `rebuild` from the log.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 20:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ONCE = "kind NOT IN ('tagged', 'deployed')"


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _is_sqlite():
        op.drop_index("ux_edges_once", table_name="edges")
    op.create_index("ix_timeline_seq_event", "timeline", ["seq", "event_id"])
    op.drop_index("ix_timeline_event_id", table_name="timeline")
    for name, column, rest in (
        ("ix_timeline_previous_digest", "previous_digest", []),
        ("ix_timeline_derived_tag_time", "derived_tag", ["time"]),
    ):
        op.drop_index(name, table_name="timeline")
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            name, "timeline", [column, *rest], sqlite_where=where, postgresql_where=where
        )
    _tag_facts_up()


def _tag_facts_up() -> None:
    op.drop_index("ix_tag_facts_identity", table_name="tag_facts")
    op.drop_index("ix_tag_facts_tag_okey", table_name="tag_facts")
    op.drop_index("ix_tag_facts_digest", table_name="tag_facts")
    op.add_column("tag_facts", sa.Column("actor", sa.String(300), nullable=True))
    actor = "json_extract(data, '$.actor')" if _is_sqlite() else "CAST(data AS jsonb)->>'actor'"
    op.execute(f"UPDATE tag_facts SET actor = {actor}")  # noqa: S608 - no input in it
    with op.batch_alter_table("tag_facts") as batch:
        batch.drop_column("data")
    op.create_index("ux_tag_facts_tag_okey", "tag_facts", ["tag", "okey"], unique=True)


def downgrade() -> None:
    # The event JSON of a tag fact is its timeline row's (as received, not derived).
    op.drop_index("ux_tag_facts_tag_okey", table_name="tag_facts")
    with op.batch_alter_table("tag_facts") as batch:
        batch.add_column(sa.Column("data", sa.JSON(), nullable=False, server_default="{}"))
    op.execute(
        "UPDATE tag_facts SET data = COALESCE((SELECT t.data FROM timeline t WHERE "
        "t.seq = tag_facts.seq AND t.event_id = tag_facts.event_id AND t.derived_tag IS NULL "
        "LIMIT 1), data) WHERE kind = 'point'"
    )
    with op.batch_alter_table("tag_facts") as batch:
        batch.drop_column("actor")
    op.create_index("ix_tag_facts_tag_okey", "tag_facts", ["tag", "okey"])
    op.create_index("ix_tag_facts_digest", "tag_facts", ["digest"])
    op.create_index(
        "ix_tag_facts_identity", "tag_facts", ["tag", "source", "event_id"], unique=True
    )
    for name, column, rest in (
        ("ix_timeline_previous_digest", "previous_digest", []),
        ("ix_timeline_derived_tag_time", "derived_tag", ["time"]),
    ):
        op.drop_index(name, table_name="timeline")
        op.create_index(name, "timeline", [column, *rest])
    op.create_index("ix_timeline_event_id", "timeline", ["event_id"])
    op.drop_index("ix_timeline_seq_event", table_name="timeline")
    if _is_sqlite():
        op.create_index(
            "ux_edges_once",
            "edges",
            ["src", "kind", "dst"],
            unique=True,
            sqlite_where=sa.text(ONCE),
        )
