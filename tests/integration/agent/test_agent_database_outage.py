"""An install's outcome is what the host says, never an accident of the agent's bookkeeping
(issue 9 §3): the database goes away just as the installer exits — the moment the agent
records the installer's last progress, reads the version and records the outcome — and comes
back seconds later. The agent waits for it (saying why on readiness) and reports the install
succeeded, as the host shows it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from tcp_proxy import TcpProxy

from installer_agent.adapters.tables import installs

from .conftest import DEMO_HOST

pytestmark = pytest.mark.integration

SUCCEEDED = "lockstep.install.succeeded"
FAILED = "lockstep.install.failed"
OUTAGE_S = 6.0


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    proxy = await TcpProxy("127.0.0.1", 5432).start()
    yield proxy
    await proxy.close()


async def test_an_outage_as_the_installer_exits_still_reports_the_install_succeeded(
    make_agent, bus, host, command, relay, until, proxy, pg_database
) -> None:
    # The real demo installer, then a mark the test waits for, then a short pause: the
    # database is cut between the install being done on the host and the installer's exit.
    installer = host.root / "install-then-mark.sh"
    installed = host.root / "installed"
    installer.write_text(
        "#!/bin/sh\n"
        f'echo run >> "{host.runs_file}"\n'
        f'sh "{DEMO_HOST}/install.sh" "$@" || exit $?\n'
        f'touch "{installed}"\n'
        "sleep 1\n"
        'echo "install complete"\n'
    )
    host.set_version("shop", "1.1.0")
    agent = await make_agent(
        bus, database_url=proxy.url(pg_database),
        installer_command=f"sh {installer} {{package}} {{version}} {{product}}",
    )
    await agent.handler(command(host.package("shop", "1.2.0")))
    installing = asyncio.create_task(agent.worker.run_pending())
    try:
        await until(installed.exists, timeout_s=30)
        proxy.cut()
        shown = await _eventually(
            lambda: any("database unavailable" in p for p in agent.service.problems()), 10)
        await asyncio.sleep(OUTAGE_S)
        decided_in_outage = installing.done()
        proxy.restore()
        assert await asyncio.wait_for(installing, 60) == 1
    finally:
        proxy.restore()
        if not installing.done():
            installing.cancel()
    await relay(agent)

    assert not bus.of_type(FAILED), bus.of_type(FAILED)[0].data.reason
    assert host.version("shop") == "1.2.0" and host.runs() == 1
    (succeeded,) = bus.of_type(SUCCEEDED)
    assert succeeded.data.installed_version == "1.2.0"
    assert "install complete" in succeeded.data.log_tail
    assert shown, "/readyz did not say that the database is unavailable"
    assert not decided_in_outage  # nothing is decided while its records cannot be written
    assert not [p for p in agent.service.problems() if "database" in p]  # /readyz clear again
    async with agent.engine.connect() as conn:
        status = (await conn.execute(select(installs.c.status))).scalar_one()
    assert status == "succeeded"


async def _eventually(condition, timeout_s: float) -> bool:
    for _ in range(int(timeout_s / 0.05)):
        if condition():
            return True
        await asyncio.sleep(0.05)
    return False
