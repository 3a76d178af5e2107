"""``downgrade``: outside any update, a device registers with an app version newer than the
site's; it is told at start to install the site's version (D10) and ends on it."""

from __future__ import annotations

from typing import Any

from lockstep_tools.demo.environment import DemoEnvironment
from lockstep_tools.demo.scenarios.stage import Stage
from lockstep_tools.vendor.repository import VendorRepository


def prepare_feed(repo: VendorRepository, env: DemoEnvironment) -> None:
    """The vendor's feed holds the version the site runs (and nothing newer)."""
    env.publish(repo, env.release.from_version)
    repo.entitle(env.license_key)


async def downgrade(stage: Stage) -> dict[str, Any]:
    env, devices = stage.env, stage.devices
    site_version, newer = env.release.from_version, env.release.to_version
    await stage.create_site()
    await stage.banner("none")
    await stage.start_fleet(devices - 1)
    [ahead] = await stage.start_fleet(1, app_version=newer, prefix="NEW")
    serial = ahead.serials[0]
    stage.say(f"{serial} registers with {newer}, newer than the site's {site_version}")
    await ahead.wait_until(lambda s: s.device(serial).app_version == site_version,
                           timeout=stage.timeout)
    grid = await stage.admin.wait_for(
        f"{serial} reported {site_version}", lambda: stage.admin.devices(stage.site_id),
        lambda g: any(d["serial"] == serial and d["app_version"] == site_version
                      for d in g["devices"]), timeout=stage.timeout)
    stage.say(f"{serial} installed the site's version {site_version} (a downgrade)")
    current = await stage.admin.call("GET", f"/sites/{stage.site_id}/updates/current",
                                     ok=(200, 404))
    return {
        "saga_state": (current or {}).get("state", "none"),
        "devices_total": devices,
        "site_version": site_version,
        "downgraded_device": serial,
        "downgraded_device_version": ahead.snapshot().device(serial).app_version,
        "devices_on_site_version": sum(1 for d in grid["devices"]
                                       if d["app_version"] == site_version),
    }


def downgrade_ok(r: dict[str, Any]) -> bool:
    return (r["downgraded_device_version"] == r["site_version"]
            and r["devices_on_site_version"] == r["devices_total"])
