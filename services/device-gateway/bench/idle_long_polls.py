"""Measure the memory one idle long-poll costs the gateway (PERFORMANCE.md: ~11-31 KB).

Starts a single-node gateway process (SQLite, in-process bus) on a free port, registers N
devices, holds N long-polls open at once and compares the server's RSS before and during.

    .venv/bin/python services/device-gateway/bench/idle_long_polls.py --devices 2000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from device_gateway.adapters import repository
from lockstep_shared.db import create_engine


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def open_poll(port: int, token: str, wait: int
                    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw HTTP/1.1 long-poll: the client side costs next to nothing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /device/v1/notifications?wait={wait} HTTP/1.1\r\nHost: gw\r\n"
                 f"Authorization: Bearer {token}\r\n\r\n".encode())
    await writer.drain()
    return reader, writer


async def read_status(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    line = await reader.readline()
    writer.close()
    return int(line.split()[1]) if line else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(devices: int, wait: int, database_url: str | None) -> None:
    var = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    port = free_port()
    env = {**os.environ, "LOCKSTEP_VAR_DIR": str(var), "LOCKSTEP_LOG_LEVEL": "WARNING",
           "LOCKSTEP_GATEWAY_PORT": str(port), "LOCKSTEP_GATEWAY_HOST": "127.0.0.1"}
    env.pop("LOCKSTEP_DATABASE_URL", None)
    if database_url:
        env["LOCKSTEP_DATABASE_URL"] = database_url
    env.pop("LOCKSTEP_AMQP_URL", None)
    cmd = [sys.executable, "-m", "device_gateway.main"]
    subprocess.run([*cmd, "migrate"], env=env, check=True)
    engine = create_engine(database_url or f"sqlite:///{var / 'device-gateway.db'}",
                           schema="device_gateway")
    async with engine.begin() as conn:
        await repository.save_site(conn, "bench", hashlib.sha256(b"code").hexdigest(),
                                   [("shop", "1.0")], datetime.now(UTC))
    await engine.dispose()
    server = subprocess.Popen([*cmd, "serve"], env=env)  # noqa: ASYNC220 - a benchmark
    try:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                     timeout=wait + 30) as client:
            for _ in range(200):
                with contextlib.suppress(httpx.TransportError):  # not listening yet
                    if (await client.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            tokens = []
            for i in range(devices):
                r = await client.post("/device/v1/registrations", json={
                    "site_id": "bench", "enrolment_code": "code", "serial": f"d{i:06d}",
                    "model": "TC52", "app_version": "1.0"})
                r.raise_for_status()
                tokens.append(r.json()["device_token"])
            await asyncio.sleep(1)
            baseline = rss_kb(server.pid)
            # warm up (auth cache, pools) and time 2,000 concurrent quick polls
            started = time.monotonic()
            quick = [await open_poll(port, t, 0) for t in tokens]
            statuses = await asyncio.gather(*(read_status(*p) for p in quick))
            print(f"{devices} concurrent polls with wait=0 answered in "
                  f"{time.monotonic() - started:.2f} s ({statuses.count(200)} x 200)")
            await asyncio.sleep(1)
            before = rss_kb(server.pid)
            opened = time.monotonic()
            polls = [await open_poll(port, t, wait) for t in tokens]
            await asyncio.sleep(3)  # let the server take every request in
            during = rss_kb(server.pid)
            statuses = await asyncio.gather(*(read_status(*p) for p in polls))
            ok = sum(s == 200 for s in statuses)
            print(f"{devices} idle long-polls held open; {ok} answered 200 after "
                  f"{time.monotonic() - opened:.1f} s (wait={wait})")
            print(f"server RSS registered {baseline / 1024:.1f} MiB, after quick polls "
                  f"{before / 1024:.1f} MiB, while holding {during / 1024:.1f} MiB: "
                  f"{(during - baseline) / devices:.1f} KiB per connection over the baseline, "
                  f"{(during - before) / devices:.1f} over the warmed-up process")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--wait", type=int, default=15)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default SQLite)")
    args = parser.parse_args()
    asyncio.run(run(args.devices, args.wait, args.database_url))
