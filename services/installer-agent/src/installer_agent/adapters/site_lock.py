"""One agent per site (A1): on PostgreSQL a session advisory lock, held while the agent runs,
keeps a second agent for the same site from starting — it would otherwise take the first one's
running install for an interrupted one. On SQLite (single-node, or a host agent with its own
local file next to RabbitMQ) an exclusive lock on ``<database file>.lock`` does the same for
the processes of that host."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import IO

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
        self._file: IO[bytes] | None = None

    def _refused(self) -> AnotherAgentRunning:
        return AnotherAgentRunning(
            f"another installer agent for site {self.site_id!r} is running against this "
            "database; only one agent per site may run — stop the other one first"
        )

    async def acquire(self) -> None:
        if not is_postgres(self.engine):
            self._lock_file()
            return
        if self._conn is not None:
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
            raise self._refused()
        self._conn = conn

    def _lock_file(self) -> None:
        database = self.engine.url.database
        if self._file is not None or not database or database == ":memory:":
            return
        # held open (and locked) while the agent runs
        file = Path(f"{database}.lock").open("a+b")
        try:
            _lock_exclusive(file)
        except OSError:
            file.close()
            raise self._refused() from None
        self._file = file

    async def release(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            file.close()  # closing releases the lock
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            await conn.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(self.site_id)}
            )
        finally:
            await conn.close()


def _lock_exclusive(file: IO[bytes]) -> None:
    """Lock ``file`` for this process without waiting; OSError if another holds it."""
    if sys.platform == "win32":
        import msvcrt

        file.seek(0)
        msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    file.seek(0)
    file.truncate()
    file.write(f"{os.getpid()}\n".encode())
    file.flush()
