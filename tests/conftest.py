"""Fixtures shared by every test level.

Integration and end-to-end tests use the real RabbitMQ and PostgreSQL on this machine. Those
servers are shared by every run, so each run makes its own database and its own exchange and
queue names (a unique bus namespace) and removes them afterwards.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

# Helpers shared by several test folders (``from tcp_proxy import TcpProxy``).
sys.path.insert(0, str(Path(__file__).resolve().parent))

PG_ADMIN_DSN = os.environ.get("LOCKSTEP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
AMQP_URL = os.environ.get("LOCKSTEP_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")


def _pg_base() -> str:
    return PG_ADMIN_DSN.rsplit("/", 1)[0]


def _run(coro: Coroutine[Any, Any, None]) -> None:
    """Run admin coroutines on their own thread: fixtures may be set up inside a running loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


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
    _run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{_pg_base()}/{name}"
    finally:
        _run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def amqp_url() -> str:
    return AMQP_URL


def purge_bus_namespaces(namespaces: set[str]) -> None:
    """Delete every queue and exchange whose name starts with one of the namespaces."""
    prefixes = tuple(f"{n}." for n in namespaces)
    for kind in ("queues", "exchanges"):
        out = subprocess.run(
            ["rabbitmqctl", "-q", f"list_{kind}", "name"],
            capture_output=True, text=True, check=False,
        ).stdout
        names = [n.strip() for n in out.splitlines() if n.strip().startswith(prefixes)]
        if names:
            _run(_delete_amqp(kind, names))


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


@pytest.fixture(scope="session")
def _bus_namespaces() -> Iterator[set[str]]:
    """Every namespace a test used; their topology is deleted once, at the end of the run."""
    used: set[str] = set()
    try:
        yield used
    finally:
        if used:
            purge_bus_namespaces(used)


@pytest.fixture
def bus_namespace(_bus_namespaces: set[str]) -> str:
    """A unique exchange/queue prefix for one test; removed at the end of the run."""
    namespace = f"lockstep-test-{uuid.uuid4().hex[:10]}"
    _bus_namespaces.add(namespace)
    return namespace


@pytest.fixture
async def anyio_backend() -> AsyncIterator[str]:  # pragma: no cover - convenience
    yield "asyncio"
