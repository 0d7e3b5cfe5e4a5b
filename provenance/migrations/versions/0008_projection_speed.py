"""Projection speed: once-only edges unique, a tag's derived timeline rows by time.

`ux_edges_once` (src, kind, dst) over every kind but the histories (`tagged`, `deployed`)
lets the projection write a batch's once-only edges with one upsert instead of probing
for each; duplicates (only ever from concurrent writers) are merged first, keeping the
earliest `since`. `ix_timeline_derived_tag_time` replaces `ix_timeline_derived_tag`, so
re-deriving a tag's history from a time on reads only that tail.

Revision ID: 0008s
Revises: 0007
Create Date: 2026-12-01 12:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0008s"
down_revision = "0007"
branch_labels = None
depends_on = None

_ONCE = "kind NOT IN ('tagged', 'deployed')"


def upgrade() -> None:
    earliest = (
        "UPDATE edges SET since = (SELECT min(o.since) FROM edges o WHERE o.src = edges.src"
        " AND o.kind = edges.kind AND o.dst = edges.dst) WHERE "
    )
    op.execute(sa.text(earliest + _ONCE))
    op.execute(
        sa.text(
            f"DELETE FROM edges WHERE {_ONCE} AND id NOT IN"  # noqa: S608 - fixed text
            f" (SELECT min(id) FROM edges WHERE {_ONCE} GROUP BY src, kind, dst)"
        )
    )
    op.create_index(
        "ux_edges_once",
        "edges",
        ["src", "kind", "dst"],
        unique=True,
        sqlite_where=sa.text(_ONCE),
        postgresql_where=sa.text(_ONCE),
    )
    op.create_index("ix_timeline_derived_tag_time", "timeline", ["derived_tag", "time"])
    op.drop_index("ix_timeline_derived_tag", table_name="timeline")


def downgrade() -> None:
    op.create_index("ix_timeline_derived_tag", "timeline", ["derived_tag"])
    op.drop_index("ix_timeline_derived_tag_time", table_name="timeline")
    op.drop_index("ux_edges_once", table_name="edges")
