"""The agent carries out an install command only for its site's open update (issue 10).

A real orchestrator on PostgreSQL serves its internal API over HTTP and publishes on RabbitMQ;
the agent, configured as in production (the vendor's pinned root and feed, the orchestrator's
URL, the internal token, no insecure flag), asks the orchestrator about every install command
before anything is looked up, downloaded or run. A command forged on the bus — even naming a
package the vendor did sign — installs nothing while no update is open, nor for another
package; the orchestrator's own command for the open update installs."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from prometheus_client import REGISTRY
from sqlalchemy import select

from installer_agent.adapters.tables import installs
from installer_agent.bootstrap import build
from installer_agent.settings import AgentSettings
from lockstep_shared.artifacts import ArtifactStore
from lockstep_shared.bus import connect
from lockstep_shared.bus.port import Bus, Outgoing
from lockstep_shared.catalogue import InstallRequested, PackageRef, ReleaseDownloaded
from lockstep_shared.envelope import Envelope
from lockstep_shared.message_factory import MessageFactory
from lockstep_shared.runtime import http_app
from lockstep_shared.service import Service
from lockstep_shared.settings import LockstepSettings
from lockstep_tools.vendor import VendorRepository, running_feed
from orchestrator.bootstrap import OrchestratorService
from orchestrator.bootstrap import build as build_orchestrator
from orchestrator.domain.accounts import Account, Role
from orchestrator.settings import OrchestratorSettings

pytestmark = pytest.mark.integration

SITE = "site-a"
TOKEN = "internal-token-of-this-test"
NOT_ISSUED = "lockstep_agent_install_commands_not_issued_total"
ADMIN = Account("anna", Role.ADMIN, (SITE,))


@dataclass
class Lockstep:
    orchestrator: OrchestratorService
    agent: Service
    forger: Bus
    seen: list[Envelope]
    ran: Path
    signed: PackageRef

    async def installs(self) -> dict[str, str]:
        async with self.agent.engine.connect() as conn:
            rows = await conn.execute(select(installs.c.update_id, installs.c.status))
            return {r.update_id: r.status for r in rows}

    async def forge(self, update_id: str, package: PackageRef) -> None:
        """An install command as anyone on the bus could send it (the login is shared here:
        the publisher check cannot tell it from the orchestrator's)."""
        command = InstallRequested(site_id=SITE, update_id=update_id, package=package)
        await self.forger.publish([Outgoing.of(MessageFactory("orchestrator").new(command))])


async def until(predicate, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


def not_issued() -> float:
    return REGISTRY.get_sample_value(NOT_ISSUED) or 0.0


@pytest.fixture
async def lockstep(pg_database: str, amqp_url: str, bus_namespace: str,
                   tmp_path: Path) -> AsyncIterator[Lockstep]:
    vendor = VendorRepository.init(tmp_path / "vendor")
    package_file = tmp_path / "shop-03.01.00_031.tar.gz"
    package_file.write_bytes(b"the vendor's real package 031")
    vendor.publish(product="shop", version="03.01.00_031", package=package_file)
    data = package_file.read_bytes()
    signed = PackageRef(product="shop", version="03.01.00_031",
                        sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                        url="http://127.0.0.1:9/never-fetched")
    store = ArtifactStore(tmp_path / "agent-artifacts")
    store.path_for(signed.sha256).write_bytes(data)  # on the host already: nothing to fetch
    ran = tmp_path / "installer-ran"

    common = LockstepSettings(database_url=pg_database, amqp_url=amqp_url,
                              bus_namespace=bus_namespace, bus_shared_login=True,
                              internal_token=TOKEN, var_dir=tmp_path / "var")
    orchestrator_bus = connect(common, "orchestrator")
    orchestrator = build_orchestrator(
        common, OrchestratorSettings(argon2_time_cost=1, argon2_memory_kib=64), orchestrator_bus)
    app = http_app([orchestrator], orchestrator_bus, title="orchestrator under test")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", access_log=False,
                                           log_config=None, timeout_graceful_shutdown=1))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    agent_bus = connect(common, "installer-agent")
    forger = connect(common)
    agent: Service | None = None
    with running_feed(vendor.repo_dir) as feed:
        try:
            while not server.started:
                await asyncio.sleep(0.05)
            await orchestrator.handlers.sites.create(
                SITE, "Site A", "LIC-1", "ENROL-1", {"shop": "03.01.00_030"}, None,
                Account("vendor", Role.SUPPORT))
            settings = AgentSettings(
                site_id=SITE, installer_command=f"touch {ran}", version_command="echo 03.01.00_031",
                artifacts_dir=store.root, required_stopped_processes=[], min_free_disk_mb=1,
                heartbeat_interval_s=60, idle_heartbeat_interval_s=60,
                trusted_root=vendor.root_path, feed_url=feed.url,
                orchestrator_url=f"http://127.0.0.1:{sock.getsockname()[1]}")
            await agent_bus.start()
            await forger.start()
            agent = build(common, settings, agent_bus)
            await agent.migrate()
            await agent.start()
            seen: list[Envelope] = []

            async def observe(envelope: Envelope) -> None:
                seen.append(envelope)

            await forger.subscribe("test-observer", [f"lockstep.install.*.{SITE}"], observe)
            yield Lockstep(orchestrator, agent, forger, seen, ran, signed)
        finally:
            if agent is not None:
                await agent.stop()
            await agent_bus.close()
            await forger.close()
            server.should_exit = True
            await serving
            sock.close()


