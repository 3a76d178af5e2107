"""``platform-first`` (R8): the vendor's next shop release needs a newer platform than the
site runs. The release is shown, but opening it is refused (``platform_required``, naming the
platform version) until the platform's own update has run the whole procedure; then the shop
update runs it too."""

from __future__ import annotations

from typing import Any

from lockstep_tools.demo.environment import DemoEnvironment
from lockstep_tools.demo.scenarios.stage import Stage
from lockstep_tools.vendor.repository import VendorRepository

PLATFORM = "platform"
PLATFORM_FROM, PLATFORM_TO = "05.00", "05.01"


def prepare_feed(repo: VendorRepository, env: DemoEnvironment) -> None:
    """The new platform, and the shop release that runs only on it."""
    env.publish(repo, PLATFORM_TO, product=PLATFORM)
    env.publish(repo, env.release.to_version, min_platform_version=PLATFORM_TO)
    repo.entitle(env.license_key)
    env.set_host_version(PLATFORM, PLATFORM_FROM)


async def platform_first(stage: Stage) -> dict[str, Any]:
    env, devices, product = stage.env, stage.devices, stage.env.release.product
    await stage.create_site(also={PLATFORM: PLATFORM_FROM})
    await stage.start_fleet(devices)
    await stage.grid_has(devices)
    site = await stage.admin.wait_for(
        "both releases downloaded", lambda: stage.admin.call("GET", f"/sites/{stage.site_id}"),
        lambda s: sum(r["status"] == "downloaded" for r in s["releases"]) == 2,
        timeout=stage.timeout)
    shown = {r["product"]: r for r in site["releases"]}[product]
    stage.say(f"{product} {shown['version']} is shown; it needs platform "
              f"{shown['platform_required']}")
    refusal = await _open_refused(stage, product)
    banner_before = await stage.banner("green")

    first = await _whole_update(stage, PLATFORM, devices)
    banner_between = await stage.admin.wait_for(
        f"banner offers {product}", lambda: stage.admin.banner(stage.site_id),
        lambda b: b["product"] == product and b["state"] == "green", timeout=stage.timeout)
    stage.say(f"banner {banner_between['state']}: {banner_between['message']}")
    second = await _whole_update(stage, product, devices)

    banner = await stage.admin.banner(stage.site_id)
    return {
        "saga_state": second["state"],
        "devices_total": devices,
        "refusal_code": refusal.get("code"),
        "refusal_platform_version": refusal.get("platform_version"),
        "banner_before": {k: banner_before[k] for k in ("product", "platform_required")},
        "platform_update": {k: first[k] for k in ("state", "from_version", "to_version",
                                                  "stop_time_s")},
        "platform_on_host": env.installed_on_host(PLATFORM),
        "banner_between_platform_required": banner_between["platform_required"],
        "devices_on_target_version": stage.on_version(env.release.to_version),
        "target_version": second["to_version"],
        "server_version": env.installed_on_host(),
        "banner": banner["state"],
        "stop_time_s": second["stop_time_s"],
    }


async def _open_refused(stage: Stage, product: str) -> dict[str, Any]:
    """Manage update of the product, expecting the API's 409 refusal (any success fails)."""
    body: dict[str, Any] = await stage.admin.call(
        "POST", f"/sites/{stage.site_id}/updates",
        {"product": product, "backups_confirmed": True}, ok=(409,))
    stage.say(f"Manage update of {product} refused ({body.get('code')}): {body.get('detail')}")
    return body


async def _whole_update(stage: Stage, product: str, devices: int) -> dict[str, Any]:
    """One coordinated update of ``product``: every step of the procedure, and how long the
    devices stopped (the platform's update too: they resume at END, nothing to install)."""
    update = await stage.open_update(product)
    uid = update["update_id"]
    await stage.phase_one(uid, devices)
    await stage.admin.start_server_update(uid)
    await stage.server_updated(uid)
    await stage.phase_three(uid, devices, installs=product != PLATFORM)
    for fleet in stage.fleets:  # the admin concludes once every device is back at work
        await fleet.wait_until(lambda s: all(d.update_id == uid and d.outcome is not None
                                             for d in s.devices), timeout=stage.timeout)
    stage.say(f"every device is back at work on {update['product']}'s update end")
    await stage.admin.conclude(uid)
    stop_time_s = await stage.stop_time_s(uid)
    done = await stage.admin.update(uid)
    stage.say(f"update of {product} {done['state']}; the devices stopped for "
              f"{stop_time_s:.2f} s")
    return {**done, "stop_time_s": stop_time_s}


def platform_first_ok(r: dict[str, Any]) -> bool:
    return (r["refusal_code"] == "platform_required"
            and r["refusal_platform_version"] == PLATFORM_TO
            and r["banner_before"]["product"] == PLATFORM
            and r["platform_update"]["state"] == "concluded"
            and (r["platform_update"]["stop_time_s"] or 0) > 0 and (r["stop_time_s"] or 0) > 0
            and r["platform_on_host"] == PLATFORM_TO
            and r["banner_between_platform_required"] is None
            and r["saga_state"] == "concluded"
            and r["devices_on_target_version"] == r["devices_total"]
            and r["server_version"] == r["target_version"])
