"""The procedures of the source documents through the admin API: every banner state and the
gate (N1, N3), confirmation codes (U13), the failure path with the report to support and the
resolution (U12), entitlement (R4), audit (U15, A7)."""

from __future__ import annotations

import json

import httpx
import pytest

from lockstep_shared.catalogue import (
    DeviceBlocked,
    DeviceRegistered,
    DeviceUnblocked,
    EntitlementChecked,
    InstallFailed,
    InstallStarted,
    InstallSucceeded,
    ReleaseAvailable,
    ReleaseCheckFailed,
)
from lockstep_shared.contracts.confirmation_code import confirmation_response

from .conftest import SITE_BODY, Harness, downloaded

pytestmark = pytest.mark.integration
OPEN = {"product": "shop", "backups_confirmed": True}


@pytest.fixture
def h(harness: Harness) -> Harness:
    return harness


async def banner_and_gate(h: Harness) -> tuple[str, bool]:
    banner = (await h.client.get("/api/v1/sites/shop-1/banner")).json()
    gate = (await h.client.get("/api/v1/sites/shop-1/gate")).json()
    assert banner["message"]
    return banner["state"], gate["open"]


async def test_every_banner_state_and_the_gate_with_a_confirmation_code(h: Harness) -> None:
    c = h.client
    await c.post("/api/v1/sites", json=SITE_BODY)
    assert await banner_and_gate(h) == ("none", True)
    await h.deliver(h.watcher, ReleaseCheckFailed(site_id="shop-1", reason="feed unreachable",
                                                  checked_at=h.clock()))
    assert await banner_and_gate(h) == ("blue", True)
    await h.deliver(h.watcher, ReleaseAvailable(site_id="shop-1", product="shop",
                                                version="03.01.00_031", size=4096,
                                                requires_confirmation_code=True))
    assert await banner_and_gate(h) == ("yellow", True)
    await h.deliver(h.watcher, downloaded().model_copy(
        update={"requires_confirmation_code": True}))
    assert await banner_and_gate(h) == ("white", True)
    details = (await c.get("/api/v1/sites/shop-1/banner")).json()["details_url"]
    assert details == "http://wiki.example/fix/031"

    # U13: a challenge at each opening; wrong codes are counted; the right one opens phase 1.
    first = await c.post("/api/v1/sites/shop-1/updates", json=OPEN)
    assert first.status_code == 201 and first.json()["state"] == "awaiting_code"
    uid, challenge = first.json()["update_id"], first.json()["challenge"]
    assert len(challenge) == 17 and challenge.count("-") == 2
    wrong = await c.post(f"/api/v1/updates/{uid}/confirmation-code",
                         json={"response": "00000-00000-00000"})
    assert wrong.status_code == 422 and wrong.json() == {
        "detail": "the confirmation code is not valid for this release; check it with the "
                  "vendor", "code": "code_not_valid", "attempts_left": 4,
        "reason": "code_not_valid", "params": {"attempts_left": 4}}  # the console's words
    again = await c.post("/api/v1/sites/shop-1/updates", json=OPEN)
    assert again.json()["update_id"] == uid and again.json()["challenge"] != challenge
    assert again.json()["code_attempts_left"] == 5
    stale = confirmation_response("LIC-1", challenge, "shop", "03.01.00_031")
    assert (await c.post(f"/api/v1/updates/{uid}/confirmation-code",
                         json={"response": stale})).status_code == 422
    right = confirmation_response("LIC-1", again.json()["challenge"], "shop", "03.01.00_031")
    opened = await c.post(f"/api/v1/updates/{uid}/confirmation-code",
                          json={"response": right.replace("-", "")})
    assert opened.status_code == 200 and opened.json()["state"] == "open"
    assert [e.type for e in await h.outbox()][-1] == "lockstep.update.opened"
    assert await banner_and_gate(h) == ("green", True)

    # Unlocked for good: cancelled (U2, recorded) and reopened, no code is asked any more.
    assert (await c.post(f"/api/v1/updates/{uid}/cancellation")).status_code == 200
    assert await banner_and_gate(h) == ("green", True)
    reopened = (await c.post("/api/v1/sites/shop-1/updates", json=OPEN)).json()
    assert reopened["state"] == "open" and reopened["challenge"] is None
    uid = reopened["update_id"]

    assert (await c.post(f"/api/v1/updates/{uid}/start-notifications")).status_code == 202
    assert await banner_and_gate(h) == ("update_in_progress", True)
    assert (await c.post(f"/api/v1/updates/{uid}/cancellation")).status_code == 409
    assert (await c.post(f"/api/v1/updates/{uid}/server-update")).status_code == 202
    state, gate_open = await banner_and_gate(h)
    assert (state, gate_open) == ("update_in_progress", False)
    assert "being updated" in (await c.get("/api/v1/sites/shop-1/gate")).json()["reason"]
    await h.deliver(h.agent, InstallSucceeded(site_id="shop-1", update_id=uid,
                                              installed_version="03.01.00_031", duration_s=3))
    assert await banner_and_gate(h) == ("server_updated", True)
    await h.outbox()
    h.clock.advance(60)
    assert (await c.post(f"/api/v1/updates/{uid}/conclusion")).status_code == 200
    concluded = (await h.outbox())[0]
    assert concluded.type == "lockstep.update.concluded"
    assert concluded.data.package.version == "03.01.00_031"  # type: ignore[union-attr]
    assert await banner_and_gate(h) == ("none", True)

    actions = [(e["action"], e["outcome"].split(":")[0]) for e in reversed(
        (await c.get("/api/v1/audit", params={"site_id": "shop-1"})).json()["entries"])]
    at = (await c.get("/api/v1/audit", params={"action": "update.conclude"})).json()[
        "entries"][0]["at"]
    window = {"since": at, "until": at, "site_id": "shop-1"}
    assert [e["action"] for e in (await c.get("/api/v1/audit", params=window)).json()[
        "entries"]] == ["update.conclude"]
    later = {"since": "2099-01-01T02:00:00+02:00"}
    assert (await c.get("/api/v1/audit", params=later)).json()["entries"] == []
    for expected in [("update.open", "ok"), ("update.confirmation_code", "rejected"),
                     ("update.challenge", "ok"), ("update.confirmation_code", "ok"),
                     ("update.cancel", "ok"), ("update.start_push", "ok"),
                     ("update.cancel", "refused"), ("update.server_update", "ok"),
                     ("install.succeeded", "ok"), ("update.conclude", "ok")]:
        assert expected in actions, expected


