"""Alembic migrations of the history database (run by :func:`bench.history_store.ensure_schema`).

``versions/`` holds one revision per schema change; an old history (SQLite from before the
migrations, with no ``alembic_version`` table) is stamped at the baseline and upgraded in place.
"""
