"""Alembic revisions of the history schema, oldest first."""
