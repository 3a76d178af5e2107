"""D8 over the internal API: the three-code exchange for manual block and unblock, its limits
(single use, expiry, attempts) and the shared-secret guard."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from device_gateway.adapters.tables import devices
from device_gateway.domain import codes
from lockstep_shared.catalogue import (
    DeviceBlocked,
    DeviceDataHandedIn,
    DeviceUnblocked,
    UpdateOpened,
)
from lockstep_shared.logs import JsonFormatter

from .test_gateway_update_flow import PACKAGE, phase_is, start_server_update

pytestmark = pytest.mark.integration

TOKEN = "internal-secret-for-tests"
HEADERS = {"X-Lockstep-Internal": TOKEN}


@pytest.fixture
async def gateway(start_gateway: Any) -> Any:
    running = await start_gateway(internal_token=TOKEN)
    await running.configure_site()
    return running


async def open_update(gateway: Any) -> None:
    await gateway.publish(UpdateOpened(site_id="shop-1", update_id="upd-1",
                                       from_version="03.01.00_030", package=PACKAGE))
    await gateway.eventually(lambda: phase_is(gateway, "preparing"))


def codes_path(serial: str) -> str:
    return f"/internal/v1/sites/shop-1/devices/{serial}/codes"


async def issue(gateway: Any, serial: str, action: str, code1: str) -> Any:
    return await gateway.client.post(codes_path(serial), json={"action": action, "code1": code1},
                                     headers=HEADERS)


async def confirm(gateway: Any, serial: str, exchange_id: str, code3: str) -> Any:
    return await gateway.client.post(f"{codes_path(serial)}/{exchange_id}/confirmation",
                                     json={"code3": code3}, headers=HEADERS)


async def blocked_for(gateway: Any, serial: str) -> str | None:
    async with gateway.service.engine.connect() as conn:
        return (await conn.execute(select(devices.c.blocked_update_id).where(
            devices.c.serial == serial))).scalar_one()


async def test_block_then_unblock_by_codes(gateway: Any, caplog: pytest.LogCaptureFixture
                                           ) -> None:
    caplog.set_level(logging.INFO, logger="device_gateway")
    device = await gateway.register("dev-1")
    secret = device["device_secret"]
    await open_update(gateway)

    # the device shows code 1; the admin gets code 2; the device shows code 3
    code1 = codes.code1_from_nonce(31337)
    issued = await issue(gateway, "dev-1", "block", code1)
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert set(body) == {"exchange_id", "code2", "expires_at"}
    assert body["code2"] == codes.code2(secret, "block", code1)  # what the device verifies
    code3 = codes.code3(secret, "block", code1, body["code2"])
    verified = await confirm(gateway, "dev-1", body["exchange_id"], code3)
    replay = await confirm(gateway, "dev-1", body["exchange_id"], code3)

    assert verified.status_code == 200 and verified.json() == {"verified": True, "blocked": True}
    assert replay.status_code == 410 and replay.json()["code"] == "exchange_gone"
    assert await blocked_for(gateway, "dev-1") == "upd-1"
    await gateway.eventually(lambda: len(gateway.events(DeviceBlocked)) == 1)
    blocked = gateway.events(DeviceBlocked)[0]
    assert (blocked.by_code, blocked.update_id, blocked.serial) == (True, "upd-1", "dev-1")

    # blocked by codes, it does not know the update: a hand-in naming none makes it wait
    synced = await gateway.client.post("/device/v1/sync", json={"update_id": None},
                                       headers=gateway.auth(device))
    assert synced.json() == {"accepted": True, "waiting_for_update": True}
    await gateway.eventually(lambda: len(gateway.events(DeviceDataHandedIn)) == 1)
    handed_in = gateway.events(DeviceDataHandedIn)[0]
    assert (handed_in.update_id, handed_in.blocked_at) == ("upd-1", blocked.blocked_at)

    code1 = "424242"
    issued = (await issue(gateway, "dev-1", "unblock", code1)).json()
    code3 = codes.code3(secret, "unblock", code1, issued["code2"])
    unblocked = await confirm(gateway, "dev-1", issued["exchange_id"], code3)

    assert unblocked.json() == {"verified": True, "blocked": False}
    assert await blocked_for(gateway, "dev-1") is None
    after = await gateway.client.post("/device/v1/sync", json={"update_id": None},
                                      headers=gateway.auth(device))
    assert after.json() == {"accepted": True, "waiting_for_update": False}  # working again
    await gateway.eventually(lambda: len(gateway.events(DeviceUnblocked)) == 1)
    event = gateway.events(DeviceUnblocked)[0]
    assert (event.by_code, event.update_id, event.serial) == (True, "upd-1", "dev-1")
    # X5: the state change is logged with the keys the JSON log lines carry
    [record] = [r for r in caplog.records if r.getMessage() == "device dev-1 blocked by codes"]
    logged = json.loads(JsonFormatter("device-gateway").format(record))
    assert (logged["site_id"], logged["serial"], logged["update_id"]) == (
        "shop-1", "dev-1", "upd-1")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_device_unblocked_during_the_server_update_is_no_longer_admitted(
    gateway: Any,
) -> None:
    """Admitted to the server update as waiting, then unblocked with codes: it works on the
    old version again, so what it hands in now is refused like any late device's."""
    device = await gateway.register("dev-1")
    await open_update(gateway)
    await gateway.client.post("/device/v1/blocked", json={"update_id": "upd-1"},
                              headers=gateway.auth(device))
    assert (await gateway.client.post("/device/v1/sync", json={"update_id": "upd-1"},
                                      headers=gateway.auth(device))).json()["waiting_for_update"]
    await start_server_update(gateway, waiting=("dev-1",))

    issued = (await issue(gateway, "dev-1", "unblock", "246810")).json()
    code3 = codes.code3(device["device_secret"], "unblock", "246810", issued["code2"])
    assert (await confirm(gateway, "dev-1", issued["exchange_id"], code3)).status_code == 200
    late = await gateway.client.post("/device/v1/sync", json={"update_id": "upd-1"},
                                     headers=gateway.auth(device))

    assert late.status_code == 409 and late.json()["code"] == "sync_refused"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_wrong_code3_counts_attempts_then_429(gateway: Any) -> None:
    device = await gateway.register("dev-1")
    await open_update(gateway)
    issued = (await issue(gateway, "dev-1", "block", "123456")).json()
    right = codes.code3(device["device_secret"], "block", "123456", issued["code2"])
    wrong = "000000" if right != "000000" else "000001"

    answers = [await confirm(gateway, "dev-1", issued["exchange_id"], wrong) for _ in range(5)]
    too_many = await confirm(gateway, "dev-1", issued["exchange_id"], right)

    assert [a.status_code for a in answers] == [422] * 5
    assert [a.json()["attempts_left"] for a in answers] == [4, 3, 2, 1, 0]
    assert answers[0].json()["code"] == "wrong_code"
    assert too_many.status_code == 429 and too_many.json()["attempts_left"] == 0
    assert await blocked_for(gateway, "dev-1") is None
    assert gateway.events(DeviceBlocked) == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_recorded_code1_and_code3_are_not_accepted_in_a_new_exchange(
        gateway: Any) -> None:
    """Code 3 depends only on the secret, the action and code 1: someone who heard one exchange
    must not replay it in a new one. A code 1 is used once per device (409 code1_reused); a
    new registration (a new secret) starts afresh."""
    device = await gateway.register("dev-1")
    code1 = "271828"
    first = (await issue(gateway, "dev-1", "unblock", code1)).json()
    code3 = codes.code3(device["device_secret"], "unblock", code1, first["code2"])
    assert (await confirm(gateway, "dev-1", first["exchange_id"], code3)).status_code == 200

    again = await issue(gateway, "dev-1", "unblock", code1)
    expired_one = await issue(gateway, "dev-1", "block", "314159")  # no update: refused first
    unconfirmed = await issue(gateway, "dev-1", "unblock", "161803")
    reused_unconfirmed = await issue(gateway, "dev-1", "unblock", "161803")

    assert again.status_code == 409, again.text
    assert again.json()["code"] == "code1_reused" and "new code 1" in again.json()["detail"]
    assert expired_one.json()["code"] == "no_active_update"
    assert unconfirmed.status_code == 201
    assert reused_unconfirmed.json()["code"] == "code1_reused"
    assert len(gateway.events(DeviceUnblocked)) <= 1

    renewed = await gateway.register("dev-1", secret=device["device_secret"])
    fresh = await issue(gateway, "dev-1", "unblock", code1)
    assert fresh.status_code == 201, fresh.text
    assert fresh.json()["code2"] == codes.code2(renewed["device_secret"], "unblock", code1)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_expired_exchange_is_410(gateway: Any) -> None:
    device = await gateway.register("dev-1")
    issued = (await issue(gateway, "dev-1", "unblock", "765432")).json()
    code3 = codes.code3(device["device_secret"], "unblock", "765432", issued["code2"])
    gateway.clock.advance(timedelta(minutes=10, seconds=1))

    expired = await confirm(gateway, "dev-1", issued["exchange_id"], code3)

    assert expired.status_code == 410
    assert "expired" in expired.json()["detail"]
    assert gateway.events(DeviceUnblocked) == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_refusals_of_the_exchange(gateway: Any) -> None:
    await gateway.register("dev-1")

    no_update = await issue(gateway, "dev-1", "block", "123456")
    bad_code1 = await issue(gateway, "dev-1", "unblock", "12-34")
    bad_action = await issue(gateway, "dev-1", "reboot", "123456")
    unknown_device = await issue(gateway, "dev-9", "unblock", "123456")
    unknown_exchange = await confirm(gateway, "dev-1", "f" * 32, "123456")
    issued = [await issue(gateway, "dev-1", "unblock", f"12345{n}") for n in range(6)]

    assert no_update.status_code == 409 and no_update.json()["code"] == "no_active_update"
    assert bad_code1.status_code == 422 and "code1 must be 6 digits" in bad_code1.json()["detail"]
    assert bad_action.status_code == 422
    assert unknown_device.status_code == 404
    assert unknown_exchange.status_code == 404
    assert [r.status_code for r in issued] == [201] * 5 + [429]  # S6: exchanges per device
    assert issued[-1].json()["code"] == "too_many_exchanges"
    assert issued[-1].headers["retry-after"] == "600"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_internal_api_needs_the_shared_secret_and_is_off_without_one(
    gateway: Any, start_gateway: Any,
) -> None:
    body = {"action": "unblock", "code1": "123456"}
    await gateway.register("dev-1")

    missing = await gateway.client.post(codes_path("dev-1"), json=body)
    wrong = await gateway.client.post(codes_path("dev-1"), json=body,
                                      headers={"X-Lockstep-Internal": TOKEN + "x"})
    right = await gateway.client.post(codes_path("dev-1"), json=body, headers=HEADERS)
    unconfigured = await start_gateway()  # the default: internal API disabled
    disabled = await unconfigured.client.post(codes_path("dev-1"), json=body, headers=HEADERS)

    assert missing.status_code == 401 and wrong.status_code == 403
    assert right.status_code == 201
    assert disabled.status_code == 503
    assert disabled.json()["detail"].startswith("internal API not configured")
