"""``manual-codes``: 2 devices have notifications disabled, so START cannot reach them; the
admin blocks each by the three-code exchange read over the phone (U5, D8); a replayed code is
refused; the update then completes."""

from __future__ import annotations

from typing import Any

from lockstep_tools.demo.admin import AdminError
from lockstep_tools.demo.scenarios.stage import Stage
from lockstep_tools.simulator.behaviour import Behaviour

SILENT = 2


async def manual_codes(stage: Stage) -> dict[str, Any]:
    env, devices = stage.env, stage.devices
    if devices <= SILENT:
        raise ValueError(f"the manual-codes scenario needs more than {SILENT} devices")
    await stage.create_site()
    [fleet] = await stage.start_fleet(devices, behaviours=lambda serials: {
        serial: Behaviour(notifications_disabled=True) for serial in serials[-SILENT:]})
    silent = fleet.serials[-SILENT:]
    await stage.banner("green")
    await stage.grid_has(devices)
    uid = (await stage.open_update())["update_id"]
    await stage.phase_one(uid, devices - SILENT)

    blocked_by_code, replay_refused = 0, 0
    for serial in silent:
        code1 = fleet.begin_manual(serial, "block")
        stage.say(f"{serial} shows code 1: {code1}")
        exchange = await stage.admin.call(
            "POST", f"/sites/{stage.site_id}/devices/{serial}/codes",
            {"action": "block", "code1": code1})
        code3 = fleet.enter_code2(serial, exchange["code2"])
        stage.say(f"admin reads code 2 {exchange['code2']}; the device blocks and shows "
                  f"code 3 {code3}")
        path = f"/sites/{stage.site_id}/devices/{serial}/codes/{exchange['exchange_id']}"
        verified = await stage.admin.call("POST", f"{path}/confirmation", {"code3": code3})
        blocked_by_code += bool(verified.get("verified"))
        try:
            await stage.admin.call("POST", f"{path}/confirmation", {"code3": code3})
        except AdminError as refusal:
            replay_refused += 1
            stage.say(f"the same code again is refused: {refusal}")
        await fleet.hand_in_data(serial)

    update = await stage.update_until(uid, "every device waiting",
                                      lambda u: u["fleet"]["waiting"] >= devices)
    stage.say(f"all {update['fleet']['waiting']} devices waiting; starting the server update")
    await stage.admin.start_server_update(uid)
    await stage.server_updated(uid)
    await stage.admin.send_end(uid)
    for serial in silent:  # no push reaches them: the operator starts the app (D10 path)
        await fleet.check_for_update(serial)
    update = await stage.update_until(uid, "every device on the target version",
                                      lambda u: u["fleet"]["on_target"] >= devices, extra_s=60)
    await stage.admin.conclude(uid)
    update = await stage.admin.update(uid)
    return {
        "saga_state": update["state"],
        "devices_total": devices,
        "devices_without_notifications": SILENT,
        "devices_blocked_by_codes": blocked_by_code,
        "replayed_codes_refused": replay_refused,
        "devices_on_target_version": stage.on_version(env.release.to_version),
        "target_version": update["to_version"],
    }


def manual_codes_ok(r: dict[str, Any]) -> bool:
    return (r["saga_state"] == "concluded"
            and r["devices_blocked_by_codes"] == r["devices_without_notifications"]
            and r["replayed_codes_refused"] == r["devices_without_notifications"]
            and r["devices_on_target_version"] == r["devices_total"])
