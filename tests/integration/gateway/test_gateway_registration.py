"""D1, S2, D9: registration, token rotation, and what a token may touch."""

from __future__ import annotations

import asyncio
from datetime import timedelta
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
    second = await gateway.register("dev-1", secret=first["device_secret"])

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


# --- a known serial proves it is the same device (§4.1, issue 10 §3) ----------------------

INTERNAL = {"X-Lockstep-Internal": "internal-secret-for-tests"}


@pytest.fixture
async def gateway_with_internal_api(start_gateway: Any) -> Any:
    running = await start_gateway(internal_token=INTERNAL["X-Lockstep-Internal"])
    await running.configure_site()
    return running


async def _works(gateway: Any, device: dict[str, Any]) -> int:
    response = await gateway.client.get("/device/v1/notifications?wait=0",
                                        headers=gateway.auth(device))
    return response.status_code


async def test_the_enrolment_code_alone_does_not_take_a_registered_device_over(
        gateway: Any) -> None:
    device = await gateway.register("dev-1")

    takeover = await gateway.register("dev-1", expect=403)
    wrong_proof = await gateway.register("dev-1", secret="0" * 64, expect=403)

    assert takeover.json()["code"] == "reregistration_refused"
    assert "ask the site admin to approve" in takeover.json()["detail"]
    assert wrong_proof.json()["code"] == "reregistration_refused"
    assert await _works(gateway, device) == 200  # the real device keeps its credentials
    scraped = (await gateway.client.get("/metrics")).text
    assert 'lockstep_credentials_refused_total{code="reregistration_refused"}' in scraped
    await gateway.eventually(lambda: len(gateway.events(DeviceRegistered)) == 1)


async def test_the_secret_proof_re_registers_and_dies_with_the_secret(gateway: Any) -> None:
    first = await gateway.register("dev-1")
    second = await gateway.register("dev-1", secret=first["device_secret"])
    replayed = await gateway.register("dev-1", secret=first["device_secret"], expect=403)

    assert replayed.json()["code"] == "reregistration_refused"
    assert await _works(gateway, first) == 401 and await _works(gateway, second) == 200
    await gateway.eventually(lambda: len(gateway.events(DeviceRegistered)) == 2)
    assert [e.reregistered for e in gateway.events(DeviceRegistered)] == [None, "secret_proof"]


async def test_a_retry_with_the_same_idempotency_key_needs_no_proof(gateway: Any) -> None:
    """The answer of the first attempt was lost: the device never saw the secret."""
    key = {"Idempotency-Key": "8d3f2c1e-5b7a-4e0f-9c61-2a4b6d8e0f13"}
    lost = await gateway.register("dev-1", headers=key)
    retried = await gateway.register("dev-1", headers=key)
    other_key = await gateway.register(
        "dev-1", headers={"Idempotency-Key": "another-attempt"}, expect=403)

    assert retried["device_token"] != lost["device_token"]
    assert other_key.json()["code"] == "reregistration_refused"
    assert await _works(gateway, retried) == 200
    await gateway.eventually(lambda: len(gateway.events(DeviceRegistered)) == 2)
    assert gateway.events(DeviceRegistered)[1].reregistered == "idempotency_key"

    gateway.clock.advance(timedelta(hours=25))  # not a retry any more: the secret is needed
    late = await gateway.register("dev-1", headers=key, expect=403)
    assert late.json()["code"] == "reregistration_refused"


async def test_the_site_admin_approves_one_re_registration_without_the_secret(
        gateway_with_internal_api: Any) -> None:
    gateway = gateway_with_internal_api
    lost = await gateway.register("dev-1")
    approve = "/internal/v1/sites/shop-1/devices/dev-1/reregistration-approval"

    unknown = await gateway.client.post(
        "/internal/v1/sites/shop-1/devices/dev-9/reregistration-approval", headers=INTERNAL)
    no_token = await gateway.client.post(approve)
    approved = await gateway.client.post(approve, headers=INTERNAL)
    reinstalled = await gateway.register("dev-1")
    twice = await gateway.register("dev-1", expect=403)

    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_device"
    assert no_token.status_code == 401
    assert approved.status_code == 200 and approved.json() == {"approved": True,
                                                                "valid_for_s": 3600}
    assert twice.json()["code"] == "reregistration_refused"  # an approval is used once
    assert await _works(gateway, lost) == 401 and await _works(gateway, reinstalled) == 200
    await gateway.eventually(lambda: len(gateway.events(DeviceRegistered)) == 2)
    assert gateway.events(DeviceRegistered)[1].reregistered == "admin_approval"

    assert (await gateway.client.post(approve, headers=INTERNAL)).status_code == 200
    gateway.clock.advance(timedelta(hours=1, seconds=1))
    expired = await gateway.register("dev-1", expect=403)
    assert expired.json()["code"] == "reregistration_refused"


async def test_wrong_enrolment_codes_are_throttled_then_even_the_right_one_waits(
        gateway: Any) -> None:
    wrong = [await gateway.register(f"dev-{n}", code="guess", expect=401) for n in range(5)]
    throttled = await gateway.register("dev-9", expect=429)

    assert all(w.json()["detail"] == "unknown site or wrong enrolment code" for w in wrong)
    assert throttled.json()["code"] == "registration_throttled"
    assert 0 < int(throttled.headers["retry-after"]) <= 300
    gateway.clock.advance(timedelta(minutes=5, seconds=1))
    assert (await gateway.register("dev-9"))["serial"] == "dev-9"


async def test_parallel_wrong_enrolment_codes_get_at_most_the_limit_checked(
        gateway: Any) -> None:
    answers = await asyncio.gather(*(
        gateway.register(f"dev-{n}", code=f"guess-{n}", expect=None) for n in range(30)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [401] * 5 + [429] * 25, statuses
