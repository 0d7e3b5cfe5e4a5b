"""History by event time: facts as stated (tag_facts, deploy_facts, artifact_deletes),
timeline order within an entry, the latest push/delete per artifact, alert scopes and
supersession, each puller's first pull.

Everything touched here is projection: the migration empties it (as `rebuild` does) and the
service replays the log into the new shape.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_EMPTIED = ("timeline", "nodes", "edges", "artifacts", "pulls", "projection_cursor", "alerts")


def upgrade() -> None:
    for table in (*_EMPTIED, "puller_seen"):
        op.execute(sa.text(f"DELETE FROM {table}"))  # noqa: S608 - fixed table names
    op.execute(sa.text("DELETE FROM evidence WHERE origin = 'arrival'"))
    # As `rebuild` does: the replay tries entries the projection had set aside again.
    op.execute(sa.text("DELETE FROM quarantine WHERE kind = 'projection'"))

    with op.batch_alter_table("edges") as batch:
        batch.add_column(sa.Column("okey", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("until_okey", sa.String(length=64), nullable=True))
        batch.drop_index("ix_edges_dst_kind")
        batch.create_index("ix_edges_dst_kind_until", ["dst", "kind", "until_okey"])
    with op.batch_alter_table("timeline") as batch:
        batch.add_column(sa.Column("ord", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("derived_tag", sa.String(length=600), nullable=True))
        batch.create_index("ix_timeline_event_id", ["event_id"])
        batch.create_index("ix_timeline_derived_tag", ["derived_tag"])
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(sa.Column("life_key", sa.String(length=64), nullable=True))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(
            sa.Column("scope", sa.String(length=640), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("superseded_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("superseded_by", sa.JSON(), nullable=True))
        batch.create_index("ix_alerts_scope", ["scope"])
    with op.batch_alter_table("puller_seen") as batch:
        batch.add_column(sa.Column("okey", sa.String(length=64), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("time", sa.DateTime(), nullable=False, server_default="1970-01-01 00:00:00")
        )
        batch.add_column(sa.Column("data", sa.JSON(), nullable=False, server_default="{}"))

    op.create_table(
        "tag_facts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("tag", sa.String(length=600), nullable=False),
        sa.Column("repository", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=300), nullable=False),
        sa.Column("okey", sa.String(length=64), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ord", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("digest", sa.String(length=71), nullable=True),
        sa.Column("explicit", sa.Boolean(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_facts")),
    )
    op.create_index(
        "ix_tag_facts_identity", "tag_facts", ["tag", "source", "event_id"], unique=True
    )
    op.create_index("ix_tag_facts_tag_okey", "tag_facts", ["tag", "okey"])
    op.create_index("ix_tag_facts_digest", "tag_facts", ["digest"])
    op.create_table(
        "deploy_facts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workload", sa.String(length=300), nullable=False),
        sa.Column("target", sa.String(length=600), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=300), nullable=False),
        sa.Column("okey", sa.String(length=64), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("digest", sa.String(length=71), nullable=True),
        sa.Column("tag_ref", sa.String(length=600), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deploy_facts")),
    )
    op.create_index(
        "ix_deploy_facts_identity", "deploy_facts", ["workload", "source", "event_id"], unique=True
    )
    op.create_index("ix_deploy_facts_workload_okey", "deploy_facts", ["workload", "okey"])
    op.create_index("ix_deploy_facts_tag_ref", "deploy_facts", ["tag_ref"])
    op.create_index("ix_deploy_facts_digest", "deploy_facts", ["digest"])
    op.create_table(
        "artifact_deletes",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=300), nullable=False),
        sa.Column("digest", sa.String(length=71), nullable=False),
        sa.Column("repository", sa.String(length=500), nullable=True),
        sa.Column("okey", sa.String(length=64), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("source", "event_id", name=op.f("pk_artifact_deletes")),
    )
    op.create_index("ix_artifact_deletes_digest", "artifact_deletes", ["digest"])


def downgrade() -> None:
    op.drop_table("artifact_deletes")
    op.drop_table("deploy_facts")
    op.drop_table("tag_facts")
    for table in (*_EMPTIED, "puller_seen"):
        op.execute(sa.text(f"DELETE FROM {table}"))  # noqa: S608 - fixed table names
    op.execute(sa.text("DELETE FROM evidence WHERE origin = 'arrival'"))
    with op.batch_alter_table("puller_seen") as batch:
        batch.drop_column("data")
        batch.drop_column("time")
        batch.drop_column("okey")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index("ix_alerts_scope")
        batch.drop_column("superseded_by")
        batch.drop_column("superseded_at")
        batch.drop_column("scope")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("life_key")
    with op.batch_alter_table("edges") as batch:
        batch.drop_index("ix_edges_dst_kind_until")
        batch.create_index("ix_edges_dst_kind", ["dst", "kind"])
        batch.drop_column("until_okey")
        batch.drop_column("okey")
    with op.batch_alter_table("timeline") as batch:
        batch.drop_index("ix_timeline_derived_tag")
        batch.drop_index("ix_timeline_event_id")
        batch.drop_column("derived_tag")
        batch.drop_column("ord")
