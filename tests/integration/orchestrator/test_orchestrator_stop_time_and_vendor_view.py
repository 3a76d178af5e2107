"""Issue 14: the grid shows the package staged per device and each update's stop time is
measured from the devices' own events (§2); the vendor's view across sites, for support only
(§3): sites with failed updates first, filters, CSV, one release's way through the fleet."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest

from lockstep_shared.catalogue import (
    DeviceNotificationDelivered,
    DevicePackageStaged,
    DeviceRegistered,
    DeviceVersionReported,
    EntitlementChecked,
    InstallFailed,
    InstallStarted,
    InstallSucceeded,
)

from .conftest import SHA, SITE_BODY, Harness, downloaded, package
from .test_orchestrator_update_flow import SERIALS, hand_in, prepared_site

pytestmark = pytest.mark.integration
NEW = "03.01.00_031"


async def through_phase_two(h: Harness) -> str:
    """An update whose devices were blocked 10 s apart and whose server was updated."""
    c = h.client
    uid = (await c.post("/api/v1/sites/shop-1/updates",
                        json={"product": "shop", "backups_confirmed": True})).json()["update_id"]
    await c.post(f"/api/v1/updates/{uid}/start-notifications", json={"serials": None})
    for serial in SERIALS:
        await hand_in(h, serial, uid)
        h.clock.advance(10)
    assert (await c.post(f"/api/v1/updates/{uid}/server-update", json={})).status_code == 202
    await h.deliver(h.agent, InstallStarted(site_id="shop-1", update_id=uid,
                                            started_at=h.clock()))
    return uid


async def test_the_grid_shows_the_package_staged(harness: Harness) -> None:
    h = harness
    await prepared_site(h)
    await h.deliver(h.gateway, DevicePackageStaged(
        site_id="shop-1", serial=SERIALS[0], product="shop", version=NEW, sha256=SHA,
        staged_at=h.clock()))
    rows = {d["serial"]: d for d in
            (await h.client.get("/api/v1/sites/shop-1/devices")).json()["devices"]}
    assert (rows[SERIALS[0]]["package_staged"], rows[SERIALS[0]]["staged_version"]) == (
        True, NEW)
    assert not rows[SERIALS[1]]["package_staged"] and rows[SERIALS[1]]["staged_version"] is None


async def test_the_stop_time_runs_from_the_first_block_to_the_last_device_back(
    harness: Harness
) -> None:
    h, c = harness, harness.client
    await prepared_site(h)
    first_block = h.clock()
    uid = await through_phase_two(h)
    view = (await c.get(f"/api/v1/updates/{uid}")).json()
    assert view["stop_time"]["first_blocked_at"] is not None and not view["stop_time"]["complete"]
    assert view["stop_time"]["seconds"] is None  # nobody back yet
    await h.deliver(h.agent, InstallSucceeded(site_id="shop-1", update_id=uid,
                                              installed_version=NEW, duration_s=5))
    early = h.clock()  # a version report before END is not "back at work after the update"
    await h.deliver(h.gateway, DeviceVersionReported(site_id="shop-1", serial=SERIALS[0],
                                                     app_version=NEW, reported_at=early))
    assert (await c.get(f"/api/v1/updates/{uid}")).json()["stop_time"]["seconds"] is None
    await c.post(f"/api/v1/updates/{uid}/end-notifications", json={"serials": None})
    for seconds, serial in ((40, SERIALS[1]), (30, SERIALS[0])):
        await h.deliver(h.gateway, DeviceVersionReported(
            site_id="shop-1", serial=serial, app_version=NEW,
            reported_at=first_block + timedelta(seconds=seconds)))
    running = (await c.get(f"/api/v1/updates/{uid}")).json()["stop_time"]
    assert (running["seconds"], running["complete"]) == (40.0, False)

    await h.deliver(h.gateway, DeviceVersionReported(
        site_id="shop-1", serial=SERIALS[2], app_version=NEW,
        reported_at=first_block + timedelta(seconds=55)))
    done = (await c.get(f"/api/v1/updates/{uid}")).json()["stop_time"]
    assert (done["seconds"], done["complete"]) == (55.0, True)
    history = (await c.get("/api/v1/audit?site_id=shop-1&action=update.devices_back_at_work"
                           )).json()["entries"]
    [entry] = [e for e in history if e["update_id"] == uid]
    assert entry["details"]["stop_time_s"] == 55.0 and entry["details"]["devices"] == 3

    await h.deliver(h.gateway, DeviceVersionReported(  # reported again later: measured already
        site_id="shop-1", serial=SERIALS[2], app_version=NEW,
        reported_at=first_block + timedelta(seconds=500)))
    assert (await c.get(f"/api/v1/updates/{uid}")).json()["stop_time"]["seconds"] == 55.0


async def test_the_platform_update_stop_time_ends_when_the_devices_resume_after_end(
    harness: Harness
) -> None:
    """R8: the platform's update gives the devices nothing to install, so they keep their app
    version; each one is back at work once it acknowledged END UPDATE, and the stop time is
    complete when no enabled device is still blocked (it used to wait forever for a device
    to report the platform's version)."""
    h, c = harness, harness.client
    body = {**SITE_BODY, "products": [{"product": "shop", "version": "03.01.00_030"},
                                      {"product": "platform", "version": "05.00"}]}
    assert (await c.post("/api/v1/sites", json=body)).status_code == 201
    platform = package("05.01").model_copy(update={"product": "platform"})
    await h.deliver(h.watcher, downloaded(version="05.01").model_copy(
        update={"product": "platform", "package": platform}))
    for serial in SERIALS:
        await h.deliver(h.gateway, DeviceRegistered(
            site_id="shop-1", serial=serial, model="TC52", app_version="03.01.00_030",
            registered_at=h.clock()))
    first_block = h.clock()
    uid = (await c.post("/api/v1/sites/shop-1/updates",
                        json={"product": "platform", "backups_confirmed": True})).json()[
        "update_id"]
    await c.post(f"/api/v1/updates/{uid}/start-notifications", json={"serials": None})
    for serial in SERIALS:
        await hand_in(h, serial, uid)
    assert (await c.post(f"/api/v1/updates/{uid}/server-update", json={})).status_code == 202
    await h.deliver(h.agent, InstallStarted(site_id="shop-1", update_id=uid,
                                            started_at=h.clock()))
    await h.deliver(h.agent, InstallSucceeded(site_id="shop-1", update_id=uid,
                                              installed_version="05.01", duration_s=5))
    await c.post(f"/api/v1/updates/{uid}/end-notifications", json={"serials": None})

    async def end_acknowledged(serial: str, seconds: int) -> dict[str, object]:
        await h.deliver(h.gateway, DeviceNotificationDelivered(
            site_id="shop-1", update_id=uid, serial=serial, kind="end",
            delivered_at=first_block + timedelta(seconds=seconds)))
        return (await c.get(f"/api/v1/updates/{uid}")).json()["stop_time"]  # type: ignore[no-any-return]

    running = await end_acknowledged(SERIALS[1], 70)
    assert (running["seconds"], running["complete"]) == (70.0, False)
    await end_acknowledged(SERIALS[0], 60)
    done = await end_acknowledged(SERIALS[2], 80)
    assert (done["seconds"], done["complete"]) == (80.0, True)
    grid = (await c.get("/api/v1/sites/shop-1/devices")).json()
    assert [(d["blocked"], d["app_version"], d["notes"]) for d in grid["devices"]] == [
        (False, "03.01.00_030", "resumed_nothing_to_install")] * 3
    history = (await c.get("/api/v1/audit", params={
        "update_id": uid, "action": "update.devices_back_at_work"})).json()["entries"]
    assert [e["details"]["stop_time_s"] for e in history] == [80.0]


async def test_a_product_update_waits_for_the_new_version_not_for_end(harness: Harness) -> None:
    """The END acknowledgement of an update that installs on the devices is not being back
    at work: the device still has to install and report the new version."""
    h, c = harness, harness.client
    await prepared_site(h)
    uid = await through_phase_two(h)
    await h.deliver(h.agent, InstallSucceeded(site_id="shop-1", update_id=uid,
                                              installed_version=NEW, duration_s=5))
    await c.post(f"/api/v1/updates/{uid}/end-notifications", json={"serials": None})
    for serial in SERIALS:
        await h.deliver(h.gateway, DeviceNotificationDelivered(
            site_id="shop-1", update_id=uid, serial=serial, kind="end",
            delivered_at=h.clock()))
    stop = (await c.get(f"/api/v1/updates/{uid}")).json()["stop_time"]
    assert (stop["seconds"], stop["complete"]) == (None, False)
    assert all(d["blocked"] for d in
               (await c.get("/api/v1/sites/shop-1/devices")).json()["devices"])


async def three_sites(h: Harness) -> str:
    """shop-1: the release downloaded (green); shop-2: its update to it failed, report sent;
    shop-3: subscription inactive, on an older version. Returns shop-2's update id."""
    c = h.client
    for site_id, name in (("shop-1", "Shop One"), ("shop-2", "Bakery Two"),
                          ("shop-3", "Shop Three")):
        body = {**SITE_BODY, "site_id": site_id, "name": name}
        if site_id == "shop-2":
            body["time_zone"] = "Europe/Rome"  # its times are read in its own zone
        assert (await c.post("/api/v1/sites", json=body)).status_code == 201
    for site_id in ("shop-1", "shop-2"):
        await h.deliver(h.watcher, downloaded(site_id))
    await h.deliver(h.watcher, EntitlementChecked(site_id="shop-3", active=False,
                                                  reason="expired", checked_at=h.clock()))
    uid = (await c.post("/api/v1/sites/shop-2/updates",
                        json={"product": "shop", "backups_confirmed": True})).json()["update_id"]
    assert (await c.post(f"/api/v1/updates/{uid}/server-update",
                         json={})).status_code == 202  # no device: nobody to wait for
    h.clock.advance(90)  # the install fails 90 s after the update was opened
    await h.deliver(h.agent, InstallFailed(site_id="shop-2", update_id=uid,
                                           reason="installer exited 3", exit_code=3))
    assert (await c.post(f"/api/v1/updates/{uid}/support-report")).status_code == 202
    return uid


async def test_the_vendor_view_is_for_vendor_support_only(harness: Harness) -> None:
    h = harness
    await h.create_user("vera", "support")
    for path in ("/api/v1/vendor/sites", "/api/v1/vendor/sites.csv",
                 "/api/v1/vendor/failed-updates", f"/api/v1/vendor/releases/shop/{NEW}"):
        refused = await h.client.get(path)  # anna: admin of every site, not the vendor
        assert refused.status_code == 403, (path, refused.text)
        assert (await h.client.get(path, headers=await h.login("vera"))).status_code == 200


async def test_support_sees_every_site_failed_first_with_filters_and_csv(
    harness: Harness
) -> None:
    h = harness
    uid = await three_sites(h)
    await h.create_user("vera", "support")
    vera = await h.login("vera")

    async def sites(query: str = "") -> list[dict[str, object]]:
        answer = await h.client.get(f"/api/v1/vendor/sites{query}", headers=vera)
        assert answer.status_code == 200, answer.text
        return answer.json()["sites"]  # type: ignore[no-any-return]

    listed = await sites()
    assert [s["site_id"] for s in listed] == ["shop-2", "shop-1", "shop-3"]  # failed first
    failed, green, inactive = listed
    assert (failed["banner"], failed["update_id"], failed["update_state"]) == (
        "red", uid, "failed")
    assert failed["waiting_for_support_since"] is not None
    assert (failed["time_zone"], green["time_zone"]) == ("Europe/Rome", "UTC")
    assert green["banner"] == "green" and green["products"] == [
        {"product": "shop", "version": "03.01.00_030", "next_version": NEW,
         "next_status": "downloaded"}]
    assert green["last_check"] is not None
    assert (inactive["subscription_active"], inactive["subscription_reason"]) == (
        False, "expired")

    assert [s["site_id"] for s in await sites("?banner=green")] == ["shop-1"]
    assert [s["site_id"] for s in await sites("?subscription=inactive")] == ["shop-3"]
    assert [s["site_id"] for s in await sites("?failed=true")] == ["shop-2"]
    assert [s["site_id"] for s in await sites("?q=bakery")] == ["shop-2"]
    assert await sites("?product=other") == []
    assert len(await sites("?product=shop&version=03.01.00_030")) == 3
    bad = await h.client.get("/api/v1/vendor/sites?banner=purple", headers=vera)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"

    exported = await h.client.get("/api/v1/vendor/sites.csv?subscription=active", headers=vera)
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["site_id"] for r in rows] == ["shop-2", "shop-1"]
    assert rows[1]["products"] == f"shop=03.01.00_030->{NEW}" and rows[1]["banner"] == "green"


