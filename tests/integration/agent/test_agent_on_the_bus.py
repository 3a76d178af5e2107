"""The agent behind the real bus adapters: RabbitMQ (distributed) and the in-process bus with
SQLite (single-node). Only its own site's commands ever reach it (S3)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from installer_agent.adapters.tables import installs
from installer_agent.bootstrap import build
from installer_agent.settings import AgentSettings
from lockstep_shared.bus.memory import InProcessBus
from lockstep_shared.bus.port import Outgoing
from lockstep_shared.bus.rabbit import RabbitBus
from lockstep_shared.envelope import Envelope
from lockstep_shared.settings import LockstepSettings

pytestmark = pytest.mark.integration

DEMO_HOST = Path(__file__).resolve().parents[3] / "tools" / "demo-host"


def outcomes(seen: list[Envelope]) -> list[Envelope]:
    return [e for e in seen if e.type in ("lockstep.install.succeeded", "lockstep.install.failed")]


async def test_on_rabbitmq_only_the_agents_own_site_commands_are_consumed(
    make_agent, host, command, until, amqp_url, bus_namespace
) -> None:
    bus = RabbitBus(amqp_url, bus_namespace)
    await bus.start()
    try:
        agent = await make_agent(bus)
        await agent.start()
        seen: list[Envelope] = []

        async def observe(envelope: Envelope) -> None:
            seen.append(envelope)

        await bus.subscribe("observer", ["lockstep.install.*.*"], observe)
        package = host.package("shop", "1.2.0")
        other = command(package, site_id="site-b", update_id="ub")
        mine = command(package, update_id="ua")
        await bus.publish([Outgoing.of(other), Outgoing.of(mine)])

        await until(lambda: bool(outcomes(seen)))
        assert [(e.siteid, e.data.update_id) for e in outcomes(seen)] == [("site-a", "ua")]
        assert outcomes(seen)[0].data.installed_version == "1.2.0"
        async with agent.engine.connect() as conn:
            recorded = (await conn.execute(select(installs.c.update_id))).scalars().all()
        assert recorded == ["ua"] and host.runs() == 1
        assert await bus.dead_letters("installer-agent.site-a") == []  # never even delivered
        await agent.stop()
    finally:
        await bus.close()


async def test_single_node_on_sqlite_and_the_in_process_bus(
    host, command, until, tmp_path
) -> None:
    common = LockstepSettings(var_dir=tmp_path / "var")
    bus = InProcessBus(tmp_path / "var" / "bus.db", "lockstep")
    settings = AgentSettings(
        site_id="site-a",
        insecure_unverified_installs=True,  # no feed, no orchestrator here
        installer_command=f"sh {host.root}/counting-install.sh {{package}} {{version}} "
        "{product}",
        version_command=f"sh {DEMO_HOST}/version.sh {{product}}",
        artifacts_dir=host.store.root,
        command_env={"LOCKSTEP_DEMO_HOST_DIR": str(host.dir),
                     "LOCKSTEP_DEMO_INSTALL_SECONDS": "0"},
    )
    await bus.start()
    agent = build(common, settings, bus)
    try:
        await agent.migrate()
        await agent.start()
        seen: list[Envelope] = []

        async def observe(envelope: Envelope) -> None:
            seen.append(envelope)

        await bus.subscribe("observer", ["lockstep.install.*.site-a"], observe)
        request = command(host.package("shop", "3.0.0"))
        await bus.publish([Outgoing.of(request)])
        await bus.publish([Outgoing.of(request)])  # redelivered: installed once
        await until(lambda: len(outcomes(seen)) >= 1)
        assert outcomes(seen)[0].data.installed_version == "3.0.0"
        assert host.version("shop") == "3.0.0"
        await asyncio.sleep(0.3)  # let the redelivery be handled too
        assert host.runs() == 1 and len(outcomes(seen)) == 1
        assert (tmp_path / "var" / "installer-agent.db").exists()
        assert (tmp_path / "var" / "agent" / "installs" / "u1.log").exists()
    finally:
        await agent.stop()
        await bus.close()


async def test_a_host_agent_on_rabbitmq_with_its_own_local_sqlite_file(
    host, command, until, tmp_path, amqp_url, bus_namespace
) -> None:
    """The deploy/agent setup: the bus is the site's RabbitMQ, the database a SQLite file on
    the host (LOCKSTEP_DATABASE_URL=sqlite:///…); a second agent on that file refuses to start."""
    from installer_agent.adapters.site_lock import AnotherAgentRunning
    from lockstep_shared.bus import connect

    database = tmp_path / "lib" / "installer-agent.db"
    database.parent.mkdir()
    # The test publishes the install command with the same login as the agent's.
    common = LockstepSettings(amqp_url=amqp_url, bus_namespace=bus_namespace,
                              bus_shared_login=True,
                              database_url=f"sqlite:///{database}", var_dir=tmp_path / "var")
    settings = AgentSettings(
        site_id="site-a",
        insecure_unverified_installs=True,  # no feed, no orchestrator here
        installer_command=f"sh {host.root}/counting-install.sh {{package}} {{version}} "
        "{product}",
        version_command=f"sh {DEMO_HOST}/version.sh {{product}}",
        artifacts_dir=host.store.root,
        command_env={"LOCKSTEP_DEMO_HOST_DIR": str(host.dir),
                     "LOCKSTEP_DEMO_INSTALL_SECONDS": "0"},
    )
    bus = connect(common)
    assert isinstance(bus, RabbitBus)
    await bus.start()
    agent = build(common, settings, bus)
    second = build(common, settings, bus)
    try:
        await agent.migrate()
        await agent.start()
        with pytest.raises(AnotherAgentRunning):
            await second.start()
        seen: list[Envelope] = []

        async def observe(envelope: Envelope) -> None:
            seen.append(envelope)

        await bus.subscribe("observer", ["lockstep.install.*.site-a"], observe)
        await bus.publish([Outgoing.of(command(host.package("shop", "4.0.0")))])
        await until(lambda: bool(outcomes(seen)))
        assert outcomes(seen)[0].data.installed_version == "4.0.0"
        async with agent.engine.connect() as conn:
            assert (await conn.execute(select(installs.c.status))).scalars().all() == [
                "succeeded"
            ]
        assert agent.engine.dialect.name == "sqlite" and database.exists()
        assert not (tmp_path / "var" / "installer-agent.db").exists()
    finally:
        await agent.stop()
        await second.engine.dispose()
        await bus.close()
