"""Projection speed: a tag's derived timeline rows by (tag, time).

`ix_timeline_derived_tag_time` replaces `ix_timeline_derived_tag`, so re-deriving a tag's
history from a time on deletes only that tail of its derived `tag.updated` rows instead of
reading all of them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 12:00:00.000000
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_timeline_derived_tag_time", "timeline", ["derived_tag", "time"])
    op.drop_index("ix_timeline_derived_tag", table_name="timeline")


def downgrade() -> None:
    op.create_index("ix_timeline_derived_tag", "timeline", ["derived_tag"])
    op.drop_index("ix_timeline_derived_tag_time", table_name="timeline")
