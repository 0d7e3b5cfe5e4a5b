"""Catalog: the repositories list without scanning the timeline and every tag node.

`GET /v1/repositories` asked, per page, for each repository's last push (a scan of the
whole timeline: it had no index on `repository`) and its tag count (the JSON `repository`
of every tag node). Two partial indexes answer both by index range: pushes by (repository,
time), and tag nodes by their repository. The catalog's queries name the same expressions.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 12:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The expression `store.catalog.tag_repository` queries, per dialect.
_TAG_REPOSITORY = {
    "sqlite": "json_extract(attrs, '$.repository')",
    "postgresql": "(attrs ->> 'repository')",
}


def upgrade() -> None:
    op.create_index(
        "ix_timeline_pushes_repository_time",
        "timeline",
        ["repository", "time"],
        sqlite_where=sa.text("type = 'artifact.pushed'"),
        postgresql_where=sa.text("type = 'artifact.pushed'"),
    )
    dialect = op.get_bind().dialect.name
    op.execute(
        sa.text(
            "CREATE INDEX ix_nodes_tag_repository ON nodes "
            f"(kind, {_TAG_REPOSITORY[dialect]}) WHERE kind = 'tag'"
        )
    )


def downgrade() -> None:
    op.drop_index("ix_nodes_tag_repository", table_name="nodes")
    op.drop_index("ix_timeline_pushes_repository_time", table_name="timeline")
