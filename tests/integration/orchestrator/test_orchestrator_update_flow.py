"""The whole coordinated update through the admin API, with simulated device, watcher and
installer events (U2-U4, U6, U8, U9, U11, N1)."""

from __future__ import annotations

from datetime import datetime

import pytest

from lockstep_shared.catalogue import (
    AgentHeartbeat,
    DeviceBlocked,
    DeviceDataHandedIn,
    DeviceNotificationDelivered,
    DeviceNotificationNotDelivered,
    DeviceRegistered,
    DeviceUnblocked,
    DeviceVersionReported,
    InstallProgressed,
    InstallStarted,
    InstallSucceeded,
)

from .conftest import SITE_BODY, Harness, downloaded

pytestmark = pytest.mark.integration
SERIALS = ("IMEI0001", "IMEI0002", "IMEI0003")


async def prepared_site(h: Harness) -> None:
    assert (await h.client.post("/api/v1/sites", json=SITE_BODY)).status_code == 201
    await h.deliver(h.watcher, downloaded())
    for n, serial in enumerate(SERIALS, start=1):
        await h.deliver(h.gateway, DeviceRegistered(
            site_id="shop-1", serial=serial, model="TC52", operator_code=f"OP{n}",
            operator_name=f"Operator {n}", operator_phone=f"+39000{n}",
            app_version="03.01.00_030", registered_at=h.clock()))
    await h.outbox()


async def hand_in(h: Harness, serial: str, update_id: str) -> None:
    await h.deliver(h.gateway, DeviceNotificationDelivered(
        site_id="shop-1", update_id=update_id, serial=serial, kind="start",
        delivered_at=h.clock()))
    blocked_at = h.clock()
    await h.deliver(h.gateway, DeviceBlocked(site_id="shop-1", update_id=update_id,
                                             serial=serial, blocked_at=blocked_at))
    await h.deliver(h.gateway, DeviceDataHandedIn(site_id="shop-1", serial=serial,
                                                  update_id=update_id, synced_at=h.clock(),
                                                  blocked_at=blocked_at))


