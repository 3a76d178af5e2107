"""Issue 15: the site admin chooses, per device model, what "waiting for update" means for
devices with a hawkBit DDI agent — in Device management, in their language, audited. The
default is "blocked by the admin" (SWUpdate and rauc-hawkbit cannot stage); choosing "package
staged" asks first."""

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


async def test_the_admin_chooses_what_waiting_means_per_ddi_model(
        browser: Browser, lockstep: Lockstep) -> None:
    await register_ddi(lockstep, "SWU-1", "handheld")
    await register_ddi(lockstep, "SWU-2", "handheld")
    alice = await open_console(browser, lockstep, "alice")
    await alice.click("[data-tab='devices']")
    section = alice.locator("#ddi-models")
    handheld = section.locator("tr[data-model='handheld']")
    await expect(handheld.locator("td[data-column='devices']")).to_have_text("2")
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
