"""Devices without notifications, devices coming back online and periodic update checks,
against the real device gateway (SQLite: the simulator is under test here, not the database)."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from lockstep_shared.artifacts import ArtifactStore
from lockstep_shared.catalogue import (
    DeviceDataHandedIn,
    DeviceNotificationDelivered,
    DeviceNotificationRequested,
    DeviceRegistered,
    DevicesReleased,
    DeviceVersionReported,
    PackageRef,
    ServerUpdateStarted,
    SiteVersionPackageReady,
    UpdateOpened,
)
from lockstep_tools.simulator import Behaviour, Fleet, serial_for

from .conftest import CODE, OLD, SITE, SimGateway

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

NEW = "03.01.00_031"


def package(version: str, payload: bytes, gateway: SimGateway) -> PackageRef:
    sha = hashlib.sha256(payload).hexdigest()
    ArtifactStore(gateway.artifacts).path_for(sha).write_bytes(payload)
    return PackageRef(product="shop", version=version, sha256=sha, size=len(payload),
                      url=f"http://127.0.0.1:9/watcher/v1/artifacts/{sha}")  # fmt: skip


def reported_versions(gateway: SimGateway) -> set[tuple[str, str]]:
    return {(e.serial, e.app_version) for e in gateway.events(DeviceVersionReported)}


async def phase_is(gateway: SimGateway, phase: str) -> bool:
    return await gateway.phase() == phase


async def push(gateway: SimGateway, kind: str) -> None:
    await gateway.publish(DeviceNotificationRequested(
        site_id=SITE, update_id="upd-1", kind=kind, request_id=f"{kind}-1"))  # fmt: skip


async def open_update(gateway: SimGateway, release: PackageRef) -> None:
    await gateway.publish(
        UpdateOpened(site_id=SITE, update_id="upd-1", from_version=OLD, package=release)
    )
    await gateway.until(lambda: phase_is(gateway, "preparing"))
    await push(gateway, "start")


async def release_devices(gateway: SimGateway, release: PackageRef, waiting: list[str]) -> None:
    await gateway.publish(ServerUpdateStarted(
        site_id=SITE, update_id="upd-1", forced=False, waiting_serials=tuple(waiting)))  # fmt: skip
    await gateway.until(lambda: phase_is(gateway, "server_updating"))


async def test_a_device_without_notifications_hands_in_and_updates_when_its_app_restarts(
    sim_gateway: SimGateway,
) -> None:
    gateway = sim_gateway
    release = package(NEW, b"new app " * 8192, gateway)
    silent = serial_for("OFF", 2)
    fleet = Fleet(gateway.url, SITE, CODE, 3, OLD, serial_prefix="OFF", wait_s=5,
                  behaviours={silent: Behaviour(notifications_disabled=True)},
                  check_every_s=None)  # fmt: skip
    async with fleet:
        await fleet.register()
        await fleet.run()
        await open_update(gateway, release)
        await fleet.wait_until(lambda s: s.waiting == 2, timeout=10)

        handed = await fleet.hand_in_data(silent)  # after a manual block: no update id known
        assert handed.synced and handed.sync_refused_reason is None
        await release_devices(gateway, release, fleet.serials)
        # the operator restarts the app while the server is updated: it asks until released
        restart = asyncio.create_task(fleet.check_for_update(silent))
        await asyncio.sleep(0.6)
        assert not restart.done() and fleet.snapshot().device(silent).phase == "updating"
        await gateway.publish(DevicesReleased(site_id=SITE, update_id="upd-1", package=release))
        await push(gateway, "end")
        view = await asyncio.wait_for(restart, timeout=15)
        done = await fleet.wait_until(lambda s: s.on_version(NEW) == 3, timeout=15)
        # a device counts itself updated just before its version report goes out: wait for
        # the report while the fleet still runs, or stopping it could cancel the report
        await gateway.until(lambda: (silent, NEW) in reported_versions(gateway))
        assert not fleet.crashed()

    assert view.app_version == NEW and view.outcome == "updated"
    quiet = done.device(silent)
    assert not quiet.start_received and not quiet.end_received and not quiet.connected
    registered = {e.serial: e.notifications_enabled for e in gateway.events(DeviceRegistered)}
    assert registered == {serial_for("OFF", 0): True, serial_for("OFF", 1): True, silent: False}
    assert silent in {e.serial for e in gateway.events(DeviceDataHandedIn)}
    delivered = {e.serial for e in gateway.events(DeviceNotificationDelivered)}
    assert silent not in delivered
    await gateway.until(lambda: (silent, NEW) in reported_versions(gateway))


async def test_an_offline_device_back_online_is_refused_its_data_then_updates(
    sim_gateway: SimGateway,
) -> None:
    gateway = sim_gateway
    release = package(NEW, b"forced app " * 8192, gateway)
    late = serial_for("LATE", 2)
    fleet = Fleet(gateway.url, SITE, CODE, 3, OLD, serial_prefix="LATE", wait_s=5,
                  behaviours={late: Behaviour(offline=True)}, check_every_s=None)  # fmt: skip
    async with fleet:
        await fleet.register()
        await fleet.run()
        await open_update(gateway, release)
        await fleet.wait_until(lambda s: s.waiting == 2, timeout=10)
        await release_devices(gateway, release, fleet.serials[:2])  # forced: without it
        await gateway.publish(DevicesReleased(site_id=SITE, update_id="upd-1", package=release))
        await gateway.until(lambda: phase_is(gateway, "released"))
        await push(gateway, "end")
        await fleet.wait_until(lambda s: s.on_version(NEW) == 2, timeout=15)
        assert fleet.snapshot().device(late).phase == "working"

        await fleet.bring_online([late])
        await fleet.bring_online([late])  # already online: nothing more
        done = await fleet.wait_until(lambda s: s.device(late).app_version == NEW, timeout=15)
        await gateway.until(lambda: (late, NEW) in reported_versions(gateway))
        assert not fleet.crashed()

    back = done.device(late)
    assert back.start_received and back.end_received and back.outcome == "updated"
    assert back.sync_refused_reason and "already started without this device" in (
        back.sync_refused_reason
    )
    assert back.behaviour == "normal" and done.finished == done.expected_to_finish == 3
    delivered = {(e.serial, e.kind) for e in gateway.events(DeviceNotificationDelivered)}
    assert {(late, "start"), (late, "end")} <= delivered
    assert late not in {e.serial for e in gateway.events(DeviceDataHandedIn)}
    await gateway.until(lambda: (late, NEW) in reported_versions(gateway))


async def test_a_working_device_catches_up_with_the_site_version_at_its_next_check(
    sim_gateway: SimGateway,
) -> None:
    gateway = sim_gateway
    ahead = Fleet(gateway.url, SITE, CODE, 2, NEW, serial_prefix="NEW", wait_s=5,
                  check_every_s=0.3)  # fmt: skip
    async with ahead:
        await ahead.register()
        await ahead.run()
        await asyncio.sleep(0.8)  # checked at start and since: the site's package is unknown
        assert ahead.snapshot().on_version(NEW) == 2
        site_package = package(OLD, b"site version " * 4096, gateway)
        await gateway.publish(SiteVersionPackageReady(site_id=SITE, package=site_package))
        done = await ahead.wait_until(lambda s: s.on_version(OLD) == 2, timeout=10)
        assert not ahead.crashed()

    assert {d.outcome for d in done.devices} == {"updated"}
    wanted = {(serial_for("NEW", 0), OLD), (serial_for("NEW", 1), OLD)}
    await gateway.until(lambda: reported_versions(gateway) == wanted)
