"""The history schema of ventbench 0.1 (stdlib SQLite): sessions and their checks.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("session_id", sa.Text, primary_key=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("started_utc", sa.Text),
        sa.Column("device", sa.Text),
        sa.Column("serial", sa.Text),
        sa.Column("firmware", sa.Text),
        sa.Column("protocol", sa.Text),
        sa.Column("operator", sa.Text),
        sa.Column("status", sa.Text),
        sa.Column("verdict", sa.Text),
        sa.Column("exit_status", sa.Integer),
        sa.Column("results_sha256", sa.Text),
    )
    op.create_table(
        "checks",
        sa.Column("session_id", sa.Text,
                  sa.ForeignKey("sessions.session_id", ondelete="CASCADE"), nullable=False),
        sa.Column("point_id", sa.Text, nullable=False),
        sa.Column("quantity", sa.Text, nullable=False),
        sa.Column("set_value", sa.Float),
        sa.Column("mean", sa.Float),
        sa.Column("mean_error", sa.Float),
        sa.Column("max_abs_error", sa.Float),
        sa.Column("achieved_abs", sa.Float),
        sa.Column("achieved_rel", sa.Float),
        sa.Column("n_breaths", sa.Integer),
        sa.Column("verdict", sa.Text),
        sa.PrimaryKeyConstraint("session_id", "point_id", "quantity"),
    )
    op.create_index("sessions_by_device", "sessions", ["device", "protocol", "started_utc"])


def downgrade() -> None:
    op.drop_index("sessions_by_device", "sessions")
    op.drop_table("checks")
    op.drop_table("sessions")
