"""A3 backup before installing, A5 restore after a failure: configured commands, really run."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def script(path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    return str(path)


async def test_a_failed_backup_installs_nothing(
    make_agent, bus, host, command, relay, tmp_path
) -> None:
    backup = script(tmp_path / "backup.sh", 'echo "backing up $1"\necho "disk full" >&2\nexit 7\n')
    host.set_version("shop", "1.1.0")
    agent = await make_agent(bus, backup_command=f"sh {backup} {{product}}")
    await agent.handler(command(host.package("shop", "1.2.0")))
    await agent.worker.run_pending()
    await relay(agent)

    assert host.runs() == 0 and host.version("shop") == "1.1.0"
    failed = bus.of_type("lockstep.install.failed")[0].data
    assert failed.reason == (
        "backup failed: the backup command exited with code 7; nothing was installed"
    )
    assert failed.stage == "backup"
    assert failed.exit_code == 7
    assert failed.log_tail == "[backup] backing up shop\n[backup] disk full"


async def test_backup_runs_before_the_installer(
    make_agent, bus, host, command, relay, tmp_path
) -> None:
    order = tmp_path / "order"
    backup = script(tmp_path / "backup.sh",
                    f'test -e "{host.runs_file}" && echo late >> "{order}"\n'
                    f'echo backup >> "{order}"\n')
    agent = await make_agent(bus, backup_command=f"sh {backup}")
    await agent.handler(command(host.package("shop", "1.2.0")))
    await agent.worker.run_pending()
    await relay(agent)
    assert order.read_text() == "backup\n" and host.runs() == 1
    assert bus.of_type("lockstep.install.succeeded")


async def test_restore_runs_after_a_failed_install_and_is_reported(
    make_agent, bus, host, command, relay, tmp_path
) -> None:
    marker = tmp_path / "restored"
    restore = script(tmp_path / "restore.sh", f'echo "restoring {{}}"\necho "$1" > "{marker}"\n')
    agent = await make_agent(bus, fail=True, restore_command=f"sh {restore} {{update_id}}")
    await agent.handler(command(host.package("shop", "1.2.0")))
    await agent.worker.run_pending()
    await relay(agent)

    assert marker.read_text().strip() == "u1"
    failed = bus.of_type("lockstep.install.failed")[0].data
    assert failed.reason == "the installer exited with code 1; the restore command completed"
    assert failed.exit_code == 1 and failed.stage == "installer"
    assert failed.log_tail.endswith("[restore] restoring {}")


async def test_restore_does_not_run_after_a_success(
    make_agent, bus, host, command, relay, tmp_path
) -> None:
    marker = tmp_path / "restored"
    restore = script(tmp_path / "restore.sh", f'touch "{marker}"\n')
    agent = await make_agent(bus, restore_command=f"sh {restore}")
    await agent.handler(command(host.package("shop", "1.2.0")))
    await agent.worker.run_pending()
    assert not marker.exists()
