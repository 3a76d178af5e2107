"""A6: a redelivered command never runs the installer twice; after a restart mid-install the
agent reports the truth (interrupted) instead of installing again."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from installer_agent.adapters.installs_repository import InstallsRepository
from installer_agent.adapters.tables import installs
from installer_agent.domain.installs import INTERRUPTED_REASON
from lockstep_shared.message_factory import utcnow

pytestmark = pytest.mark.integration

SUCCEEDED = "lockstep.install.succeeded"
FAILED = "lockstep.install.failed"
STARTED = "lockstep.install.started"


async def status(agent, update_id: str = "u1") -> str | None:
    async with agent.engine.connect() as conn:
        query = select(installs.c.status).where(installs.c.update_id == update_id)
        return (await conn.execute(query)).scalar()


async def test_the_same_message_delivered_twice_runs_the_installer_once(
    make_agent, bus, host, command, relay
) -> None:
    agent = await make_agent(bus)
    request = command(host.package("shop", "1.2.0"))
    await agent.handler(request)
    await agent.handler(request)  # at-least-once: the bus redelivers before the install ran
    await agent.worker.run_pending()
    await agent.handler(request)  # and again after it finished
    await agent.worker.run_pending()
    await relay(agent)
    assert host.runs() == 1
    assert len(bus.of_type(SUCCEEDED)) == 1 and len(bus.of_type(STARTED)) == 1


async def test_a_repeated_command_after_the_outcome_reports_it_again_without_running(
    make_agent, bus, host, command, relay
) -> None:
    agent = await make_agent(bus)
    package = host.package("shop", "1.2.0")
    await agent.handler(command(package, correlation_id="c1"))
    await agent.worker.run_pending()
    resent = command(package, correlation_id="c1")  # a new message for the same update
    await agent.handler(resent)
    await agent.worker.run_pending()
    await relay(agent)

    assert host.runs() == 1
    first, again = bus.of_type(SUCCEEDED)
    assert again.data == first.data and again.causationid == resent.id


async def test_a_repeated_command_for_a_failed_install_reports_the_failure_again(
    make_agent, bus, host, command, relay
) -> None:
    agent = await make_agent(bus, fail=True)
    package = host.package("shop", "1.2.0")
    await agent.handler(command(package))
    await agent.worker.run_pending()
    await agent.handler(command(package))
    await agent.worker.run_pending()
    await relay(agent)
    assert host.runs() == 1
    first, again = bus.of_type(FAILED)
    assert again.data == first.data and again.data.exit_code == 1
    assert again.data.stage == "installer"  # the stage is kept with the outcome


async def test_a_repeated_command_while_the_install_waits_is_ignored(
    make_agent, bus, host, command, relay
) -> None:
    agent = await make_agent(bus)
    package = host.package("shop", "1.2.0")
    await agent.handler(command(package))
    await agent.handler(command(package))
    await relay(agent)
    assert bus.published == []  # nothing to say yet
    await agent.worker.run_pending()
    await relay(agent)
    assert host.runs() == 1 and len(bus.of_type(SUCCEEDED)) == 1


async def test_a_command_reusing_the_update_id_for_another_package_is_dead_lettered(
    make_agent, bus, host, command
) -> None:
    from lockstep_shared.bus.port import PermanentError

    agent = await make_agent(bus)
    await agent.handler(command(host.package("shop", "1.2.0")))
    with pytest.raises(PermanentError, match="cannot reuse"):
        await agent.handler(command(host.package("shop", "1.3.0")))


def test_the_same_package_built_twice_is_the_same_package(host, monkeypatch) -> None:
    """The tests here build "the same" package again for a redelivered command; if the build
    time went into the file, a rebuild a second later would be another package."""
    built = []
    for now in (1_000_000_000.0, 1_000_000_001.0):
        monkeypatch.setattr(time, "time", lambda now=now: now)
        built.append(host.package("shop", "1.2.0"))
    assert built[0] == built[1]


async def test_an_install_left_running_is_reported_interrupted_and_not_run_again(
    make_agent, bus, host, command, relay
) -> None:
    # The first agent process recorded the command and committed "running" (the installer
    # was starting), then died: simulated by doing exactly those two steps and stopping.
    crashed = await make_agent(bus)
    request = command(host.package("shop", "1.2.0"), correlation_id="c9")
    await crashed.handler(request)
    async with crashed.engine.begin() as conn:
        assert await InstallsRepository("site-a").mark_running(conn, "u1", utcnow())
        await InstallsRepository("site-a").enter_stage(conn, "u1", "backup")
        await InstallsRepository("site-a").save_log_tail(conn, "u1", "progress 20% unpacked")
    await crashed.stop()

    restarted = await make_agent(bus)
    await restarted.start()
    await relay(restarted)
    failed = bus.of_type(FAILED)
    assert len(failed) == 1
    assert failed[0].data.interrupted is True
    assert failed[0].data.reason == INTERRUPTED_REASON
    assert failed[0].data.stage == "backup"  # the step it was in when the agent died
    assert failed[0].data.log_tail == "progress 20% unpacked"
    assert failed[0].correlationid == "c9" and failed[0].causationid == request.id
    assert await status(restarted) == "interrupted"

    # The command redelivered after the restart: the truth again, still no install.
    await bus.deliver(command(host.package("shop", "1.2.0")))
    await restarted.worker.run_pending()
    await relay(restarted)
    assert host.runs() == 0 and host.version("shop") is None
    assert [e.data.interrupted for e in bus.of_type(FAILED)] == [True, True]

    # A third start finds nothing left running: no second report.
    await restarted.stop()
    again = await make_agent(bus)
    assert await again.worker.report_interrupted() == 0


async def test_a_requested_install_survives_a_restart_and_runs_once(
    make_agent, bus, host, command, relay
) -> None:
    first = await make_agent(bus)
    await first.handler(command(host.package("shop", "1.2.0")))
    await first.stop()  # died before the worker took it: nothing was touched on the host

    second = await make_agent(bus)
    assert await second.worker.report_interrupted() == 0
    assert await second.worker.run_pending() == 1
    await relay(second)
    assert host.runs() == 1 and bus.of_type(SUCCEEDED)


async def test_agents_of_two_sites_sharing_a_database_never_touch_each_others_installs(
    make_agent, bus, host, command, relay
) -> None:
    site_a = await make_agent(bus)
    await site_a.handler(command(host.package("shop", "1.2.0"), update_id="ua"))
    async with site_a.engine.begin() as conn:
        assert await InstallsRepository("site-a").mark_running(conn, "ua", utcnow())

    site_b = await make_agent(bus, site_id="site-b")
    assert await site_b.worker.report_interrupted() == 0
    await site_b.handler(command(host.package("shop", "1.3.0"), site_id="site-b",
                                 update_id="ub"))
    await site_a.handler(command(host.package("shop", "1.4.0"), update_id="ua2"))
    assert await site_b.worker.run_pending() == 1  # only its own
    await relay(site_b)
    assert await status(site_a, "ua") == "running"
    assert await status(site_a, "ua2") == "requested"
    assert [e.data.update_id for e in bus.of_type(SUCCEEDED)] == ["ub"]


async def test_a_second_agent_for_the_same_site_refuses_to_start(
    make_agent, bus, host, command, relay
) -> None:
    from installer_agent.adapters.site_lock import AnotherAgentRunning

    first = await make_agent(bus)
    await first.start()
    await first.handler(command(host.package("shop", "1.2.0")))
    async with first.engine.begin() as conn:  # the first agent is mid-install
        assert await InstallsRepository("site-a").mark_running(conn, "u1", utcnow())
    second = await make_agent(bus)
    with pytest.raises(AnotherAgentRunning, match="only one agent per site"):
        await second.start()
    assert await status(first) == "running"  # not taken for an interrupted install
    other_site = await make_agent(bus, site_id="site-b")
    await other_site.start()  # other sites are not affected
    await first.stop()
    await second.start()  # once the first stopped, its successor takes over
    await relay(second)
    assert bus.of_type(FAILED)[0].data.interrupted
