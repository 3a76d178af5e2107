"""A ``kill -9`` of the agent process in the middle of an install (issue 9 §3): the installer,
run detached, goes on; the agent started again finds it, follows the rest of its log as
progress and reports the real outcome — the installer ran exactly once and the install
succeeded. Real processes: the agent as ``lockstep-installer-agent serve`` on the real
RabbitMQ and PostgreSQL, the demo installer on the host."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from lockstep_shared.bus.port import Outgoing
from lockstep_shared.bus.rabbit import RabbitBus
from lockstep_shared.envelope import Envelope

from .conftest import DEMO_HOST, SITE, Host, install_command

pytestmark = pytest.mark.integration

STARTED = "lockstep.install.started"
PROGRESSED = "lockstep.install.progressed"
SUCCEEDED = "lockstep.install.succeeded"
FAILED = "lockstep.install.failed"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class AgentProcess:
    """``lockstep-installer-agent`` as its own process, configured by environment only."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.port = int(env["LOCKSTEP_AGENT_PORT"])
        self.process: subprocess.Popen[bytes] | None = None

    def run(self, command: str) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            return subprocess.Popen([sys.executable, "-m", "installer_agent.main", command],
                                    env=self.env, stdout=out, stderr=subprocess.STDOUT)

    async def start(self) -> None:
        self.process = self.run("serve")  # migrates at start
        async with httpx.AsyncClient() as client:
            for _ in range(1200):  # starting a Python service is slow on a loaded machine
                assert self.process.poll() is None, self.log.read_text()[-3000:]
                with contextlib.suppress(httpx.TransportError):  # not listening yet
                    ready = await client.get(f"http://127.0.0.1:{self.port}/readyz")
                    if ready.status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError("the agent did not become ready: " + self.log.read_text()[-3000:])

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(30)


@pytest.fixture
async def agent_env(pg_database: str, amqp_url: str, bus_namespace: str, host: Host,
                    tmp_path: Path) -> dict[str, str]:
    # Counts its runs, records its pid (= its process group), then waits for the test to open
    # the gate before it really installs: still running when the agent is killed and started
    # again, however slowly the agent starts.
    (host.root / "gated-install.sh").write_text(
        "#!/bin/sh\n"
        f'echo run >> "{host.runs_file}"\n'
        f'echo $$ > "{host.pid_file}"\n'
        'echo "progress 10% waiting for the gate"\n'
        f'while [ ! -e "{host.root}/gate" ]; do sleep 0.2; done\n'
        f'exec sh "{DEMO_HOST}/install.sh" "$@"\n'
    )
    return {
        **os.environ,
        "LOCKSTEP_AMQP_URL": amqp_url,
        "LOCKSTEP_DATABASE_URL": pg_database,
        "LOCKSTEP_BUS_NAMESPACE": bus_namespace,
        # the test publishes the install command with the same login as the agent's
        "LOCKSTEP_BUS_SHARED_LOGIN": "true",
        "LOCKSTEP_VAR_DIR": str(tmp_path / "var"),
        "LOCKSTEP_LOG_JSON": "false",
        "LOCKSTEP_AGENT_SITE_ID": SITE,
        "LOCKSTEP_AGENT_INSECURE_UNVERIFIED_INSTALLS": "true",  # no feed, no orchestrator here
        "LOCKSTEP_AGENT_HOST": "127.0.0.1",
        "LOCKSTEP_AGENT_PORT": str(_free_port()),
        "LOCKSTEP_AGENT_INSTALLER_COMMAND":
            f"sh {host.root}/gated-install.sh {{package}} {{version}} {{product}}",
        "LOCKSTEP_AGENT_VERSION_COMMAND": f"sh {DEMO_HOST}/version.sh {{product}}",
        "LOCKSTEP_AGENT_ARTIFACTS_DIR": str(host.store.root),
        "LOCKSTEP_AGENT_STATE_DIR": str(host.root / "agent"),
        "LOCKSTEP_AGENT_HEARTBEAT_INTERVAL_S": "1",
        "LOCKSTEP_AGENT_COMMAND_ENV": json.dumps({
            "LOCKSTEP_DEMO_HOST_DIR": str(host.dir),
            "LOCKSTEP_DEMO_INSTALL_SECONDS": "1",
        }),
    }


@pytest.fixture
async def observer(amqp_url: str, bus_namespace: str) -> AsyncIterator[tuple[RabbitBus,
                                                                            list[Envelope]]]:
    """The test's own bus connection, seeing every install event of the site."""
    bus = RabbitBus(amqp_url, bus_namespace)
    await bus.start()
    seen: list[Envelope] = []

    async def record(envelope: Envelope) -> None:
        seen.append(envelope)

    await bus.subscribe("test-observer", [f"lockstep.install.*.{SITE}"], record)
    yield bus, seen
    await bus.close()


async def _until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not in {timeout_s} s: {what}")


async def test_a_killed_agent_follows_the_running_installer_again_and_reports_success(
    agent_env, observer, host: Host, tmp_path: Path
) -> None:
    bus, seen = observer

    def of(type_: str) -> list[Envelope]:
        return [e for e in seen if e.type == type_]

    host.set_version("shop", "1.1.0")
    first = AgentProcess(agent_env, tmp_path / "agent-1.log")
    second = AgentProcess(agent_env, tmp_path / "agent-2.log")
    try:
        await first.start()
        await bus.publish([Outgoing.of(install_command(host.package("shop", "1.2.0")))])
        await _until(lambda: bool(of(STARTED)) and host.runs() == 1
                     and any("waiting for the gate" in e.data.line for e in of(PROGRESSED)),
                     60, "the installer running and reporting progress")

        first.kill(signal.SIGKILL)
        installer = int(host.pid_file.read_text())
        os.killpg(installer, 0)  # the installer outlived the agent (no ProcessLookupError)
        progress_before = len(of(PROGRESSED))
        assert not of(SUCCEEDED) and not of(FAILED)

        await second.start()
        await _until(lambda: "following the installer of update u1 again" in
                     second.log.read_text() or bool(of(SUCCEEDED) or of(FAILED)), 30,
                     "the restarted agent following the installer (or an outcome)")
        (host.root / "gate").touch()
        await _until(lambda: bool(of(SUCCEEDED) or of(FAILED)), 60,
                     "the outcome after the restart")
    finally:
        first.kill()
        second.kill(signal.SIGTERM)

    assert not of(FAILED), of(FAILED)[0].data.reason
    (succeeded,) = of(SUCCEEDED)
    assert succeeded.data.installed_version == "1.2.0"
    assert "progress 100% installed shop 1.2.0" in succeeded.data.log_tail
    assert host.runs() == 1  # never started twice
    assert host.version("shop") == "1.2.0"
    assert len(of(STARTED)) == 1
    followed = [e.data.line for e in of(PROGRESSED)[progress_before:]]
    assert any("100%" in line for line in followed)  # the rest of the log, streamed as progress
