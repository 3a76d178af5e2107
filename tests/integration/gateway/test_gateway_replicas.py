"""Two gateway replicas on RabbitMQ and one PostgreSQL: the replica that committed the
notifications wakes every replica (``DeviceNotificationsQueued`` after commit) at once, and a
notification past its deadline is reported once, not once per replica."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lockstep_shared.bus.rabbit import RabbitBus
from lockstep_shared.catalogue import (
    DeviceNotificationNotDelivered,
    DeviceNotificationRequested,
    DeviceNotificationsQueued,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_replicas_wake_their_devices_and_report_once(
    start_gateway: Any, amqp_url: str, bus_namespace: str
) -> None:
    first = await start_gateway(bus=RabbitBus(amqp_url, bus_namespace))
    second = await start_gateway(bus=RabbitBus(amqp_url, bus_namespace))
    await first.configure_site()
    devices = {serial: await first.register(serial) for serial in ("dev-a", "dev-b", "dev-c")}

    async def poll(replica: Any, device: dict[str, Any]) -> list[dict[str, Any]]:
        response = await replica.client.get("/device/v1/notifications?wait=20",
                                            headers=replica.auth(device))
        return response.json()["notifications"]

    polls = [asyncio.create_task(poll(first, devices["dev-a"])),
             asyncio.create_task(poll(second, devices["dev-b"]))]
    # both replicas run in this process: one poll waits on each
    await first.eventually(lambda: _waiting(first, 2))
    started = asyncio.get_running_loop().time()
    await first.publish(DeviceNotificationRequested(
        site_id="shop-1", update_id="upd-1", kind="start", request_id="req-1"))
    received = await asyncio.wait_for(asyncio.gather(*polls), 10)

    assert asyncio.get_running_loop().time() - started < 3  # no retry loop: rows are there
    assert [[n["kind"] for n in r] for r in received] == [["start"], ["start"]]
    queued = first.events(DeviceNotificationsQueued)  # either replica's, both observe
    assert [(q.request_id, q.kind) for q in queued] == [("req-1", "start")]
    # nobody acknowledges: three notifications, each reported once although both replicas sweep
    await first.eventually(lambda: len(first.events(DeviceNotificationNotDelivered)) == 3)
    await asyncio.sleep(1.0)
    reasons = sorted((e.serial, e.reason) for e in first.events(DeviceNotificationNotDelivered))
    assert reasons == [("dev-a", "not acknowledged in time"),
                       ("dev-b", "not acknowledged in time"),
                       ("dev-c", "device not connected")]


async def _waiting(gateway: Any, polls: int) -> bool:
    return await gateway.long_polls_waiting() == polls
