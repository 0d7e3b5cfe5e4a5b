"""Alerts: findings of the policy rules, who has pulled what, outbound delivery state.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 06:45:55.973711
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_deliveries",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_alert_deliveries")),
    )
    op.create_table(
        "alerts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("digest", sa.String(length=71), nullable=True),
        sa.Column("repository", sa.String(length=500), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("key", name=op.f("uq_alerts_key")),
    )
    op.create_index("ix_alerts_kind_time", "alerts", ["kind", "time"])
    op.create_index("ix_alerts_time", "alerts", ["time"])
    op.create_table(
        "puller_seen",
        sa.Column("repository", sa.String(length=500), nullable=False),
        sa.Column("actor", sa.String(length=300), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("repository", "actor", name=op.f("pk_puller_seen")),
    )


def downgrade() -> None:
    op.drop_table("puller_seen")
    op.drop_index("ix_alerts_time", table_name="alerts")
    op.drop_index("ix_alerts_kind_time", table_name="alerts")
    op.drop_table("alerts")
    op.drop_table("alert_deliveries")
