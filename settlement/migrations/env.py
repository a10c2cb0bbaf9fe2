"""Alembic environment of the run store, configured programmatically.

No ``alembic.ini`` is needed: :func:`settlement.store.db.alembic_config` builds the config,
points ``script_location`` at this folder and hands over an open connection in
``config.attributes["connection"]`` (or a URL in ``sqlalchemy.url``). ``target_metadata`` is the
store's table definitions, so ``alembic revision --autogenerate`` can draft a new migration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from settlement.store.tables import metadata

config = context.config


def _configure(**kw) -> None:
    context.configure(target_metadata=metadata, compare_type=True, **kw)


def run_offline() -> None:
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url"), poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        _configure(connection=conn, render_as_batch=conn.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
