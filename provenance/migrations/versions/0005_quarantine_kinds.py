"""Quarantine: what was set aside, and where.

`kind` tells a refused delivery (`delivery`) from one refused event of a delivery whose
other events were accepted (`event`, with `item_index`) and from an accepted log entry
that failed to project (`projection`, with the log `seq`), so `/readyz` can count the
last kind and the projection can go on past it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="delivery")
        )
        batch.add_column(sa.Column("item_index", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
    op.create_index("ix_quarantine_kind_id", "quarantine", ["kind", "id"])


def downgrade() -> None:
    op.drop_index("ix_quarantine_kind_id", table_name="quarantine")
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_column("seq")
        batch.drop_column("item_index")
        batch.drop_column("kind")
