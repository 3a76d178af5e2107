"""The floor, measured in the same run on the same machine: server-side CPU of one bare
FastAPI/uvicorn request, of one aio-pika publish-with-confirm + consume-and-ack (client and
broker) and of one one-statement asyncpg transaction (client and backend)."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from lockstep_tools.bench.figures import Floor
from lockstep_tools.bench.proc_cpu import CpuLedger, pids_by_comm
from lockstep_tools.demo.environment import free_port, pg_admin, wait_listening

REQUESTS = 3000
MESSAGES = 3000
TRANSACTIONS = 3000
CONCURRENCY = 32
IN_FLIGHT = 100
CONNECTIONS = 8


@dataclass(frozen=True)
class FloorSettings:
    pg_server: str
    """``postgresql://user@host:port``: a database is created there and dropped after."""
    amqp_url: str
    admin_dsn: str
    scale: float = 1.0
    """Fewer operations for a quick run (the smoke test)."""

    def count(self, n: int) -> int:
        # /proc counts CPU in 10 ms ticks: a few hundred operations at the least, or a quick
        # run on a quiet machine can see none of a cheap operation's CPU (a 0.0 ms floor)
        return max(300, int(n * self.scale))


async def measure_floor(settings: FloorSettings) -> Floor:
    return Floor(request_s=await request_floor(settings.count(REQUESTS)),
                 event_s=await event_floor(settings.amqp_url, settings.count(MESSAGES)),
                 transaction_s=await transaction_floor(settings, settings.count(TRANSACTIONS)))


async def _cpu_per_operation(groups: dict[str, list[int]], count: int,
                             work: Callable[[], Awaitable[None]]) -> float:
    ledger = CpuLedger()
    ledger.start(groups)
    await work()
    ledger.sample()
    return sum(ledger.spent().values()) / count


async def request_floor(count: int) -> float:
    """CPU of the uvicorn process per request; the bench's HTTP client is not counted."""
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lockstep_tools.bench.floor_app", str(port))
    try:
        await wait_listening(port)
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:

            async def drive(n: int) -> None:
                async def one_worker(share: int) -> None:
                    for _ in range(share):
                        (await client.get("/ping")).raise_for_status()
                await asyncio.gather(*(one_worker(n // CONCURRENCY) for _ in range(CONCURRENCY)))

            await drive(CONCURRENCY * 10)  # warm up
            done = count // CONCURRENCY * CONCURRENCY
            return await _cpu_per_operation({"server": [server.pid]}, done,
                                            lambda: drive(done))
    finally:
        server.terminate()
        await server.wait()


async def event_floor(amqp_url: str, count: int) -> float:
    """CPU of this process (publisher and consumer) and the broker per message: persistent,
    published with confirms, ``IN_FLIGHT`` at a time, consumed with prefetch 100 and acked one by
    one. The broker is shared: whatever else it does in the meantime is counted too."""
    import aio_pika

    connection = await aio_pika.connect(amqp_url)
    try:
        publisher = await connection.channel(publisher_confirms=True)
        consumer = await connection.channel()
        await consumer.set_qos(prefetch_count=100)
        queue = await consumer.declare_queue(f"lockstep-bench-floor-{secrets.token_hex(4)}",
                                             durable=True)
        consumed = 0
        everything = asyncio.Event()
        target = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal consumed
            await message.ack()
            consumed += 1
            if consumed >= target:
                everything.set()

        tag = await queue.consume(on_message)

        async def drive(n: int) -> None:
            nonlocal target
            everything.clear()
            target = consumed + n
            for first in range(0, n, IN_FLIGHT):
                await asyncio.gather(*(
                    publisher.default_exchange.publish(
                        aio_pika.Message(b'{"event": "floor"}',
                                         delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=queue.name)
                    for _ in range(min(IN_FLIGHT, n - first))))
            await asyncio.wait_for(everything.wait(), 120)

        await drive(IN_FLIGHT * 2)  # warm up
        groups = {"client": [os.getpid()], "broker": pids_by_comm("beam.smp")}
        try:
            return await _cpu_per_operation(groups, count, lambda: drive(count))
        finally:
            await queue.cancel(tag)
            await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()


async def transaction_floor(settings: FloorSettings, count: int) -> float:
    """CPU of this process and its backends per transaction: BEGIN, one UPDATE, COMMIT, on
    ``CONNECTIONS`` connections at once, in a database made for it."""
    import asyncpg

    database = f"lockstep_bench_floor_{secrets.token_hex(4)}"
    await pg_admin(f'CREATE DATABASE "{database}"', settings.admin_dsn)
    try:
        connections = [await asyncpg.connect(f"{settings.pg_server}/{database}")
                       for _ in range(CONNECTIONS)]
        try:
            await connections[0].execute(
                "CREATE TABLE device_state (id int PRIMARY KEY, version int NOT NULL)")
            await connections[0].execute(
                f"INSERT INTO device_state SELECT g, 0 FROM generate_series(0, {CONNECTIONS})"
                " AS g")

            async def drive(n: int) -> None:
                async def one_connection(i: int, conn: asyncpg.Connection) -> None:
                    for _ in range(n // CONNECTIONS):
                        async with conn.transaction():
                            await conn.execute(
                                "UPDATE device_state SET version = version + 1 WHERE id = $1", i)
                await asyncio.gather(*(one_connection(i, c) for i, c in enumerate(connections)))

            await drive(CONNECTIONS * 20)  # warm up
            done = count // CONNECTIONS * CONNECTIONS
            groups = {"client": [os.getpid()],
                      "backends": [c.get_server_pid() for c in connections]}
            return await _cpu_per_operation(groups, done, lambda: drive(done))
        finally:
            for conn in connections:
                await conn.close()
    finally:
        await pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)', settings.admin_dsn)
