"""The hawkBit DDI controller API of the gateway (D14): authentication refusals, the staged and
the admin-blocked procedure, Range downloads, 404/410, cancel on ERROR UPDATE, configData."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from device_gateway.adapters import ddi_repository
from lockstep_shared.artifacts import ArtifactStore
from lockstep_shared.catalogue import (
    DeviceBlocked,
    DeviceDataHandedIn,
    DeviceDisabled,
    DeviceInstallFailed,
    DeviceNotificationDelivered,
    DeviceNotificationRequested,
    DeviceRegistered,
    DeviceUnblocked,
    DeviceVersionReported,
    PackageRef,
    SiteVersionPackageReady,
    UpdateFailed,
)

from .test_gateway_update_flow import PAYLOAD, SHA, open_update, phase_is, release

pytestmark = pytest.mark.integration

INTERNAL = "internal-secret"
BASE = "/shop-1/controller/v1"


@pytest.fixture
async def gateway(start_gateway: Any, tmp_path: Path) -> Any:
    running = await start_gateway(internal_token=INTERNAL, ddi_poll_s=2)
    await running.configure_site()
    ArtifactStore(tmp_path / "artifacts").path_for(SHA).write_bytes(PAYLOAD)
    return running


async def register_ddi(gateway: Any, serial: str, model: str = "TC52") -> str:
    response = await gateway.client.post("/device/v1/registrations", json={
        "site_id": "shop-1", "enrolment_code": gateway.code, "serial": serial, "model": model,
        "app_version": "03.01.00_030", "agent": "ddi"})
    assert response.status_code == 201, response.text
    return str(response.json()["device_token"])


def target(token: str) -> dict[str, str]:
    return {"Authorization": f"TargetToken {token}"}


async def internal(gateway: Any, method: str, path: str, body: Any = None) -> Any:
    response = await gateway.client.request(method, f"/internal/v1/sites/shop-1{path}",
                                            json=body, headers={"X-Lockstep-Internal": INTERNAL})
    return response


async def poll(gateway: Any, serial: str, token: str) -> dict[str, Any]:
    response = await gateway.client.get(f"{BASE}/{serial}", headers=target(token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return dict(response.json())


async def feedback(gateway: Any, serial: str, token: str, action: int, execution: str,
                   finished: str = "none", details: list[str] | None = None,
                   resource: str = "deploymentBase") -> Any:
    return await gateway.client.post(
        f"{BASE}/{serial}/{resource}/{action}/feedback", headers=target(token),
        json={"id": str(action), "status": {"execution": execution,
                                            "result": {"finished": finished},
                                            "details": details or []}})


def action_of(base: dict[str, Any]) -> int:
    href = base["_links"]["deploymentBase"]["href"]
    return int(href.rsplit("/", 1)[1].split("?")[0])


async def test_ddi_refusals(gateway: Any) -> None:
    token = await register_ddi(gateway, "ddi-1")
    native = await gateway.register("app-1")
    url = f"{BASE}/ddi-1"
    assert (await gateway.client.get(url)).status_code == 401
    bearer = await gateway.client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 401 and bearer.json()["code"] == "invalid_token"
    assert (await gateway.client.get(url, headers=target("nope"))).status_code == 401
    other = await gateway.client.get(f"{BASE}/ddi-2", headers=target(token))
    assert other.status_code == 401  # another controllerId
    tenant = await gateway.client.get("/shop-2/controller/v1/ddi-1", headers=target(token))
    assert tenant.status_code == 401
    app = await gateway.client.get(f"{BASE}/app-1",
                                   headers=target(native["device_token"]))
    assert app.status_code == 403 and app.json()["code"] == "not_ddi_device"
    assert (await gateway.client.get(f"{url}/deploymentBase/999",
                                     headers=target(token))).status_code == 404
    assert (await gateway.client.get(f"{url}/cancelAction/999",
                                     headers=target(token))).status_code == 404
    # the GatewayToken: issued for the site, acts for its devices only
    issued = await internal(gateway, "POST", "/ddi-gateway-token")
    assert issued.status_code == 201
    site_token = {"Authorization": f"GatewayToken {issued.json()['gateway_token']}"}
    assert (await gateway.client.get(url, headers=site_token)).status_code == 200
    unknown = await gateway.client.get(f"{BASE}/ddi-9", headers=site_token)
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_device"
    assert "asked to join" in unknown.json()["detail"]
    assert (await internal(gateway, "GET", "/ddi-models")).json()["models"][0]["devices"] == 1
    again = await internal(gateway, "POST", "/ddi-gateway-token")  # the old one stops
    assert (await gateway.client.get(url, headers=site_token)).status_code == 401
    assert (await gateway.client.get(url, headers={
        "Authorization": f"GatewayToken {again.json()['gateway_token']}"})).status_code == 200
    await gateway.publish(DeviceDisabled(site_id="shop-1", serial="ddi-1", disabled_by="anna"))
    await gateway.eventually(lambda: _status(gateway, url, token, 403))
    registered = [e for e in gateway.events(DeviceRegistered) if e.serial == "ddi-1"]
    assert registered[0].agent == "ddi"


async def _status(gateway: Any, url: str, token: str, status: int) -> bool:
    return (await gateway.client.get(url, headers=target(token))).status_code == status


async def test_staged_model_waits_after_downloaded_and_installs_after_end(gateway: Any) -> None:
    rule = await internal(gateway, "PUT", "/ddi-models/TC52",
                          {"waiting": "staged", "artifact_suffix": ".raucb"})
    assert rule.status_code == 200, rule.text
    token = await register_ddi(gateway, "ddi-1")
    first = await poll(gateway, "ddi-1", token)
    assert first["config"]["polling"]["sleep"] == "00:00:02"
    assert "deploymentBase" not in first["_links"] and "configData" in first["_links"]
    put = await gateway.client.put(f"{BASE}/ddi-1/configData", headers=target(token),
                                   json={"data": {"model": "TC52"}, "mode": "merge"})
    assert put.status_code == 200
    assert "configData" not in (await poll(gateway, "ddi-1", token))["_links"]

    await open_update(gateway)
    await gateway.publish(DeviceNotificationRequested(
        site_id="shop-1", update_id="upd-1", kind="start", request_id="req-start"))
    await gateway.eventually(lambda: _pending(gateway))
    base = await poll(gateway, "ddi-1", token)
    action = action_of(base)
    # published by the outbox relay shortly after the poll's commit
    await gateway.eventually(
        lambda: [e.kind for e in gateway.events(DeviceNotificationDelivered)] == ["start"])
    shown = (await gateway.client.get(f"{BASE}/ddi-1/deploymentBase/{action}",
                                      headers=target(token))).json()
    deployment = shown["deployment"]
    assert (deployment["download"], deployment["update"],
            deployment["maintenanceWindow"]) == ("forced", "skip", "unavailable")
    artifact = deployment["chunks"][0]["artifacts"][0]
    assert artifact["filename"] == "shop-03.01.00_031.raucb"
    assert artifact["size"] == len(PAYLOAD)
    assert artifact["hashes"] == {"sha1": hashlib.sha1(PAYLOAD).hexdigest(),
                                  "md5": hashlib.md5(PAYLOAD).hexdigest(), "sha256": SHA}
    href = artifact["_links"]["download-http"]["href"]
    part = await gateway.client.get(href, headers={**target(token), "Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == PAYLOAD[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(PAYLOAD)}"
    whole = await gateway.client.get(href, headers=target(token))
    assert whole.status_code == 200 and whole.content == PAYLOAD
    beyond = await gateway.client.get(href, headers={**target(token),
                                                     "Range": f"bytes={len(PAYLOAD)}-"})
    assert beyond.status_code == 416
    md5 = await gateway.client.get(href + ".MD5SUM", headers=target(token))
    assert md5.text == f"{hashlib.md5(PAYLOAD).hexdigest()}  shop-03.01.00_031.raucb\n"
    wrong = await gateway.client.get(href.replace(".raucb", ".swu"), headers=target(token))
    assert wrong.status_code == 404

    assert (await feedback(gateway, "ddi-1", token, action, "proceeding")).status_code == 200
    bad = await feedback(gateway, "ddi-1", token, action, "exploded")
    assert bad.status_code == 422
    assert (await feedback(gateway, "ddi-1", token, action, "downloaded")).status_code == 200
    await gateway.eventually(lambda: len(gateway.events(DeviceDataHandedIn)) == 1)
    blocked, handed_in = gateway.events(DeviceBlocked)[0], gateway.events(DeviceDataHandedIn)[0]
    assert blocked.ddi_waiting == "staged" and handed_in.update_id == "upd-1"
    assert handed_in.blocked_at == blocked.blocked_at

    await release(gateway)
    after_end = await poll(gateway, "ddi-1", token)
    assert action_of(after_end) == action  # one action from phase 1 to 3
    assert after_end["_links"]["deploymentBase"]["href"] != base["_links"]["deploymentBase"][
        "href"]  # its ?c= changed: the agent fetches it again
    forced = (await gateway.client.get(f"{BASE}/ddi-1/deploymentBase/{action}",
                                       headers=target(token))).json()["deployment"]
    assert (forced["update"], forced["maintenanceWindow"]) == ("forced", "available")
    done = await feedback(gateway, "ddi-1", token, action, "closed", "success",
                          ["Update Installed."])
    assert done.status_code == 200
    await gateway.eventually(lambda: len(gateway.events(DeviceVersionReported)) == 1)
    assert gateway.events(DeviceVersionReported)[0].app_version == "03.01.00_031"
    late = await feedback(gateway, "ddi-1", token, action, "closed", "success")
    assert late.status_code == 410 and late.json()["code"] == "action_closed"
    assert (await gateway.client.get(f"{BASE}/ddi-1/deploymentBase/{action}",
                                     headers=target(token))).status_code == 410
    assert (await gateway.client.get(href, headers=target(token))).status_code == 410
    final = await poll(gateway, "ddi-1", token)
    assert "deploymentBase" not in final["_links"] and "configData" in final["_links"]


async def _pending(gateway: Any) -> bool:
    from device_gateway.adapters import notifications_repository

    async with gateway.service.engine.connect() as conn:
        return bool(await notifications_repository.pending_for_device(conn, "shop-1", "ddi-1"))


async def test_admin_model_sees_nothing_before_end_and_failure_details_reach_the_grid(
        gateway: Any) -> None:
    token = await register_ddi(gateway, "ddi-1")
    refused = await internal(gateway, "POST", "/devices/ddi-1/ddi-block")
    assert refused.status_code == 409  # no update in phase 1
    await open_update(gateway)
    assert "deploymentBase" not in (await poll(gateway, "ddi-1", token))["_links"]
    blocked = await internal(gateway, "POST", "/devices/ddi-1/ddi-block")
    assert blocked.status_code == 200, blocked.text
    await gateway.eventually(lambda: len(gateway.events(DeviceDataHandedIn)) == 1)
    assert gateway.events(DeviceBlocked)[0].ddi_waiting == "admin"
    assert gateway.events(DeviceDataHandedIn)[0].update_id == "upd-1"
    await release(gateway)
    action = action_of(await poll(gateway, "ddi-1", token))
    shown = (await gateway.client.get(f"{BASE}/ddi-1/deploymentBase/{action}",
                                      headers=target(token))).json()["deployment"]
    assert shown["update"] == "forced" and "maintenanceWindow" not in shown
    assert shown["chunks"][0]["artifacts"][0]["filename"].endswith(".swu")
    # SWUpdate reports the installer's errors as progress, then closes with a summary
    progress = await feedback(gateway, "ddi-1", token, action, "proceeding", "none",
                              ["Installing Update Chunk Artifacts.",
                               "ERROR : SW not compatible with hardware"])
    assert progress.status_code == 200
    failed = await feedback(gateway, "ddi-1", token, action, "closed", "failure",
                            ["No suitable .swu image found"])
    assert failed.status_code == 200
    await gateway.eventually(lambda: len(gateway.events(DeviceInstallFailed)) == 1)
    event = gateway.events(DeviceInstallFailed)[0]
    assert event.details == ("Installing Update Chunk Artifacts. | ERROR : SW not compatible "
                             "with hardware | No suitable .swu image found")
    assert event.update_id == "upd-1" and event.version == "03.01.00_031"
    # a failed install is not offered again until END UPDATE is sent to this device again
    assert "deploymentBase" not in (await poll(gateway, "ddi-1", token))["_links"]
    await gateway.publish(DeviceNotificationRequested(
        site_id="shop-1", update_id="upd-1", kind="end", request_id="req-end-again",
        serials=("ddi-1",)))
    await gateway.eventually(lambda: _pending(gateway))
    assert action_of(await poll(gateway, "ddi-1", token)) != action


async def test_error_update_cancels_the_open_action(gateway: Any) -> None:
    await internal(gateway, "PUT", "/ddi-models/TC52", {"waiting": "staged"})
    token = await register_ddi(gateway, "ddi-1")
    await open_update(gateway)
    action = action_of(await poll(gateway, "ddi-1", token))
    await gateway.publish(UpdateFailed(site_id="shop-1", update_id="upd-1", reason="boom"))
    await gateway.eventually(lambda: phase_is(gateway, "failed"))
    await gateway.publish(DeviceNotificationRequested(
        site_id="shop-1", update_id="upd-1", kind="error", request_id="req-error"))
    await gateway.eventually(lambda: _pending(gateway))
    base = await poll(gateway, "ddi-1", token)
    assert "deploymentBase" not in base["_links"]
    assert base["_links"]["cancelAction"]["href"].endswith(f"/cancelAction/{action}")
    await gateway.eventually(lambda: len(gateway.events(DeviceUnblocked)) == 1)
    cancel = await gateway.client.get(f"{BASE}/ddi-1/cancelAction/{action}",
                                      headers=target(token))
    assert cancel.json() == {"id": str(action), "cancelAction": {"stopId": str(action)}}
    confirmed = await feedback(gateway, "ddi-1", token, action, "closed", "success",
                               resource="cancelAction")
    assert confirmed.status_code == 200
    assert "cancelAction" not in (await poll(gateway, "ddi-1", token))["_links"]


async def test_version_in_config_data_is_a_version_report(gateway: Any) -> None:
    token = await register_ddi(gateway, "ddi-1")
    put = await gateway.client.put(f"{BASE}/ddi-1/configData", headers=target(token),
                                   json={"data": {"app_version": "03.01.00_029"}})
    assert put.status_code == 200
    await gateway.eventually(lambda: len(gateway.events(DeviceVersionReported)) == 1)
    assert gateway.events(DeviceVersionReported)[0].app_version == "03.01.00_029"
    empty = await gateway.client.put(f"{BASE}/ddi-1/configData", headers=target(token),
                                     json={"data": {}})
    assert empty.status_code == 422
    # an attribute named like a version that is none is kept as an attribute, not reported
    other = await gateway.client.put(f"{BASE}/ddi-1/configData", headers=target(token),
                                     json={"data": {"sw_version": "build #7 (beta)"}})
    assert other.status_code == 200 and other.content == b""
    assert len(gateway.events(DeviceVersionReported)) == 1



async def test_site_version_catch_up_outside_an_update_is_a_forced_deployment(
        gateway: Any) -> None:
    """D10: a DDI device on another version than its site installs the site's version."""
    response = await gateway.client.post("/device/v1/registrations", json={
        "site_id": "shop-1", "enrolment_code": gateway.code, "serial": "ddi-1",
        "model": "TC52", "app_version": "03.01.00_031", "agent": "ddi"})  # newer: downgrade
    token = response.json()["device_token"]
    assert response.json()["update_required"] is False  # the site's package is not known yet
    assert "deploymentBase" not in (await poll(gateway, "ddi-1", token))["_links"]
    await gateway.publish(SiteVersionPackageReady(site_id="shop-1", package=PackageRef(
        product="shop", version="03.01.00_030", sha256=SHA, size=len(PAYLOAD),
        url="http://127.0.0.1:9/watcher/v1/artifacts/" + SHA)))
    await gateway.eventually(lambda: _linked(gateway, token))
    action = action_of(await poll(gateway, "ddi-1", token))
    shown = (await gateway.client.get(f"{BASE}/ddi-1/deploymentBase/{action}",
                                      headers=target(token))).json()["deployment"]
    assert (shown["download"], shown["update"]) == ("forced", "forced")
    assert shown["chunks"][0]["version"] == "03.01.00_030"
    done = await feedback(gateway, "ddi-1", token, action, "closed", "success")
    assert done.status_code == 200
    await gateway.eventually(lambda: len(gateway.events(DeviceVersionReported)) == 1)
    assert gateway.events(DeviceVersionReported)[0].app_version == "03.01.00_030"
    assert "deploymentBase" not in (await poll(gateway, "ddi-1", token))["_links"]


