"""Alembic migrations per service, run programmatically on the service's own engine.

Each service keeps ``migrations/`` (``env.py`` calling ``run_env()``, ``versions/``) inside its
package. On PostgreSQL the service's schema is created first and an advisory lock keeps two
replicas from migrating at once.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from lockstep_shared.db import is_postgres


def _upgrade(connection: Connection, script_location: str) -> None:
    config = Config()
    config.set_main_option("script_location", script_location)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(engine: AsyncEngine, script_location: Path | str, schema: str) -> None:
    """Bring the service's tables to the newest revision."""
    async with engine.begin() as conn:
        if is_postgres(conn):
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                               {"k": zlib.crc32(schema.encode())})
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await conn.run_sync(_upgrade, str(script_location))


def run_env() -> None:
    """The body of every service's ``migrations/env.py``."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "Lockstep migrations run through the service's `migrate` command, "
            "not the alembic CLI directly"
        )
    context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def create_messaging_tables() -> None:
    """For a service's first revision: its ``outbox`` and ``inbox`` tables."""
    from alembic import op
    from sqlalchemy import MetaData

    from lockstep_shared.inbox import inbox_table
    from lockstep_shared.outbox import outbox_table

    metadata = MetaData()
    outbox_table(metadata)
    inbox_table(metadata)
    metadata.create_all(op.get_bind())
