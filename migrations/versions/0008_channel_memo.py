"""channel memos: button values and native polls a channel sent, shared by every worker

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_memo",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("channel", "key"),
    )
    op.create_index("ix_channel_memo_created_at", "channel_memo", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_channel_memo_created_at", table_name="channel_memo")
    op.drop_table("channel_memo")