async def _linked(gateway: Any, token: str) -> bool:
    return "deploymentBase" in (await poll(gateway, "ddi-1", token))["_links"]


async def test_the_admins_target_token_registers_a_ddi_device_and_replaces_its_token(
        gateway: Any) -> None:
    issue = {"model": "handheld", "app_version": "03.01.00_030"}
    first = await internal(gateway, "POST", "/devices/ddi-7/ddi-target-token", issue)
    assert first.status_code == 201, first.text
    token = first.json()["target_token"]
    assert (await gateway.client.get(f"{BASE}/ddi-7", headers=target(token))).status_code == 200
    second = await internal(gateway, "POST", "/devices/ddi-7/ddi-target-token", issue)
    assert second.status_code == 201
    old = await gateway.client.get(f"{BASE}/ddi-7", headers=target(token))
    assert old.status_code == 401  # replaced: the old token stops working
    new = await gateway.client.get(f"{BASE}/ddi-7",
                                   headers=target(second.json()["target_token"]))
    assert new.status_code == 200
    await gateway.eventually(lambda: len([e for e in gateway.events(DeviceRegistered)
                                          if e.serial == "ddi-7"]) == 2)
    registered = [e for e in gateway.events(DeviceRegistered) if e.serial == "ddi-7"]
    assert [(e.agent, e.reregistered) for e in registered] == [
        ("ddi", None), ("ddi", "admin_approval")]
    await gateway.register("app-1")  # a Lockstep app keeps its own credentials
    refused = await internal(gateway, "POST", "/devices/app-1/ddi-target-token", issue)
    assert refused.status_code == 403 and refused.json()["code"] == "not_ddi_device"
    unknown_site = await gateway.client.post(
        "/internal/v1/sites/shop-9/devices/ddi-7/ddi-target-token", json=issue,
        headers={"X-Lockstep-Internal": INTERNAL})
    assert unknown_site.status_code == 404


