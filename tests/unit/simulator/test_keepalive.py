"""The simulator's HTTP clients drop an idle connection before the gateway closes it: a request
on a connection the gateway already closed fails, and the device backs off for seconds (with
10,000 devices, most long-polls were backing off instead of parked)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from lockstep_shared.runtime import server_config
from lockstep_tools.simulator.gateway_api import KEEPALIVE_EXPIRY_S, build_clients


def test_idle_connections_expire_before_the_gateways_keep_alive_ends() -> None:
    gateway_keep_alive_s = server_config(FastAPI(), "127.0.0.1", 8000).timeout_keep_alive
    assert KEEPALIVE_EXPIRY_S < gateway_keep_alive_s
    clients = build_clients("http://127.0.0.1:9", 20, shard_size=8, wait_s=25)
    try:
        pools = [client._transport._pool for client in clients]  # type: ignore[attr-defined]
        assert {pool._keepalive_expiry for pool in pools} == {KEEPALIVE_EXPIRY_S}
    finally:
        async def close() -> None:
            await asyncio.gather(*(client.aclose() for client in clients))

        asyncio.run(close())