async def _failed_update(h: Harness) -> str:
    """An update of shop-1 forced by two admins whose install failed: its id."""
    c = h.client
    await c.post("/api/v1/sites", json=SITE_BODY)
    await h.deliver(h.watcher, downloaded())
    await h.deliver(h.gateway, DeviceRegistered(site_id="shop-1", serial="IMEI1", model="TC52",
                                                app_version="03.01.00_030",
                                                registered_at=h.clock()))
    uid = str((await c.post("/api/v1/sites/shop-1/updates", json=OPEN)).json()["update_id"])
    await c.post(f"/api/v1/updates/{uid}/start-notifications")
    await h.deliver(h.gateway, DeviceBlocked(site_id="shop-1", update_id=uid, serial="IMEI1",
                                             blocked_at=h.clock()))
    assert (await c.post(f"/api/v1/updates/{uid}/support-report")).status_code == 409
    assert (await c.post(f"/api/v1/updates/{uid}/force-requests")).status_code == 202
    # (the force rules are tested in test_orchestrator_force; here it only gets us on)
    await h.create_user("bruno", "admin", "shop-1")
    forced = await c.post(f"/api/v1/updates/{uid}/force-approvals",
                          headers=await h.login("bruno"))
    assert forced.status_code == 202, forced.text
    await h.deliver(h.agent, InstallStarted(site_id="shop-1", update_id=uid,
                                            started_at=h.clock()))
    await h.deliver(h.agent, InstallFailed(site_id="shop-1", update_id=uid,
                                           reason="installer exited with code 3", exit_code=3,
                                           log_tail="E: disk full"))
    return uid


