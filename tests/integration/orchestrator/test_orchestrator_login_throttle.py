"""S6, issue 10 §3: failed logins are counted per username and per client separately; the
client address comes from X-Forwarded-For only behind a proxy configured as trusted
(``LOCKSTEP_FORWARDED_ALLOW_IPS``); counting and checking is one step, so parallel guesses get
no more passwords checked than the limit. On real PostgreSQL (and SQLite for the race)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from prometheus_client import REGISTRY

from lockstep_shared.runtime import server_config
from lockstep_shared.settings import LockstepSettings
from orchestrator.domain.accounts import Account, Role

from .conftest import PASSWORD, Harness

pytestmark = pytest.mark.integration
LOGIN = "/api/v1/sessions"
WRONG = {"username": "anna", "password": "guess guess"}
RIGHT = {"username": "anna", "password": PASSWORD}


@asynccontextmanager
async def served(h: Harness, forwarded_allow_ips: str) -> AsyncIterator[httpx.AsyncClient]:
    """The harness's admin API behind real uvicorn, configured as ``serve`` configures it."""
    assert h.app is not None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = server_config(h.app, "127.0.0.1", port, forwarded_allow_ips=forwarded_allow_ips)
    config.lifespan = "off"
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await task
        sock.close()


def refused(code: str) -> float:
    return REGISTRY.get_sample_value("lockstep_credentials_refused_total", {"code": code}) or 0.0


def forwarded(n: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"203.0.113.{n}"}


async def clients_of_logins(h: Harness) -> list[str]:
    entries = (await h.client.get("/api/v1/audit", params={"action": "login"})).json()["entries"]
    return [e["details"].get("client") for e in entries if e["actor"] == "anna"
            and e["outcome"] == "failed: wrong credentials"]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_rotating_x_forwarded_for_does_not_bypass_the_throttle(harness: Harness) -> None:
    """By default no proxy is trusted: the header is ignored and the peer is the client."""
    h = harness
    before = refused("login_throttled")
    async with served(h, LockstepSettings().forwarded_allow_ips) as client:
        for n in range(5):
            assert (await client.post(LOGIN, json=WRONG, headers=forwarded(n))).status_code == 401
        throttled = await client.post(LOGIN, json=RIGHT, headers=forwarded(99))
    assert throttled.status_code == 429, throttled.text
    assert throttled.json()["code"] == "login_throttled"
    assert int(throttled.headers["retry-after"]) > 0
    assert set(await clients_of_logins(h)) == {"127.0.0.1"}
    assert refused("login_throttled") == before + 1


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_behind_a_trusted_proxy_a_user_is_counted_from_every_client(
        harness: Harness) -> None:
    h = harness
    async with served(h, "127.0.0.1") as client:
        for n in range(5):
            assert (await client.post(LOGIN, json=WRONG, headers=forwarded(n))).status_code == 401
        throttled = await client.post(LOGIN, json=RIGHT, headers=forwarded(99))
    assert throttled.status_code == 429, throttled.text
    # the proxy's word is taken for the address: the audit names each client
    assert sorted(await clients_of_logins(h)) == [f"203.0.113.{n}" for n in range(5)]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_one_client_guessing_many_usernames_is_throttled(harness: Harness) -> None:
    h = harness
    await h.handlers.sites.create("shop-1", "Shop 1", "LIC-1", "ENROL-1",
                                  {"shop": "03.01.00_030"}, None, Account("vendor", Role.SUPPORT))
    await h.create_user("bruno", "admin", "shop-1")
    for n in range(20):
        guess = {"username": f"user{n}", "password": "guess guess"}
        assert (await h.client.post(LOGIN, json=guess)).status_code == 401
    throttled = await h.client.post(LOGIN, json={"username": "bruno", "password": PASSWORD})
    assert throttled.status_code == 429, throttled.text


async def test_parallel_guesses_get_at_most_the_limit_checked(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness
    passwords = h.handlers.accounts.passwords
    checked: list[str] = []
    verify: Callable[..., bool] = passwords.verify

    def counting(stored_hash: str | None, password: str) -> bool:
        checked.append(password)
        return verify(stored_hash, password)

    monkeypatch.setattr(passwords, "verify", counting)
    answers = await asyncio.gather(*(
        h.client.post(LOGIN, json={"username": "anna", "password": f"guess {n:02d}"})
        for n in range(30)))
    statuses = sorted(a.status_code for a in answers)
    assert len(checked) <= 5, f"{len(checked)} passwords checked: {statuses}"
    assert statuses == [401] * len(checked) + [429] * (30 - len(checked))
