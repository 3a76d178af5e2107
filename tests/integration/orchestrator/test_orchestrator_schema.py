"""The explicit migration creates exactly the tables the code declares."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from orchestrator.adapters.tables import metadata

from .conftest import Harness

pytestmark = pytest.mark.integration


async def test_migration_matches_the_declared_tables(harness: Harness) -> None:
    def differences(sync_conn):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return [d for d in compare_metadata(context, metadata)
                if not (isinstance(d, tuple) and d[0] == "remove_table"
                        and d[1].name == "alembic_version")]

    async with harness.service.engine.connect() as conn:
        assert await conn.run_sync(differences) == []
    await harness.service.migrate()  # a second run is a no-op
