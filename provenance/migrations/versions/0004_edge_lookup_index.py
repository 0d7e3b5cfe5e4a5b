"""Edges: index (src, kind, dst) instead of (src, kind).

The projection checks whether a once-only edge exists by its exact (src, kind, dst); with
only (src, kind) indexed, a hub (an actor who pushed 30,000 images) made each probe scan
all of its edges. The wider index still serves every (src, kind) lookup.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 08:30:00.000000
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_edges_src_kind_dst", "edges", ["src", "kind", "dst"])
    op.drop_index("ix_edges_src_kind", table_name="edges")


def downgrade() -> None:
    op.create_index("ix_edges_src_kind", "edges", ["src", "kind"])
    op.drop_index("ix_edges_src_kind_dst", table_name="edges")
