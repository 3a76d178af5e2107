"""The agent really runs the demo installer on a real PostgreSQL database (A1, A4, A5)."""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import select

from installer_agent.adapters.tables import installs
from lockstep_shared.bus.port import PermanentError

pytestmark = pytest.mark.integration

STARTED = "lockstep.install.started"
PROGRESSED = "lockstep.install.progressed"
SUCCEEDED = "lockstep.install.succeeded"
FAILED = "lockstep.install.failed"
HEARTBEAT = "lockstep.agent.heartbeat"


async def row(agent, update_id: str = "u1"):
    async with agent.engine.connect() as conn:
        query = select(installs).where(installs.c.update_id == update_id)
        return (await conn.execute(query)).first()


async def test_success_reports_the_version_read_on_the_host(
    make_agent, bus, host, command, relay
) -> None:
    host.set_version("shop", "1.1.0")
    agent = await make_agent(bus, seconds=1)
    request = command(host.package("shop", "1.2.0"), correlation_id="corr-1")

    await agent.handler(request)
    agent.heartbeat.start()
    assert await agent.worker.run_pending() == 1
    await relay(agent)

    assert host.version("shop") == "1.2.0"
    assert (host.dir / "shop" / "VERSION").read_text().strip() == "1.2.0"
    types = [e.type for e in bus.published if e.type != HEARTBEAT]
    assert types[0] == STARTED and types[-1] == SUCCEEDED
    assert PROGRESSED in types
    succeeded = bus.of_type(SUCCEEDED)[0]
    assert succeeded.data.installed_version == "1.2.0"
    assert succeeded.data.duration_s >= 1.0
    assert "installed shop 1.2.0" in succeeded.data.log_tail
    assert {e.correlationid for e in bus.published if e.type != HEARTBEAT} == {"corr-1"}
    assert succeeded.causationid == request.id
    percents = [e.data.percent for e in bus.of_type(PROGRESSED)]
    assert 100 in percents or percents[-1] is not None
    record = await row(agent)
    assert record.status == "succeeded" and record.exit_code == 0
    assert record.started_at is not None and record.finished_at >= record.started_at
    assert host.runs() == 1
    host_log = (host.root / "agent" / "installs" / "u1.log").read_text()
    assert "installed shop 1.2.0" in host_log
    beats = [e for e in bus.of_type(HEARTBEAT) if e.data.update_id == "u1"]
    assert len(beats) >= 2  # every 0.2 s during a ~1 s install


async def test_non_zero_exit_fails_with_exit_code_and_log_tail(
    make_agent, bus, host, command, relay
) -> None:
    host.set_version("shop", "1.1.0")
    agent = await make_agent(bus, fail=True, log_tail_lines=2)
    await agent.handler(command(host.package("shop", "1.2.0")))
    await agent.worker.run_pending()
    await relay(agent)

    failed = bus.of_type(FAILED)
    assert len(failed) == 1 and not bus.of_type(SUCCEEDED)
    assert failed[0].data.exit_code == 1
    assert failed[0].data.reason == "the installer exited with code 1"
    assert failed[0].data.log_tail.endswith("install: error: simulated failure "
                                            "(LOCKSTEP_DEMO_INSTALL_FAIL=1)")
    assert len(failed[0].data.log_tail.splitlines()) == 2
    assert not failed[0].data.interrupted and failed[0].data.stage == "installer"
    assert host.version("shop") == "1.1.0"
    assert (await row(agent)).status == "failed"


async def test_package_with_another_version_inside_fails(
    make_agent, bus, host, command, relay
) -> None:
    agent = await make_agent(bus)
    await agent.handler(command(host.package("shop", "1.2.0", content_version="1.3.0")))
    await agent.worker.run_pending()
    await relay(agent)
    failed = bus.of_type(FAILED)[0].data
    assert "the package contains version '1.3.0', not the requested '1.2.0'" in failed.log_tail
    assert host.version("shop") is None


async def test_version_command_reporting_another_version_fails(
    make_agent, bus, host, command, relay, tmp_path
) -> None:
    liar = tmp_path / "liar.sh"
    liar.write_text("#!/bin/sh\necho 0.9.0\n")
    agent = await make_agent(bus, version_command=f"sh {liar} {{product}}")
    await agent.handler(command(host.package("shop", "1.2.0")))
    await agent.worker.run_pending()
    await relay(agent)
    failed = bus.of_type(FAILED)[0].data
    assert failed.reason == (
        "the installer finished but the host reports version 0.9.0, not the requested 1.2.0"
    )
    assert failed.exit_code == 0 and failed.stage == "version"


