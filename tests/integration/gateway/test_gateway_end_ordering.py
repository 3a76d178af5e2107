"""END UPDATE is handed to a device only once the gateway has recorded that the update released
the devices, so the directive a device asks for after END is never "in preparation"
(docs/device-protocol.md §9.1).

The orchestrator emits ``DevicesReleased`` and the END ``DeviceNotificationRequested`` together,
but the gateway consumes them concurrently (prefetch, and two replicas sharing the queue): the
END may be committed first. These tests deliver it first on purpose."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lockstep_shared.bus.rabbit import RabbitBus
from lockstep_shared.catalogue import (
    DeviceNotificationRequested,
    DeviceNotificationsQueued,
    DevicesReleased,
)
from tests.integration.gateway.test_gateway_push import row_count
from tests.integration.gateway.test_gateway_update_flow import (
    PACKAGE,
    open_update,
    phase_is,
    start_server_update,
)

pytestmark = pytest.mark.integration

END = DeviceNotificationRequested(site_id="shop-1", update_id="upd-1", kind="end",
                                  request_id="req-end")


async def poll(gateway: Any, device: dict[str, Any]) -> list[dict[str, Any]]:
    response = await gateway.client.get("/device/v1/notifications?wait=20",
                                        headers=gateway.auth(device))
    assert response.status_code == 200, response.text
    return response.json()["notifications"]


async def directive_status(gateway: Any, device: dict[str, Any]) -> int:
    response = await gateway.client.get("/device/v1/update", headers=gateway.auth(device))
    return response.status_code


async def _waiting(gateway: Any, polls: int) -> bool:
    return await gateway.long_polls_waiting() == polls


async def test_end_consumed_before_the_release_waits_for_it(gateway: Any) -> None:
    device = await gateway.register("dev-1")
    await open_update(gateway)
    await start_server_update(gateway, waiting=("dev-1",))
    waiting = asyncio.create_task(poll(gateway, device))
    await gateway.eventually(lambda: _waiting(gateway, 1))

    await gateway.publish(END)
    await gateway.eventually(lambda: _count_is(gateway, 1))
    done, _ = await asyncio.wait({waiting}, timeout=1.0)
    if done:  # handed over before the release: the directive must already answer the package
        assert [n["kind"] for n in waiting.result()] == ["end"]
        assert await directive_status(gateway, device) == 200
    assert not done, "END was handed over before the gateway recorded the release"

    started = asyncio.get_running_loop().time()
    await gateway.publish(DevicesReleased(site_id="shop-1", update_id="upd-1", package=PACKAGE))
    received = await asyncio.wait_for(waiting, 10)

    assert asyncio.get_running_loop().time() - started < 3
    assert [(n["kind"], n["update_id"]) for n in received] == [("end", "upd-1")]
    assert await directive_status(gateway, device) == 200


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_replicas_on_rabbitmq_never_hand_out_end_before_the_release(
    start_gateway: Any, amqp_url: str, bus_namespace: str
) -> None:
    first = await start_gateway(bus=RabbitBus(amqp_url, bus_namespace))
    second = await start_gateway(bus=RabbitBus(amqp_url, bus_namespace))
    await first.configure_site()
    devices = {serial: await first.register(serial) for serial in ("dev-a", "dev-b")}
    await open_update(first)
    await start_server_update(first, waiting=("dev-a", "dev-b"))
    # one device waits on each replica: whichever consumes the release, one is on the other
    replicas = {"dev-a": first, "dev-b": second}
    polls = {serial: asyncio.create_task(poll(replicas[serial], devices[serial]))
             for serial in devices}
    await first.eventually(lambda: _waiting(first, 2))

    await first.publish(END)
    await first.eventually(lambda: _count_is(first, 2))
    done, _ = await asyncio.wait(set(polls.values()), timeout=1.0)
    for serial, task in polls.items():
        if task in done:  # handed over early: the directive must answer the package
            assert await directive_status(replicas[serial], devices[serial]) == 200, (
                f"{serial} got END while the directive still answered 409")
    assert not done

    await first.publish(DevicesReleased(site_id="shop-1", update_id="upd-1", package=PACKAGE))
    received = await asyncio.wait_for(asyncio.gather(*polls.values()), 10)

    assert [[n["kind"] for n in r] for r in received] == [["end"], ["end"]]
    for serial in devices:
        assert await phase_is(replicas[serial], "released")
        assert await directive_status(replicas[serial], devices[serial]) == 200
    queued = [(q.request_id, q.kind) for q in first.events(DeviceNotificationsQueued)]
    assert ("req-end", "end") in queued


async def _count_is(gateway: Any, count: int) -> bool:
    return await row_count(gateway) == count
