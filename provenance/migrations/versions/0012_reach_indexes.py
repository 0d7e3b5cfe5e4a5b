"""Blast radius: the walk reads edges from their index alone.

Each level of the reach (`store.reach`) reads, per node, its outgoing edges' kind, target,
id and `until` (and `since` as of a time) to keep the valid ones. With (src, kind, dst)
indexed, each edge cost a row lookup in `edges` as well (a big JSON `attrs` row): most of
a wide walk's time. `ix_edges_src_kind_dst_until` (src, kind, dst, until, since), with the
id (SQLite: the rowid, in every index; PostgreSQL: INCLUDE), covers the walk and the
deployments it lists, and still serves every (src, kind[, dst]) probe of the projection,
so it replaces `ix_edges_src_kind_dst` instead of adding a second index to write.

`ix_edges_deployed` (partial: deployment edges only, a few percent of the edges) lets a
wide reach (a CI actor: 79,000 nodes) list its deployments by scanning those edges and
probing the reach, instead of probing the edges of each of its nodes.

`ix_artifacts_first_seen` (first_seen, digest): the console's artifact list (`GET
/v1/artifacts`, newest first, keyset) read and sorted every artifact per page (370 ms at
357,000 artifacts); it is now a scan of the index from its end.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 15:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_edges_src_kind_dst_until",
        "edges",
        ["src", "kind", "dst", "until", "since"],
        postgresql_include=["id"],
    )
    op.drop_index("ix_edges_src_kind_dst", table_name="edges")
    deployed = sa.text("kind = 'deployed'")
    op.create_index(
        "ix_edges_deployed",
        "edges",
        ["src", "dst", "since", "until"],
        sqlite_where=deployed,
        postgresql_where=deployed,
    )

    op.create_index("ix_artifacts_first_seen", "artifacts", ["first_seen", "digest"])


def downgrade() -> None:
    op.drop_index("ix_artifacts_first_seen", table_name="artifacts")
    op.drop_index("ix_edges_deployed", table_name="edges")
    op.create_index("ix_edges_src_kind_dst", "edges", ["src", "kind", "dst"])
    op.drop_index("ix_edges_src_kind_dst_until", table_name="edges")