async def test_a_whole_update(harness: Harness) -> None:
    h = harness
    c = h.client
    await prepared_site(h)

    # U2: backups must be confirmed; then the update opens (phase 1, nobody notified yet).
    refused = await c.post("/api/v1/sites/shop-1/updates", json={"product": "shop"})
    assert refused.status_code == 422 and "backups" in refused.json()["detail"]
    opened = await c.post("/api/v1/sites/shop-1/updates",
                          json={"product": "shop", "backups_confirmed": True})
    assert opened.status_code == 201, opened.text
    update = opened.json()
    uid = update["update_id"]
    assert (update["state"], update["phase"], update["from_version"], update["to_version"]) == (
        "open", 1, "03.01.00_030", "03.01.00_031")
    assert update["fleet"]["enabled"] == 3
    [opened_event] = await h.outbox()
    assert opened_event.type == "lockstep.update.opened"
    assert opened_event.correlationid == uid
    assert (await c.get("/api/v1/sites/shop-1/updates/current")).json()["update_id"] == uid
    assert (await c.get("/api/v1/sites/shop-1/banner")).json()["state"] == "green"

    # U4: START to everyone; the grid shows each device's outcome.
    started = await c.post(f"/api/v1/updates/{uid}/start-notifications", json={"serials": None})
    assert started.status_code == 202
    [request] = await h.outbox()
    assert request.data.kind == "start" and request.data.serials is None  # type: ignore[union-attr]
    assert request.data.request_id == started.json()["request_id"]  # type: ignore[union-attr]
    banner = (await c.get("/api/v1/sites/shop-1/banner")).json()
    assert (banner["state"], banner["colour"]) == ("update_in_progress", "yellow")
    assert (await c.post(f"/api/v1/updates/{uid}/cancellation")).status_code == 409

    await hand_in(h, SERIALS[0], uid)
    await hand_in(h, SERIALS[1], uid)
    await h.deliver(h.gateway, DeviceNotificationNotDelivered(
        site_id="shop-1", update_id=uid, serial=SERIALS[2], kind="start",
        reason="device not connected"))
    grid = (await c.get("/api/v1/sites/shop-1/devices")).json()
    rows = {d["serial"]: d for d in grid["devices"]}
    assert rows[SERIALS[0]]["notification_outcome"] == "delivered"
    assert rows[SERIALS[0]]["notification_sent"] and rows[SERIALS[0]]["blocked"]
    assert rows[SERIALS[0]]["waiting_for_update"] and rows[SERIALS[0]]["last_sync"]
    assert rows[SERIALS[0]]["operator_name"] == "Operator 1"
    assert rows[SERIALS[2]]["notification_outcome"] == "not_delivered"
    assert rows[SERIALS[2]]["notification_note"] == "device not connected"
    assert grid["counts"] == {"enabled": 3, "notified": 3, "delivered": 2, "blocked": 2,
                              "waiting": 2, "on_target": 0}

    # U6: the server update waits for every enabled device.
    early = await c.post(f"/api/v1/updates/{uid}/server-update", json={})
    assert early.status_code == 409
    assert "1 of 3 enabled devices are not waiting" in early.json()["detail"]

    again = await c.post(f"/api/v1/updates/{uid}/start-notifications",
                         json={"serials": [SERIALS[2]]})
    assert again.status_code == 202
    [again_request] = await h.outbox()
    assert again_request.data.serials == (SERIALS[2],)  # type: ignore[union-attr]
    pending = (await c.get("/api/v1/sites/shop-1/devices")).json()["devices"][2]
    assert pending["notification_outcome"] == "pending"
    await hand_in(h, SERIALS[2], uid)

    phase2 = await c.post(f"/api/v1/updates/{uid}/server-update", json={})
    assert phase2.status_code == 202, phase2.text
    assert (phase2.json()["state"], phase2.json()["phase"]) == ("server_updating", 2)
    started_event, install = await h.outbox()
    assert started_event.type == "lockstep.update.server-update-started"
    assert started_event.data.waiting_serials == SERIALS  # type: ignore[union-attr]
    assert install.type == "lockstep.install.requested"
    assert install.routing_key == "lockstep.install.requested.shop-1"
    assert install.data.package.sha256 == "e" * 64  # type: ignore[union-attr]
    assert (await c.post(f"/api/v1/updates/{uid}/start-notifications")).status_code == 409
    assert (await c.post(f"/api/v1/updates/{uid}/end-notifications")).status_code == 409

    # U8: progress and heartbeat; a silent agent is "not responding", not failed.
    await h.deliver(h.agent, InstallStarted(site_id="shop-1", update_id=uid,
                                            started_at=h.clock()))
    await h.deliver(h.agent, InstallProgressed(site_id="shop-1", update_id=uid,
                                               line="migrating database", percent=50))
    h.clock.advance(30)
    await h.deliver(h.agent, AgentHeartbeat(site_id="shop-1", update_id=uid, at=h.clock()))
    agent = (await c.get(f"/api/v1/updates/{uid}")).json()["agent"]
    assert agent["last_progress"] == "migrating database" and agent["last_percent"] == 50
    assert agent["last_heartbeat"] is not None and not agent["not_responding"]
    h.clock.advance(61)
    silent = (await c.get(f"/api/v1/updates/{uid}")).json()
    assert silent["agent"]["not_responding"] and silent["state"] == "server_updating"

    # Phase 3: the installer succeeded.
    await h.deliver(h.agent, InstallSucceeded(site_id="shop-1", update_id=uid,
                                              installed_version="03.01.00_031", duration_s=91))
    [server_updated] = await h.outbox()
    assert server_updated.type == "lockstep.update.server-updated"
    banner = (await c.get("/api/v1/sites/shop-1/banner")).json()
    assert (banner["state"], banner["colour"]) == ("server_updated", "green")
    site = (await c.get("/api/v1/sites/shop-1")).json()
    assert site["products"] == [{"product": "shop", "version": "03.01.00_031"}]
    update = (await c.get(f"/api/v1/updates/{uid}")).json()
    assert (update["state"], update["phase"], update["devices_released"]) == (
        "server_updated", 3, False)

    # U9: END releases the devices (once); again to one device.
    ended = await c.post(f"/api/v1/updates/{uid}/end-notifications", json={"serials": None})
    assert ended.status_code == 202
    assert await h.outbox_types() == ["lockstep.update.devices-released",
                                      "lockstep.device.notification-requested"]
    await c.post(f"/api/v1/updates/{uid}/end-notifications", json={"serials": [SERIALS[1]]})
    assert await h.outbox_types() == ["lockstep.device.notification-requested"]
    assert (await c.get(f"/api/v1/updates/{uid}")).json()["devices_released"]

    for serial in SERIALS[:2]:
        await h.deliver(h.gateway, DeviceVersionReported(
            site_id="shop-1", serial=serial, app_version="03.01.00_031", reported_at=h.clock()))
    # a device that reported the new version is working again: neither blocked nor waiting
    back = {d["serial"]: d for d in (await c.get("/api/v1/sites/shop-1/devices")).json()[
        "devices"]}
    for serial in SERIALS[:2]:
        assert (back[serial]["blocked"], back[serial]["waiting_for_update"],
                back[serial]["notes"]) == (False, False, "updated")
    assert (back[SERIALS[2]]["blocked"], back[SERIALS[2]]["waiting_for_update"]) == (True, True)
    assert back[SERIALS[0]]["last_contact"] is not None
    updated = (await c.get("/api/v1/sites/shop-1/devices?filter=updated")).json()
    not_updated = (await c.get("/api/v1/sites/shop-1/devices?filter=not_updated")).json()
    assert [d["serial"] for d in updated["devices"]] == list(SERIALS[:2])
    assert [d["serial"] for d in not_updated["devices"]] == [SERIALS[2]]
    assert not_updated["devices"][0]["on_target_version"] is False
    assert (await c.get("/api/v1/sites/shop-1/devices?filter=some")).status_code == 422

    # U11: concluding with a device not updated warns first.
    warned = await c.post(f"/api/v1/updates/{uid}/conclusion", json={})
    assert warned.status_code == 409
    assert "1 of 3 enabled devices are not on version" in warned.json()["detail"]
    done = await c.post(f"/api/v1/updates/{uid}/conclusion", json={"confirm_not_updated": True})
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "concluded" and done.json()["concluded_at"]
    concluded, configured = await h.outbox()
    assert concluded.type == "lockstep.update.concluded"
    assert configured.data.products[0].version == "03.01.00_031"  # type: ignore[union-attr]
    assert (await c.get("/api/v1/sites/shop-1/banner")).json()["state"] == "none"
    # outside an update the counters describe now: only the late device is still blocked
    now = (await c.get("/api/v1/sites/shop-1/devices")).json()
    assert now["counts"] == {"enabled": 3, "notified": 0, "delivered": 0, "blocked": 1,
                             "waiting": 1, "on_target": 2}
    assert all(d["notification_outcome"] is None for d in now["devices"])
    assert (await c.get("/api/v1/sites/shop-1/updates/current")).status_code == 404
    assert (await c.post(f"/api/v1/updates/{uid}/end-notifications")).status_code == 409