async def test_a_release_across_the_fleet_and_the_failed_updates_with_their_report(
    harness: Harness
) -> None:
    h = harness
    uid = await three_sites(h)
    await h.create_user("vera", "support")
    vera = await h.login("vera")

    release = (await h.client.get(f"/api/v1/vendor/releases/shop/{NEW}", headers=vera)).json()
    assert release["counts"] == {"on_it": 0, "past_it": 0, "updating": 0, "failed": 1,
                                 "offered": 1, "not_yet_offered": 1}
    assert release["sites"]["failed"] == ["shop-2"]
    assert release["sites"]["offered"] == ["shop-1"]
    assert release["sites"]["not_yet_offered"] == ["shop-3"]
    older = (await h.client.get("/api/v1/vendor/releases/shop/03.01.00_030",
                                headers=vera)).json()
    assert older["counts"]["on_it"] == 3

    [failed] = (await h.client.get("/api/v1/vendor/failed-updates",
                                   headers=vera)).json()["failed_updates"]
    assert (failed["site_id"], failed["update_id"], failed["to_version"]) == ("shop-2", uid, NEW)
    assert (failed["reason"], failed["exit_code"]) == ("installer exited 3", 3)
    assert failed["report"]["update_id"] == uid
    # the harness configures no support endpoint: the report is never delivered, and says so
    # (as the site's own view of it does) instead of "pending"
    assert (failed["report_status"], failed["report_attempts"]) == ("no_support_endpoint", 0)
    site_view = (await h.client.get(f"/api/v1/updates/{uid}/support-report")).json()
    assert site_view["status"] == failed["report_status"]
    # since when it waits for support: the failure, not the opening of the update
    update = (await h.client.get(f"/api/v1/updates/{uid}")).json()
    waited = datetime.fromisoformat(failed["failed_at"]) - datetime.fromisoformat(
        update["opened_at"])
    assert waited == timedelta(seconds=90)

