"""Concurrent projection: once-only edges unique on (src, kind, dst).

Projectors of different lanes now apply their batches side by side (no global lock), so a
once-only edge is written with INSERT ... ON CONFLICT DO NOTHING against
`ux_edges_once`, a unique index over every kind but the derived histories' (`tagged`,
`deployed`, whose intervals repeat a (src, kind, dst)). Duplicates a race may have left
are merged first: the earliest `since` is kept on the oldest row.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 15:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ONCE = "kind NOT IN ('tagged', 'deployed')"
SAME = "d.src = edges.src AND d.kind = edges.kind AND d.dst = edges.dst"


def upgrade() -> None:
    op.execute(
        f"UPDATE edges SET since = (SELECT MIN(d.since) FROM edges d WHERE {SAME}) "  # noqa: S608
        f"WHERE {ONCE} AND EXISTS (SELECT 1 FROM edges d WHERE {SAME} AND d.id <> edges.id)"
    )
    op.execute(
        f"DELETE FROM edges WHERE {ONCE} "  # noqa: S608
        f"AND EXISTS (SELECT 1 FROM edges d WHERE {SAME} AND d.id < edges.id)"
    )
    op.create_index(
        "ux_edges_once",
        "edges",
        ["src", "kind", "dst"],
        unique=True,
        postgresql_where=sa.text(ONCE),
        sqlite_where=sa.text(ONCE),
    )


def downgrade() -> None:
    op.drop_index("ux_edges_once", table_name="edges")
