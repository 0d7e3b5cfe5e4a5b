"""Projection growth: a workload's history and its alerts re-derived from a time on.

`ix_alerts_scope_time` replaces `ix_alerts_scope`, so reconciling a workload's findings
from a time on reads only that tail of its alerts. `ix_deploy_facts_partial` (workloads
with a fact naming less than cluster, namespace and container) tells which workloads must
still be derived whole: a partial fact speaks of containers that may become known later.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 12:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_alerts_scope_time", "alerts", ["scope", "time"])
    op.drop_index("ix_alerts_scope", table_name="alerts")
    op.create_index(
        "ix_deploy_facts_partial",
        "deploy_facts",
        ["workload"],
        sqlite_where=sa.text("target IS NULL"),
        postgresql_where=sa.text("target IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_deploy_facts_partial", table_name="deploy_facts")
    op.create_index("ix_alerts_scope", "alerts", ["scope"])
    op.drop_index("ix_alerts_scope_time", table_name="alerts")
