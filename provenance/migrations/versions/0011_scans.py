"""Vulnerability scans: `scan_facts` (each `artifact.scanned` as stated, the latest per
digest, scanner and subject marked `current`) and `scan_vulnerabilities` (the ids the
facts list, flagged `current` with their fact: "which digests' latest scan lists CVE-X").

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 15:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "scan_facts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(71), nullable=False),
        sa.Column("scanner", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(300), nullable=False),
        sa.Column("okey", sa.String(64), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("vulnerabilities", sa.JSON(), nullable=False),
        sa.Column("ids_known", sa.Boolean(), nullable=False),
        sa.Column("worst", sa.String(10), nullable=True),
        sa.Column("current", sa.Boolean(), nullable=False),
    )
    op.create_index(
        "ix_scan_facts_identity", "scan_facts", ["source", "event_id", "digest"], unique=True
    )
    op.create_index(
        "ix_scan_facts_group_okey", "scan_facts", ["digest", "scanner", "subject", "okey"]
    )
    op.create_table(
        "scan_vulnerabilities",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("fact_id", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(71), nullable=False),
        sa.Column("vuln_id", sa.String(200), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
    )
    op.create_index(
        "ix_scan_vulnerabilities_vuln", "scan_vulnerabilities", ["vuln_id", "current", "digest"]
    )
    op.create_index("ix_scan_vulnerabilities_fact", "scan_vulnerabilities", ["fact_id"])


def downgrade() -> None:
    op.drop_table("scan_vulnerabilities")
    op.drop_table("scan_facts")
