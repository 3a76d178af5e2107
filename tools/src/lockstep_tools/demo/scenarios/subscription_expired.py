"""``subscription-expired``: the vendor's subscription for the site's licence has expired
(R4): nothing is offered, the status is visible, and no update can be opened."""

from __future__ import annotations

from datetime import date
from typing import Any

from lockstep_tools.demo.admin import AdminError
from lockstep_tools.demo.environment import DemoEnvironment
from lockstep_tools.demo.scenarios.stage import Stage
from lockstep_tools.vendor.repository import VendorRepository


def prepare_feed(repo: VendorRepository, env: DemoEnvironment) -> None:
    env.publish(repo, env.release.to_version)
    repo.entitle(env.license_key, until=date(2020, 1, 1))


async def subscription_expired(stage: Stage) -> dict[str, Any]:
    await stage.create_site()
    site = await stage.admin.wait_for(
        "the entitlement answer", lambda: stage.admin.call("GET", f"/sites/{stage.site_id}"),
        lambda s: (s.get("entitlement") or {}).get("checked_at") is not None,
        timeout=stage.timeout)
    entitlement = site["entitlement"]
    stage.say(f"entitlement: active={entitlement['active']} ({entitlement['reason']})")
    banner = await stage.admin.banner(stage.site_id)
    offered = [r for r in site.get("releases", []) if r.get("version")
               and r.get("status") in ("available", "downloading", "downloaded")]
    try:
        await stage.admin.open_update(stage.site_id, stage.env.release.product)
        refused = False
    except AdminError as refusal:
        refused = True
        stage.say(f"opening an update is refused: {refusal}")
    current = await stage.admin.call("GET", f"/sites/{stage.site_id}/updates/current",
                                     ok=(200, 404))
    return {
        "saga_state": (current or {}).get("state", "none"),
        "entitlement_active": entitlement["active"],
        "entitlement_reason": entitlement["reason"],
        "releases_offered": len(offered),
        "banner": banner["state"],
        "update_refused": refused,
    }


def subscription_expired_ok(r: dict[str, Any]) -> bool:
    return (r["saga_state"] == "none" and r["entitlement_active"] is False
            and r["releases_offered"] == 0 and r["update_refused"])
