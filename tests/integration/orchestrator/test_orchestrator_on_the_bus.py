"""The orchestrator wired to a real bus: its outbox relay publishes after commit, and its
queue ``orchestrator`` consumes the other services' events (in-process bus with SQLite,
RabbitMQ with PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from device_gateway.service_layer.presence import Presence
from lockstep_shared.bus.port import Bus, Outgoing
from lockstep_shared.catalogue import DeviceRegistered, SiteConfigured, binding
from lockstep_shared.envelope import Envelope
from lockstep_shared.message_factory import MessageFactory
from lockstep_shared.runtime import http_app
from lockstep_shared.settings import LockstepSettings
from orchestrator.bootstrap import build
from orchestrator.domain.accounts import Role
from orchestrator.settings import OrchestratorSettings

from .conftest import SITE_BODY, downloaded

pytestmark = pytest.mark.integration


async def eventually(check: Callable[[], object], timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            if await check():  # type: ignore[misc]
                return
        except AssertionError:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


@pytest.fixture(params=["in-process", "rabbitmq"])
def wiring(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[LockstepSettings, Bus]:
    if request.param == "in-process":
        from lockstep_shared.bus.memory import InProcessBus

        common = LockstepSettings(var_dir=tmp_path)
        return common, InProcessBus(tmp_path / "bus.db", "lockstep")
    from lockstep_shared.bus.rabbit import RabbitBus

    namespace = request.getfixturevalue("bus_namespace")
    common = LockstepSettings(database_url=request.getfixturevalue("pg_database"),
                              amqp_url=request.getfixturevalue("amqp_url"),
                              bus_namespace=namespace)
    return common, RabbitBus(common.amqp_url, namespace)  # type: ignore[arg-type]


async def test_publishes_after_commit_and_consumes_events(
    wiring: tuple[LockstepSettings, Bus],
) -> None:
    common, bus = wiring
    orchestrator = build(common, OrchestratorSettings(argon2_time_cost=1,
                                                         argon2_memory_kib=64), bus)
    service = orchestrator
    app = http_app([service], bus, title="orchestrator under test")
    seen: list[Envelope] = []

    async def observe(envelope: Envelope) -> None:
        seen.append(envelope)

    async with app.router.lifespan_context(app):
        await bus.subscribe("test-observer", [binding(SiteConfigured)], observe)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://o") as client:
            await orchestrator.handlers.accounts.create_user(None, "vendor", "support-password",
                                                             Role.SUPPORT, ())
            login = await client.post("/api/v1/sessions", json={
                "username": "vendor", "password": "support-password"})
            client.headers["Authorization"] = f"Bearer {login.json()['token']}"
            assert (await client.post("/api/v1/sites", json=SITE_BODY)).status_code == 201

            async def configured() -> bool:
                return [e.data.site_id for e in seen] == ["shop-1"]

            await eventually(configured)

            watcher = MessageFactory("release-watcher")
            await bus.publish([Outgoing.of(watcher.new(downloaded()))])

            async def green() -> bool:
                answer = await client.get("/api/v1/sites/shop-1/banner")
                return answer.json()["state"] == "green"

            await eventually(green)
            assert (await client.get("/readyz")).json()["ready"] is True

            # U3: a device that polls the gateway is "online now": the gateway's presence report
            # travels the bus (ephemeral, like the agent's heartbeat) to the orchestrator
            gateway = MessageFactory("device-gateway")
            await bus.publish([Outgoing.of(gateway.new(DeviceRegistered(
                site_id="shop-1", serial="IMEI1", model="TC52", app_version="03.01.00_030",
                registered_at=datetime.now(UTC) - timedelta(hours=1))))])

            async def device(online: bool) -> bool:
                grid = (await client.get("/api/v1/sites/shop-1/devices")).json()
                return [(d["serial"], d["online"]) for d in grid["devices"]] == [
                    ("IMEI1", online)]

            await eventually(lambda: device(False))
            presence = Presence(bus, gateway, lambda: datetime.now(UTC))
            presence.seen("shop-1", "IMEI1")
            assert await presence.report() == 1
            await eventually(lambda: device(True))


async def test_stopping_the_service_ends_the_console_streams(tmp_path: Path) -> None:
    """The console's hub is the service's: stopping the service stops its site watchers
    (they used to outlive it, reading a disposed engine)."""
    from lockstep_shared.bus.memory import InProcessBus
    from orchestrator.domain.accounts import Account

    bus = InProcessBus(tmp_path / "bus.db", "lockstep")
    orchestrator = build(LockstepSettings(var_dir=tmp_path),
                         OrchestratorSettings(argon2_time_cost=1, argon2_memory_kib=64), bus)
    app = http_app([orchestrator], bus, title="orchestrator under test")
    hub = orchestrator.handlers.site_stream
    async with app.router.lifespan_context(app):
        await orchestrator.handlers.sites.create(
            "shop-1", "Shop 1", "LIC-1", "ENROL-1", {"shop": "03.01.00_030"}, None,
            Account("vendor", Role.SUPPORT))
        stream = hub.subscribe("shop-1")
        first = await asyncio.wait_for(anext(stream), 10)
        assert first is not None and first.summary["banner"]["state"] == "none"
        assert hub.watched_sites() == ["shop-1"]
    assert hub.watched_sites() == []
    await stream.aclose()