@pytest.mark.parametrize("settings_overrides",
                         [{"support_url": "http://support.example/reports"}])
async def test_failure_report_to_support_and_resolution(h: Harness) -> None:
    c = h.client
    await h.create_user("vendor", "support")
    vendor = await h.login("vendor")
    uid = await _failed_update(h)
    assert await banner_and_gate(h) == ("red", True)
    red = (await c.get("/api/v1/sites/shop-1/banner")).json()["message"]
    assert "once the devices are reactivated" in red
    again = await c.post("/api/v1/sites/shop-1/updates", json=OPEN)
    assert again.status_code == 409  # no retry until support resolves it
    assert "support must resolve it" in again.json()["detail"]
    assert "cancel it first" not in again.json()["detail"]

    # Reactivate: ERROR UPDATE to all; the gateway reports the device unblocked.
    assert (await c.post(f"/api/v1/updates/{uid}/error-notifications")).status_code == 202
    stopped = (await c.get(f"/api/v1/updates/{uid}")).json()["stop_time"]
    assert (stopped["seconds"], stopped["complete"]) == (None, False)  # still stopped
    h.clock.advance(42)
    await h.deliver(h.gateway, DeviceUnblocked(site_id="shop-1", serial="IMEI1",
                                               update_id=uid, unblocked_at=h.clock()))
    [device] = (await c.get("/api/v1/sites/shop-1/devices")).json()["devices"]
    assert not device["blocked"] and device["notes"] == "unblocked_after_error"
    assert device["last_contact"] is not None
    # back at work (on the old version) after ERROR UPDATE: the stop time is measured
    stop_time = (await c.get(f"/api/v1/updates/{uid}")).json()["stop_time"]
    assert (stop_time["seconds"], stop_time["complete"]) == (42.0, True)
    back = (await c.get("/api/v1/audit", params={
        "update_id": uid, "action": "update.devices_back_at_work"})).json()["entries"]
    assert [e["details"]["stop_time_s"] for e in back] == [42.0]
    red = (await c.get("/api/v1/sites/shop-1/banner")).json()["message"]
    assert "devices were reactivated" in red and "once the devices" not in red

    # The report: stored at once, delivered in the background until support accepts it.
    received: list[dict[str, object]] = []
    answers = iter([503, 200])

    def support_desk(request: httpx.Request) -> httpx.Response:
        received.append(json.loads(request.content))
        return httpx.Response(next(answers))

    h.remote.answer = support_desk
    sent = await c.post(f"/api/v1/updates/{uid}/support-report")
    assert sent.status_code == 202 and sent.json()["status"] == "pending"
    assert await h.handlers.delivery.deliver_due() == 0  # HTTP 503: kept, retried later
    status = (await c.get(f"/api/v1/updates/{uid}/support-report")).json()
    assert status["attempts"] == 1 and "503" in status["last_error"]
    assert await h.handlers.delivery.deliver_due() == 0  # not due yet (backoff)
    h.clock.advance(3)
    assert await h.handlers.delivery.deliver_due() == 1
    status = (await c.get(f"/api/v1/updates/{uid}/support-report", headers=vendor)).json()
    assert (status["status"], status["attempts"]) == ("delivered", 2)
    report = received[-1]
    assert report["failure"] == {"reason": "installer exited with code 3", "exit_code": 3,
                                 "log_tail": "E: disk full", "interrupted": False}
    stopped_for = report["stop_time"]  # how long the site's devices were stopped
    assert (stopped_for["seconds"], stopped_for["complete"]) == (42.0, True)  # type: ignore[index]
    history = [e["action"] for e in report["history"]]  # type: ignore[union-attr]
    assert history[:2] == ["update.open", "update.start_push"]
    assert "update.devices_back_at_work" in history
    assert "install.failed" in history

    # Support resolves: the red banner goes, a new update may open.
    assert (await c.post(f"/api/v1/updates/{uid}/resolution")).status_code == 403  # admin
    await h.outbox()
    resolved = await c.post(f"/api/v1/updates/{uid}/resolution", headers=vendor)
    assert resolved.status_code == 200 and resolved.json()["state"] == "resolved"
    [event] = await h.outbox()
    assert event.type == "lockstep.update.resolved"
    assert event.data.resolved_by == "vendor"  # type: ignore[union-attr]
    assert (await banner_and_gate(h))[0] == "green"
    # outside an update the grid describes now: the site's version, no notification outcome
    after = (await c.get("/api/v1/sites/shop-1/devices")).json()
    assert after["target_version"] == "03.01.00_030"
    assert after["devices"][0]["on_target_version"] is True
    assert after["devices"][0]["notification_outcome"] is None
    assert after["counts"] == {"enabled": 1, "notified": 0, "delivered": 0, "blocked": 0,
                               "waiting": 0, "on_target": 1}
    assert (await c.post("/api/v1/sites/shop-1/updates", json=OPEN)).status_code == 201
    # the next update starts clean: nothing of the last one's flags and notes
    [fresh] = (await c.get("/api/v1/sites/shop-1/devices")).json()["devices"]
    assert (fresh["notes"], fresh["blocked"], fresh["notification_sent"]) == (None, False, False)
    failed = (await c.get("/api/v1/audit", params={"action": "install.failed"})).json()
    assert failed["entries"][0]["details"]["exit_code"] == 3
    assert failed["entries"][0]["actor"] == "installer-agent"


