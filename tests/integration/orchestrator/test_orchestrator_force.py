"""U7 force by double authorization, U10 disabling devices, U5/D8 manual codes proxied to the
gateway's internal API — through the admin API."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from lockstep_shared.catalogue import DeviceBlocked, DeviceDataHandedIn, DeviceRegistered

from .conftest import PASSWORD, SITE_BODY, Harness, downloaded

pytestmark = pytest.mark.integration
OPEN = {"product": "shop", "backups_confirmed": True}


@pytest.fixture
def database_url(tmp_path: Path) -> str:  # PostgreSQL runs the same handlers elsewhere
    return f"sqlite:///{tmp_path / 'orchestrator.db'}"


async def phase_1_with_one_device_waiting(h: Harness) -> str:
    c = h.client
    await c.post("/api/v1/sites", json=SITE_BODY)
    await h.deliver(h.watcher, downloaded())
    for serial in ("IMEI1", "IMEI2"):
        await h.deliver(h.gateway, DeviceRegistered(
            site_id="shop-1", serial=serial, model="TC52", app_version="03.01.00_030",
            registered_at=h.clock()))
    uid = (await c.post("/api/v1/sites/shop-1/updates", json=OPEN)).json()["update_id"]
    await c.post(f"/api/v1/updates/{uid}/start-notifications")
    await h.deliver(h.gateway, DeviceDataHandedIn(site_id="shop-1", serial="IMEI1",
                                                  update_id=uid, synced_at=h.clock(),
                                                  blocked_at=h.clock()))
    await h.outbox()
    return uid


async def test_the_only_admin_forces_with_his_password_re_entered(harness: Harness) -> None:
    h = harness
    c = h.client
    uid = await phase_1_with_one_device_waiting(h)
    assert (await c.post(f"/api/v1/updates/{uid}/server-update")).status_code == 409
    assert (await c.post(f"/api/v1/updates/{uid}/force-approvals")).status_code == 409
    requested = await c.post(f"/api/v1/updates/{uid}/force-requests", json={})
    assert requested.status_code == 202
    assert requested.json()["force_request"]["requested_by"] == "anna"
    assert requested.json()["update"]["site_admins"] == 1  # the console offers the password
    alone = await c.post(f"/api/v1/updates/{uid}/force-approvals", json={})
    assert alone.status_code == 403 and "re-entering your password" in alone.text
    wrong = await c.post(f"/api/v1/updates/{uid}/force-approvals",
                         json={"password": "not my password"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "wrong_credentials"
    assert "WWW-Authenticate" not in wrong.headers  # the console keeps the admin signed in
    forced = await c.post(f"/api/v1/updates/{uid}/force-approvals",
                          json={"password": PASSWORD})
    assert forced.status_code == 202, forced.text
    assert forced.json()["forced"] and forced.json()["authorized_by"] == [
        "anna", "anna (single admin, password re-entered)"]
    started, _install = await h.outbox()
    assert started.data.forced and started.data.waiting_serials == ("IMEI1",)  # type: ignore[union-attr]
    [approval] = (await c.get("/api/v1/audit", params={
        "action": "update.force_approval", "update_id": uid})).json()["entries"][:1]
    assert approval["outcome"] == "ok"
    assert approval["details"]["authorized_by"] == forced.json()["authorized_by"]
    refusals = (await c.get("/api/v1/audit", params={"action": "update.force_approval"})).json()
    assert {e["outcome"].split(":")[0] for e in refusals["entries"]} == {"ok", "refused"}


async def test_two_distinct_admins_force_and_the_requester_cannot_approve(
    harness: Harness,
) -> None:
    h = harness
    c = h.client
    uid = await phase_1_with_one_device_waiting(h)  # creates shop-1
    await h.create_user("bruno", "admin", "shop-1")
    bruno = await h.login("bruno")
    requested = await c.post(f"/api/v1/updates/{uid}/force-requests")
    assert requested.status_code == 202
    assert requested.json()["update"]["site_admins"] == 2  # the console offers no password re-entry
    myself = await c.post(f"/api/v1/updates/{uid}/force-approvals",
                          json={"password": PASSWORD})
    assert myself.status_code == 403 and "different admin" in myself.text
    forced = await c.post(f"/api/v1/updates/{uid}/force-approvals", json={}, headers=bruno)
    assert forced.status_code == 202 and forced.json()["authorized_by"] == ["anna", "bruno"]
    assert forced.json()["state"] == "server_updating"


async def test_disable_needs_two_confirmations_and_enable_brings_it_back(
    harness: Harness,
) -> None:
    h = harness
    c = h.client
    await phase_1_with_one_device_waiting(h)
    once = await c.post("/api/v1/sites/shop-1/devices/IMEI2/disable", json={"confirm": True})
    assert once.status_code == 422 and "confirm twice" in once.text
    done = await c.post("/api/v1/sites/shop-1/devices/IMEI2/disable",
                        json={"confirm": True, "confirm_again": True})
    assert done.status_code == 200
    [event] = await h.outbox()
    assert event.type == "lockstep.device.disabled"
    assert event.data.disabled_by == "anna"  # type: ignore[union-attr]
    grid = (await c.get("/api/v1/sites/shop-1/devices")).json()
    assert [d["serial"] for d in grid["devices"]] == ["IMEI1"]
    managed = (await c.get("/api/v1/sites/shop-1/device-management")).json()["devices"]
    assert {d["serial"]: d["enabled"] for d in managed} == {"IMEI1": True, "IMEI2": False}
    assert managed[0]["app_version"] == "03.01.00_030"
    assert (await c.post("/api/v1/sites/shop-1/devices/NOPE/disable",
                         json={"confirm": True, "confirm_again": True})).status_code == 404
    assert (await c.post("/api/v1/sites/shop-1/devices/IMEI2/enable")).status_code == 200
    assert [e.type for e in await h.outbox()] == ["lockstep.device.enabled"]
    assert len((await c.get("/api/v1/sites/shop-1/devices")).json()["devices"]) == 2
    actions = [e["action"] for e in (await c.get("/api/v1/audit")).json()["entries"]]
    assert actions.count("device.disable") == 2 and "device.enable" in actions


async def test_manual_codes_need_the_gateway_configured_and_reachable(harness: Harness) -> None:
    h = harness
    await phase_1_with_one_device_waiting(h)
    body = {"action": "block", "code1": "123456"}
    unconfigured = await h.client.post("/api/v1/sites/shop-1/devices/IMEI2/codes", json=body)
    assert unconfigured.status_code == 503 and "internal API not configured" in unconfigured.text


@pytest.mark.parametrize("settings_overrides",
                         [{"gateway_url": "http://gateway", "internal_token": "s3cret"}])
async def test_manual_codes_go_to_the_gateway_with_the_internal_token(harness: Harness) -> None:
    h = harness
    c = h.client
    uid = await phase_1_with_one_device_waiting(h)
    body = {"action": "block", "code1": "123456"}
    unreachable = await c.post("/api/v1/sites/shop-1/devices/IMEI2/codes", json=body)
    assert unreachable.status_code == 502 and "gateway unreachable" in unreachable.text

    calls: list[tuple[str, str | None, dict[str, object]]] = []
    confirmations = iter([(422, {"detail": "wrong code 3", "attempts_left": 4}),
                          (200, {"verified": True, "blocked": True})])

    def gateway(request: httpx.Request) -> httpx.Response:
        calls.append((request.url.path, request.headers.get("X-Lockstep-Internal"),
                      json.loads(request.content)))
        if request.url.path.endswith("/codes"):
            return httpx.Response(201, json={"exchange_id": "ex1", "code2": "654321",
                                             "expires_at": "2026-03-02T09:10:00Z"})
        status, answer = next(confirmations)
        return httpx.Response(status, json=answer)

    h.remote.answer = gateway
    issued = await c.post("/api/v1/sites/shop-1/devices/IMEI2/codes", json=body)
    assert issued.status_code == 201 and issued.json()["code2"] == "654321"
    assert calls[0] == ("/internal/v1/sites/shop-1/devices/IMEI2/codes", "s3cret", body)
    path = "/api/v1/sites/shop-1/devices/IMEI2/codes/ex1/confirmation"
    wrong = await c.post(path, json={"code3": "000000"})
    assert wrong.status_code == 422 and wrong.json()["attempts_left"] == 4
    verified = await c.post(path, json={"code3": "111111"})
    assert verified.status_code == 200 and verified.json() == {"verified": True,
                                                               "blocked": True}
    assert (await c.post("/api/v1/sites/shop-1/devices/IMEI2/codes",
                         json={"action": "block", "code1": "12"})).status_code == 422
    assert (await c.post("/api/v1/sites/shop-1/devices/NOPE/codes",
                         json=body)).status_code == 404

    # The gateway then publishes DeviceBlocked(by_code): the grid shows it.
    await h.deliver(h.gateway, DeviceBlocked(site_id="shop-1", update_id=uid, serial="IMEI2",
                                             blocked_at=h.clock(), by_code=True))
    rows = {d["serial"]: d for d in (await c.get("/api/v1/sites/shop-1/devices")).json()[
        "devices"]}
    assert rows["IMEI2"]["blocked"] and rows["IMEI2"]["notes"] == "blocked_by_code"
    audit = (await c.get("/api/v1/audit", params={"action": "device"})).json()["entries"]
    outcomes = [(e["action"], e["outcome"].split(":")[0]) for e in reversed(audit)]
    assert outcomes[-4:] == [("device.code_issued", "ok"), ("device.code_confirmed", "refused"),
                             ("device.code_confirmed", "ok"), ("device.blocked_by_code", "ok")]


async def test_five_wrong_confirmation_codes_need_a_new_challenge(harness: Harness) -> None:
    h = harness
    c = h.client
    await c.post("/api/v1/sites", json=SITE_BODY)
    await h.deliver(h.watcher, downloaded().model_copy(
        update={"requires_confirmation_code": True}))
    update = (await c.post("/api/v1/sites/shop-1/updates", json=OPEN)).json()
    uid = update["update_id"]
    wrong = {"response": "12345-12345-12345"}
    lefts = [(await c.post(f"/api/v1/updates/{uid}/confirmation-code", json=wrong)).json()[
        "attempts_left"] for _ in range(5)]
    assert lefts == [4, 3, 2, 1, 0]
    blocked = await c.post(f"/api/v1/updates/{uid}/confirmation-code", json=wrong)
    assert blocked.status_code == 429 and "new challenge" in blocked.json()["detail"]
    fresh = await c.post(f"/api/v1/updates/{uid}/challenge")
    assert fresh.status_code == 200 and fresh.json()["code_attempts_left"] == 5
    assert fresh.json()["challenge"] != update["challenge"]
    assert (await c.post(f"/api/v1/updates/{uid}/confirmation-code",
                         json=wrong)).status_code == 422


@pytest.mark.parametrize("settings_overrides",
                         [{"gateway_url": "http://gateway", "internal_token": "s3cret"}])
async def test_a_site_admin_approves_a_re_registration_and_both_steps_are_audited(
        harness: Harness) -> None:
    """Issue 10 §3: a device that lost its secret registers again only with the admin's
    approval (relayed to the gateway, which holds the secrets); the re-registration the
    gateway then reports is audited with what proved it."""
    h = harness
    c = h.client
    await c.post("/api/v1/sites", json=SITE_BODY)
    await h.deliver(h.gateway, DeviceRegistered(
        site_id="shop-1", serial="IMEI1", model="TC52", app_version="03.01.00_030",
        registered_at=h.clock()))
    await h.create_user("carla", "user", "shop-1")
    calls: list[tuple[str, str | None]] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        calls.append((request.url.path, request.headers.get("X-Lockstep-Internal")))
        return httpx.Response(200, json={"approved": True, "valid_for_s": 3600})

    h.remote.answer = gateway
    path = "/api/v1/sites/shop-1/devices/IMEI1/reregistration-approval"
    reader = await c.post(path, headers=await h.login("carla"))
    unknown = await c.post("/api/v1/sites/shop-1/devices/NOPE/reregistration-approval")
    approved = await c.post(path)

    assert reader.status_code == 403 and unknown.status_code == 404
    assert approved.status_code == 200 and approved.json()["valid_for_s"] == 3600
    assert calls == [("/internal/v1/sites/shop-1/devices/IMEI1/reregistration-approval",
                      "s3cret")]
    await h.deliver(h.gateway, DeviceRegistered(
        site_id="shop-1", serial="IMEI1", model="TC52", app_version="03.01.00_030",
        registered_at=h.clock(), reregistered="admin_approval"))
    entries = (await c.get("/api/v1/audit", params={"site_id": "shop-1"})).json()["entries"]
    audited = [(e["actor"], e["action"], e["details"].get("proved_by")) for e in entries
               if e["action"].startswith("device.re")]
    assert audited == [("device-gateway", "device.reregistered", "admin_approval"),
                       ("anna", "device.reregistration_approved", None)]
