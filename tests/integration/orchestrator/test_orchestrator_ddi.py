"""DDI devices in the orchestrator (D14, issue 15): the grid says which devices speak hawkBit
DDI and what "waiting" meant for them, a DDI install failure's details reach the grid's notes,
and the site admin's DDI actions are relayed to the gateway's internal API and audited."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from lockstep_shared.catalogue import (
    DeviceBlocked,
    DeviceDataHandedIn,
    DeviceInstallFailed,
    DeviceRegistered,
)

from .conftest import SITE_BODY, Harness, downloaded

pytestmark = pytest.mark.integration
OPEN = {"product": "shop", "backups_confirmed": True}
GATEWAY = {"gateway_url": "http://gateway", "internal_token": "s3cret"}


@pytest.fixture
def database_url(tmp_path: Path) -> str:  # PostgreSQL runs the same handlers elsewhere
    return f"sqlite:///{tmp_path / 'orchestrator.db'}"


def line(grid: dict[str, Any], serial: str) -> dict[str, Any]:
    return next(d for d in grid["devices"] if d["serial"] == serial)


async def test_the_grid_says_which_devices_are_ddi_and_what_waiting_meant(
        harness: Harness) -> None:
    h, c = harness, harness.client
    await c.post("/api/v1/sites", json=SITE_BODY)
    await h.deliver(h.watcher, downloaded())
    for serial, agent in (("APP-1", None), ("SWU-1", "ddi"), ("RAUC-1", "ddi")):
        await h.deliver(h.gateway, DeviceRegistered(
            site_id="shop-1", serial=serial, model="TC52", app_version="03.01.00_030",
            registered_at=h.clock(), agent=agent))
    uid = (await c.post("/api/v1/sites/shop-1/updates", json=OPEN)).json()["update_id"]
    await c.post(f"/api/v1/updates/{uid}/start-notifications")
    for serial, how in (("SWU-1", "admin"), ("RAUC-1", "staged")):
        await h.deliver(h.gateway, DeviceBlocked(site_id="shop-1", update_id=uid,
                                                 serial=serial, blocked_at=h.clock(),
                                                 ddi_waiting=how))
        await h.deliver(h.gateway, DeviceDataHandedIn(site_id="shop-1", serial=serial,
                                                      update_id=uid, synced_at=h.clock(),
                                                      blocked_at=h.clock()))
    grid = (await c.get("/api/v1/sites/shop-1/devices")).json()
    app, swu, rauc = (line(grid, s) for s in ("APP-1", "SWU-1", "RAUC-1"))
    assert (app["agent"], app["ddi_waiting"]) == (None, None)
    assert (swu["agent"], swu["ddi_waiting"], swu["waiting_for_update"]) == ("ddi", "admin", True)
    assert swu["notes"] == "ddi_admin"  # a code the console translates
    assert (rauc["ddi_waiting"], rauc["waiting_for_update"]) == ("staged", True)
    assert rauc["notes"] == "ddi_staged"
    assert grid["counts"]["waiting"] == 2

    await h.deliver(h.gateway, DeviceInstallFailed(
        site_id="shop-1", serial="SWU-1", update_id=uid, version="03.01.00_031",
        details="Image invalid or corrupted. | Installation failed", failed_at=h.clock()))
    swu = line((await c.get("/api/v1/sites/shop-1/devices")).json(), "SWU-1")
    assert swu["notes"] == ("install of 03.01.00_031 failed: Image invalid or corrupted. | "
                            "Installation failed")


@pytest.mark.parametrize("settings_overrides", [GATEWAY])
async def test_the_admins_ddi_actions_are_relayed_and_audited(harness: Harness) -> None:
    h, c = harness, harness.client
    await c.post("/api/v1/sites", json=SITE_BODY)
    await h.deliver(h.gateway, DeviceRegistered(
        site_id="shop-1", serial="SWU-1", model="handheld", app_version="03.01.00_030",
        registered_at=h.clock(), agent="ddi"))
    await h.create_user("carla", "user", "shop-1")
    calls: list[tuple[str, str, Any]] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        calls.append((request.method, request.url.path, body))
        assert request.headers["X-Lockstep-Internal"] == "s3cret"
        if request.url.path.endswith("/ddi-block"):
            return httpx.Response(409, json={"detail": "no update in phase 1",
                                             "code": "no_active_update"})
        if request.url.path.endswith("/ddi-gateway-token"):
            return httpx.Response(201, json={"site_id": "shop-1", "gateway_token": "gt-1"})
        if request.url.path.endswith("/ddi-target-token"):
            return httpx.Response(201, json={"site_id": "shop-1", "serial": "NEW-1",
                                             "target_token": "tt-1"})
        if request.method == "GET" and request.url.path.endswith("/ddi-join-requests"):
            return httpx.Response(200, json={"requests": [
                {"serial": "JOIN-1", "first_seen_at": "2026-12-01T10:00:00Z",
                 "last_seen_at": "2026-12-01T10:05:00Z"}]})
        if request.url.path.endswith("/ddi-join-requests/JOIN-1/approval"):
            return httpx.Response(200, json={"site_id": "shop-1", "serial": "JOIN-1",
                                             "registered": True})
        if request.method == "DELETE":
            return httpx.Response(404, json={"detail": "no device 'JOIN-2' has asked to join",
                                             "code": "unknown_join_request"})
        if request.method == "GET" and request.url.path.endswith("/ddi-models"):
            return httpx.Response(200, json={"models": [
                {"model": "handheld", "waiting": "admin", "artifact_suffix": ".swu",
                 "devices": 1, "chosen": False}]})
        return httpx.Response(200, json=body)

    h.remote.answer = gateway
    block = "/api/v1/sites/shop-1/devices/SWU-1/ddi-block"
    assert (await c.post(block, headers=await h.login("carla"))).status_code == 403
    assert (await c.post("/api/v1/sites/shop-1/devices/NOPE/ddi-block")).status_code == 404
    refused = await c.post(block)
    assert refused.status_code == 409 and refused.json()["code"] == "no_active_update"
    joins = await c.get("/api/v1/sites/shop-1/ddi-join-requests")
    assert joins.status_code == 200 and joins.json()["requests"][0]["serial"] == "JOIN-1"
    assert (await c.get("/api/v1/sites/shop-1/ddi-join-requests",
                        headers=await h.login("carla"))).status_code == 403
    joined = await c.post("/api/v1/sites/shop-1/ddi-join-requests/JOIN-1/approval",
                          json={"model": "handheld", "app_version": "03.01.00_030"})
    assert joined.status_code == 200 and joined.json()["registered"] is True
    dismissed = await c.delete("/api/v1/sites/shop-1/ddi-join-requests/JOIN-2")
    assert dismissed.status_code == 404 and dismissed.json()["code"] == "unknown_join_request"
    models = await c.get("/api/v1/sites/shop-1/ddi-models")
    assert models.status_code == 200 and models.json()["models"][0]["model"] == "handheld"
    assert (await c.get("/api/v1/sites/shop-1/ddi-models",
                        headers=await h.login("carla"))).status_code == 403
    assert (await c.get("/api/v1/sites/nope/ddi-models")).status_code == 404
    rule = await c.put("/api/v1/sites/shop-1/ddi-models/handheld",
                       json={"waiting": "staged", "artifact_suffix": ".swu"})
    assert rule.status_code == 200
    bad_rule = await c.put("/api/v1/sites/shop-1/ddi-models/handheld",
                           json={"waiting": "whenever"})
    assert bad_rule.status_code == 422
    token = await c.post("/api/v1/sites/shop-1/ddi-gateway-token")
    assert token.status_code == 201 and token.json()["gateway_token"] == "gt-1"
    device = {"model": "handheld", "app_version": "03.01.00_030"}
    target = await c.post("/api/v1/sites/shop-1/devices/NEW-1/ddi-target-token", json=device)
    assert target.status_code == 201 and target.json()["target_token"] == "tt-1"
    bad = await c.post("/api/v1/sites/shop-1/devices/NEW-1/ddi-target-token",
                       json={"model": "handheld", "app_version": "not a version"})
    assert bad.status_code == 422
    assert calls == [
        ("POST", "/internal/v1/sites/shop-1/devices/SWU-1/ddi-block", {}),
        ("GET", "/internal/v1/sites/shop-1/ddi-join-requests", None),
        ("POST", "/internal/v1/sites/shop-1/ddi-join-requests/JOIN-1/approval",
         {"model": "handheld", "app_version": "03.01.00_030"}),
        ("DELETE", "/internal/v1/sites/shop-1/ddi-join-requests/JOIN-2", None),
        ("GET", "/internal/v1/sites/shop-1/ddi-models", None),
        ("PUT", "/internal/v1/sites/shop-1/ddi-models/handheld",
         {"waiting": "staged", "artifact_suffix": ".swu"}),
        ("POST", "/internal/v1/sites/shop-1/ddi-gateway-token", {}),
        ("POST", "/internal/v1/sites/shop-1/devices/NEW-1/ddi-target-token", device),
    ]
    entries = (await c.get("/api/v1/audit", params={"site_id": "shop-1"})).json()["entries"]
    audited = {(e["action"], e["outcome"]) for e in entries if "ddi" in e["action"]}
    assert audited == {("device.ddi_blocked", "refused: no update in phase 1 (no_active_update)"),
                       ("site.ddi_model_rule", "ok"), ("site.ddi_gateway_token_issued", "ok"),
                       ("device.ddi_target_token_issued", "ok"),
                       ("device.ddi_join_approved", "ok"),
                       ("device.ddi_join_dismissed",
                        "refused: no device 'JOIN-2' has asked to join (unknown_join_request)")}
    assert "gt-1" not in json.dumps(entries)  # tokens are shown once, never audited
    assert "tt-1" not in json.dumps(entries)
