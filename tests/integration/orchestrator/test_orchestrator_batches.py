"""The orchestrator applies the device events of one moment as one delivery batch (issue 12):
one transaction, the notification outcomes and last syncs as ONE statement each for all its
devices, the update's stop time written once; the same grid as one event at a time, and a
redelivered batch changes nothing."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from sqlalchemy import event

from lockstep_shared.catalogue import (
    DeviceBlocked,
    DeviceDataHandedIn,
    DeviceNotificationDelivered,
    DeviceNotificationNotDelivered,
    DeviceVersionReported,
)
from lockstep_shared.envelope import Envelope

from .conftest import Harness
from .test_orchestrator_update_flow import SERIALS, prepared_site

pytestmark = pytest.mark.integration


async def test_a_batch_of_device_events_is_one_statement_per_kind_and_applied_once(
        harness: Harness) -> None:
    h, c = harness, harness.client
    await prepared_site(h)
    uid = (await c.post("/api/v1/sites/shop-1/updates",
                        json={"product": "shop", "backups_confirmed": True})).json()["update_id"]
    await c.post(f"/api/v1/updates/{uid}/start-notifications", json={"serials": None})
    at = h.clock()
    events: list[Envelope] = []
    for serial in SERIALS[:2]:
        events += [
            h.gateway.new(DeviceNotificationDelivered(site_id="shop-1", update_id=uid,
                                                      serial=serial, kind="start",
                                                      delivered_at=at)),
            h.gateway.new(DeviceBlocked(site_id="shop-1", update_id=uid, serial=serial,
                                        blocked_at=at)),
            h.gateway.new(DeviceDataHandedIn(site_id="shop-1", serial=serial, update_id=uid,
                                             synced_at=at, blocked_at=at)),
        ]
    events.append(h.gateway.new(DeviceNotificationNotDelivered(
        site_id="shop-1", update_id=uid, serial=SERIALS[2], kind="start", reason="offline")))
    statements: list[tuple[str, int]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
             executemany: bool) -> None:
        if statement.startswith("UPDATE devices"):
            statements.append((statement, len(parameters) if executemany else 1))

    engine = h.service.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        [consumer] = h.service.subscriptions
        await asyncio.gather(*(consumer.handle(e) for e in events))
        first = list(statements)
        statements.clear()
        await asyncio.gather(*(consumer.handle(e) for e in events))  # redelivered
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert statements == [], "a redelivered batch changes nothing"
    outcomes = [n for s, n in first if "notification_outcome" in s]
    syncs = [n for s, n in first if "last_sync" in s]
    assert outcomes == [2, 1] and syncs == [2], first
    rows = {d["serial"]: d for d in
            (await c.get("/api/v1/sites/shop-1/devices")).json()["devices"]}
    for serial in SERIALS[:2]:
        assert rows[serial]["notification_outcome"] == "delivered"
        assert rows[serial]["blocked"] and rows[serial]["waiting_for_update"]
        assert rows[serial]["last_sync"] is not None
    assert rows[SERIALS[2]]["notification_outcome"] == "not_delivered"
    assert rows[SERIALS[2]]["notification_note"] == "offline"
    stop = (await c.get(f"/api/v1/updates/{uid}")).json()["stop_time"]
    assert stop["first_blocked_at"] is not None


async def test_a_version_report_is_one_statement_on_the_device(harness: Harness) -> None:
    """The version is saved and whether the device is back at work is answered by the same
    UPDATE (… RETURNING), not by a second SELECT."""
    h = harness
    await prepared_site(h)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if re.search(r"\b(FROM|UPDATE|INTO) devices\b", statement):
            statements.append(statement.split()[0])

    engine = h.service.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        await h.deliver(h.gateway, DeviceVersionReported(
            site_id="shop-1", serial=SERIALS[0], app_version="03.01.00_031",
            reported_at=h.clock()))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert statements == ["UPDATE"]
    rows = {d["serial"]: d for d in
            (await h.client.get("/api/v1/sites/shop-1/devices")).json()["devices"]}
    assert rows[SERIALS[0]]["app_version"] == "03.01.00_031"