async def test_cancel_before_start_frees_the_site(harness: Harness) -> None:
    h = harness
    await prepared_site(h)
    body = {"product": "shop", "backups_confirmed": True}
    uid = (await h.client.post("/api/v1/sites/shop-1/updates", json=body)).json()["update_id"]
    cancelled = await h.client.post(f"/api/v1/updates/{uid}/cancellation")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert await h.outbox_types() == ["lockstep.update.opened", "lockstep.update.cancelled"]
    assert (await h.client.post("/api/v1/sites/shop-1/updates", json=body)).status_code == 201


async def test_open_needs_a_downloaded_release_and_a_known_site(harness: Harness) -> None:
    h = harness
    await h.client.post("/api/v1/sites", json=SITE_BODY)
    body = {"product": "shop", "backups_confirmed": True}
    none = await h.client.post("/api/v1/sites/shop-1/updates", json=body)
    assert none.status_code == 409 and "no downloaded release" in none.json()["detail"]
    unknown = await h.client.post("/api/v1/sites/nope/updates", json=body)
    assert unknown.status_code == 404
    assert (await h.client.get("/api/v1/updates/nope")).status_code == 404
    assert (await h.client.post("/api/v1/updates/nope/server-update")).status_code == 404


async def test_waiting_for_update_means_blocked_then_handed_in(harness: Harness) -> None:
    """Issue 9 §1: only a device blocked for the update that handed in after blocking counts
    as waiting (the gateway says so in the hand-in: the update and the block it follows)."""
    h = harness
    c = h.client
    await prepared_site(h)
    uid = (await c.post("/api/v1/sites/shop-1/updates",
                        json={"product": "shop", "backups_confirmed": True})).json()["update_id"]

    async def waiting() -> dict[str, bool]:
        grid = (await c.get("/api/v1/sites/shop-1/devices")).json()["devices"]
        return {d["serial"]: d["waiting_for_update"] for d in grid}

    # Normal work, before and after START: the sync counts (last sync), nobody is waiting.
    await h.deliver(h.gateway, DeviceDataHandedIn(site_id="shop-1", serial=SERIALS[0],
                                                  update_id=None, synced_at=h.clock()))
    assert not any((await waiting()).values())
    await c.post(f"/api/v1/updates/{uid}/start-notifications")
    for serial in SERIALS:
        await h.deliver(h.gateway, DeviceDataHandedIn(site_id="shop-1", serial=serial,
                                                      update_id=None, synced_at=h.clock()))
    # a hand-in naming the update without a block behind it, and one of another update
    await h.deliver(h.gateway, DeviceDataHandedIn(site_id="shop-1", serial=SERIALS[1],
                                                  update_id=uid, synced_at=h.clock()))
    await h.deliver(h.gateway, DeviceDataHandedIn(site_id="shop-1", serial=SERIALS[2],
                                                  update_id="another-update",
                                                  synced_at=h.clock(), blocked_at=h.clock()))
    assert not any((await waiting()).values())
    grid = (await c.get("/api/v1/sites/shop-1/devices")).json()["devices"]
    assert all(d["last_sync"] for d in grid)

    # Blocked, then handed in: waiting; the hand-in may even overtake its DeviceBlocked.
    await hand_in(h, SERIALS[0], uid)
    overtaking = h.clock()
    await h.deliver(h.gateway, DeviceDataHandedIn(site_id="shop-1", serial=SERIALS[1],
                                                  update_id=uid, synced_at=h.clock(),
                                                  blocked_at=overtaking))
    await h.deliver(h.gateway, DeviceBlocked(site_id="shop-1", update_id=uid,
                                             serial=SERIALS[1], blocked_at=overtaking))
    assert await waiting() == {SERIALS[0]: True, SERIALS[1]: True, SERIALS[2]: False}

    # A device registered in the middle of phase 1 joins the update and must hand in too.
    await h.deliver(h.gateway, DeviceRegistered(
        site_id="shop-1", serial="IMEI0004", model="TC52", app_version="03.01.00_030",
        registered_at=h.clock()))
    await hand_in(h, "IMEI0004", uid)
    assert (await waiting())["IMEI0004"] is True
    fleet = (await c.get(f"/api/v1/updates/{uid}")).json()["fleet"]
    assert (fleet["enabled"], fleet["blocked"], fleet["waiting"]) == (4, 3, 3)


