"""D2: the long-poll push channel, acknowledgements and the delivery deadline."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from device_gateway.adapters.tables import notifications
from lockstep_shared.bus import Outgoing
from lockstep_shared.catalogue import (
    DeviceNotificationDelivered,
    DeviceNotificationNotDelivered,
    DeviceNotificationRequested,
)

pytestmark = pytest.mark.integration


def start_request(request_id: str, serials: tuple[str, ...] | None = None,
                  kind: str = "start") -> DeviceNotificationRequested:
    return DeviceNotificationRequested(site_id="shop-1", update_id="upd-1", kind=kind,
                                       serials=serials, request_id=request_id)


async def poll(gateway: Any, device: dict[str, Any], wait: float = 0) -> list[dict[str, Any]]:
    response = await gateway.client.get(f"/device/v1/notifications?wait={wait}",
                                        headers=gateway.auth(device))
    assert response.status_code == 200, response.text
    return response.json()["notifications"]


async def _waiting(gateway: Any, polls: int) -> bool:
    return await gateway.long_polls_waiting() == polls


async def row_count(gateway: Any) -> int:
    async with gateway.service.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(notifications))).scalar_one()


async def test_waiting_long_poll_is_woken_by_a_notification_request(gateway: Any) -> None:
    device = await gateway.register("dev-1")
    waiting = asyncio.create_task(poll(gateway, device, wait=20))
    await gateway.eventually(lambda: _waiting(gateway, 1))

    started = asyncio.get_running_loop().time()
    await gateway.publish(start_request("req-1"))
    received = await asyncio.wait_for(waiting, 10)

    assert asyncio.get_running_loop().time() - started < 3
    assert [(n["kind"], n["update_id"]) for n in received] == [("start", "upd-1")]


async def test_reconnecting_device_gets_what_it_missed_oldest_first(gateway: Any) -> None:
    device = await gateway.register("dev-1")
    await gateway.publish(start_request("req-1"))
    await gateway.eventually(lambda: _count_is(gateway, 1))
    await gateway.publish(start_request("req-2", kind="error"))
    await gateway.eventually(lambda: _count_is(gateway, 2))

    missed = await poll(gateway, device, wait=10)
    again = await poll(gateway, device, wait=0)

    assert [n["kind"] for n in missed] == ["start", "error"]
    assert again == missed  # not acknowledged yet: still pending


async def _count_is(gateway: Any, expected: int) -> bool:
    return await row_count(gateway) == expected


async def test_request_for_all_devices_is_one_row_each_enabled_device(gateway: Any) -> None:
    for serial in ("dev-1", "dev-2", "dev-3"):
        await gateway.register(serial)
    envelope = await gateway.publish(start_request("req-1"))
    await gateway.eventually(lambda: _count_is(gateway, 3))

    await gateway.bus.publish([Outgoing.of(envelope)])  # the same message redelivered
    await gateway.publish(start_request("req-1"))  # the same request, another message
    await asyncio.sleep(0.5)
    assert await row_count(gateway) == 3


async def test_request_for_some_devices_reaches_only_them(gateway: Any) -> None:
    one = await gateway.register("dev-1")
    two = await gateway.register("dev-2")
    await gateway.publish(start_request("req-1", serials=("dev-2",)))
    await gateway.eventually(lambda: _count_is(gateway, 1))

    assert await poll(gateway, one) == []
    assert [n["kind"] for n in await poll(gateway, two)] == ["start"]


async def test_ack_publishes_delivered_once_and_other_devices_get_404(gateway: Any) -> None:
    device = await gateway.register("dev-1")
    other = await gateway.register("dev-2")
    request = await gateway.publish(start_request("req-1", serials=("dev-1",)))
    [notification] = await poll(gateway, device, wait=10)
    ack = f"/device/v1/notifications/{notification['id']}/ack"

    stranger = await gateway.client.post(ack, headers=gateway.auth(other))
    first = await gateway.client.post(ack, headers=gateway.auth(device))
    second = await gateway.client.post(ack, headers=gateway.auth(device))
    unknown = await gateway.client.post("/device/v1/notifications/999999/ack",
                                        headers=gateway.auth(device))

    assert stranger.status_code == 404 and "no notification" in stranger.json()["detail"]
    assert (first.status_code, second.status_code, unknown.status_code) == (204, 204, 404)
    await gateway.eventually(lambda: len(gateway.events(DeviceNotificationDelivered)) == 1)
    await asyncio.sleep(1.5)  # past the deadline: an acknowledged one is never "not delivered"
    assert len(gateway.events(DeviceNotificationDelivered)) == 1
    assert gateway.events(DeviceNotificationNotDelivered) == []
    delivered_type = DeviceNotificationDelivered.model_fields["type"].default
    delivered = next(e for e in gateway.published if e.type == delivered_type)
    assert delivered.data.serial == "dev-1" and delivered.data.kind == "start"
    assert delivered.causationid == request.id
    assert delivered.correlationid == request.correlationid
    assert await poll(gateway, device) == []


async def test_not_delivered_after_deadline_with_the_reason(gateway: Any) -> None:
    offline = await gateway.register("dev-offline")
    silent = await gateway.register("dev-silent")
    await gateway.publish(start_request("req-1"))
    await gateway.eventually(lambda: _count_is(gateway, 2))
    assert len(await poll(gateway, silent)) == 1  # handed over, never acknowledged

    await gateway.eventually(
        lambda: len(gateway.events(DeviceNotificationNotDelivered)) == 2, within=5)
    reasons = {e.serial: e.reason for e in gateway.events(DeviceNotificationNotDelivered)}
    assert reasons == {"dev-offline": "device not connected",
                       "dev-silent": "not acknowledged in time"}

    # it stays pending; a late acknowledgement still counts as delivered
    [late] = await poll(gateway, offline)
    ack = await gateway.client.post(f"/device/v1/notifications/{late['id']}/ack",
                                    headers=gateway.auth(offline))
    assert ack.status_code == 204
    await gateway.eventually(lambda: len(gateway.events(DeviceNotificationDelivered)) == 1)
    await asyncio.sleep(0.5)
    assert len(gateway.events(DeviceNotificationNotDelivered)) == 2


async def test_start_fetched_by_a_waiting_long_poll_never_acknowledged_is_not_delivered(
    start_gateway: Any,
) -> None:
    """The production deadline (60 s) on the gateway's clock: a START handed to a waiting
    long-poll, polled again and never acknowledged is reported once the deadline passed (74 s
    later), not before, with the reason the admin sees and the request's correlation."""
    gateway = await start_gateway(delivery_deadline_s=60.0, sweep_interval_s=0.1)
    await gateway.configure_site()
    device = await gateway.register("dev-1")
    waiting = asyncio.create_task(poll(gateway, device, wait=20))
    await gateway.eventually(lambda: _waiting(gateway, 1))
    request = await gateway.publish(start_request("req-1"))
    assert [n["kind"] for n in await asyncio.wait_for(waiting, 10)] == ["start"]
    assert [n["kind"] for n in await poll(gateway, device)] == ["start"]  # fetched again

    gateway.clock.advance(timedelta(seconds=59))
    await asyncio.sleep(0.5)  # several sweeps
    assert gateway.events(DeviceNotificationNotDelivered) == []
    gateway.clock.advance(timedelta(seconds=15))
    await gateway.eventually(lambda: len(gateway.events(DeviceNotificationNotDelivered)) == 1,
                             within=5)

    [report] = gateway.events(DeviceNotificationNotDelivered)
    assert (report.serial, report.kind, report.reason) == ("dev-1", "start",
                                                           "not acknowledged in time")
    sent = next(e for e in gateway.published
                if e.type == DeviceNotificationNotDelivered.model_fields["type"].default)
    assert sent.correlationid == request.correlationid and sent.causationid == request.id
    await asyncio.sleep(0.5)
    assert len(gateway.events(DeviceNotificationNotDelivered)) == 1  # reported once


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_long_poll_times_out_empty(gateway: Any) -> None:
    device = await gateway.register("dev-1")
    started = asyncio.get_running_loop().time()
    assert await poll(gateway, device, wait=0.5) == []
    assert 0.4 < asyncio.get_running_loop().time() - started < 3
    bad = await gateway.client.get("/device/v1/notifications?wait=99",
                                   headers=gateway.auth(device))
    assert bad.status_code == 422
