"""Issue 15: devices with a hawkBit DDI agent in Device management, in the admin's language,
audited: an unknown serial that presented the site's GatewayToken asks to join and is approved
(or dismissed) by the admin, never registered by itself (§4); and the admin chooses, per device
model, what "waiting for update" means — by default "blocked by the admin" (SWUpdate and
rauc-hawkbit cannot stage); choosing "package staged" asks first (§3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from console_harness import (
    FROM_VERSION,
    Lockstep,
    answer,
    assert_accessible,
    open_console,
    shot,
    start_lockstep,
)
from playwright.async_api import Browser, expect


@pytest.fixture
async def lockstep(tmp_path: Path) -> AsyncIterator[Lockstep]:
    async for running in start_lockstep(tmp_path):
        yield running


async def register_ddi(lockstep: Lockstep, serial: str, model: str) -> None:
    async with httpx.AsyncClient(base_url=lockstep.env.gateway_urls[0], timeout=30) as http:
        response = await http.post("/device/v1/registrations", json={
            "site_id": lockstep.site_id, "enrolment_code": lockstep.enrolment_code,
            "serial": serial, "model": model, "app_version": FROM_VERSION, "agent": "ddi"})
    assert response.status_code == 201, response.text


async def poll_with_the_gateway_token(lockstep: Lockstep, token: str, serial: str) -> int:
    async with httpx.AsyncClient(base_url=lockstep.env.gateway_urls[0], timeout=30) as http:
        response = await http.get(f"/{lockstep.site_id}/controller/v1/{serial}",
                                  headers={"Authorization": f"GatewayToken {token}"})
    return response.status_code


async def test_the_admin_admits_ddi_devices_and_chooses_what_waiting_means_per_model(
        browser: Browser, lockstep: Lockstep) -> None:
    await register_ddi(lockstep, "SWU-1", "handheld")
    await register_ddi(lockstep, "SWU-2", "handheld")
    token = (await lockstep.api("alice", "POST",
                                f"/sites/{lockstep.site_id}/ddi-gateway-token"))["gateway_token"]
    assert await poll_with_the_gateway_token(lockstep, token, "SWU-3") == 404
    assert await poll_with_the_gateway_token(lockstep, token, "STRANGER-1") == 404
    alice = await open_console(browser, lockstep, "alice")
    await alice.click("[data-tab='devices']")

    # §4: two unknown serials asked to join; one is ours, one is not
    joining = alice.locator("#ddi-join-requests")
    await expect(joining.locator("tr[data-serial]")).to_have_count(2)
    await expect(alice.locator("#management-grid tr[data-serial='SWU-3']")).to_have_count(0)
    await assert_accessible(alice, "device management with devices asking to join")
    await shot(alice, "39-ddi-join-requests")
    stranger = joining.locator("tr[data-serial='STRANGER-1']")
    await stranger.locator("button.ddi-join-dismiss").click()
    await answer(alice, "ddi-dismiss", "yes")
    await expect(stranger).to_have_count(0)
    ours = joining.locator("tr[data-serial='SWU-3']")
    await ours.locator("input.ddi-join-model").fill("handheld")
    await ours.locator("input.ddi-join-version").fill(FROM_VERSION)
    await ours.locator("button.ddi-join-approve").click()
    await expect(alice.locator("#management-grid tr[data-serial='SWU-3']")).to_contain_text(
        FROM_VERSION)
    await expect(joining.locator("tr[data-serial]")).to_have_count(0)
    assert await poll_with_the_gateway_token(lockstep, token, "SWU-3") == 200
    audited = await lockstep.api("alice", "GET", "/audit?action=device.ddi_join_approved")
    assert [(e["actor"], e["outcome"]) for e in audited["entries"]] == [("alice", "ok")]

    # §3: what "waiting" means per model
    section = alice.locator("#ddi-models")
    handheld = section.locator("tr[data-model='handheld']")
    await expect(handheld.locator("td[data-column='devices']")).to_have_text("3")
    await expect(handheld).to_contain_text("(default)")
    await expect(handheld.locator("select")).to_have_value("admin")
    await assert_accessible(alice, "device management with the DDI models")

    # "package staged" asks first; refusing changes nothing
    await handheld.locator("select").select_option("staged")
    await handheld.locator("button.ddi-save").click()
    await answer(alice, "ddi-staged", "no")
    await handheld.locator("button.ddi-save").click()
    await answer(alice, "ddi-staged", "yes", screenshot="40-ddi-staged-question")
    await expect(alice.locator("#ddi-models-status")).to_contain_text(
        "Saved: model handheld — package staged")
    await expect(handheld.locator("select")).to_have_value("staged")
    await expect(handheld).not_to_contain_text("(default)")

    # a model with no device yet: rauc-hawkbit's bundles, blocked by the admin
    await alice.fill("#ddi-new-model", "rauc-box")
    await section.locator("tr.ddi-new input.ddi-suffix").fill(".raucb")
    await alice.click("#ddi-add")
    rauc = section.locator("tr[data-model='rauc-box']")
    await expect(rauc.locator("td[data-column='devices']")).to_have_text("0")
    await expect(rauc.locator("input.ddi-suffix")).to_have_value(".raucb")
    await shot(alice, "41-ddi-models")

    rules = await lockstep.api("alice", "GET", f"/sites/{lockstep.site_id}/ddi-models")
    assert [(m["model"], m["waiting"], m["artifact_suffix"], m["chosen"])
            for m in rules["models"]] == [("handheld", "staged", ".swu", True),
                                          ("rauc-box", "admin", ".raucb", True)]
    audited = await lockstep.api("alice", "GET", "/audit?action=site.ddi_model_rule")
    assert sorted((e["actor"], e["details"]["model"], e["details"]["waiting"], e["outcome"])
                  for e in audited["entries"]) == [("alice", "handheld", "staged", "ok"),
                                                   ("alice", "rauc-box", "admin", "ok")]

    # in Italian, the section and the choices
    await alice.select_option("#language-select", "it")
    await expect(section.locator("h3")).to_contain_text("cosa significa")
    await expect(rauc.locator("select option:checked")).to_have_text(
        "bloccato dall'amministratore")
    assert not alice.errors  # type: ignore[attr-defined]
