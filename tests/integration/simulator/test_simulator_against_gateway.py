"""A small simulated fleet through a whole update against the real device gateway."""

from __future__ import annotations

import hashlib

import pytest

from lockstep_shared.artifacts import ArtifactStore
from lockstep_shared.catalogue import (
    DeviceBlocked,
    DeviceDataHandedIn,
    DeviceNotificationDelivered,
    DeviceNotificationNotDelivered,
    DeviceNotificationRequested,
    DevicesReleased,
    DeviceVersionReported,
    PackageRef,
    ServerUpdateStarted,
    UpdateFailed,
    UpdateOpened,
)
from lockstep_tools.simulator import Fleet, assign_behaviours, serial_for

from .conftest import CODE, OLD, SITE, SimGateway

pytestmark = pytest.mark.integration

NEW = "03.01.00_031"
PAYLOAD = bytes(range(256)) * 2048  # 512 KiB
SHA = hashlib.sha256(PAYLOAD).hexdigest()
PACKAGE = PackageRef(
    product="shop",
    version=NEW,
    sha256=SHA,
    size=len(PAYLOAD),
    url=f"http://127.0.0.1:9/watcher/v1/artifacts/{SHA}",
)
COUNT = 12
SERIALS = [serial_for("SIM", i) for i in range(COUNT)]
# from the end: 11 offline, 10 slow, 9 never_ack, 8 fail_install, 7 and 6 interrupt_download
BEHAVIOURS = assign_behaviours(
    SERIALS, offline=1, slow=1, never_ack=1, fail_install=1, interrupt_download=2, slow_delay_s=3.0
)
OFFLINE, SLOW, NEVER_ACK, FAIL_INSTALL = SERIALS[11], SERIALS[10], SERIALS[9], SERIALS[8]
INTERRUPTED = SERIALS[6:8]
PROMPT = SERIALS[:9]  # the devices that hand their data in before the server update starts


def fleet_for(gateway: SimGateway) -> Fleet:
    return Fleet(gateway.url, SITE, CODE, COUNT, OLD, behaviours=BEHAVIOURS, wait_s=5)


async def open_update_and_push_start(gateway: SimGateway) -> None:
    ArtifactStore(gateway.artifacts).path_for(SHA).write_bytes(PAYLOAD)
    await gateway.publish(
        UpdateOpened(site_id=SITE, update_id="upd-1", from_version=OLD, package=PACKAGE)
    )
    await gateway.until(lambda: _phase_is(gateway, "preparing"))
    await gateway.publish(
        DeviceNotificationRequested(
            site_id=SITE, update_id="upd-1", kind="start", request_id="start-1"
        )
    )


async def _phase_is(gateway: SimGateway, phase: str) -> bool:
    return await gateway.phase() == phase


async def test_a_fleet_goes_through_a_forced_update_with_every_misbehaviour(
    sim_gateway: SimGateway,
) -> None:
    gateway = sim_gateway
    async with fleet_for(gateway) as fleet:
        await fleet.register()
        await fleet.run()
        await fleet.wait_until(
            lambda s: s.registered == COUNT and s.connected == COUNT - 1, timeout=10
        )

        await open_update_and_push_start(gateway)
        phase1 = await fleet.wait_until(
            lambda s: s.waiting == len(PROMPT) and s.start_received == COUNT - 1, timeout=15
        )
        # the admin forces the server update without the slow device's data
        await gateway.publish(
            ServerUpdateStarted(
                site_id=SITE, update_id="upd-1", forced=True, waiting_serials=tuple(PROMPT)
            )
        )
        await gateway.until(lambda: _phase_is(gateway, "server_updating"))
        await fleet.wait_until(lambda s: s.sync_refused == 1, timeout=15)
        await gateway.publish(DevicesReleased(site_id=SITE, update_id="upd-1", package=PACKAGE))
        await gateway.until(lambda: _phase_is(gateway, "released"))
        await gateway.publish(
            DeviceNotificationRequested(
                site_id=SITE, update_id="upd-1", kind="end", request_id="end-1"
            )
        )
        done = await fleet.wait_until(lambda s: s.all_finished, timeout=30)
        # a device counts itself updated just before its version report goes out: wait for
        # the reports while the fleet still runs, or stopping it could cancel the last one
        await gateway.until(lambda: len(gateway.events(DeviceVersionReported)) >= COUNT - 3)
        assert not fleet.crashed()

    assert phase1.synced == len(PROMPT) and phase1.blocked == COUNT - 2  # not offline/never_ack
    assert done.expected_to_finish == COUNT - 2 and done.finished == COUNT - 2
    assert done.installed == COUNT - 3 and done.on_version(NEW) == COUNT - 3
    assert done.failed == 1 and done.device(FAIL_INSTALL).outcome == "install_failed"
    assert done.device(FAIL_INSTALL).app_version == OLD
    slow = done.device(SLOW)
    assert slow.sync_refused_reason and "already started without this device" in (
        slow.sync_refused_reason
    )
    assert slow.app_version == NEW  # forced: it still updates after END
    assert [done.device(s).download_resumes for s in INTERRUPTED] == [1, 1]
    assert done.device(SERIALS[0]).download_resumes == 0
    never = done.device(NEVER_ACK)
    assert never.start_received and not never.blocked and never.outcome is None
    offline = done.device(OFFLINE)
    assert not offline.connected and not offline.start_received and offline.phase == "working"

    reported = {e.serial: e.app_version for e in gateway.events(DeviceVersionReported)}
    assert reported == {s: NEW for s in [*SERIALS[:8], SLOW]}
    assert {e.serial for e in gateway.events(DeviceBlocked)} == set(PROMPT)
    assert {e.serial for e in gateway.events(DeviceDataHandedIn)} == set(PROMPT)
    delivered = {(e.serial, e.kind) for e in gateway.events(DeviceNotificationDelivered)}
    assert (OFFLINE, "start") not in delivered and (NEVER_ACK, "start") not in delivered
    assert {(s, "end") for s in [*SERIALS[:9], SLOW]} <= delivered
    await gateway.until(
        lambda: (
            {OFFLINE, NEVER_ACK}
            <= {e.serial for e in gateway.events(DeviceNotificationNotDelivered)}
        )
    )


