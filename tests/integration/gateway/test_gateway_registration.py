"""D1, S2, D9: registration, token rotation, and what a token may touch."""

from __future__ import annotations

from typing import Any

import pytest

from lockstep_shared.catalogue import DeviceDisabled, DeviceEnabled, DeviceRegistered

# Registration does not depend on the database engine: PostgreSQL only, to keep the area fast.
pytestmark = [pytest.mark.integration,
              pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]


async def test_registration_gives_token_and_secret_and_publishes(gateway: Any) -> None:
    device = await gateway.register("356938035643809")

    assert device["serial"] == "356938035643809"
    assert device["site_id"] == gateway.site
    assert device["site_version"] == "03.01.00_030"
    assert len(device["device_token"]) >= 32 and len(device["device_secret"]) >= 32
    ok = await gateway.client.post("/device/v1/version", json={"app_version": "03.01.00_030"},
                                   headers=gateway.auth(device))
    assert ok.status_code == 204
    await gateway.eventually(lambda: len(gateway.events(DeviceRegistered)) == 1)
    registered = gateway.events(DeviceRegistered)[0]
    assert (registered.serial, registered.model, registered.operator_code) == (
        "356938035643809", "TC52", "OP1")


async def test_re_registering_rotates_token_and_secret(gateway: Any) -> None:
    first = await gateway.register("dev-1")
    second = await gateway.register("dev-1")

    assert second["device_token"] != first["device_token"]
    assert second["device_secret"] != first["device_secret"]
    old = await gateway.client.get("/device/v1/notifications?wait=0", headers=gateway.auth(first))
    new = await gateway.client.get("/device/v1/notifications?wait=0", headers=gateway.auth(second))
    assert old.status_code == 401
    assert new.status_code == 200 and new.json() == {"notifications": []}


@pytest.mark.parametrize("site, code", [("shop-1", "wrong-code"), ("no-such-site", "enrol-shop-1")])
async def test_wrong_site_or_enrolment_code_is_401(
    gateway: Any, site: str, code: str
) -> None:
    response = await gateway.client.post("/device/v1/registrations", json={
        "site_id": site, "enrolment_code": code, "serial": "dev-1", "model": "TC52",
        "app_version": "03.01.00_030"})

    assert response.status_code == 401
    assert response.json() == {"detail": "unknown site or wrong enrolment code",
                               "code": "enrolment_refused"}
    assert response.headers["www-authenticate"] == "Bearer"


async def test_bad_body_and_missing_token_are_clear_4xx(gateway: Any) -> None:
    bad = await gateway.client.post("/device/v1/registrations", json={
        "site_id": gateway.site, "enrolment_code": gateway.code, "serial": "dev-1", "model": "TC52",
        "app_version": "three"})
    no_token = await gateway.client.post("/device/v1/sync", json={"records": 1})
    bad_token = await gateway.client.post("/device/v1/sync", json={"records": 1},
                                          headers={"Authorization": "Bearer nope"})

    assert bad.status_code == 422
    assert bad.json()["detail"].startswith("invalid request: app_version: ")
    assert "invalid version 'three'" in bad.json()["detail"]
    assert no_token.status_code == 401 and "missing device token" in no_token.json()["detail"]
    assert bad_token.status_code == 401 and bad_token.headers["www-authenticate"] == "Bearer"
    assert bad_token.json() == {"detail": "unknown or invalid device token: register again",
                                "code": "invalid_token"}
    assert no_token.json()["code"] == "invalid_token"
    assert no_token.headers["www-authenticate"] == "Bearer"
    assert bad.json()["code"] == "invalid_request"


async def test_disabled_device_is_refused_everywhere(gateway: Any) -> None:
    device = await gateway.register("dev-1")
    assert (await gateway.client.post("/device/v1/sync", json={"records": 0},
                                      headers=gateway.auth(device))).status_code == 200
    await gateway.publish(DeviceDisabled(site_id="shop-1", serial="dev-1", disabled_by="admin"))
    await gateway.eventually(lambda: _refused(gateway, device))

    for method, path, body in [("GET", "/device/v1/notifications?wait=0", None),
                               ("POST", "/device/v1/sync", {"records": 0}),
                               ("GET", "/device/v1/update", None),
                               ("GET", "/device/v1/package", None),
                               ("POST", "/device/v1/blocked", {"update_id": "upd-1"}),
                               ("POST", "/device/v1/notifications/1/ack", None),
                               ("POST", "/device/v1/version", {"app_version": "1"})]:
        headers = gateway.auth(device)
        response = await gateway.client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, path
        assert response.json() == {
            "detail": "this device is disabled at its site; ask the site admin to enable it",
            "code": "device_disabled"}
    again = await gateway.client.post("/device/v1/registrations", json={
        "site_id": gateway.site, "enrolment_code": gateway.code, "serial": "dev-1", "model": "TC52",
        "app_version": "03.01.00_030"})
    assert again.status_code == 403 and again.json()["code"] == "device_disabled"

    await gateway.publish(DeviceEnabled(site_id="shop-1", serial="dev-1", enabled_by="admin"))
    await gateway.eventually(lambda: _ok(gateway, device))


async def _refused(gateway: Any, device: dict[str, Any]) -> bool:
    response = await gateway.client.post("/device/v1/sync", json={"records": 0},
                                         headers=gateway.auth(device))
    return response.status_code == 403


async def _ok(gateway: Any, device: dict[str, Any]) -> bool:
    response = await gateway.client.post("/device/v1/sync", json={"records": 0},
                                         headers=gateway.auth(device))
    return response.status_code == 200


async def test_a_retired_protocol_version_answers_410_everywhere(start_gateway: Any) -> None:
    retired = await start_gateway(retired_protocols="v1")
    await retired.configure_site()

    registration = await retired.client.post("/device/v1/registrations", json={
        "site_id": retired.site, "enrolment_code": retired.code, "serial": "dev-1",
        "model": "TC52", "app_version": "03.01.00_030"})
    polled = await retired.client.get("/device/v1/notifications?wait=0",
                                      headers={"Authorization": "Bearer any"})
    head = await retired.client.head("/device/v1/package")

    for refused in (registration, polled):
        assert refused.status_code == 410
        assert refused.json()["code"] == "protocol_retired"
        assert "update the app" in refused.json()["detail"]
    assert head.status_code == 410 and head.content == b""
    served = await start_gateway(retired_protocols="v2")  # another version retired: v1 served
    await served.configure_site()
    assert (await served.register("dev-1"))["device_token"]