async def test_a_plain_start_is_refused_while_a_device_that_never_blocked_is_enabled(
    harness: Harness,
) -> None:
    """Issue 9 §1: a device that handed in without blocking, or that was unblocked with codes
    after its hand-in (even when the hand-in's event arrives after the unblock), keeps the
    server update from starting unforced."""
    h = harness
    c = h.client
    await prepared_site(h)
    uid = (await c.post("/api/v1/sites/shop-1/updates",
                        json={"product": "shop", "backups_confirmed": True})).json()["update_id"]
    await c.post(f"/api/v1/updates/{uid}/start-notifications")
    await h.outbox()
    await hand_in(h, SERIALS[0], uid)
    # SERIALS[1] skipped /blocked: the gateway counts its hand-in as normal work
    await h.deliver(h.gateway, DeviceDataHandedIn(site_id="shop-1", serial=SERIALS[1],
                                                  update_id=None, synced_at=h.clock()))
    # SERIALS[2] blocked with codes, handed in, was unblocked with codes; the hand-in's
    # event comes last
    blocked_at = h.clock()
    h.clock.advance(60)
    await h.deliver(h.gateway, DeviceBlocked(site_id="shop-1", update_id=uid,
                                             serial=SERIALS[2], blocked_at=blocked_at,
                                             by_code=True))
    await h.deliver(h.gateway, DeviceUnblocked(site_id="shop-1", serial=SERIALS[2],
                                               update_id=uid, unblocked_at=h.clock(),
                                               by_code=True))
    await h.deliver(h.gateway, DeviceDataHandedIn(site_id="shop-1", serial=SERIALS[2],
                                                  update_id=uid, synced_at=blocked_at,
                                                  blocked_at=blocked_at))

    refused = await c.post(f"/api/v1/updates/{uid}/server-update", json={})
    assert refused.status_code == 409
    assert "2 of 3 enabled devices are not waiting" in refused.json()["detail"]
    rows = {d["serial"]: d for d in (await c.get("/api/v1/sites/shop-1/devices")).json()[
        "devices"]}
    assert [(rows[s]["blocked"], rows[s]["waiting_for_update"]) for s in SERIALS] == [
        (True, True), (False, False), (False, False)]

    # Blocked again, then handed in after that block: now the plain Start goes through.
    h.clock.advance(1)
    await hand_in(h, SERIALS[1], uid)
    await hand_in(h, SERIALS[2], uid)
    started = await c.post(f"/api/v1/updates/{uid}/server-update", json={})
    assert started.status_code == 202, started.text
    event, _install = await h.outbox()
    assert event.data.waiting_serials == SERIALS  # type: ignore[union-attr]


