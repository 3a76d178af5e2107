"""A2 pre-flight against the real host: real processes under configured names, the real free
disk. A refusal runs neither the backup nor the installer and reports stage ``preflight``."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from installer_agent.adapters.host_processes import free_disk_bytes, running_processes
from installer_agent.adapters.tables import installs
from installer_agent.domain.preflight import MB

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path("/proc/self").exists(), reason="reads /proc (Linux)"),
]

STARTED = "lockstep.install.started"
SUCCEEDED = "lockstep.install.succeeded"
FAILED = "lockstep.install.failed"

Launch = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def launch() -> Iterator[Launch]:
    """Start processes for a test; each is killed by its own pid afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=5)


def desk_name() -> str:
    return f"desk-{uuid.uuid4().hex[:8]}"  # unique: tests elsewhere may run at the same time


def renamed_sleep(launch: Launch, name: str) -> subprocess.Popen[bytes]:
    """`sleep 30` whose argv[0] is ``name`` (its comm stays "sleep")."""
    return launch(["bash", "-c", f"exec -a {name} sleep 30"])


def copied_sleep(launch: Launch, directory: Path, name: str) -> subprocess.Popen[bytes]:
    """`sleep 30` from a copy of the binary called ``name`` (its comm is ``name``)."""
    binary = directory / name
    shutil.copyfile(shutil.which("sleep") or "/bin/sleep", binary)
    binary.chmod(0o755)
    return launch([str(binary), "30"])


async def until_listed(pids: set[int]) -> None:
    """Wait until /proc shows the processes under their new names (after exec)."""
    for _ in range(100):
        seen = {p.pid for p in running_processes() if not {"bash", ""} & set(p.names)}
        if pids <= seen:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"processes {pids} not listed")


async def test_a_running_desktop_process_refuses_the_install_and_nothing_runs(
    make_agent, bus, host, command, relay, tmp_path, launch
) -> None:
    by_argv0, by_comm = desk_name(), desk_name()
    renamed = renamed_sleep(launch, by_argv0)
    copied = copied_sleep(launch, tmp_path, by_comm)
    await until_listed({renamed.pid, copied.pid})
    backup_marker = tmp_path / "backup-ran"
    host.set_version("shop", "1.1.0")
    agent = await make_agent(
        bus, required_stopped_processes=[by_argv0, "not-running-here", by_comm.upper() + ".exe"],
        backup_command=f"touch {backup_marker}",
    )
    await agent.handler(command(host.package("shop", "1.2.0")))
    await agent.worker.run_pending()
    await relay(agent)

    assert host.runs() == 0 and not backup_marker.exists() and not bus.of_type(STARTED)
    assert host.version("shop") == "1.1.0"
    failed = bus.of_type(FAILED)[0].data
    assert failed.stage == "preflight" and failed.exit_code is None
    assert failed.reason == (
        f"pre-flight: {by_argv0} (pid {renamed.pid}), {by_comm.upper()}.exe (pid {copied.pid}) "
        "still running on the server; close them on every desktop of the server host (ask the "
        "users to quit), then start the update again"
    )
    async with agent.engine.connect() as conn:
        stored = (await conn.execute(select(installs.c.status, installs.c.stage))).one()
    assert tuple(stored) == ("failed", "preflight")


async def test_once_the_process_is_closed_the_next_update_installs(
    make_agent, bus, host, command, relay, launch
) -> None:
    name = desk_name()
    desktop = renamed_sleep(launch, name)
    await until_listed({desktop.pid})
    agent = await make_agent(bus, required_stopped_processes=[name])
    package = host.package("shop", "1.2.0")
    await agent.handler(command(package, update_id="u1"))
    await agent.worker.run_pending()
    desktop.kill()
    desktop.wait(timeout=5)
    await agent.handler(command(package, update_id="u2"))
    await agent.worker.run_pending()
    await relay(agent)

    assert [e.data.update_id for e in bus.of_type(FAILED)] == ["u1"]
    assert [e.data.update_id for e in bus.of_type(SUCCEEDED)] == ["u2"]
    assert host.runs() == 1 and host.version("shop") == "1.2.0"


async def test_a_disk_requirement_larger_than_the_free_space_refuses(
    make_agent, bus, host, command, relay, tmp_path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    free_mb = free_disk_bytes(work) // MB
    agent = await make_agent(bus, working_dir=work, min_free_disk_mb=free_mb + 1_000_000)
    await agent.handler(command(host.package("shop", "1.2.0")))
    await agent.worker.run_pending()
    await relay(agent)

    assert host.runs() == 0 and not bus.of_type(STARTED)
    failed = bus.of_type(FAILED)[0].data
    assert failed.stage == "preflight"
    assert failed.reason.startswith(f"pre-flight: not enough free disk on {work}: ")
    assert failed.reason.endswith("then start the update again")


async def test_a_disk_requirement_within_the_free_space_installs(
    make_agent, bus, host, command, relay, tmp_path
) -> None:
    agent = await make_agent(bus, disk_check_dir=tmp_path / "not" / "made" / "yet",
                             min_free_disk_mb=1)
    await agent.handler(command(host.package("shop", "1.2.0")))
    await agent.worker.run_pending()
    await relay(agent)
    assert host.runs() == 1 and bus.of_type(SUCCEEDED)
