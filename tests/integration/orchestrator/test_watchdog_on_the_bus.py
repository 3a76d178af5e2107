"""A lost saga command does not stall the update (issue 9 §2), on RabbitMQ and PostgreSQL with
the real device gateway: START UPDATE is dropped before it reaches the broker, the orchestrator's
watchdog sends it again, the gateway pushes it once, the device acknowledges, blocks and hands
in, and the server update can start."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete

from device_gateway.bootstrap import build as build_gateway
from device_gateway.settings import GatewaySettings
from lockstep_shared.bus.port import Outgoing
from lockstep_shared.bus.rabbit import RabbitBus
from lockstep_shared.message_factory import MessageFactory
from lockstep_shared.outbox import OutboxRelay
from lockstep_shared.runtime import http_app
from lockstep_shared.settings import LockstepSettings
from orchestrator.adapters import tables
from orchestrator.bootstrap import build
from orchestrator.domain.accounts import Role
from orchestrator.settings import OrchestratorSettings

from .conftest import FAST_HASHING, SITE_BODY, downloaded

pytestmark = pytest.mark.integration
PASSWORD = "support-password"


async def until(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def test_a_start_push_lost_on_its_way_is_sent_again_and_the_update_proceeds(
        pg_database: str, amqp_url: str, bus_namespace: str, tmp_path: Path) -> None:
    common = LockstepSettings(database_url=pg_database, amqp_url=amqp_url,
                              bus_namespace=bus_namespace, var_dir=tmp_path)
    bus = RabbitBus(amqp_url, bus_namespace)
    orchestrator = build(common, OrchestratorSettings(
        **FAST_HASHING, watchdog_push_deadline_s=1.5, watchdog_interval_s=0.2,
        watchdog_max_reissues=2), bus)
    gateway = build_gateway(common, GatewaySettings(
        artifacts_dir=tmp_path / "artifacts", delivery_deadline_s=60, sweep_interval_s=0.2), bus)
    app = http_app([orchestrator, gateway], bus, title="orchestrator and gateway")
    relay = next(loop for loop in orchestrator.loops if isinstance(loop, OutboxRelay))
    engine = orchestrator.engine

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node",
                                     timeout=30) as c:
            await orchestrator.handlers.accounts.create_user(None, "vendor", PASSWORD,
                                                             Role.SUPPORT, ())
            login = await c.post("/api/v1/sessions", json={"username": "vendor",
                                                           "password": PASSWORD})
            vendor = {"Authorization": f"Bearer {login.json()['token']}"}
            assert (await c.post("/api/v1/sites", json=SITE_BODY,
                                 headers=vendor)).status_code == 201
            await orchestrator.handlers.accounts.create_user(None, "anna", PASSWORD,
                                                             Role.ADMIN, ("shop-1",))
            login = await c.post("/api/v1/sessions", json={"username": "anna",
                                                           "password": PASSWORD})
            admin = {"Authorization": f"Bearer {login.json()['token']}"}

            # A handset registers once the gateway learnt of the site.
            device: dict[str, str] = {}

            async def registered() -> bool:
                answer = await c.post("/device/v1/registrations", json={
                    "site_id": "shop-1", "enrolment_code": SITE_BODY["enrolment_code"],
                    "serial": "IMEI0001", "model": "TC52", "app_version": "03.01.00_030"})
                if answer.status_code == 201:
                    device["Authorization"] = f"Bearer {answer.json()['device_token']}"
                return answer.status_code == 201

            await until(registered)
            watcher = MessageFactory("release-watcher")
            await bus.publish([Outgoing.of(watcher.new(downloaded()))])

            async def ready_to_open() -> bool:
                grid = (await c.get("/api/v1/sites/shop-1/devices", headers=admin)).json()
                banner = (await c.get("/api/v1/sites/shop-1/banner", headers=admin)).json()
                return grid["counts"]["enabled"] == 1 and banner["state"] == "green"

            await until(ready_to_open)
            opened = await c.post("/api/v1/sites/shop-1/updates", headers=admin,
                                  json={"product": "shop", "backups_confirmed": True})
            uid = opened.json()["update_id"]

            async def device_told_to_wait() -> bool:  # the gateway learnt of the update
                return (await c.get("/device/v1/update", headers=device)).status_code == 409

            await until(device_told_to_wait)

            # START UPDATE is lost: it never leaves the orchestrator's outbox.
            await relay.stop()
            started = await c.post(f"/api/v1/updates/{uid}/start-notifications", json={},
                                   headers=admin)
            assert started.status_code == 202
            async with engine.begin() as conn:
                lost = await conn.execute(delete(tables.outbox).where(
                    tables.outbox.c.routing_key.like("lockstep.device.notification-requested%")))
                assert lost.rowcount == 1
            relay.start()
            quiet = await c.get("/device/v1/notifications?wait=0.5", headers=device)
            assert quiet.json()["notifications"] == []  # nothing reached the gateway

            # The watchdog sends it again; the device gets it (once) and acknowledges it.
            polled = await c.get("/device/v1/notifications?wait=10", headers=device)
            [notification] = polled.json()["notifications"]
            assert (notification["kind"], notification["update_id"]) == ("start", uid)
            ack = await c.post(f"/device/v1/notifications/{notification['id']}/ack",
                               headers=device)
            assert ack.status_code == 204
            assert (await c.post("/device/v1/blocked", json={"update_id": uid},
                                 headers=device)).status_code == 204
            sync = await c.post("/device/v1/sync", json={"update_id": uid, "records": 3},
                                headers=device)
            assert sync.json()["waiting_for_update"] is True

            async def delivered_and_waiting() -> bool:
                grid = (await c.get("/api/v1/sites/shop-1/devices", headers=admin)).json()
                return grid["counts"]["delivered"] == 1 and grid["counts"]["waiting"] == 1

            await until(delivered_and_waiting)
            server_update = await c.post(f"/api/v1/updates/{uid}/server-update", json={},
                                         headers=admin)
            assert server_update.status_code == 202, server_update.text
            view = (await c.get(f"/api/v1/updates/{uid}", headers=admin)).json()
            assert view["stuck"] == []
            # More re-sends (if any raced the outcome) never made a second notification.
            again = await c.get("/device/v1/notifications?wait=0", headers=device)
            assert again.json()["notifications"] == []
            assert await bus.dead_letters("device-gateway") == []