async def test_model_rules_list_every_ddi_model_of_the_site_with_its_rule(gateway: Any) -> None:
    assert (await internal(gateway, "GET", "/ddi-models")).json() == {"models": []}
    await register_ddi(gateway, "ddi-1")
    await register_ddi(gateway, "ddi-2")
    await gateway.register("app-1")  # a Lockstep app of model TC52: not a DDI device
    chosen = await internal(gateway, "PUT", "/ddi-models/rauc-box",
                            {"waiting": "admin", "artifact_suffix": ".raucb"})
    assert chosen.status_code == 200
    listed = await internal(gateway, "GET", "/ddi-models")
    assert listed.status_code == 200
    assert listed.json() == {"models": [
        {"model": "TC52", "waiting": "admin", "artifact_suffix": ".swu", "devices": 2,
         "chosen": False},
        {"model": "rauc-box", "waiting": "admin", "artifact_suffix": ".raucb", "devices": 0,
         "chosen": True}]}
    await internal(gateway, "PUT", "/ddi-models/TC52", {"waiting": "staged"})
    tc52 = (await internal(gateway, "GET", "/ddi-models")).json()["models"][0]
    assert (tc52["waiting"], tc52["chosen"]) == ("staged", True)
    unknown = await gateway.client.get("/internal/v1/sites/nope/ddi-models",
                                       headers={"X-Lockstep-Internal": INTERNAL})
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_site"


