"""``happy``: release found → update opened → devices blocked and synced → server installed
by the agent → devices released and updated → concluded."""

from __future__ import annotations

import time
from typing import Any

from lockstep_tools.demo.scenarios.stage import Stage


async def happy(stage: Stage) -> dict[str, Any]:
    env, devices = stage.env, stage.devices
    clock = Laps()
    await stage.create_site()
    await stage.start_fleet(devices, spread=True)
    clock.lap("registration_s")
    await stage.banner("green")
    await stage.grid_has(devices)
    update = await stage.open_update()
    uid = update["update_id"]
    clock.lap("until_opened_s")
    await stage.phase_one(uid, devices)
    clock.lap("phase1_s")
    await stage.admin.start_server_update(uid)
    stage.say("server update started: the installer agent installs on the host")
    await stage.server_updated(uid)
    clock.lap("phase2_s")
    await stage.phase_three(uid, devices)
    clock.lap("phase3_s")
    stop_time_s = await stage.stop_time_s(uid)
    stage.say(f"the devices stopped for {stop_time_s:.2f} s "
              f"({'with' if stage.staging else 'without'} staging)")
    await stage.admin.conclude(uid)
    update = await stage.admin.update(uid)
    banner = await stage.admin.banner(stage.site_id)
    stage.say(f"update {update['state']}; banner now {banner['state']}")
    grid = await stage.admin.devices(stage.site_id, "updated")
    return {
        "saga_state": update["state"],
        "devices_total": devices,
        "devices_on_target_version": min(stage.on_version(env.release.to_version),
                                         len(grid["devices"])),
        "target_version": update["to_version"],
        "server_version": env.installed_on_host(),
        "banner": banner["state"],
        "staging": stage.staging,
        "stop_time_s": stop_time_s,
        "timings": clock.laps,
    }


class Laps:
    """Seconds spent in each step, for ``make bench``."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps[name] = round(now - self._last, 2)
        self._last = now


def happy_ok(r: dict[str, Any]) -> bool:
    return (r["saga_state"] == "concluded"
            and r["devices_on_target_version"] == r["devices_total"]
            and r["server_version"] == r["target_version"])
