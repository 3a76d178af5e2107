"""A lost install request does not stall the update (issue 9 §2), on RabbitMQ and PostgreSQL
with the real orchestrator and the real installer agent running the demo installer: the
request never reaches the broker, the orchestrator's watchdog sends it again when the agent
has not reported the install started in its window, the agent installs once, the update
reaches "server updated"."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import delete

from lockstep_shared.bus.port import Outgoing
from lockstep_shared.bus.rabbit import RabbitBus
from lockstep_shared.catalogue import ReleaseDownloaded
from lockstep_shared.message_factory import MessageFactory
from lockstep_shared.outbox import OutboxRelay
from lockstep_shared.runtime import http_app
from lockstep_shared.settings import LockstepSettings
from orchestrator.adapters import tables
from orchestrator.bootstrap import build
from orchestrator.domain.accounts import Account, Role
from orchestrator.domain.audit import AuditQuery
from orchestrator.settings import OrchestratorSettings

pytestmark = pytest.mark.integration
SITE, OLD, NEW = "shop-1", "03.01.00_030", "03.01.00_031"


async def until(check: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def test_an_install_request_lost_on_its_way_is_sent_again_and_installed_once(
        make_agent, host, pg_database: str, amqp_url: str, bus_namespace: str,
        tmp_path: Path) -> None:
    common = LockstepSettings(database_url=pg_database, amqp_url=amqp_url,
                              bus_namespace=bus_namespace, var_dir=tmp_path / "var")
    bus = RabbitBus(amqp_url, bus_namespace)
    orchestrator = build(common, OrchestratorSettings(
        argon2_time_cost=1, argon2_memory_kib=64, watchdog_install_start_s=1.0,
        watchdog_interval_s=0.2), bus)
    handlers, views = orchestrator.handlers, orchestrator.handlers.views
    relay = next(loop for loop in orchestrator.loops if isinstance(loop, OutboxRelay))
    app = http_app([orchestrator], bus, title="orchestrator and agent")
    admin = Account("anna", Role.ADMIN, (SITE,))
    host.set_version("shop", OLD)
    package = host.package("shop", NEW)

    async with app.router.lifespan_context(app):
        agent = await make_agent(bus, site_id=SITE)
        await agent.start()
        await handlers.sites.create(SITE, "Shop 1", "LIC-1", "ENROL-1", {"shop": OLD}, None,
                                    Account("vendor", Role.SUPPORT))
        watcher = MessageFactory("release-watcher")
        await bus.publish([Outgoing.of(watcher.new(ReleaseDownloaded(
            site_id=SITE, product="shop", version=NEW, package=package)))])

        async def green() -> bool:
            return (await views.banner(SITE)).state == "green"

        await until(green)
        update = await handlers.updates.open(SITE, "shop", True, admin)

        # The install request is lost: it never leaves the orchestrator's outbox.
        await relay.stop()
        await handlers.updates.start_server_update(update.update_id, admin)  # no devices
        async with orchestrator.engine.begin() as conn:
            lost = await conn.execute(delete(tables.outbox).where(
                tables.outbox.c.routing_key == f"lockstep.install.requested.{SITE}"))
            assert lost.rowcount == 1
        relay.start()

        async def server_updated() -> bool:
            return (await views.update(update.update_id)).state == "server_updated"

        await until(server_updated)
        view = await views.update(update.update_id)
        assert view.stuck == []
        assert host.version("shop") == NEW and host.runs() == 1
        started = await views.audit(AuditQuery(action="install.started"))
        assert [e.update_id for e in started] == [update.update_id]
        await agent.stop()

