"""The saga watchdog on the orchestrator's real database (issue 9 §2): a push or the install
request without an outcome by its deadline is sent again unchanged, a bounded number of times,
then shown stuck in the update's view and in the metrics; an outcome settles it."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY

from lockstep_shared.catalogue import (
    DeviceNotificationDelivered,
    DeviceNotificationNotDelivered,
    DeviceNotificationRequested,
    InstallRequested,
    InstallStarted,
)
from lockstep_shared.envelope import Envelope

from .conftest import Harness
from .test_orchestrator_update_flow import SERIALS, hand_in, prepared_site

pytestmark = pytest.mark.integration

WATCHDOG = {"watchdog_push_deadline_s": 120, "watchdog_install_start_s": 60,
            "watchdog_max_reissues": 2}


async def watch(h: Harness) -> list[Envelope]:
    """One round of the watchdog; what it sent."""
    await h.handlers.watchdog.round()
    return await h.outbox()


def stuck_gauge(kind: str) -> float:
    return REGISTRY.get_sample_value("lockstep_saga_commands_stuck", {"kind": kind}) or 0.0


async def opened(h: Harness) -> str:
    await prepared_site(h)
    answer = await h.client.post("/api/v1/sites/shop-1/updates",
                                 json={"product": "shop", "backups_confirmed": True})
    await h.outbox()
    return str(answer.json()["update_id"])


@pytest.mark.parametrize("settings_overrides", [WATCHDOG])
async def test_a_push_without_outcome_is_sent_again_then_shown_stuck(
        harness: Harness, settings_overrides: dict[str, Any]) -> None:
    h = harness
    uid = await opened(h)
    started = await h.client.post(f"/api/v1/updates/{uid}/start-notifications", json={})
    request_id = started.json()["request_id"]
    [first] = await h.outbox()

    h.clock.advance(119)
    assert await watch(h) == []  # not overdue yet

    h.clock.advance(1)
    [again] = await watch(h)
    assert again.type == "lockstep.device.notification-requested"
    assert again.id != first.id  # a new delivery for the gateway's inbox …
    assert again.data == first.data  # … of the same command (same request id)
    assert isinstance(again.data, DeviceNotificationRequested)
    assert again.data.request_id == request_id and again.correlationid == uid
    assert await watch(h) == []  # the deadline counts from the last send

    h.clock.advance(120)
    assert len(await watch(h)) == 1  # the second and last re-send
    h.clock.advance(120)
    assert await watch(h) == []  # no more: stuck
    view = (await h.client.get(f"/api/v1/updates/{uid}")).json()
    [stuck] = view["stuck"]
    assert (stuck["what"], stuck["command_id"], stuck["sent"]) == ("start", request_id, 3)
    assert "3 devices have no outcome" in stuck["detail"]
    await h.handlers.watchdog.refresh_metrics()
    assert stuck_gauge("start") == 1

    # The outcomes arrive after all: the command settles, nothing is stuck any more.
    for serial in SERIALS[:2]:
        await h.deliver(h.gateway, DeviceNotificationDelivered(
            site_id="shop-1", update_id=uid, serial=serial, kind="start",
            delivered_at=h.clock()))
    await watch(h)
    assert (await h.client.get(f"/api/v1/updates/{uid}")).json()["stuck"] != []
    await h.deliver(h.gateway, DeviceNotificationNotDelivered(
        site_id="shop-1", update_id=uid, serial=SERIALS[2], kind="start", reason="offline"))
    assert await watch(h) == []
    assert (await h.client.get(f"/api/v1/updates/{uid}")).json()["stuck"] == []
    await h.handlers.watchdog.refresh_metrics()
    assert stuck_gauge("start") == 0


@pytest.mark.parametrize("settings_overrides", [WATCHDOG])
async def test_a_push_with_its_outcomes_is_never_sent_again(
        harness: Harness, settings_overrides: dict[str, Any]) -> None:
    h = harness
    uid = await opened(h)
    await h.client.post(f"/api/v1/updates/{uid}/start-notifications",
                        json={"serials": [SERIALS[0]]})
    await h.outbox()
    await h.deliver(h.gateway, DeviceNotificationDelivered(
        site_id="shop-1", update_id=uid, serial=SERIALS[0], kind="start",
        delivered_at=h.clock()))
    h.clock.advance(1000)
    assert await watch(h) == []
    # A push to one device is judged by that device only, not by the others still pending.
    await h.client.post(f"/api/v1/updates/{uid}/start-notifications",
                        json={"serials": [SERIALS[1]]})
    [request] = await h.outbox()
    h.clock.advance(120)
    [again] = await watch(h)
    assert again.data == request.data


@pytest.mark.parametrize("settings_overrides", [WATCHDOG])
async def test_the_install_request_is_sent_again_until_the_agent_reports_it_started(
        harness: Harness, settings_overrides: dict[str, Any]) -> None:
    h = harness
    uid = await opened(h)
    await h.client.post(f"/api/v1/updates/{uid}/start-notifications", json={})
    for serial in SERIALS:
        await hand_in(h, serial, uid)
    assert (await h.client.post(f"/api/v1/updates/{uid}/server-update",
                                json={})).status_code == 202
    install = next(e for e in await h.outbox() if e.type == "lockstep.install.requested")
    assert await watch(h) == []  # START has every outcome: settled; the install is not due

    h.clock.advance(60)
    [again] = await watch(h)
    assert isinstance(again.data, InstallRequested)
    assert again.data == install.data and again.id != install.id
    assert again.routing_key == "lockstep.install.requested.shop-1"

    await h.deliver(h.agent, InstallStarted(site_id="shop-1", update_id=uid,
                                            started_at=h.clock()))
    h.clock.advance(600)
    assert await watch(h) == []
    assert (await h.client.get(f"/api/v1/updates/{uid}")).json()["stuck"] == []


@pytest.mark.parametrize("settings_overrides", [WATCHDOG])
async def test_a_start_push_is_moot_once_the_update_moved_on(
        harness: Harness, settings_overrides: dict[str, Any]) -> None:
    h = harness
    uid = await opened(h)
    await h.client.post(f"/api/v1/updates/{uid}/start-notifications",
                        json={"serials": [SERIALS[0]]})
    await h.outbox()
    await h.client.post(f"/api/v1/updates/{uid}/force-requests")
    other = await h.login("anna")  # a single admin approves with the password re-entered
    approved = await h.client.post(f"/api/v1/updates/{uid}/force-approvals",
                                   json={"password": "correct horse battery"}, headers=other)
    assert approved.status_code == 202, approved.text
    await h.outbox()
    h.clock.advance(59)
    assert await watch(h) == []  # START is moot in phase 2; the install is not due yet