async def test_no_subscription_offers_nothing(h: Harness) -> None:
    c = h.client
    await c.post("/api/v1/sites", json=SITE_BODY)
    await h.deliver(h.watcher, downloaded())
    await h.deliver(h.watcher, EntitlementChecked(site_id="shop-1", active=False,
                                                  reason="no subscription for this licence",
                                                  checked_at=h.clock()))
    site = (await c.get("/api/v1/sites/shop-1")).json()
    assert site["entitlement"]["active"] is False
    assert site["entitlement"]["reason"] == "no subscription for this licence"
    banner = (await c.get("/api/v1/sites/shop-1/banner")).json()
    assert banner["state"] == "none" and "subscription" in banner["message"]
    refused = await c.post("/api/v1/sites/shop-1/updates", json=OPEN)
    assert refused.status_code == 409 and "subscription" in refused.json()["detail"]
    late = h.clock().replace(year=2025)  # an older answer delivered late changes nothing
    await h.deliver(h.watcher, EntitlementChecked(site_id="shop-1", active=True,
                                                  checked_at=late))
    assert (await c.get("/api/v1/sites/shop-1")).json()["entitlement"]["active"] is False
    h.clock.advance(60)
    await h.deliver(h.watcher, EntitlementChecked(site_id="shop-1", active=True,
                                                  checked_at=h.clock()))
    assert (await c.get("/api/v1/sites/shop-1/banner")).json()["state"] == "green"
    assert (await c.post("/api/v1/sites/shop-1/updates", json=OPEN)).status_code == 201


async def test_a_report_with_no_support_endpoint_says_none_is_configured(h: Harness) -> None:
    uid = await _failed_update(h)
    sent = await h.client.post(f"/api/v1/updates/{uid}/support-report")
    assert sent.status_code == 202, sent.text
    assert sent.json()["status"] == "no_support_endpoint"
    status = (await h.client.get(f"/api/v1/updates/{uid}/support-report")).json()
    assert status["status"] == "no_support_endpoint"
