"""analytics: rollup tables for staff metrics, and the indexes their queries read

Revision ID: 0005
Revises: 0006

The covering indexes differ by engine: PostgreSQL keeps the time column as the key and INCLUDEs the
measures (index-only scans); SQLite has no INCLUDE, so the same columns follow the key.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0006"
branch_labels = None
depends_on = None

COVERING = {
    # index name: (table, key columns, included columns)
    "ix_booking_metrics_created": (
        "booking",
        ["created_at"],
        ["event_id", "channel", "route", "status", "total_minor", "refund_minor", "tickets", "commission_minor"],
    ),
    "ix_booking_metrics_event": (
        "booking",
        ["event_id", "created_at"],
        ["channel", "route", "status", "total_minor", "refund_minor", "tickets", "commission_minor"],
    ),
    "ix_booking_metrics_cancelled": ("booking", ["cancelled_at"], ["event_id", "channel", "route", "refund_minor"]),
    "ix_booking_metrics_status": (
        "booking",
        ["status", "created_at"],
        ["event_id", "channel", "route", "refund_minor", "tickets", "commission_minor"],
    ),
    "ix_person_created": ("person", ["created_at"], ["role"]),
    "ix_outbox_sent": ("outbox", ["sent_at"], ["status", "channel"]),
    "ix_conversation_event_created": ("conversation_event", ["created_at"], []),
    "ix_conversation_event_turns": (
        "conversation_event",
        ["kind", "created_at"],
        ["channel", "person_id", "ok", "latency_ms"],
    ),
}


def upgrade() -> None:
    op.create_table(
        "metric_booking_rollup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cube", sa.String(length=8), nullable=False),
        sa.Column("bucket", sa.Date(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("route", sa.String(length=8), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("made_n", sa.BigInteger(), nullable=False),
        sa.Column("made_total_minor", sa.BigInteger(), nullable=False),
        sa.Column("made_tickets", sa.BigInteger(), nullable=False),
        sa.Column("made_commission_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_metric_booking_rollup_cube", "metric_booking_rollup", ["cube", "bucket"])
    op.create_table(
        "metric_log_rollup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("ok_n", sa.BigInteger(), nullable=False),
        sa.Column("tool_n", sa.BigInteger(), nullable=False),
        sa.Column("tool_ok_n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_metric_log_rollup_day", "metric_log_rollup", ["day", "kind"])
    op.create_table(
        "metric_latency_rollup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grain", sa.String(length=8), nullable=False),
        sa.Column("bucket", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_metric_latency_rollup_bucket", "metric_latency_rollup", ["grain", "bucket"])
    op.create_table(
        "metric_active_rollup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("people", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_metric_active_rollup_day", "metric_active_rollup", ["day"])
    op.create_table(
        "metric_rollup_state",
        sa.Column("name", sa.String(length=24), nullable=False),
        sa.Column("days_until", sa.Date(), nullable=True),
        sa.Column("months_until", sa.Date(), nullable=True),
        sa.Column("max_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, (table, key, included) in COVERING.items():
        if postgres:
            op.create_index(name, table, key, postgresql_include=included)
        else:
            op.create_index(name, table, [*key, *included])


def downgrade() -> None:
    for name, (table, _key, _included) in COVERING.items():
        op.drop_index(name, table_name=table)
    for table in (
        "metric_rollup_state",
        "metric_active_rollup",
        "metric_latency_rollup",
        "metric_log_rollup",
        "metric_booking_rollup",
    ):
        op.drop_table(table)
