"""confirmations, quote references, tour changes, channel opt-outs and identity link codes

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channel_identity") as batch:
        batch.add_column(sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("quote") as batch:
        batch.add_column(sa.Column("reference", sa.String(length=12), nullable=True))
        batch.add_column(sa.Column("details", sa.JSON(), nullable=True))
        batch.create_unique_constraint("uq_quote_reference", ["reference"])
    with op.batch_alter_table("offer") as batch:
        batch.create_check_constraint("ck_offer_available_not_negative", "available >= 0")
    op.create_table(
        "link_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "pending_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("conversation", sa.String(length=200), nullable=False),
        sa.Column("tool", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pending_action_person_conversation", "pending_action", ["person_id", "conversation"])
    op.create_table(
        "tour_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("artist_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["artist_id"], ["artist.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_tour_change_artist_time", "tour_change", ["artist_id", "created_at"])
    op.create_index("ix_tour_change_created", "tour_change", ["created_at"])


def downgrade() -> None:
    op.drop_table("tour_change")
    op.drop_index("ix_pending_action_person_conversation", table_name="pending_action")
    op.drop_table("pending_action")
    op.drop_table("link_code")
    with op.batch_alter_table("offer") as batch:
        batch.drop_constraint("ck_offer_available_not_negative", type_="check")
    with op.batch_alter_table("quote") as batch:
        batch.drop_constraint("uq_quote_reference", type_="unique")
        batch.drop_column("details")
        batch.drop_column("reference")
    with op.batch_alter_table("channel_identity") as batch:
        batch.drop_column("opted_out_at")
