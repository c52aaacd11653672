"""Alembic environment: runs LensDB's migrations against the URL set by catalog.db.alembic_config."""

from alembic import context
from sqlalchemy import pool

from lensdb.catalog.db import make_engine
from lensdb.catalog.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite's batch mode rebuilds a table (copy, drop, rename): with foreign keys on, dropping a table that
            # other rows reference fails (shards, referenced by every source). They are off while migrating (the
            # pragma only takes effect outside a transaction) and the whole database is checked afterwards.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          transaction_per_migration=True)
        try:
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
        if sqlite and broken:
            raise RuntimeError(f"the migration left {len(broken)} broken foreign key(s), e.g. {tuple(broken[0])}")
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
