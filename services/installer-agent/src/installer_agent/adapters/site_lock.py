"""One agent per site (A1): on PostgreSQL a session advisory lock, held while the agent runs,
keeps a second agent for the same site from starting — it would otherwise take the first one's
running install for an interrupted one. SQLite (single-node) has one process by construction."""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lockstep_shared.db import is_postgres


class AnotherAgentRunning(RuntimeError):
    """Another installer agent for this site holds the site lock."""


def lock_key(site_id: str) -> int:
    digest = hashlib.sha256(f"lockstep.installer-agent.{site_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class SiteLock:
    def __init__(self, engine: AsyncEngine, site_id: str) -> None:
        self.engine = engine
        self.site_id = site_id
        self._conn: AsyncConnection | None = None

    async def acquire(self) -> None:
        if not is_postgres(self.engine) or self._conn is not None:
            return
        conn = await self.engine.connect()
        try:
            got = await conn.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key(self.site_id)}
            )
            await conn.commit()
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            raise AnotherAgentRunning(
                f"another installer agent for site {self.site_id!r} is running against this "
                "database; only one agent per site may run — stop the other one first"
            )
        self._conn = conn

    async def release(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            await conn.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(self.site_id)}
            )
        finally:
            await conn.close()
