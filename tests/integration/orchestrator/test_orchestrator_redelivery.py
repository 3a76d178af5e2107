"""At-least-once delivery: a redelivered event has no second effect (X3); the failure path
(U12) holds the site until support resolves it."""

from __future__ import annotations

import pytest

from lockstep_shared.catalogue import (
    DeviceRegistered,
    DeviceVersionReported,
    InstallFailed,
    InstallSucceeded,
)

from .conftest import SITE_BODY, Harness, downloaded

pytestmark = pytest.mark.integration
OPEN = {"product": "shop", "backups_confirmed": True}


async def in_phase_2(h: Harness) -> str:
    await h.client.post("/api/v1/sites", json=SITE_BODY)
    await h.deliver(h.watcher, downloaded())
    uid = (await h.client.post("/api/v1/sites/shop-1/updates", json=OPEN)).json()["update_id"]
    await h.client.post(f"/api/v1/updates/{uid}/start-notifications")
    assert (await h.client.post(f"/api/v1/updates/{uid}/server-update")).status_code == 202
    await h.outbox()
    return uid


async def test_redelivered_device_event_has_no_double_effect(harness: Harness) -> None:
    h = harness
    await h.client.post("/api/v1/sites", json=SITE_BODY)
    registered = await h.deliver(h.gateway, DeviceRegistered(
        site_id="shop-1", serial="IMEI9", model="TC52", app_version="03.01.00_030",
        registered_at=h.clock()))
    await h.deliver(h.gateway, DeviceVersionReported(
        site_id="shop-1", serial="IMEI9", app_version="03.01.00_031", reported_at=h.clock()))
    await h.handle(registered)  # the broker delivers the registration again
    [device] = (await h.client.get("/api/v1/sites/shop-1/devices")).json()["devices"]
    assert device["app_version"] == "03.01.00_031"  # the old registration did not come back


async def test_redelivered_install_success_publishes_once(harness: Harness) -> None:
    h = harness
    uid = await in_phase_2(h)
    succeeded = await h.deliver(h.agent, InstallSucceeded(
        site_id="shop-1", update_id=uid, installed_version="03.01.00_031", duration_s=5))
    await h.handle(succeeded)
    await h.deliver(h.agent, InstallSucceeded(  # a repeat under a new id changes nothing either
        site_id="shop-1", update_id=uid, installed_version="03.01.00_031", duration_s=5))
    assert await h.outbox_types() == ["lockstep.update.server-updated"]


async def test_install_failure_is_red_until_resolved(harness: Harness) -> None:
    h = harness
    uid = await in_phase_2(h)
    await h.deliver(h.agent, InstallFailed(site_id="shop-1", update_id=uid,
                                           reason="installer exited with code 3", exit_code=3,
                                           log_tail="E: disk full"))
    [failed] = await h.outbox()
    assert failed.type == "lockstep.update.failed" and failed.causationid is not None
    update = (await h.client.get(f"/api/v1/updates/{uid}")).json()
    assert update["state"] == "failed" and update["phase"] is None
    assert update["failure"] == {"reason": "installer exited with code 3", "exit_code": 3,
                                 "log_tail": "E: disk full"}
    banner = (await h.client.get("/api/v1/sites/shop-1/banner")).json()
    assert (banner["state"], banner["colour"]) == ("red", "red")
    again = await h.client.post("/api/v1/sites/shop-1/updates", json=OPEN)
    assert again.status_code == 409 and "support must resolve it" in again.json()["detail"]
    reactivated = await h.client.post(f"/api/v1/updates/{uid}/error-notifications")
    assert reactivated.status_code == 202
    [error_push] = await h.outbox()
    assert error_push.data.kind == "error"  # type: ignore[union-attr]


async def test_concurrent_release_events_never_lose_the_download(harness: Harness) -> None:
    """The watcher's events are consumed concurrently (prefetch): a late progress event racing
    "downloaded" must not leave the banner at "downloading" (found in the e2e runs)."""
    import asyncio

    from lockstep_shared.catalogue import ReleaseDownloadProgressed

    from .conftest import SITE_BODY, downloaded

    h = harness
    assert (await h.client.post("/api/v1/sites", json=SITE_BODY)).status_code == 201
    for n in range(31, 43):
        version = f"03.01.00_0{n}"
        progress = ReleaseDownloadProgressed(site_id="shop-1", product="shop", version=version,
                                             received_bytes=99, total_bytes=100)
        await asyncio.gather(h.deliver(h.watcher, progress),
                             h.deliver(h.watcher, downloaded(version=version)),
                             h.deliver(h.watcher, progress))
        banner = (await h.client.get("/api/v1/sites/shop-1/banner")).json()
        assert (banner["state"], banner["version"]) == ("green", version), banner
