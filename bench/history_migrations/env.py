"""Alembic environment: always run on the connection :mod:`bench.history_store` hands over.

That connection is already inside the transaction (and lock) that serialises migrations, so
two benches starting at once never migrate the same database twice.
"""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