async def test_an_outcome_for_a_device_learnt_after_start_is_shown(harness: Harness) -> None:
    """START to every device reaches a device the gateway registered before it sent START but
    this orchestrator learnt of only after (the events cross): its outcome — here a START it
    fetched and never acknowledged — is shown, not dropped as "not notified"."""
    h = harness
    c = h.client
    await prepared_site(h)
    opened = await c.post("/api/v1/sites/shop-1/updates",
                          json={"product": "shop", "backups_confirmed": True})
    uid = opened.json()["update_id"]
    await h.outbox()
    assert (await c.post(f"/api/v1/updates/{uid}/start-notifications",
                         json={"serials": None})).status_code == 202
    await h.outbox()
    for serial in ("IMEI0008", "IMEI0009"):  # registered at the gateway before START went out
        await h.deliver(h.gateway, DeviceRegistered(
            site_id="shop-1", serial=serial, model="TC52", operator_code="OP9",
            operator_name="Late", operator_phone=None, app_version="03.01.00_030",
            registered_at=h.clock()))

    await h.deliver(h.gateway, DeviceNotificationNotDelivered(
        site_id="shop-1", update_id=uid, serial="IMEI0009", kind="start",
        reason="not acknowledged in time"))
    await h.deliver(h.gateway, DeviceNotificationDelivered(
        site_id="shop-1", update_id=uid, serial="IMEI0008", kind="start",
        delivered_at=h.clock()))

    rows = {d["serial"]: d for d in (await c.get("/api/v1/sites/shop-1/devices")).json()["devices"]}
    assert (rows["IMEI0009"]["notification_kind"], rows["IMEI0009"]["notification_outcome"],
            rows["IMEI0009"]["notification_note"]) == ("start", "not_delivered",
                                                       "not acknowledged in time")
    assert (rows["IMEI0008"]["notification_kind"], rows["IMEI0008"]["notification_outcome"]) == (
        "start", "delivered")
    assert rows["IMEI0008"]["notification_sent"]


async def test_the_last_contact_is_the_newest_whatever_the_order(harness: Harness) -> None:
    """Issue 13 §2: each device's last contact is its newest event's time; a late-arriving
    older event (a block that began before the hand-in) does not move it back."""
    h = harness
    c = h.client
    await prepared_site(h)
    uid = (await c.post("/api/v1/sites/shop-1/updates",
                        json={"product": "shop", "backups_confirmed": True})).json()["update_id"]
    await c.post(f"/api/v1/updates/{uid}/start-notifications", json={"serials": None})
    blocked_at = h.clock()
    h.clock.advance(60)
    handed_in_at = h.clock()
    await h.deliver(h.gateway, DeviceDataHandedIn(site_id="shop-1", serial=SERIALS[0],
                                                  update_id=uid, synced_at=handed_in_at,
                                                  blocked_at=blocked_at))
    # older news arriving later: the START acknowledged before the hand-in
    await h.deliver(h.gateway, DeviceNotificationDelivered(
        site_id="shop-1", update_id=uid, serial=SERIALS[0], kind="start",
        delivered_at=blocked_at))

    def contact(grid: dict, serial: str) -> datetime:
        [row] = [d for d in grid["devices"] if d["serial"] == serial]
        return datetime.fromisoformat(row["last_contact"])

    grid = (await c.get("/api/v1/sites/shop-1/devices")).json()
    assert contact(grid, SERIALS[0]) == handed_in_at
    assert contact(grid, SERIALS[1]) < handed_in_at  # only registered, a minute earlier
