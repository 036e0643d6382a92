"""dedupe rows carry a hash of their sender, so a person's rows can be deleted with the rest of their data

Revision ID: 0007
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("processed_message") as batch:
        batch.add_column(sa.Column("sender", sa.String(length=32), nullable=True))
        batch.create_index("ix_processed_message_sender", ["sender"])


def downgrade() -> None:
    with op.batch_alter_table("processed_message") as batch:
        batch.drop_index("ix_processed_message_sender")
        batch.drop_column("sender")
