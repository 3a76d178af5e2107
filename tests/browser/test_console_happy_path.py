"""The whole coordinated update clicked through the console by a site admin, watched live
(no reload) while simulated devices move; the banner in each colour of the way; a site user
sees only the banner, in her language; the language is remembered per user."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from console_harness import (
    FROM_VERSION,
    TO_VERSION,
    Lockstep,
    answer,
    open_console,
    shot,
    start_lockstep,
)
from playwright.async_api import Browser, Page, expect

from lockstep_tools.simulator.fleet import Fleet

HERE = Path(__file__).resolve().parent
DEVICES = 4


@pytest.fixture
async def lockstep(tmp_path: Path) -> AsyncIterator[Lockstep]:
    # phase 2 lasts a few seconds with a silent installer (U8): silent 9 s against the 3 s of
    # "not responding", so a loaded machine whose console refreshes once a second still sees it
    quiet = {
        "LOCKSTEP_AGENT_INSTALLER_COMMAND":
            f"sh {HERE / 'quiet_install.sh'} 9 {{package}} {{version}} {{product}}",
        "LOCKSTEP_AGENT_HEARTBEAT_INTERVAL_S": "30",
    }
    async for running in start_lockstep(tmp_path / "demo", agent_env=quiet):
        yield running


async def test_an_admin_runs_the_whole_update_by_clicking(browser: Browser,
                                                          lockstep: Lockstep) -> None:
    fleet = Fleet(lockstep.url, lockstep.site_id, lockstep.enrolment_code, DEVICES,
                  FROM_VERSION, serial_prefix="POS", wait_s=5)
    await fleet.register()
    await fleet.run()
    try:
        await lockstep.wait_for("release downloaded", lockstep.banner_state,
                                lambda state: state == "green")
        await the_stream_takes_a_ticket_and_only_it_does(lockstep)
        page = await open_console(browser, lockstep, "alice")
        banner = page.locator("#banner")
        await expect(banner).to_have_attribute("data-colour", "green")
        await expect(banner.locator(".details-link")).to_have_attribute(
            "href", re.compile(TO_VERSION))
        await shot(page, "01-banner-green-ready")
        await page.evaluate("window.__sameDocument = true")

        # U2: the backup warning, then phase 1 with the grid of U3
        await page.click("#manage-update")
        await answer(page, "backup-warning", "yes", screenshot="02-backup-warning")
        await expect(page.locator("#window-title")).to_have_text(
            "Manage update – Update available")  # noqa: RUF001
        rows = page.locator("#device-grid tbody tr")
        await expect(rows).to_have_count(DEVICES)
        for column in ("Serial", "Device", "Operator", "Phone", "Last sync",
                       "Notifications enabled", "Reached by START", "Blocked",
                       "Waiting for update", "Notes"):
            await expect(page.locator("#device-grid thead")).to_contain_text(column)
        await expect(page.locator("#start-update")).to_be_disabled()
        await shot(page, "03-phase1-grid")

        # U4: START UPDATE to all, with the outcome per device
        await page.click("#start-all")
        await answer(page, "confirm-start-push", "yes")
        summary = page.locator("dialog[open][data-name='summary-start']")
        await expect(summary.locator("[data-outcome='delivered']")).to_have_count(DEVICES)
        await shot(page, "04-start-outcomes")
        await summary.locator("[data-action='ok']").click()

        # a site user sees only the banner (U1, N2), in her own language
        carol = await open_console(browser, lockstep, "carol")
        await expect(carol.locator("#banner")).to_have_attribute("data-state",
                                                                 "update_in_progress")
        await expect(carol.locator("#tabs")).to_be_hidden()
        await expect(carol.locator("#update-window")).to_be_hidden()
        await expect(carol.locator("#manage-update")).to_have_count(0)
        await carol.select_option("#language-select", "it")
        await expect(carol.locator("#banner .banner-text")).to_contain_text(
            "sospendere l’attività e uscire")  # noqa: RUF001
        await shot(carol, "10-site-user-banner-italian")

        # live, without reload: devices block and hand in their data; the banner turns
        await expect(page.locator("#fleet-counts [data-count='waiting'] b")).to_have_text(
            str(DEVICES))
        await expect(banner).to_have_attribute("data-state", "update_in_progress")
        await expect(banner).to_have_attribute("data-colour", "yellow")
        await expect(page.locator("#device-grid td[data-column='waiting'] .tick")
                     ).to_have_count(DEVICES)
        await shot(page, "05-phase1-every-device-waiting")

        # U6: start the server update; U8: a silent installer is "not responding"
        await page.click("#start-update")
        await answer(page, "confirm-start", "yes")
        await expect(page.locator("#phase")).to_have_text("Phase 2")
        await expect(page.locator("#not-responding")).to_be_visible(timeout=15_000)
        await expect(page.locator("#not-responding")).to_contain_text("DO NOT END THE PROCESS")
        await shot(page, "06-phase2-not-responding")

        # phase 3: the banner turns green, Finish sends END to all (U9)
        await expect(banner).to_have_attribute("data-state", "server_updated",
                                               timeout=30_000)
        await expect(banner).to_have_attribute("data-colour", "green")
        await page.click("#finish-update")
        summary = page.locator("dialog[open][data-name='summary-end']")
        await expect(summary.locator("[data-outcome='delivered']")).to_have_count(DEVICES)
        await shot(page, "07-end-outcomes")
        await summary.locator("[data-action='ok']").click()

        await expect(page.locator("#fleet-counts [data-count='on_target'] b")).to_have_text(
            str(DEVICES), timeout=30_000)
        await expect(page.locator("#device-grid thead")).to_contain_text("Installed version")
        await expect(page.locator("#device-grid td[data-column='version']")).to_have_text(
            [TO_VERSION] * DEVICES)
        await expect(page.locator("#device-grid tr.attention")).to_have_count(0)
        await page.check("#grid-filters input[value='not_updated']")
        await expect(page.locator("#device-grid tbody")).to_contain_text("No enabled device")
        await page.check("#grid-filters input[value='updated']")
        await expect(rows).to_have_count(DEVICES)
        await shot(page, "08-phase3-devices-updated")

        # U11: conclude — every device is updated, so one confirmation
        await page.click("#conclude")
        await answer(page, "conclude-confirm", "yes")
        await answer(page, "concluded", "ok")
        await expect(banner).to_have_attribute("data-state", "none")
        await shot(page, "09-concluded-up-to-date")
        await expect(carol.locator("#banner")).to_have_attribute("data-state", "none")
        await languages_are_remembered_per_user(carol, lockstep)
        assert await page.evaluate("window.__sameDocument") is True, "the page was reloaded"
        assert not page.errors  # type: ignore[attr-defined]
        assert (await lockstep.api("alice", "GET", f"/sites/{lockstep.site_id}"))[
            "products"][0]["version"] == TO_VERSION
    finally:
        await fleet.stop()


async def languages_are_remembered_per_user(page: Page, lockstep: Lockstep) -> None:
    """In one browser: carol chose Italian, alice chooses Russian; each gets hers back."""
    async def log_in(username: str) -> None:
        await page.fill("#login-username", username)
        await page.fill("#login-password", lockstep.password(username))
        await page.click("#login-form button[type=submit]")
        await expect(page.locator("#logout")).to_be_visible()

    await page.click("#logout")
    await expect(page.locator("#login-form h1")).to_have_text("Accedi a Lockstep")
    await log_in("alice")
    await page.select_option("#language-select", "ru")
    await expect(page.locator("[data-tab='update']")).to_have_text("Управление обновлением")
    await page.click("#logout")
    await log_in("carol")
    await expect(page.locator("#logout")).to_have_text("Esci")
    await page.click("#logout")
    await log_in("alice")
    await expect(page.locator("#logout")).to_have_text("Выйти")


async def the_stream_takes_a_ticket_and_only_it_does(lockstep: Lockstep) -> None:
    await lockstep.api("carol", "GET", f"/sites/{lockstep.site_id}/banner")
    token = lockstep.tokens["carol"]
    site = lockstep.site_id
    async with httpx.AsyncClient(base_url=f"{lockstep.url}/api/v1", timeout=10) as http:
        refused = await http.get(f"/sites/{site}/banner", params={"token": token})
        assert refused.status_code == 401, "a token in the URL opens nothing"
        bad = await http.get(f"/sites/{site}/stream", params={"ticket": token})
        assert bad.status_code == 401, "the session token is not a stream ticket"
        issued = await http.post(f"/sites/{site}/stream-tickets",
                                 headers={"Authorization": f"Bearer {token}"})
        assert issued.status_code == 201, issued.text
        ticket = issued.json()["ticket"]
        async with http.stream("GET", f"/sites/{site}/stream", params={"ticket": ticket}) as sse:
            assert sse.status_code == 200
            assert sse.headers["content-type"].startswith("text/event-stream")
            async for line in sse.aiter_lines():
                if line.startswith("data: "):
                    event = json.loads(line[len("data: "):])
                    assert event["banner"]["state"] == "green"
                    assert event["site_id"] == site and event["fingerprint"]
                    break