async def test_error_update_unblocks_the_fleet(sim_gateway: SimGateway) -> None:
    gateway = sim_gateway
    fleet = Fleet(gateway.url, SITE, CODE, 5, OLD, serial_prefix="ERR", wait_s=5)
    async with fleet:
        await fleet.register()
        await fleet.run()
        await open_update_and_push_start(gateway)
        await fleet.wait_until(lambda s: s.waiting == 5, timeout=15)
        await gateway.publish(UpdateFailed(site_id=SITE, update_id="upd-1", reason="boom"))
        await gateway.publish(
            DeviceNotificationRequested(
                site_id=SITE, update_id="upd-1", kind="error", request_id="error-1"
            )
        )
        done = await fleet.wait_until(lambda s: s.error_received == 5, timeout=15)

    assert done.blocked == 0 and done.waiting == 0 and done.on_version(OLD) == 5
    assert {d.outcome for d in done.devices} == {"errored"}


async def test_wrong_enrolment_code_is_reported_clearly(sim_gateway: SimGateway) -> None:
    from lockstep_tools.simulator.gateway_api import RegistrationRefused

    async with Fleet(sim_gateway.url, SITE, "wrong-code", 3, OLD) as fleet:
        with pytest.raises(RegistrationRefused, match="enrolment code"):
            await fleet.register()


async def test_a_second_fleet_with_the_same_serials_does_not_take_the_devices_over(
    sim_gateway: SimGateway,
) -> None:
    """Issue 10 §3: the enrolment code alone registers new serials only; a registered one
    needs its secret (or the admin's approval)."""
    from lockstep_tools.simulator.gateway_api import RegistrationRefused

    async with Fleet(sim_gateway.url, SITE, CODE, 2, OLD, serial_prefix="TWIN") as first:
        await first.register()
        async with Fleet(sim_gateway.url, SITE, CODE, 2, OLD, serial_prefix="TWIN") as second:
            with pytest.raises(RegistrationRefused, match="already registered"):
                await second.register()


async def test_manual_block_and_unblock_codes_use_the_registered_secret(
    sim_gateway: SimGateway,
) -> None:
    from lockstep_tools.simulator.offline_codes import CodeRefused, code2_for

    async with Fleet(sim_gateway.url, SITE, CODE, 2, OLD, serial_prefix="MAN") as fleet:
        await fleet.register()
        serial = "MAN000000"
        secret = fleet.secret(serial)
        assert secret and secret != fleet.secret("MAN000001")
        code1 = fleet.begin_manual(serial, "block")
        with pytest.raises(CodeRefused, match="wrong code 2"):
            fleet.enter_code2(serial, code2_for(secret, code1, "unblock"))
        code3 = fleet.enter_code2(serial, code2_for(secret, code1, "block"))
        assert len(code3) == 6 and fleet.snapshot().device(serial).blocked
        code1 = fleet.begin_manual(serial, "unblock")
        fleet.enter_code2(serial, code2_for(secret, code1, "unblock"))
        assert fleet.snapshot().blocked == 0


async def test_a_download_with_nothing_to_download_is_a_stale_directive(
    sim_gateway: SimGateway,
) -> None:
    """The package URL answers 404 nothing_to_download when no package is meant for the
    device: the simulator asks for the directive again instead of failing the update."""
    from lockstep_tools.simulator import gateway_api as api
    from lockstep_tools.simulator.device_state import Directive

    token = sim_gateway.probe["Authorization"].removeprefix("Bearer ")
    stale = Directive("upd-gone", NEW, 10, "0" * 64, f"{sim_gateway.url}/device/v1/package")
    with pytest.raises(api.DirectiveStale, match="HTTP 404: no package is meant"):
        await api.download(sim_gateway.client, token, stale, interrupt_once=False)