async def test_an_unknown_device_with_the_gateway_token_asks_to_join_never_trusted_silently(
        gateway: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    issued = await internal(gateway, "POST", "/ddi-gateway-token")
    site_token = {"Authorization": f"GatewayToken {issued.json()['gateway_token']}"}
    for _ in range(2):  # its agent polls again and again
        unknown = await gateway.client.get(f"{BASE}/NEW-1", headers=site_token)
        assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_device"
    assert "asked to join" in unknown.json()["detail"]
    assert (await gateway.client.get(f"{BASE}/NEW-2", headers=target("nope"))).status_code == 401
    other = await gateway.client.get("/shop-2/controller/v1/NEW-3", headers=site_token)
    assert other.status_code == 401  # another site's tenant: no request either
    listed = (await internal(gateway, "GET", "/ddi-join-requests")).json()["requests"]
    assert [r["serial"] for r in listed] == ["NEW-1"]
    assert listed[0]["last_seen_at"] > listed[0]["first_seen_at"]
    assert not [e for e in gateway.events(DeviceRegistered) if e.serial == "NEW-1"]

    approval = {"model": "TC52", "app_version": "03.01.00_030"}
    approved = await internal(gateway, "POST", "/ddi-join-requests/NEW-1/approval", approval)
    assert approved.status_code == 200, approved.text
    await gateway.eventually(lambda: bool([e for e in gateway.events(DeviceRegistered)
                                           if e.serial == "NEW-1" and e.agent == "ddi"]))
    assert (await gateway.client.get(f"{BASE}/NEW-1", headers=site_token)).status_code == 200
    assert (await internal(gateway, "GET", "/ddi-join-requests")).json() == {"requests": []}
    again = await internal(gateway, "POST", "/ddi-join-requests/NEW-1/approval", approval)
    assert again.status_code == 404 and again.json()["code"] == "unknown_join_request"

    # not the site's device: dismissed
    await gateway.client.get(f"{BASE}/NEW-4", headers=site_token)
    assert (await internal(gateway, "DELETE", "/ddi-join-requests/NEW-4")).status_code == 200
    assert (await internal(gateway, "DELETE", "/ddi-join-requests/NEW-4")).status_code == 404
    # a leaked token fills the list, never the database
    monkeypatch.setattr(ddi_repository, "MAX_JOIN_REQUESTS", 2)
    for serial in ("NEW-5", "NEW-6", "NEW-7"):
        await gateway.client.get(f"{BASE}/{serial}", headers=site_token)
    listed = (await internal(gateway, "GET", "/ddi-join-requests")).json()["requests"]
    assert [r["serial"] for r in listed] == ["NEW-5", "NEW-6"]
    # a registration by the enrolment code answers the request too
    await register_ddi(gateway, "NEW-6")
    listed = (await internal(gateway, "GET", "/ddi-join-requests")).json()["requests"]
    assert [r["serial"] for r in listed] == ["NEW-5"]
