"""Alembic environment: the models' metadata, the URL from the app settings (or DATABASE_URL)."""

import os
from logging.config import fileConfig

from alembic import context

from instrument_share import models  # noqa: F401  registers every table
from instrument_share.db import Base, make_engine

config = context.config
if config.config_file_name and not config.attributes.get("skip_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


# Created by migrations as raw SQL because Alembic cannot describe them (see tests/platform/test_migrations.py).
UNMANAGED_TABLE_PREFIXES = ("instrument_fts",)
# PostgreSQL-only indexes (GIN over to_tsvector; unique over lower(column); the search order and counting indexes);
# reflected, but not in the models, so autogenerate would otherwise write a migration that drops them.
UNMANAGED_INDEX_SUFFIXES = ("_tsv", "_lower", "_order", "_counting")


def include_name(name, type_, parent_names) -> bool:
    if type_ == "index" and name and name.endswith(UNMANAGED_INDEX_SUFFIXES):
        return False
    return not (type_ == "table" and name and name.startswith(UNMANAGED_TABLE_PREFIXES))


def database_url() -> str:
    return config.attributes.get("database_url") or os.environ["DATABASE_URL"]


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True, compare_type=True, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(database_url())
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
