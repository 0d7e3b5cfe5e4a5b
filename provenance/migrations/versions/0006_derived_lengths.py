"""Room for what the projection derives from the longest values the edge accepts.

A derived `tag.updated` has the id `<event id>#tag.updated`: up to 312 characters in
`timeline.event_id` (300 -> 320). A new puller's alert key is
`new_puller:<repository>:<actor>`: up to 612 characters in `alerts.key` and
`alert_deliveries.key` (400 -> 640). PostgreSQL enforces these lengths (the entry was
set aside by the projection); SQLite does not, so there is nothing to change there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# (table, column, length before, length after)
_WIDER = [
    ("timeline", "event_id", 300, 320),
    ("alerts", "key", 400, 640),
    ("alert_deliveries", "key", 400, 640),
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column, before, after in _WIDER:
        op.alter_column(
            table,
            column,
            existing_type=sa.String(before),
            type_=sa.String(after),
            existing_nullable=False,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column, before, after in _WIDER:
        op.alter_column(
            table,
            column,
            existing_type=sa.String(after),
            type_=sa.String(before),
            existing_nullable=False,
        )
