"""``forced``: 3 devices are offline; two admins force the server update (U7); after the
conclusion the offline devices come back: their data hand-in is refused (D4) and they update
themselves to the site's version (D10)."""

from __future__ import annotations

from typing import Any

from lockstep_tools.demo.admin import AdminError
from lockstep_tools.demo.scenarios.stage import Stage
from lockstep_tools.simulator.behaviour import assign_behaviours

OFFLINE = 3


async def forced(stage: Stage) -> dict[str, Any]:
    env, devices = stage.env, stage.devices
    if devices <= OFFLINE:
        raise ValueError(f"the forced scenario needs more than {OFFLINE} devices")
    await stage.create_site()  # a site's accounts are made once it exists
    stage.env.create_user("admin2", "admin", [stage.site_id])
    second_admin = await stage.env.admin("admin2")
    try:
        [fleet] = await stage.start_fleet(
            devices, behaviours=lambda serials: assign_behaviours(serials, offline=OFFLINE))
        late = fleet.serials[-OFFLINE:]
        await stage.banner("green")
        await stage.grid_has(devices)
        uid = (await stage.open_update())["update_id"]
        await stage.phase_one(uid, devices - OFFLINE)

        try:
            await stage.admin.start_server_update(uid)
            start_refused = False
        except AdminError as refusal:
            start_refused = True
            stage.say(f"Start refused as it should be: {refusal}")
        await stage.admin.call("POST", f"/updates/{uid}/force-requests", {})
        stage.say("admin asked to force the update; a second admin approves")
        await second_admin.call("POST", f"/updates/{uid}/force-approvals", {})
        update = await stage.server_updated(uid)
        await stage.phase_three(uid, devices - OFFLINE)

        try:
            await stage.admin.conclude(uid)
            warned = False
        except AdminError as warning:
            warned = True
            stage.say(f"Conclude warns first: {warning}")
        await stage.admin.conclude(uid, confirm_not_updated=True)
        update = await stage.admin.update(uid)
        stage.say(f"update {update['state']} with {OFFLINE} devices behind; they come back now")

        await fleet.bring_online(late)
        await fleet.wait_until(
            lambda s: all(s.device(serial).app_version == env.release.to_version
                          for serial in late),
            timeout=stage.timeout + 60)
        await stage.admin.wait_for(
            "every device reported on the new version", lambda: stage.admin.devices(
                stage.site_id),
            lambda g: sum(d["app_version"] == env.release.to_version for d in g["devices"])
            == devices, timeout=stage.timeout)
        snapshot = fleet.snapshot()
        refused = sum(1 for serial in late if snapshot.device(serial).sync_refused_reason)
        stage.say(f"late devices: {refused} refused their data hand-in, then updated themselves")
        audit = await stage.admin.call("GET", f"/audit?site_id={stage.site_id}&action=update")
        approvers = {e["actor"] for e in audit["entries"] if "force" in e["action"]}
        return {
            "saga_state": update["state"],
            "devices_total": devices,
            "devices_offline_during_update": OFFLINE,
            "devices_on_target_version": stage.on_version(env.release.to_version),
            "late_devices_refused_hand_in": refused,
            "start_refused_before_force": start_refused,
            "conclude_warned": warned,
            "force_authorized_by": sorted(approvers),
            "forced": update.get("forced", True),
            "target_version": update["to_version"],
        }
    finally:
        await second_admin.close()


def forced_ok(r: dict[str, Any]) -> bool:
    return (r["saga_state"] == "concluded"
            and r["devices_on_target_version"] == r["devices_total"]
            and r["late_devices_refused_hand_in"] == r["devices_offline_during_update"]
            and r["start_refused_before_force"] and r["conclude_warned"]
            and {"admin", "admin2"} <= set(r["force_authorized_by"]))
