"""Deletes by tag: `artifact_deletes.tag_ref`, and `digest` nullable.

A Harbor tag retention run names a deleted tagged artifact by `repo:tag` only; the delete
is stored with its tag and the digest is derived from the tag's history (None until the
tag is known to have held one then). Projection table: `rebuild` refills it.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 16:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("artifact_deletes") as batch:
        batch.add_column(sa.Column("tag_ref", sa.String(600), nullable=True))
        batch.alter_column("digest", existing_type=sa.String(71), nullable=True)
        batch.create_index("ix_artifact_deletes_tag_ref", ["tag_ref"])


def downgrade() -> None:
    op.execute("DELETE FROM artifact_deletes WHERE digest IS NULL")
    with op.batch_alter_table("artifact_deletes") as batch:
        batch.drop_index("ix_artifact_deletes_tag_ref")
        batch.alter_column("digest", existing_type=sa.String(71), nullable=False)
        batch.drop_column("tag_ref")
