"""``stop-time``: the same fleet through two updates in one run, first downloading the package
after END UPDATE (no staging), then with the package staged in the background beforehand
(issue 14 §2). The site's Wi-Fi is shared (``LINK_BYTES_PER_S``), as in a shop. Both stop
times — first device blocked → last device back at work on the new version, as the
orchestrator measured them — are in the result; staging must make the stop shorter.

``make bench`` makes the same comparison on its fleet with ``stage_next_release`` and
``whole_update``."""

from __future__ import annotations

from typing import Any

from lockstep_tools.demo.environment import DemoEnvironment
from lockstep_tools.demo.scenarios.stage import Stage
from lockstep_tools.simulator.fleet import Fleet
from lockstep_tools.vendor.repository import VendorRepository

PAYLOAD_KIB = 1024
LINK_BYTES_PER_S = 4_000_000.0  # 4 MB/s for the whole shop
SECOND = "03.01.00_032"


def prepare_feed(repo: VendorRepository, env: DemoEnvironment) -> None:
    env.publish(repo, env.release.to_version, payload_kib=PAYLOAD_KIB)
    repo.entitle(env.license_key)


async def stop_time(stage: Stage) -> dict[str, Any]:
    env, devices = stage.env, stage.devices
    stage.staging = False  # the first update: devices download after END only
    stage.link_bytes_per_s = LINK_BYTES_PER_S
    await stage.create_site()
    fleets = await stage.start_fleet(devices, spread=True)
    await stage.banner("green")
    await stage.grid_has(devices)
    without = await whole_update(stage, env.release.to_version)
    await stage_next_release(stage, fleets, SECOND, payload_kib=PAYLOAD_KIB,
                             link_bytes_per_s=LINK_BYTES_PER_S)
    with_staging = await whole_update(stage, SECOND)
    stage.say(f"stop time: {without:.2f} s without staging, {with_staging:.2f} s with it")
    return {
        "devices_total": devices,
        "target_version": SECOND,
        "devices_on_target_version": stage.on_version(SECOND),
        "installed_from_staged": installed_from_staged(fleets),
        "stop_time_without_staging_s": without,
        "stop_time_with_staging_s": with_staging,
        "server_version": env.installed_on_host(),
    }


async def stage_next_release(stage: Stage, fleets: list[Fleet], version: str, *,
                             payload_kib: int, link_bytes_per_s: float | None = None) -> None:
    """The vendor publishes ``version``, the site admin checks now (green banner), and the
    running devices stage it in the background until every one has it staged."""
    env, devices = stage.env, stage.devices
    env.publish(VendorRepository(env.feed_dir), version, payload_kib=payload_kib)
    stage.say(f"the vendor publishes {version}; the site admin checks now")
    await stage.admin.call("POST", f"/sites/{stage.site_id}/release-checks", {})
    await stage.banner("green")
    for fleet in fleets:
        fleet.start_staging()
    stage.say("the devices stage it in the background, a few at a time, while they work")
    transfer_s = devices * payload_kib * 1024 / link_bytes_per_s if link_bytes_per_s else 0.0
    grid = await stage.admin.wait_for(
        f"{devices} devices with {version} staged", lambda: stage.admin.devices(stage.site_id),
        lambda g: sum(d["package_staged"] for d in g["devices"]) >= devices,
        timeout=stage.timeout + transfer_s, interval=stage.poll_s)
    stage.say(f"package staged on {sum(d['package_staged'] for d in grid['devices'])} devices")


async def whole_update(stage: Stage, version: str) -> float:
    """One whole update to ``version``, concluded; its stop time."""
    update = await stage.open_update()
    if update["to_version"] != version:
        raise RuntimeError(f"the update opened goes to {update['to_version']}, not {version}")
    uid = update["update_id"]
    await stage.phase_one(uid, stage.devices)
    await stage.admin.start_server_update(uid)
    await stage.server_updated(uid)
    await stage.phase_three(uid, stage.devices)
    stop = await stage.stop_time_s(uid)
    await stage.admin.conclude(uid)
    await stage.banner("none")
    return stop


def installed_from_staged(fleets: list[Fleet]) -> int:
    """Devices that installed the package they had staged (no download after END)."""
    return sum(d.installed_from_staged for f in fleets for d in f.snapshot().devices)


def stop_time_ok(r: dict[str, Any]) -> bool:
    return (r["devices_on_target_version"] == r["devices_total"]
            and r["server_version"] == r["target_version"]
            and r["installed_from_staged"] == r["devices_total"]
            and r["stop_time_with_staging_s"] < r["stop_time_without_staging_s"])
