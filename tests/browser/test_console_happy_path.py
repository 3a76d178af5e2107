"""The whole coordinated update clicked through the console by a site admin, watched live
(no reload) while simulated devices move; the banner in each colour; a site user sees only the
banner; the language is remembered per user."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

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
from playwright.async_api import Browser, expect

from lockstep_tools.simulator.fleet import Fleet

HERE = Path(__file__).resolve().parent
DEVICES = 4


@pytest.fixture
async def lockstep(tmp_path: Path) -> AsyncIterator[Lockstep]:
    quiet = {  # phase 2 lasts a few seconds with a silent installer (U8)
        "LOCKSTEP_AGENT_INSTALLER_COMMAND":
            f"sh {HERE / 'quiet_install.sh'} 4 {{package}} {{version}} {{product}}",
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
                       "Notifications enabled", "Notification sent", "Blocked",
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
        await expect(page.locator("#device-grid tr.late")).to_have_count(0)
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
        assert await page.evaluate("window.__sameDocument") is True, "the page was reloaded"
        assert not page.errors  # type: ignore[attr-defined]
        assert (await lockstep.api("alice", "GET", f"/sites/{lockstep.site_id}"))[
            "products"][0]["version"] == TO_VERSION
    finally:
        await fleet.stop()


async def test_a_site_user_sees_only_the_banner_in_the_chosen_language(
        browser: Browser, lockstep: Lockstep) -> None:
    page = await open_console(browser, lockstep, "carol")
    await expect(page.locator("#banner")).to_have_attribute("data-state", re.compile(".+"))
    await expect(page.locator("#tabs")).to_be_hidden()
    await expect(page.locator("#update-window")).to_be_hidden()
    await expect(page.locator("#manage-update")).to_have_count(0)

    await page.select_option("#language-select", "it")
    await expect(page.locator("#logout")).to_have_text("Esci")
    await shot(page, "10-site-user-banner-italian")
    await page.click("#logout")
    await expect(page.locator("#login-form h1")).to_have_text("Accedi a Lockstep")

    # a fresh tab: carol's language comes back with her login; alice keeps her own
    page = await open_console(browser, lockstep, "alice")
    await page.select_option("#language-select", "ru")
    await expect(page.locator("[data-tab='update']")).to_have_text("Управление обновлением")
    await page.context.close()
    context = await browser.new_context(locale="en")
    page = await context.new_page()
    await page.goto(lockstep.url + "/console/")
    await page.evaluate("""() => {
        localStorage.setItem('lockstep.language.carol', 'it');
        localStorage.setItem('lockstep.language.alice', 'ru');
    }""")
    await page.reload()
    await page.fill("#login-username", "carol")
    await page.fill("#login-password", "correct horse battery")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#logout")).to_have_text("Esci")
