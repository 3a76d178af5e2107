"""``lockstep dead-letters list|show|replay``, the real executable against a real orchestrator
on RabbitMQ and PostgreSQL (served over HTTP in this test's event loop): a device registration
dead-lettered while the devices table is missing is listed with its reason, shown, replayed
once the table is back, and consumed once; the replay is audited."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import text

from lockstep_shared.bus.port import Outgoing
from lockstep_shared.bus.rabbit import RabbitBus
from lockstep_shared.catalogue import DeviceRegistered
from lockstep_shared.message_factory import MessageFactory
from lockstep_shared.runtime import http_app
from lockstep_shared.settings import LockstepSettings
from orchestrator.bootstrap import OrchestratorService, build
from orchestrator.domain.accounts import Account, Role
from orchestrator.settings import OrchestratorSettings

from .test_cli_against_node import Cli

pytestmark = pytest.mark.integration
PASSWORD = "vera-support-pw"


@pytest.fixture
async def served(pg_database: str, amqp_url: str, bus_namespace: str, tmp_path: Path
                 ) -> AsyncIterator[tuple[OrchestratorService, RabbitBus, str]]:
    common = LockstepSettings(database_url=pg_database, amqp_url=amqp_url,
                              bus_namespace=bus_namespace, var_dir=tmp_path)
    bus = RabbitBus(amqp_url, bus_namespace, max_deliveries=3, backoff_base_s=0.01)
    orchestrator = build(common, OrchestratorSettings(argon2_time_cost=1,
                                                         argon2_memory_kib=64), bus)
    app = http_app([orchestrator], bus, title="orchestrator under the cli")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", access_log=False,
                                           log_config=None, timeout_graceful_shutdown=1))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.05)
    yield orchestrator, bus, f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await task
    sock.close()


async def test_an_operator_lists_shows_and_replays_a_dead_letter(
        served: tuple[OrchestratorService, RabbitBus, str], tmp_path: Path) -> None:
    orchestrator, bus, url = served
    handlers = orchestrator.handlers
    await handlers.sites.create("shop-1", "Shop 1", "LIC-1", "ENROL-1", {"shop": "03.01.00_030"},
                                None, Account("vera", Role.SUPPORT))
    await handlers.accounts.create_user(None, "vera", PASSWORD, Role.SUPPORT, ())
    cli = Cli(tmp_path / "session.json")
    await cli.ok("login", "--url", url, "--username", "vera", "--password-stdin",
                 stdin=PASSWORD + "\n")
    assert (await cli.ok("dead-letters", "list")).out.strip() == "no dead letters"

    async with orchestrator.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE devices RENAME TO devices_away"))
    sent = MessageFactory("device-gateway").new(DeviceRegistered(
        site_id="shop-1", serial="IMEI0001", model="TC52", app_version="03.01.00_030",
        registered_at=datetime.now(UTC)))
    await bus.publish([Outgoing.of(sent)])
    listed = await cli.until("dead-lettered", ("dead-letters", "list"),
                             lambda page: bool(page["dead_letters"]))
    [letter] = listed["dead_letters"]
    assert (letter["message_id"], letter["queue"], letter["reason"]) == (
        sent.id, "orchestrator", "delivery_limit")
    table = (await cli.ok("dead-letters", "list")).out
    assert table.splitlines()[0].split() == ["ID", "QUEUE", "TYPE", "SITE", "REASON", "COUNT",
                                             "SINCE"]
    assert sent.id in table and "lockstep.device.registered" in table
    shown = (await cli.ok("dead-letters", "show", sent.id)).out
    assert "routing key: lockstep.device.registered.shop-1" in shown and "IMEI0001" in shown
    err = await cli.refused(1, "dead-letters", "show", "no-such-id")
    assert "no dead letter 'no-such-id'" in err
    await cli.refused(2, "dead-letters", "replay")

    async with orchestrator.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE devices_away RENAME TO devices"))
    run = await cli.ok("dead-letters", "replay", sent.id)
    assert run.out.strip() == f"replayed {sent.id} to orchestrator"
    await cli.until("registered", ("devices", "shop-1"),
                    lambda grid: [d["serial"] for d in grid["devices"]] == ["IMEI0001"])
    run = await cli.ok("dead-letters", "replay", sent.id)
    assert "replayed before; nothing more to do" in run.out
    assert (await cli.ok("dead-letters", "list")).out.strip() == "no dead letters"
    audit = await cli.ok("--json", "audit", "--action", "dead_letter.replay")
    assert [e["details"]["message_id"] for e in audit.json()["entries"]] == [sent.id]
