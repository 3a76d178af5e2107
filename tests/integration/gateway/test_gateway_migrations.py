"""The migrations create exactly the tables the code uses."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from device_gateway.adapters.tables import METADATA
from device_gateway.bootstrap import MIGRATIONS, SCHEMA
from lockstep_shared.db import create_engine
from lockstep_shared.migrations import migrate

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)
async def test_migrated_schema_matches_the_tables(database_url: str) -> None:
    engine = create_engine(database_url, schema=SCHEMA)
    try:
        await migrate(engine, MIGRATIONS, SCHEMA)
        await migrate(engine, MIGRATIONS, SCHEMA)  # a second run (another replica) is a no-op

        def diff(sync_conn: Any) -> list[Any]:
            return compare_metadata(MigrationContext.configure(sync_conn), METADATA)

        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()
