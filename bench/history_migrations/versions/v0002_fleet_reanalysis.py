"""Shared history: where a session row came from, and re-analyses by analysis version.

``origin`` (SHA-256 of the canonical start record) tells a re-index of the same session
(replace) from another bench's session with the same id (refused, never overwritten);
``bench_host``, ``analysis_version`` and ``indexed_utc`` say who wrote the row with which
software. ``reanalyses`` / ``reanalysis_checks`` hold ``ventbench reanalyze`` results, one set
per analysis version, beside (never instead of) the recorded ones.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_CHECK_COLUMNS = (
    ("set_value", sa.Float), ("mean", sa.Float), ("mean_error", sa.Float),
    ("max_abs_error", sa.Float), ("achieved_abs", sa.Float), ("achieved_rel", sa.Float),
    ("n_breaths", sa.Integer), ("verdict", sa.Text),
)


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("origin", sa.Text))
        batch.add_column(sa.Column("bench_host", sa.Text))
        batch.add_column(sa.Column("analysis_version", sa.Text))
        batch.add_column(sa.Column("indexed_utc", sa.Text))
    op.create_index("sessions_by_serial", "sessions", ["serial", "started_utc"])
    op.create_index("checks_by_quantity", "checks", ["quantity"])
    op.create_table(
        "reanalyses",
        sa.Column("session_id", sa.Text,
                  sa.ForeignKey("sessions.session_id", ondelete="CASCADE"), nullable=False),
        sa.Column("analysis_version", sa.Text, nullable=False),
        sa.Column("verdict", sa.Text),
        sa.Column("recorded_verdict", sa.Text),
        sa.Column("differences", sa.Integer),
        sa.Column("results_sha256", sa.Text),
        sa.Column("time_utc", sa.Text),
        sa.PrimaryKeyConstraint("session_id", "analysis_version"),
    )
    op.create_table(
        "reanalysis_checks",
        sa.Column("session_id", sa.Text, nullable=False),
        sa.Column("analysis_version", sa.Text, nullable=False),
        sa.Column("point_id", sa.Text, nullable=False),
        sa.Column("quantity", sa.Text, nullable=False),
        *(sa.Column(name, kind) for name, kind in _CHECK_COLUMNS),
        sa.PrimaryKeyConstraint("session_id", "analysis_version", "point_id", "quantity"),
        sa.ForeignKeyConstraint(["session_id", "analysis_version"],
                                ["reanalyses.session_id", "reanalyses.analysis_version"],
                                ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("reanalysis_checks")
    op.drop_table("reanalyses")
    op.drop_index("checks_by_quantity", "checks")
    op.drop_index("sessions_by_serial", "sessions")
    with op.batch_alter_table("sessions") as batch:
        for name in ("indexed_utc", "analysis_version", "bench_host", "origin"):
            batch.drop_column(name)
