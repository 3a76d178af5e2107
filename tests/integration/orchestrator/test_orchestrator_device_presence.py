"""U3: the grid tells a device online now (it polled the gateway lately: ``DevicesConnected``)
from one last seen a while ago; the contact never goes back in time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lockstep_shared.catalogue import DeviceRegistered, DevicesConnected

from .conftest import SITE_BODY, Harness


async def grid(h: Harness) -> dict[str, dict]:
    answer = await h.client.get("/api/v1/sites/shop-1/devices")
    assert answer.status_code == 200, answer.text
    return {d["serial"]: d for d in answer.json()["devices"]}


@pytest.mark.parametrize("settings_overrides", [{"device_online_s": 75}])
async def test_a_device_is_online_while_it_polls_and_last_seen_once_it_stops(
        harness: Harness) -> None:
    h = harness
    assert (await h.client.post("/api/v1/sites", json=SITE_BODY)).status_code == 201
    for serial in ("POLLS", "SILENT"):
        await h.deliver(h.gateway, DeviceRegistered(site_id="shop-1", serial=serial,
                                                    model="TC52", app_version="03.01.00_030",
                                                    registered_at=h.clock()))
    registered = h.clock()
    h.clock.advance(60)
    await h.deliver(h.gateway, DevicesConnected(site_id="shop-1", serials=("POLLS",),
                                                seen_at=h.clock()))
    h.clock.advance(30)  # 90 s after registering, 30 s after the report
    devices = await grid(h)
    assert devices["POLLS"]["online"] and not devices["SILENT"]["online"]
    management = await h.client.get("/api/v1/sites/shop-1/device-management")
    assert {d["serial"]: d["online"] for d in management.json()["devices"]} == {
        "POLLS": True, "SILENT": False}
    assert devices["SILENT"]["last_contact"].startswith(registered.strftime("%Y-%m-%dT%H:%M"))

    # an older report (out of order) changes nothing; silence past 75 s is "last seen"
    await h.deliver(h.gateway, DevicesConnected(site_id="shop-1", serials=("POLLS", "SILENT"),
                                                seen_at=h.clock() - timedelta(seconds=200)))
    devices = await grid(h)
    assert devices["POLLS"]["online"] and not devices["SILENT"]["online"]
    h.clock.advance(50)
    assert not (await grid(h))["POLLS"]["online"]
    management = await h.client.get("/api/v1/sites/shop-1/device-management")
    assert {d["serial"]: d["online"] for d in management.json()["devices"]} == {
        "POLLS": False, "SILENT": False}
