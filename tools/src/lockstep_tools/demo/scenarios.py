"""Demo scenarios: each drives Lockstep through the admin API with simulated devices and
returns the figures that prove its expected end state."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lockstep_tools.demo.environment import DemoEnvironment
from lockstep_tools.simulator.fleet import Fleet

Say = Callable[[str], None]


async def happy(env: DemoEnvironment, devices: int, say: Say) -> dict[str, Any]:
    """The walking skeleton: release found → update opened → devices blocked and synced →
    server installed by the agent → devices released and updated → concluded."""
    started = time.monotonic()
    release = env.release
    vendor = await env.admin("vendor")
    admin = await env.admin("admin")
    enrolment_code = f"enrol-{env.run_id}"
    timeout = 60 + devices * 0.1
    try:
        await vendor.create_site(
            site_id=env.site_id, name=f"Demo shop {env.site_id}", license_key=env.license_key,
            enrolment_code=enrolment_code,
            products=[{"product": release.product, "version": release.from_version}],
        )
        say(f"site {env.site_id} created with {release.product} {release.from_version}")

        gateways = env.gateway_urls
        fleets = [
            Fleet(gateways[i % len(gateways)], env.site_id, enrolment_code,
                  _share(devices, len(gateways), i), release.from_version,
                  serial_prefix=f"SIM{i}")
            for i in range(len(gateways))
        ]
        for fleet in fleets:
            await fleet.register()
            await fleet.run()
        say(f"{devices} simulated devices registered and listening for push")

        banner = await admin.wait_for(
            "release downloaded (green banner)", lambda: admin.banner(env.site_id),
            lambda b: b["state"] == "green", timeout=timeout)
        say(f"banner {banner['state']}: {banner['message']}")

        await admin.wait_for(
            "every device in the grid", lambda: admin.devices(env.site_id),
            lambda g: len(g["devices"]) == devices, timeout=timeout)
        update = await admin.open_update(env.site_id, release.product)
        update_id = update["update_id"]
        say(f"update {update_id} opened: {release.from_version} → {update['to_version']}")

        await admin.send_start(update_id)
        say("START UPDATE sent to every device")
        update = await admin.wait_for(
            "every device blocked and waiting for update", lambda: admin.update(update_id),
            lambda u: u["fleet"]["waiting"] == devices, timeout=timeout)
        say(f"phase 1 done: {update['fleet']['waiting']}/{devices} devices waiting for update")

        await admin.start_server_update(update_id)
        say("server update started: the installer agent installs on the host")
        update = await admin.wait_for(
            "server updated (phase 3)", lambda: admin.update(update_id),
            lambda u: u["state"] in ("server_updated", "failed"), timeout=timeout + 60)
        if update["state"] == "failed":
            raise RuntimeError(f"the server update failed: {update.get('failure')}")
        say(f"phase 2 done: host now runs {env.installed_on_host()}")

        await admin.send_end(update_id)
        say("END UPDATE sent: devices download and install")
        update = await admin.wait_for(
            "every device on the target version", lambda: admin.update(update_id),
            lambda u: u["fleet"]["on_target"] == devices, timeout=timeout + 60)
        say(f"phase 3 done: {update['fleet']['on_target']}/{devices} devices on "
            f"{update['to_version']}")

        update = await admin.conclude(update_id)
        update = await admin.update(update_id)
        banner = await admin.banner(env.site_id)
        say(f"update {update['state']}; banner now {banner['state']}")

        on_version = sum(fleet.snapshot().on_version(release.to_version) for fleet in fleets)
        grid = await admin.devices(env.site_id, "updated")
        for fleet in fleets:
            await fleet.stop()
        return {
            "scenario": "happy",
            "mode": env.mode,
            "saga_state": update["state"],
            "devices_total": devices,
            "devices_on_target_version": min(on_version, len(grid["devices"])),
            "target_version": update["to_version"],
            "server_version": env.installed_on_host(),
            "banner": banner["state"],
            "elapsed_s": round(time.monotonic() - started, 2),
        }
    finally:
        await admin.close()
        await vendor.close()


def _share(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


SCENARIOS = {"happy": happy}


def succeeded(result: dict[str, Any]) -> bool:
    if result["scenario"] == "happy":
        return (
            result["saga_state"] == "concluded"
            and result["devices_on_target_version"] == result["devices_total"]
            and result["server_version"] == result["target_version"]
        )
    return False