def reports(seen: list[Envelope]) -> list[tuple[str, str]]:
    return [(e.type, e.data.update_id) for e in seen  # type: ignore[union-attr]
            if e.type != "lockstep.install.requested"]


async def test_a_forged_install_command_installs_nothing_and_the_orchestrators_own_does(
        lockstep: Lockstep) -> None:
    before = not_issued()

    # 1. No update is open: a command for a made-up update, with a package the vendor signed.
    await lockstep.forge("u-forged", lockstep.signed)

    async def counted(times: float):  # type: ignore[no-untyped-def]
        async def check() -> bool:
            return not_issued() >= before + times
        return check

    await until(await counted(1))
    assert await lockstep.installs() == {}  # dropped: no record stands in anyone's way
    assert not lockstep.ran.exists()

    # 2. An update is opened (phase 1): a command for it is still not the orchestrator's.
    orchestrator = lockstep.orchestrator
    await lockstep.forger.publish([Outgoing.of(MessageFactory("release-watcher").new(
        ReleaseDownloaded(site_id=SITE, product="shop", version="03.01.00_031",
                          package=lockstep.signed)))])

    async def release_ready() -> bool:
        banner = await orchestrator.handlers.views.banner(SITE)
        return banner.state == "green"

    await until(release_ready)
    update = await orchestrator.handlers.updates.open(SITE, "shop", True, ADMIN)
    await lockstep.forge(update.update_id, lockstep.signed)
    await until(await counted(2))
    assert await lockstep.installs() == {} and not lockstep.ran.exists()

    # 3. The same update with other bytes: refused too (and dropped: the orchestrator's own
    # command for that update is not in the way of it). Phase 2: the orchestrator publishes
    # its command, which installs.
    other = PackageRef(product="shop", version="03.01.00_031", sha256="0" * 64, size=7,
                       url="http://attacker.example/shop.tar.gz")
    await lockstep.forge(update.update_id, other)
    await until(await counted(3))
    await orchestrator.handlers.updates.start_server_update(update.update_id, ADMIN)

    async def succeeded() -> bool:
        return (await lockstep.installs()).get(update.update_id) == "succeeded"

    await until(succeeded)
    assert lockstep.ran.exists()
    assert not_issued() == before + 3
    await asyncio.sleep(0.5)
    assert reports(lockstep.seen) == [("lockstep.install.started", update.update_id),
                                      ("lockstep.install.succeeded", update.update_id)]


def test_the_agent_command_refuses_to_serve_unverified_but_migrates(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LOCKSTEP_")},
           "LOCKSTEP_AGENT_SITE_ID": "site-a", "LOCKSTEP_VAR_DIR": str(tmp_path),
           "LOCKSTEP_LOG_JSON": "false"}
    agent = str(Path(sys.executable).parent / "lockstep-installer-agent")
    served = subprocess.run([agent, "serve"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert served.returncode != 0
    assert "installs only what it can verify" in served.stderr
    assert "LOCKSTEP_AGENT_INSECURE_UNVERIFIED_INSTALLS" in served.stderr
    migrated = subprocess.run([agent, "migrate"], env=env, capture_output=True, text=True,
                              timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    assert "INSECURE" not in migrated.stderr
