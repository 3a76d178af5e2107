"""Issue 13: the console a site admin understands at a glance, in their language, on a tablet.
A whole forced update with 6 devices (one offline, one with notifications off) checks, each
where it shows: the grid follows devices that updated and, outside an update, describes now (§1);
each device's status and last contact, "needs attention" highlighted, sorted first and
filterable, a progress bar per phase, what to do for notifications off (§2); no red for devices
not yet released (§3); the language switch redraws everything and server codes are translated,
dates in the user's language (§4); actions not offered when they should not be (§6); the grid
by keyboard and the tablet layout (§7); and an axe-core scan of every window (no serious
violations). Vendor support creates a site and its first admin, with the enrolment code shown
once and a printable enrolment sheet (§8)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from console_harness import (
    FROM_VERSION,
    SUPPORT,
    TO_VERSION,
    Lockstep,
    answer,
    assert_accessible,
    open_console,
    shot,
    start_lockstep,
)
from playwright.async_api import Browser, Locator, Page, expect

from lockstep_tools.simulator.behaviour import assign_behaviours, serial_for
from lockstep_tools.simulator.fleet import Fleet

DEVICES = 6
SERIALS = [serial_for("POS", i) for i in range(DEVICES)]
OFFLINE, NOTIFICATIONS_OFF = SERIALS[5], SERIALS[4]  # blocks counted from the end
GOOD = SERIALS[0]
ZONE = "Europe/Rome"  # the new site's time zone (the browser's is UTC)


@pytest.fixture
async def lockstep(tmp_path: Path) -> AsyncIterator[Lockstep]:
    async for running in start_lockstep(tmp_path / "demo"):
        yield running


def row(page: Page, serial: str) -> Locator:
    return page.locator(f"#device-grid tr[data-serial='{serial}']")


async def connection_states_are_told_apart(page: Page) -> None:
    """§2: a polling device is "online now", the offline one "last seen …" (its registration),
    each with its own mark."""
    good = row(page, GOOD).locator("td[data-column='last_contact'] [data-online]")
    await expect(good).to_have_attribute("data-online", "true")
    await expect(good).to_have_text("● online now")
    offline = row(page, OFFLINE).locator("td[data-column='last_contact'] [data-online]")
    await expect(offline).to_have_attribute("data-online", "false", timeout=20_000)
    await expect(offline).to_have_text(re.compile(r"^○ last seen .*ago$"))
    assert await offline.get_attribute("class") != await good.get_attribute("class")


async def the_grid_works_by_keyboard(page: Page) -> None:
    """§7: focus a row, move with the arrows, select with Space: the actions follow."""
    first = page.locator("#device-grid tbody tr").first
    await first.focus()
    await page.keyboard.press("ArrowDown")
    second = page.locator("#device-grid tbody tr").nth(1)
    await expect(second).to_be_focused()
    await page.keyboard.press("Space")
    await expect(second).to_have_attribute("aria-selected", "true")
    await expect(page.locator("#manual-block")).to_be_enabled()
    serial = await second.get_attribute("data-serial")
    await expect(page.locator("#device-detail")).to_contain_text(f"Device {serial}")
    await page.keyboard.press("Space")  # again: unselected
    await expect(page.locator("#manual-block")).to_be_disabled()
    await expect(page.locator("#device-detail")).to_be_hidden()


async def the_language_switch_redraws_everything(page: Page) -> None:
    """§4: title, phase badge, buttons, statuses and notes change language at once."""
    await page.select_option("#language-select", "it")
    await expect(page.locator("#window-title")).to_have_text(re.compile("Gestione aggiornamento"))
    await expect(page.locator("#phase")).to_have_text("Fase 1")
    await expect(page.locator("#start-all")).not_to_have_text(re.compile("to all"))
    await expect(row(page, NOTIFICATIONS_OFF).locator("[data-status]")).to_have_text(
        re.compile("notifiche disattivate"))
    await shot(page, "30-phase1-italian")
    await page.select_option("#language-select", "ru")
    await expect(page.locator("#phase")).to_have_text("Этап 1")
    await expect(page.locator("#device-grid th[data-column='notes']")).to_be_in_viewport()
    await page.select_option("#language-select", "en")
    await expect(page.locator("#phase")).to_have_text("Phase 1")


async def hidden_columns_are_hinted(page: Page) -> int:
    """§7: whenever columns give way (a narrow desktop, a tablet), a visible hint says so and
    where the rest is; none when every column is shown. How many are hidden."""
    hidden = await page.locator("#device-grid thead th").evaluate_all(
        "ths => ths.filter((th) => getComputedStyle(th).display === 'none').length")
    hint = page.locator(".narrow-hint")
    if hidden:
        await expect(hint).to_be_visible()
        await expect(hint).to_have_text("Some columns are hidden on this screen: select a "
                                        "device to see all its details.")
    else:
        await expect(hint).to_be_hidden()
    return hidden


async def a_tablet_sees_what_matters(page: Page) -> None:
    """§7: at 800 px the priority columns stay on screen, the rest is in the detail drawer."""
    await page.set_viewport_size({"width": 800, "height": 1000})
    for column in ("serial", "status", "notes"):
        header = page.locator(f"#device-grid th[data-column='{column}']")
        await expect(header).to_be_visible()
        box = await header.bounding_box()
        assert box and box["x"] + box["width"] <= 800, f"{column} is off-screen: {box}"
    for column in ("model", "phone", "notifications"):
        await expect(page.locator(f"#device-grid th[data-column='{column}']")).to_be_hidden()
    assert await hidden_columns_are_hinted(page) >= 3
    await row(page, NOTIFICATIONS_OFF).click()
    drawer = page.locator("#device-detail")
    await expect(drawer.locator("[data-field='notifications']")).to_be_visible()
    await expect(drawer).to_contain_text("Notifications enabled")
    await shot(page, "31-tablet-800px-detail-drawer")
    await assert_accessible(page, "phase 1 at 800 px")
    await row(page, NOTIFICATIONS_OFF).click()
    await page.set_viewport_size({"width": 1280, "height": 800})
    await hidden_columns_are_hinted(page)


async def test_a_forced_update_at_a_glance(browser: Browser, lockstep: Lockstep) -> None:
    fleet = Fleet(lockstep.url, lockstep.site_id, lockstep.enrolment_code, DEVICES,
                  FROM_VERSION, serial_prefix="POS", wait_s=5,
                  behaviours=assign_behaviours(SERIALS, offline=1, notifications_disabled=1))
    await fleet.register()
    await fleet.run()
    try:
        await lockstep.wait_for("release downloaded", lockstep.banner_state,
                                lambda state: state == "green")
        alice = await open_console(browser, lockstep, "alice")

        # outside an update: the devices as they are, the one with notifications off first
        await expect(alice.locator("#device-grid tbody tr")).to_have_count(DEVICES)
        await expect(alice.locator("[data-progress='on_site_version']")).to_contain_text(
            f"{DEVICES} / {DEVICES}")
        await assert_accessible(alice, "update window, no update")

        await alice.click("#manage-update")
        await answer(alice, "backup-warning", "yes")
        await expect(alice.locator("#phase")).to_have_text("Phase 1")
        # §6: nothing to force before START was sent
        await expect(alice.locator("#force-update")).to_be_disabled()
        # §2: notifications off needs the admin before anything else: what to do, first row
        off = row(alice, NOTIFICATIONS_OFF)
        await expect(off).to_have_attribute("data-attention", "true")
        await expect(off.locator("[data-status]")).to_have_text(
            "notifications off: block with codes")
        await expect(alice.locator("#device-grid tbody tr").first).to_have_attribute(
            "data-serial", NOTIFICATIONS_OFF)
        await connection_states_are_told_apart(alice)
        await assert_accessible(alice, "phase 1 before START")
        await the_grid_works_by_keyboard(alice)

        await alice.click("#start-all")
        await answer(alice, "confirm-start-push", "yes")
        summary = alice.locator("dialog[open][data-name='summary-start']")
        await expect(summary.locator("[data-outcome='not_delivered']")).to_have_count(
            2, timeout=15_000)
        await assert_accessible(alice, "START outcomes dialog")
        await summary.locator("[data-action='ok']").click()
        await connection_states_are_told_apart(alice)  # after START too

        # §2: a progress bar per phase; the failures highlighted, sorted first, filterable
        waiting = alice.locator("[data-progress='waiting'] [role='progressbar']")
        await expect(waiting).to_have_attribute("aria-valuenow", str(DEVICES - 2))
        await expect(waiting).to_have_attribute("aria-valuemax", str(DEVICES))
        await expect(alice.locator("[data-progress='waiting']")).to_contain_text(
            f"{DEVICES - 2} / {DEVICES}")
        await expect(row(alice, NOTIFICATIONS_OFF).locator("td[data-column='notes']")
                     ).to_contain_text("notifications are off on this device: block it with "
                                       "codes")
        await expect(alice.locator("#device-grid tr.attention")).to_have_count(2)
        await alice.check("#grid-filters input[value='attention']")
        await expect(alice.locator("#device-grid tbody tr")).to_have_count(2)
        await shot(alice, "32-phase1-needs-attention")
        await alice.check("#grid-filters input[value='all']")
        await expect(alice.locator("#device-grid tbody tr")).to_have_count(DEVICES)
        await expect(alice.locator("#device-grid tbody tr").nth(2)).to_have_attribute(
            "data-attention", "false")
        await shot(alice, "33-phase1-attention-first")

        await the_language_switch_redraws_everything(alice)
        await a_tablet_sees_what_matters(alice)

        # §6: two admins on this site: no "confirm with my password"
        await alice.click("#force-update")
        await answer(alice, "force-warning", "yes")
        await answer(alice, "force-start", "yes")
        second = alice.locator("dialog[open][data-name='force-second']")
        await expect(second).to_contain_text("another admin approves it")
        await expect(second.locator("#force-password")).to_have_count(0)
        await expect(second.locator("[data-action='password']")).to_have_count(0)
        await second.locator("[data-action='wait']").click()
        await lockstep.api("bob", "POST", f"/updates/{(await current(lockstep))['update_id']}"
                           "/force-approvals", {})
        await expect(alice.locator("#banner")).to_have_attribute(
            "data-state", "server_updated", timeout=30_000)

        # §3: before Finish nobody is red; §6: Conclude waits for Finish
        await expect(alice.locator("#phase")).to_have_text("Phase 3")
        await expect(alice.locator("#device-grid tr.attention")).to_have_count(0)
        await expect(alice.locator(".status--attention")).to_have_count(0)
        await expect(alice.locator("#conclude")).to_have_text("Conclude update")
        await expect(alice.locator("#conclude")).to_be_disabled()
        # phase 3 at 1280 px: the installed version joins, the low-priority columns give way
        assert await hidden_columns_are_hinted(alice) > 0
        await shot(alice, "34-phase3-before-finish-no-red")
        await assert_accessible(alice, "phase 3 before Finish")

        await alice.click("#finish-update")
        summary = alice.locator("dialog[open][data-name='summary-end']")
        await expect(summary.locator("[data-outcome='delivered']")).to_have_count(DEVICES - 2)
        await summary.locator("[data-action='ok']").click()
        await expect(alice.locator("#conclude")).to_be_enabled()

        # §1: a device on the new version works again: neither blocked nor waiting
        good = row(alice, GOOD)
        await expect(good.locator("td[data-column='version']")).to_have_text(TO_VERSION,
                                                                            timeout=30_000)
        await expect(good.locator("td[data-column='blocked'] .cross")).to_have_count(1)
        await expect(good.locator("td[data-column='waiting'] .cross")).to_have_count(1)
        await expect(good.locator("td[data-column='notes']")).to_have_text(
            "reported the new version: working again")
        await expect(alice.locator("[data-progress='on_target']")).to_contain_text(
            re.compile(rf"On the new version \d / {DEVICES}"))
        await expect(row(alice, OFFLINE)).to_have_attribute("data-attention", "true")
        await shot(alice, "35-phase3-after-finish")

        await alice.click("#conclude")
        await answer(alice, "conclude-warning", "yes")
        await answer(alice, "conclude-confirm", "yes")
        await answer(alice, "concluded", "ok")
        await expect(alice.locator("#banner")).to_have_attribute("data-state", "none")

        # §1: outside an update the counters describe now, not the last update
        grid = await lockstep.api("alice", "GET", f"/sites/{lockstep.site_id}/devices")
        assert grid["target_version"] == TO_VERSION
        assert grid["counts"]["notified"] == 0 and grid["counts"]["delivered"] == 0
        await expect(alice.locator("#fleet-counts [data-count='blocked'] b")).to_have_text(
            str(grid["counts"]["blocked"]))
        await expect(good.locator("[data-status]")).to_have_text("working")
        await expect(alice.locator("#device-grid td[data-column='notes']")).not_to_contain_text(
            ["pending"])
        await assert_accessible(alice, "update window after the update")

        # device management and the audit log: accessible; audit in the user's words
        await alice.click("[data-tab='devices']")
        await expect(alice.locator(f"#management-grid tr[data-serial='{GOOD}']")).to_contain_text(
            TO_VERSION)
        await expect(alice.locator(f"#management-grid tr[data-serial='{GOOD}'] "
                                   "[data-online]")).to_have_attribute("data-online", "true")
        await expect(alice.locator(f"#management-grid tr[data-serial='{OFFLINE}'] "
                                   "[data-online]")).to_have_text(re.compile("last seen"))
        await assert_accessible(alice, "device management")
        await alice.click("[data-tab='audit']")
        audit = alice.locator("#audit-grid")
        await expect(audit).to_contain_text("START UPDATE sent")
        await expect(audit.locator("td[data-action='update.force_approval']").first
                     ).to_have_text("forced update approved")
        await expect(audit).not_to_contain_text("update.start_push")
        await assert_accessible(alice, "audit log")
        await alice.select_option("#language-select", "it")
        await expect(audit.locator("td[data-action='update.start_push']").first
                     ).to_have_text("START UPDATE inviato")
        await expect(audit.locator("tbody tr").first.locator("td").first).to_have_text(
            re.compile(r"^\d{2}/\d{2}/\d{2,4}"))  # Italian: day/month/year
        await shot(alice, "36-audit-italian")
        assert not alice.errors  # type: ignore[attr-defined]
    finally:
        await fleet.stop()


async def the_audit_is_in_the_site_time_zone(page: Page, lockstep: Lockstep) -> None:
    """§4: dates and times in the site's time zone (Europe/Rome, set when support created the
    site; the browser runs in UTC), the audit filters read in it too."""
    await page.click("[data-tab='audit']")
    await expect(page.locator("#site-time-zone")).to_have_value(ZONE)
    entries = (await lockstep.api("dora", "GET", "/audit?site_id=shop-2"))["entries"]
    newest = datetime.fromisoformat(entries[0]["at"]).astimezone(ZoneInfo(ZONE))
    rows = page.locator("#audit-grid tbody tr")
    await expect(rows).to_have_count(len(entries))
    await expect(rows.first.locator("td").first).to_have_text(
        re.compile(re.escape(newest.strftime("%-I:%M:%S %p"))))
    await shot(page, "38-audit-in-the-site-time-zone")
    await assert_accessible(page, "audit log in the site's time zone")
    oldest = datetime.fromisoformat(entries[-1]["at"]).astimezone(ZoneInfo(ZONE))
    wall = "%Y-%m-%dT%H:%M"
    await page.fill("#audit-since", (oldest - timedelta(minutes=10)).strftime(wall))
    await page.click("#audit-apply")
    await expect(rows).to_have_count(len(entries))  # read as UTC: an hour later, none
    await page.fill("#audit-until", (oldest - timedelta(minutes=5)).strftime(wall))
    await page.click("#audit-apply")
    await expect(page.locator("#audit-grid")).to_contain_text("No entries")


async def current(lockstep: Lockstep) -> dict:
    return await lockstep.api("alice", "GET", f"/sites/{lockstep.site_id}/updates/current")


async def test_support_creates_a_site_and_its_first_admin(browser: Browser,
                                                          lockstep: Lockstep) -> None:
    """§8: the site and its first admin from the console; the enrolment code shown once, on a
    printable sheet with the gateway address; a handheld enrols with it."""
    support = await open_console(browser, lockstep, SUPPORT)
    await expect(support.locator("#sites-grid")).to_be_visible()
    await assert_accessible(support, "sites")
    await support.evaluate("window.print = () => { const area = "
                           "document.getElementById('print-area'); window.__printed = "
                           "[area.textContent, area.innerHTML]; }")
    await support.click("#create-site")
    form = support.locator("dialog[open][data-name='create-site']")
    await support.fill("#new-site-id", "bad id!")
    await form.locator("[data-action='create']").click()
    await expect(form.locator(".error")).to_contain_text("Site id")
    await support.fill("#new-site-id", "shop-2")
    await support.fill("#new-site-name", "Negozio Nord")
    await support.fill("#new-site-licence", lockstep.env.license_key)
    await support.fill("#new-site-product", "shop")
    await support.fill("#new-site-version", FROM_VERSION)
    await support.fill("#new-admin-username", "dora")
    await support.fill("#new-admin-password", lockstep.password("dora"))
    await support.select_option("#new-site-time-zone", ZONE)
    await assert_accessible(support, "create site dialog")
    await form.locator("[data-action='create']").click()

    sheet = support.locator("dialog[open][data-name='enrolment-sheet']")
    await expect(sheet.locator("#code-shown-once")).to_contain_text("shown only now")
    await expect(sheet.locator("#first-admin-created")).to_contain_text("dora")
    code = await sheet.locator("#enrolment-code").inner_text()
    assert re.fullmatch(r"[A-Z2-9]{4}(-[A-Z2-9]{4}){3}", code), code
    await expect(sheet.locator("#enrolment-gateway")).to_have_text(lockstep.url)
    # the QR code (drawn by the server as SVG: its content is checked in
    # tests/integration/orchestrator/test_orchestrator_enrolment_qr.py) is on the sheet
    qr = sheet.locator("#enrolment-qr")
    await expect(qr).to_be_visible()
    await expect(qr).to_have_attribute("alt", re.compile("shop-2"))
    assert await qr.evaluate("img => img.complete && img.naturalWidth") > 100
    await shot(support, "37-support-enrolment-sheet")
    await assert_accessible(support, "enrolment sheet")
    await sheet.locator("#print-enrolment").click()
    printed, html = await support.evaluate("window.__printed")
    assert code in printed and lockstep.url in printed and "shop-2" in printed
    assert 'id="enrolment-qr"' in html and "data:image/svg+xml" in html
    await sheet.locator("[data-action='ok']").click()
    await expect(support.locator("#print-area")).to_be_empty()
    await expect(support.locator("#sites-grid tr[data-site='shop-2']")).to_contain_text(
        "Negozio Nord")
    assert code not in await support.content(), "the code is shown once only"

    # a refusal in the user's language, with its parameters (the site exists already)
    await support.select_option("#language-select", "it")
    await support.click("#create-site")
    for field, value in [("#new-site-id", "shop-2"), ("#new-site-name", "Doppio"),
                         ("#new-site-licence", lockstep.env.license_key),
                         ("#new-site-product", "shop"), ("#new-site-version", FROM_VERSION),
                         ("#new-admin-username", "erin"),
                         ("#new-admin-password", lockstep.password("erin"))]:
        await support.fill(field, value)
    await form.locator("[data-action='create']").click()
    await expect(form.locator(".error")).to_have_text("Il sito shop-2 esiste già.")
    await form.locator("[data-action='cancel']").click()
    await support.select_option("#language-select", "en")

    # the first admin signs in; a handheld enrols with the code from the sheet
    dora = await open_console(browser, lockstep, "dora")
    await expect(dora.locator("#site-name")).to_contain_text("Negozio Nord")
    await the_audit_is_in_the_site_time_zone(dora, lockstep)
    fleet = Fleet(lockstep.url, "shop-2", code, 1, FROM_VERSION, serial_prefix="NORD", wait_s=5)
    await fleet.register()
    await expect(dora.locator("#device-grid tbody tr")).to_have_count(1, timeout=20_000)
    assert not support.errors and not dora.errors  # type: ignore[attr-defined]
