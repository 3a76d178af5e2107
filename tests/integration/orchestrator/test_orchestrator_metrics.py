"""What an operator watches (X5): updates by saga state and devices by state, from the
database at scrape time."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from lockstep_shared import metrics
from lockstep_shared.catalogue import DeviceBlocked, DeviceRegistered
from lockstep_shared.db import reader
from orchestrator.service_layer.fleet_metrics import FleetMetrics

from .conftest import SITE_BODY, Harness, downloaded

pytestmark = pytest.mark.integration


def gauge(name: str, state: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"state": state})


async def test_updates_and_devices_by_state_are_read_at_scrape(harness: Harness) -> None:
    h = harness
    assert (await h.client.post("/api/v1/sites", json=SITE_BODY)).status_code == 201
    await h.deliver(h.watcher, downloaded())
    for serial in ("IMEI1", "IMEI2"):
        await h.deliver(h.gateway, DeviceRegistered(
            site_id="shop-1", serial=serial, model="TC52", app_version="03.01.00_030",
            registered_at=h.clock()))
    opened = await h.client.post("/api/v1/sites/shop-1/updates",
                                 json={"product": "shop", "backups_confirmed": True})
    uid = opened.json()["update_id"]
    await h.client.post(f"/api/v1/updates/{uid}/start-notifications", json={"serials": None})
    await h.deliver(h.gateway, DeviceBlocked(site_id="shop-1", update_id=uid, serial="IMEI1",
                                             blocked_at=h.clock()))

    fleet = FleetMetrics(reader(h.service.engine))
    fleet.start()
    try:
        body, _ = await metrics.render()
    finally:
        fleet.stop()
    assert gauge("lockstep_updates", "notifying") == 1
    assert gauge("lockstep_updates", "concluded") == 0
    assert gauge("lockstep_devices", "enabled") == 2
    assert gauge("lockstep_devices", "blocked") == 1
    assert b'lockstep_updates{state="notifying"} 1.0' in body
