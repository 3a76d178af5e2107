"""``confirmation-code``: the release needs the vendor's confirmation code (U13). The site
shows a 3×5-digit challenge; a wrong response is refused; the vendor's response unlocks it."""

from __future__ import annotations

from typing import Any

from lockstep_tools.demo.admin import AdminError
from lockstep_tools.demo.environment import DemoEnvironment
from lockstep_tools.demo.scenarios.stage import Stage
from lockstep_tools.vendor import confirmation_response
from lockstep_tools.vendor.repository import VendorRepository


def prepare_feed(repo: VendorRepository, env: DemoEnvironment) -> None:
    env.publish(repo, env.release.to_version, requires_confirmation_code=True)
    repo.entitle(env.license_key)


async def confirmation_code(stage: Stage) -> dict[str, Any]:
    env, devices = stage.env, stage.devices
    await stage.create_site()
    await stage.start_fleet(devices)
    await stage.banner("white")
    await stage.grid_has(devices)
    update = await stage.open_update()
    uid, challenge = update["update_id"], update["challenge"]
    stage.say(f"the site shows the challenge {challenge}; the admin calls the vendor")
    try:
        await stage.admin.call("POST", f"/updates/{uid}/confirmation-code",
                               {"response": "00000-00000-00000"})
        wrong_refused = False
    except AdminError as refusal:
        wrong_refused = True
        stage.say(f"a wrong response is refused: {refusal}")
    response = confirmation_response(env.license_key, challenge, env.release.product,
                                     env.release.to_version)
    stage.say(f"the vendor computes the response {response}")
    update = await stage.admin.call("POST", f"/updates/{uid}/confirmation-code",
                                    {"response": response})
    stage.say(f"release unlocked: the update is {update['state']}")
    await stage.phase_one(uid, devices)
    await stage.admin.start_server_update(uid)
    await stage.server_updated(uid)
    await stage.phase_three(uid, devices)
    await stage.admin.conclude(uid)
    update = await stage.admin.update(uid)
    return {
        "saga_state": update["state"],
        "devices_total": devices,
        "wrong_response_refused": wrong_refused,
        "devices_on_target_version": stage.on_version(env.release.to_version),
        "target_version": update["to_version"],
    }


def confirmation_code_ok(r: dict[str, Any]) -> bool:
    return (r["saga_state"] == "concluded" and r["wrong_response_refused"]
            and r["devices_on_target_version"] == r["devices_total"])
