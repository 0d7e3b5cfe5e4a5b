"""The lane of each log entry: which Kafka partition's deliveries it came from.

In distributed mode each worker projects the entries its own partitions produced, behind
one cursor per partition (`graph:<topic>:<partition>` in `projection_cursor`), so the
graph scales out with the workers; entries appended by `provenance serve` or the CLI
have no lane and are taken by the global cursor (`graph`). The lane is routing, not
content: it is not part of the entry's hash, and setting it never changes the chain.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (nullable, no default): instant on PostgreSQL, no table rewrite.
    op.add_column("log_entries", sa.Column("lane", sa.String(length=200), nullable=True))
    op.create_index("ix_log_entries_lane_seq", "log_entries", ["lane", "seq"])


def downgrade() -> None:
    op.drop_index("ix_log_entries_lane_seq", table_name="log_entries")
    with op.batch_alter_table("log_entries") as batch:
        batch.drop_column("lane")
