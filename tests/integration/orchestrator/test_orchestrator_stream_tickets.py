"""The live stream's URL carries a stream ticket, never the session token (issue 10 §4): the
console asks for a ticket with its session; a ticket opens one site's stream for a minute and
dies with its session; the session token itself no longer opens the stream."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn

from lockstep_shared.runtime import http_app

from .conftest import SITE_BODY, Harness, UnstartedBus

pytestmark = pytest.mark.integration


@asynccontextmanager
async def served(h: Harness) -> AsyncIterator[str]:
    """The orchestrator's app on a real socket (an event stream never ends: ASGI in-process
    clients wait for the end)."""
    app = http_app([h.service], UnstartedBus(), title="orchestrator")  # type: ignore[arg-type]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None,
                                           access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def ticket(h: Harness, site: str = "shop-1") -> str:
    answer = await h.client.post(f"/api/v1/sites/{site}/stream-tickets")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["ticket"] and body["expires_at"]
    return str(body["ticket"])


async def stream_status(h: Harness, **params: str) -> int:
    answer = await h.client.get("/api/v1/sites/shop-1/stream", params=params)
    return answer.status_code


async def test_a_ticket_opens_the_stream_and_the_session_token_does_not(h: Harness) -> None:
    await h.client.post("/api/v1/sites", json=SITE_BODY)
    token = h.client.headers["Authorization"].removeprefix("Bearer ")
    assert token not in await ticket(h)
    assert await stream_status(h, token=token) == 422  # ?token= is gone
    assert await stream_status(h, ticket=token) == 401  # a session token is not a ticket
    async with served(h) as url, httpx.AsyncClient(base_url=url, timeout=10) as http, \
            http.stream("GET", "/api/v1/sites/shop-1/stream",
                        params={"ticket": await ticket(h)}) as sse:
        assert sse.status_code == 200
        async for line in sse.aiter_lines():
            if line.startswith("data: "):
                assert json.loads(line[len("data: "):])["site_id"] == "shop-1"
                break


async def test_a_ticket_is_for_one_site_a_minute_and_its_session(h: Harness) -> None:
    await h.client.post("/api/v1/sites", json=SITE_BODY)
    await h.client.post("/api/v1/sites", json={**SITE_BODY, "site_id": "shop-2"})
    for_shop_2 = await ticket(h, "shop-2")
    assert await stream_status(h, ticket=for_shop_2) == 401

    late = await ticket(h)
    h.clock.advance(61)
    assert await stream_status(h, ticket=late) == 401

    forged = await ticket(h)
    head, _, mac = forged.partition(".")
    assert await stream_status(h, ticket=f"{head}.{'0' * len(mac)}") == 401

    ended = await ticket(h)
    assert (await h.client.delete("/api/v1/sessions/current")).status_code == 204
    assert await stream_status(h, ticket=ended) == 401


async def test_a_ticket_needs_a_session_that_may_read_the_site(h: Harness) -> None:
    await h.client.post("/api/v1/sites", json=SITE_BODY)
    await h.client.post("/api/v1/sites", json={**SITE_BODY, "site_id": "shop-9"})
    await h.create_user("olga", "user", "shop-9")
    olga = await h.login("olga")
    refused = await h.client.post("/api/v1/sites/shop-1/stream-tickets", headers=olga)
    assert refused.status_code == 403
    nobody = await h.client.post("/api/v1/sites/shop-1/stream-tickets",
                                 headers={"Authorization": ""})
    assert nobody.status_code == 401


@pytest.fixture
def h(harness: Harness) -> Harness:
    return harness
