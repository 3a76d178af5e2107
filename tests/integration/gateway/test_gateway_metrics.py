"""X5: the gateway's figures on /metrics — push delivery latency observed at the ack, and the
long-polls connected to this process."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from lockstep_shared.catalogue import DeviceNotificationRequested
from tests.integration.gateway.test_gateway_update_flow import release

pytestmark = pytest.mark.integration


def figure(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match is not None, f"{name} not on /metrics"
    return float(match.group(1))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_metrics_show_push_latency_after_an_ack_and_connected_devices(
    gateway: Any,
) -> None:
    device = await gateway.register("dev-1")
    await release(gateway)  # an END is handed out once its update released the devices
    count = 'lockstep_push_delivery_seconds_count{kind="end"}'
    total = 'lockstep_push_delivery_seconds_sum{kind="end"}'
    before = await gateway.client.get("/metrics")
    already = figure(before.text, count) if count in before.text else 0.0
    seconds = figure(before.text, total) if total in before.text else 0.0

    waiting = asyncio.create_task(gateway.client.get("/device/v1/notifications?wait=20",
                                                     headers=gateway.auth(device)))
    await gateway.eventually(lambda: _one_waiting(gateway))
    connected = await gateway.client.get("/metrics")
    await gateway.publish(DeviceNotificationRequested(
        site_id="shop-1", update_id="upd-1", kind="end", request_id="req-end"))
    [notification] = (await waiting).json()["notifications"]
    await gateway.client.post(f"/device/v1/notifications/{notification['id']}/ack",
                              headers=gateway.auth(device))
    after = await gateway.client.get("/metrics")

    assert figure(connected.text, "lockstep_gateway_connected_devices") == 1
    assert figure(after.text, "lockstep_gateway_connected_devices") == 0
    assert figure(after.text, count) == already + 1
    assert 0 < figure(after.text, total) - seconds < 10


async def _one_waiting(gateway: Any) -> bool:
    return await gateway.long_polls_waiting() == 1
