"""Integrity of an indexed session: whether its records verified at hash level.

``integrity`` is "verified" or "not verified: <first problem>" (:func:`bench.history.integrity_of`:
every file against its manifest or stop record, the stop record against the results);
only a verified session has check rows, so no trend ever includes an unverified one.
``manifest_sha256`` is the SHA-256 of the session's ``manifest.json`` when it has one.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("integrity", sa.Text))
        batch.add_column(sa.Column("manifest_sha256", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        for name in ("manifest_sha256", "integrity"):
            batch.drop_column(name)