async def test_timeout_fails_and_kills_the_installer_process_group(
    make_agent, bus, host, command, relay
) -> None:
    agent = await make_agent(bus, seconds=30, timeout_s=1)
    await agent.handler(command(host.package("shop", "1.2.0")))
    began = time.monotonic()
    await agent.worker.run_pending()
    assert time.monotonic() - began < 10
    await relay(agent)

    failed = bus.of_type(FAILED)[0].data
    assert failed.reason == "the installer did not finish within 1 s and was killed"
    assert failed.exit_code is not None and failed.exit_code != 0
    pgid = int(host.pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)  # neither the installer nor its `sleep` child is left
    assert host.version("shop") is None


async def test_wrong_package_hash_is_refused_before_running(
    make_agent, bus, host, command, relay
) -> None:
    package = host.package("shop", "1.2.0")
    path = host.store.path_for(package.sha256)
    path.write_bytes(b"x" * package.size)  # same length, other content
    agent = await make_agent(bus)
    await agent.handler(command(package))
    await agent.worker.run_pending()
    await relay(agent)

    assert host.runs() == 0
    assert not bus.of_type(STARTED)
    failed = bus.of_type(FAILED)[0].data
    assert failed.reason.startswith("pre-flight: package shop 1.2.0 in the artifact store")
    assert "refused before running the installer" in failed.reason
    assert failed.reason.endswith("start the update again to download it anew")
    assert package.sha256 in failed.reason and failed.exit_code is None
    assert failed.stage == "preflight"
    assert not path.exists()  # the bad copy is gone, so a later fetch gets a good one
    assert (await row(agent)).status == "failed"


async def test_missing_package_that_cannot_be_fetched_is_refused(
    make_agent, bus, host, command, relay
) -> None:
    package = host.package("shop", "1.2.0")
    host.store.path_for(package.sha256).unlink()
    agent = await make_agent(bus)
    await agent.handler(command(package))
    await agent.worker.run_pending()
    await relay(agent)
    assert host.runs() == 0
    failed = bus.of_type(FAILED)[0].data
    assert failed.reason.startswith("pre-flight: package shop 1.2.0 could not be fetched from ")
    assert failed.reason.endswith("reaches the release watcher and has room in its package "
                                  "store, then start the update again")
    assert failed.stage == "preflight"


async def test_a_command_for_another_site_is_never_consumed(
    make_agent, bus, host, command
) -> None:
    agent = await make_agent(bus)
    await agent.start()
    assert bus.subscriptions[0][:2] == ("installer-agent.site-a",
                                        ["lockstep.install.requested.site-a"])
    other = command(host.package("shop", "1.2.0"), site_id="site-b")
    assert await bus.deliver(other) == 0
    # Even handed over directly (a routing mistake), it is refused, not installed.
    with pytest.raises(PermanentError, match="site 'site-b'"):
        await agent.handler(other)
    assert await agent.worker.run_pending() == 0
    assert await row(agent) is None and host.runs() == 0


async def test_started_agent_installs_a_delivered_command_and_reports_it(
    make_agent, bus, host, command, until
) -> None:
    agent = await make_agent(bus)
    await agent.start()
    assert await agent.ready()
    assert await bus.deliver(command(host.package("shop", "2.0.1"))) == 1
    await until(lambda: bool(bus.of_type(SUCCEEDED)))
    assert bus.of_type(SUCCEEDED)[0].data.installed_version == "2.0.1"
    assert host.version("shop") == "2.0.1"
    idle_beats = [e for e in bus.of_type(HEARTBEAT) if e.data.update_id is None]
    assert idle_beats and idle_beats[0].data.site_id == "site-a"


async def test_installs_run_one_at_a_time_in_request_order(
    make_agent, bus, host, command, relay
) -> None:
    agent = await make_agent(bus, seconds=1)
    await agent.handler(command(host.package("shop", "1.0.0"), update_id="u1"))
    await agent.handler(command(host.package("shop", "1.0.1"), update_id="u2"))
    import asyncio

    ran = await asyncio.gather(agent.worker.run_pending(), agent.worker.run_pending())
    await relay(agent)
    assert sorted(ran) == [0, 2] and host.runs() == 2
    events = [(e.type, e.data.update_id) for e in bus.published
              if e.type in (STARTED, SUCCEEDED)]
    assert events == [(STARTED, "u1"), (SUCCEEDED, "u1"), (STARTED, "u2"), (SUCCEEDED, "u2")]
    assert host.version("shop") == "1.0.1"
