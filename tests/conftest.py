"""Fixtures shared by every test level.

Integration and end-to-end tests use the real RabbitMQ and PostgreSQL on this machine. Those
servers are shared by every run, so each run makes its own database and its own exchange and
queue names (a unique bus namespace) and removes them afterwards.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

PG_ADMIN_DSN = os.environ.get("LOCKSTEP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
AMQP_URL = os.environ.get("LOCKSTEP_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")


def _pg_base() -> str:
    return PG_ADMIN_DSN.rsplit("/", 1)[0]


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test; dropped afterwards. Yields a plain URL."""
    name = f"lockstep_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{_pg_base()}/{name}"
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def amqp_url() -> str:
    return AMQP_URL


def purge_bus_namespace(namespace: str) -> None:
    """Delete every queue and exchange whose name starts with the namespace."""
    for kind in ("queues", "exchanges"):
        out = subprocess.run(
            ["rabbitmqctl", "-q", f"list_{kind}", "name"],
            capture_output=True, text=True, check=False,
        ).stdout
        names = [n.strip() for n in out.splitlines() if n.strip().startswith(namespace + ".")]
        if names:
            asyncio.run(_delete_amqp(kind, names))


async def _delete_amqp(kind: str, names: list[str]) -> None:
    import aio_pika

    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        for name in names:
            if kind == "queues":
                await channel.queue_delete(name)
            else:
                await channel.exchange_delete(name)
    finally:
        await connection.close()


@pytest.fixture
def bus_namespace() -> Iterator[str]:
    """A unique exchange/queue prefix for one test; its topology is deleted afterwards."""
    namespace = f"lockstep-test-{uuid.uuid4().hex[:10]}"
    try:
        yield namespace
    finally:
        purge_bus_namespace(namespace)


@pytest.fixture
async def anyio_backend() -> AsyncIterator[str]:  # pragma: no cover - convenience
    yield "asyncio"
