"""The installer runs detached from the agent (issue 9 §3): an agent process that ends during
the install (here: its worker cancelled and the agent stopped, as at a restart) leaves the
installer running; the next agent reports the installer's real outcome from its exit status,
or — when that status is lost — reports the install interrupted. The installer never runs
twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal

import pytest

from installer_agent.domain.installer_run import InstallerFiles
from installer_agent.domain.installs import INTERRUPTED_REASON

pytestmark = pytest.mark.integration

SUCCEEDED = "lockstep.install.succeeded"
FAILED = "lockstep.install.failed"
PROGRESSED = "lockstep.install.progressed"


async def _leave_mid_install(agent, until, host) -> None:
    """The agent goes away while its installer runs (the installer is not touched)."""
    installing = asyncio.create_task(agent.worker.run_pending())
    await until(lambda: host.runs() == 1)
    installing.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await installing
    await agent.stop()


@pytest.mark.parametrize("fail", [False, True], ids=["succeeds", "fails"])
async def test_an_installer_that_ended_while_the_agent_was_away_reports_its_real_outcome(
    make_agent, bus, host, command, until, fail: bool
) -> None:
    host.set_version("shop", "1.1.0")
    first = await make_agent(bus, seconds=1, fail=fail)
    await first.handler(command(host.package("shop", "1.2.0")))
    await _leave_mid_install(first, until, host)
    files = InstallerFiles.of(host.root / "agent" / "installs", "u1")
    await until(files.status.exists, 30)  # it went on to its end without any agent

    restarted = await make_agent(bus, fail=fail)
    await restarted.start()
    await until(lambda: bool(bus.of_type(SUCCEEDED) or bus.of_type(FAILED)), 30)
    assert host.runs() == 1
    if fail:
        (failed,) = bus.of_type(FAILED)
        assert failed.data.reason == "the installer exited with code 1"
        assert failed.data.exit_code == 1 and not failed.data.interrupted
        assert "simulated failure" in failed.data.log_tail
        assert host.version("shop") == "1.1.0"
    else:
        (succeeded,) = bus.of_type(SUCCEEDED)
        assert succeeded.data.installed_version == "1.2.0"
        assert "progress 100% installed shop 1.2.0" in succeeded.data.log_tail
        assert any("100%" in e.data.line for e in bus.of_type(PROGRESSED))


async def test_an_installer_whose_exit_status_was_lost_is_reported_interrupted(
    make_agent, bus, host, command, until
) -> None:
    first = await make_agent(bus, seconds=30)
    await first.handler(command(host.package("shop", "1.2.0")))
    await _leave_mid_install(first, until, host)
    files = InstallerFiles.of(host.root / "agent" / "installs", "u1")
    await until(files.pids.exists)
    pids = json.loads(files.pids.read_text())
    os.kill(pids["launcher"], signal.SIGKILL)  # the launcher dies: no exit status, ever
    os.killpg(pids["installer"], signal.SIGKILL)

    restarted = await make_agent(bus)
    await restarted.start()
    await until(lambda: bool(bus.of_type(FAILED)), 30)
    (failed,) = bus.of_type(FAILED)
    assert failed.data.interrupted and failed.data.reason == INTERRUPTED_REASON
    assert failed.data.stage == "installer"
    assert host.runs() == 1 and not bus.of_type(SUCCEEDED)
