"""``install-failure``: the installer exits non-zero. The update fails (red banner), ERROR
UPDATE reactivates every device, the report reaches the support endpoint, and a new update is
refused until support resolves the failure (U12)."""

from __future__ import annotations

from typing import Any

from lockstep_tools.demo.admin import AdminError
from lockstep_tools.demo.scenarios.stage import Stage


async def install_failure(stage: Stage) -> dict[str, Any]:
    devices = stage.devices
    await stage.create_site()
    [fleet] = await stage.start_fleet(devices)
    await stage.banner("green")
    await stage.grid_has(devices)
    uid = (await stage.open_update())["update_id"]
    await stage.phase_one(uid, devices)
    await stage.admin.start_server_update(uid)
    stage.say("server update started; this host's installer is set to fail")
    update = await stage.update_until(uid, "the update failed",
                                      lambda u: u["state"] == "failed", extra_s=60)
    failure = update.get("failure") or {}
    stage.say(f"update failed: {failure.get('reason')} (exit code {failure.get('exit_code')})")
    banner = await stage.banner("red")

    await stage.admin.call("POST", f"/updates/{uid}/error-notifications", {"serials": None})
    stage.say("reactivate devices: ERROR UPDATE sent to every device")
    grid = await stage.admin.wait_for(
        "every device unblocked", lambda: stage.admin.devices(stage.site_id),
        lambda g: all(not d["blocked"] for d in g["devices"]), timeout=stage.timeout)
    await fleet.wait_until(lambda s: s.error_received == devices, timeout=stage.timeout)
    stop_time_s = await stage.stop_time_s(uid)  # back at work on the old version
    stage.say(f"the devices stopped for {stop_time_s:.2f} s")

    await stage.admin.call("POST", f"/updates/{uid}/support-report", {})
    report = await stage.admin.wait_for(
        "the report accepted by support", lambda: stage.admin.call(
            "GET", f"/updates/{uid}/support-report"),
        lambda r: r["status"] == "delivered", timeout=stage.timeout)
    received = stage.env.support_reports()
    stage.say(f"report delivered to support after {report['attempts']} attempt(s)")

    try:
        await stage.admin.open_update(stage.site_id, stage.env.release.product)
        retry_refused = False
    except AdminError as refusal:
        retry_refused = True
        stage.say(f"a new attempt is refused until support resolves it: {refusal}")
    update = await stage.admin.update(uid)
    return {
        "saga_state": update["state"],
        "banner": banner["state"],
        "devices_total": devices,
        "devices_error_update_delivered": fleet.snapshot().error_received,
        "devices_unblocked": sum(1 for d in grid["devices"] if not d["blocked"]),
        "support_report_attempts": report["attempts"],
        "support_reports_received": len(received),
        "retry_refused": retry_refused,
        "exit_code": failure.get("exit_code"),
        "stop_time_s": stop_time_s,
        "report_stop_time_s": (received[-1].get("stop_time") or {}).get("seconds")
        if received else None,
    }


def install_failure_ok(r: dict[str, Any]) -> bool:
    n = r["devices_total"]
    return (r["saga_state"] == "failed" and r["banner"] == "red"
            and r["devices_error_update_delivered"] == n and r["devices_unblocked"] == n
            and r["support_reports_received"] >= 1 and r["retry_refused"]
            and (r["stop_time_s"] or 0) > 0 and r["report_stop_time_s"] == r["stop_time_s"])
