"""Dead letters seen and replayed through the admin API (issue 9 §2), single node (in-process
bus, SQLite) and distributed (RabbitMQ, PostgreSQL): a device's registration fails on every
delivery while the orchestrator's devices table is missing, is dead-lettered, listed with its
reason, shown, replayed once the table is back, and consumed exactly once; a second replay
changes nothing; only support (or an admin of every site) may do it, and it is audited."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text

from lockstep_shared.bus.port import Bus, Outgoing
from lockstep_shared.catalogue import DeviceRegistered
from lockstep_shared.message_factory import MessageFactory
from lockstep_shared.runtime import http_app
from lockstep_shared.settings import LockstepSettings
from orchestrator.adapters import tables
from orchestrator.bootstrap import build
from orchestrator.domain.accounts import Account, Role
from orchestrator.settings import OrchestratorSettings

from .conftest import FAST_HASHING

pytestmark = pytest.mark.integration
PASSWORD = "operator-password"


async def until(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


@pytest.fixture(params=["single-node", "distributed"])
def wiring(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[LockstepSettings, Bus]:
    if request.param == "single-node":
        from lockstep_shared.bus.memory import InProcessBus

        return (LockstepSettings(var_dir=tmp_path),
                InProcessBus(tmp_path / "bus.db", "lockstep", max_deliveries=3,
                             backoff_base_s=0.01))
    from lockstep_shared.bus.rabbit import RabbitBus

    namespace = request.getfixturevalue("bus_namespace")
    amqp_url = request.getfixturevalue("amqp_url")
    return (LockstepSettings(database_url=request.getfixturevalue("pg_database"),
                             amqp_url=amqp_url, bus_namespace=namespace, var_dir=tmp_path),
            RabbitBus(amqp_url, namespace, max_deliveries=3, backoff_base_s=0.01))


async def test_a_poison_message_is_listed_shown_and_replayed_once_its_cause_is_fixed(
        wiring: tuple[LockstepSettings, Bus]) -> None:
    common, bus = wiring
    orchestrator = build(common, OrchestratorSettings(**FAST_HASHING), bus)
    handlers = orchestrator.handlers
    engine = orchestrator.engine
    app = http_app([orchestrator], bus, title="orchestrator under test")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://o") as c:
            await handlers.sites.create("shop-1", "Shop 1", "LIC-1", "ENROL-1",
                                        {"shop": "03.01.00_030"}, None,
                                        Account("vendor", Role.SUPPORT))
            headers = {}
            for name, role, sites in (("vendor", Role.SUPPORT, ()),
                                      ("anna", Role.ADMIN, ("shop-1",))):
                await handlers.accounts.create_user(None, name, PASSWORD, role, sites)
                login = await c.post("/api/v1/sessions",
                                     json={"username": name, "password": PASSWORD})
                headers[name] = {"Authorization": f"Bearer {login.json()['token']}"}
            vendor = headers["vendor"]
            assert (await c.get("/api/v1/dead-letters", headers=vendor)).json() == {
                "dead_letters": []}
            forbidden = await c.get("/api/v1/dead-letters", headers=headers["anna"])
            assert forbidden.status_code == 403 and forbidden.json()["code"] == "forbidden"

            # The cause: the devices table is gone; every delivery fails, on its own.
            async with engine.begin() as conn:
                await conn.execute(text("ALTER TABLE devices RENAME TO devices_away"))
            gateway = MessageFactory("device-gateway")
            sent = gateway.new(DeviceRegistered(
                site_id="shop-1", serial="IMEI0001", model="TC52", app_version="03.01.00_030",
                registered_at=datetime.now(UTC)))
            await bus.publish([Outgoing.of(sent)])

            async def dead() -> bool:
                listed = (await c.get("/api/v1/dead-letters", headers=vendor)).json()
                return bool(listed["dead_letters"])

            await until(dead)
            [letter] = (await c.get("/api/v1/dead-letters", headers=vendor)).json()[
                "dead_letters"]
            assert letter["queue"] == "orchestrator"
            assert letter["message_id"] == sent.id
            assert (letter["type"], letter["site_id"]) == ("lockstep.device.registered",
                                                           "shop-1")
            assert letter["routing_key"] == "lockstep.device.registered.shop-1"
            assert letter["reason"].startswith("delivery_limit")
            assert letter["count"] == 1 and letter["first_death_at"]
            shown = (await c.get(f"/api/v1/dead-letters/{sent.id}", headers=vendor)).json()
            assert shown["envelope"]["data"]["serial"] == "IMEI0001"
            assert [copy["queue"] for copy in shown["copies"]] == ["orchestrator"]
            missing = await c.get("/api/v1/dead-letters/nope", headers=vendor)
            assert missing.status_code == 404 and missing.json()["code"] == "not_found"

            # The cause is fixed; the replay hands it back, it is consumed once.
            async with engine.begin() as conn:
                await conn.execute(text("ALTER TABLE devices_away RENAME TO devices"))
            replayed = await c.post(f"/api/v1/dead-letters/{sent.id}/replay", headers=vendor)
            assert replayed.status_code == 200, replayed.text
            assert replayed.json() == {"message_id": sent.id, "replayed_to": ["orchestrator"],
                                       "already_replayed": False}

            async def registered() -> bool:
                grid = (await c.get("/api/v1/sites/shop-1/devices", headers=vendor)).json()
                return [d["serial"] for d in grid["devices"]] == ["IMEI0001"]

            await until(registered)
            again = await c.post(f"/api/v1/dead-letters/{sent.id}/replay", headers=vendor)
            assert again.json() == {"message_id": sent.id, "replayed_to": [],
                                    "already_replayed": True}
            await asyncio.sleep(0.5)
            assert (await c.get("/api/v1/dead-letters", headers=vendor)).json() == {
                "dead_letters": []}
            async with engine.connect() as conn:
                handled = (await conn.execute(select(func.count()).select_from(tables.inbox)
                                              .where(tables.inbox.c.message_id == sent.id))
                           ).scalar_one()
            assert handled == 1
            audit = (await c.get("/api/v1/audit?action=dead_letter.replay",
                                 headers=vendor)).json()["entries"]
            assert [(e["actor"], e["details"]["message_id"], e["details"]["queue"])
                    for e in audit] == [("vendor", sent.id, "orchestrator")]
