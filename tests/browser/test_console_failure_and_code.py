"""A release that needs the vendor's confirmation code (U13), forced by the site's only admin
with the password re-entered (U7), whose install fails (U12): the red banner, reactivating the
devices, the report to support, and support resolving it — all through the console."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from console_harness import (
    ADMIN,
    FROM_VERSION,
    PRODUCT,
    SUPPORT,
    TO_VERSION,
    Lockstep,
    answer,
    assert_accessible,
    code_release,
    open_console,
    shot,
    start_lockstep,
)
from playwright.async_api import Browser, expect

from lockstep_shared.contracts.confirmation_code import confirmation_response
from lockstep_tools.simulator.behaviour import assign_behaviours, serial_for
from lockstep_tools.simulator.fleet import Fleet


@pytest.fixture
async def lockstep(tmp_path: Path) -> AsyncIterator[Lockstep]:
    failing = {"LOCKSTEP_DEMO_INSTALL_FAIL": "disk full (simulated)"}
    async for running in start_lockstep(tmp_path / "demo", admins=(), agent_env=failing,
                                        prepare_feed=code_release):
        yield running


async def test_code_release_forced_by_the_only_admin_fails_and_support_resolves_it(
        browser: Browser, lockstep: Lockstep) -> None:
    serials = [serial_for("POS", i) for i in range(2)]
    fleet = Fleet(lockstep.url, lockstep.site_id, lockstep.enrolment_code, 2, FROM_VERSION,
                  serial_prefix="POS", wait_s=5,
                  behaviours=assign_behaviours(serials, offline=1))
    await fleet.register()
    await fleet.run()
    try:
        await lockstep.wait_for("release needing a code", lockstep.banner_state,
                                lambda state: state == "white")
        admin = await open_console(browser, lockstep, ADMIN)  # the only admin
        banner = admin.locator("#banner")
        await expect(banner).to_have_attribute("data-colour", "white")
        await shot(admin, "20-banner-white-code-required")

        # U13: a fresh challenge of 3 x 5 digits; a wrong answer is refused clearly
        await admin.click("#manage-update")
        await answer(admin, "backup-warning", "yes")
        parts = admin.locator("#challenge input")
        await expect(parts).to_have_count(3)
        await expect(parts.nth(2)).to_have_value(re.compile(r"^\d{5}$"))
        challenge = "-".join([await parts.nth(i).input_value() for i in range(3)])
        assert len(challenge.replace("-", "")) == 15, challenge
        for i in range(3):
            await admin.fill(f"#response-{i + 1}", "00000")
        await admin.click("#submit-code")
        await expect(admin.locator("#code-message")).to_contain_text("attempts left")
        await shot(admin, "21-confirmation-code")
        response = confirmation_response(lockstep.env.license_key, challenge, PRODUCT,
                                         TO_VERSION)
        for i, part in enumerate(response.split("-")):
            await admin.fill(f"#response-{i + 1}", part)
        await admin.click("#submit-code")
        await expect(admin.locator("#phase")).to_have_text("Phase 1")

        # U2: closed again before any device was told; U13: the code unlocked it for good
        await admin.click("#cancel-update")
        await answer(admin, "cancel-update", "yes")
        await expect(admin.locator("#open-update")).to_be_visible()
        await expect(banner).to_have_attribute("data-state", "green")
        await admin.click("#manage-update")
        await answer(admin, "backup-warning", "yes")
        await expect(admin.locator("#phase")).to_have_text("Phase 1")

        await admin.click("#start-all")
        await answer(admin, "confirm-start-push", "yes")
        summary = admin.locator("dialog[open][data-name='summary-start']")
        await expect(summary.locator("[data-outcome='not_delivered']")).to_have_count(
            1, timeout=15_000)
        await summary.locator("[data-action='ok']").click()

        # U7 with one admin: the request, then the password re-entered (a wrong one first)
        await admin.click("#force-update")
        await answer(admin, "force-warning", "yes")
        await answer(admin, "force-start", "yes")
        second = admin.locator("dialog[open][data-name='force-second']")
        await admin.fill("#force-password", "not my password")
        await second.locator("[data-action='password']").click()
        await expect(second.locator(".error")).not_to_be_empty()
        await admin.fill("#force-password", lockstep.password(ADMIN))
        await shot(admin, "22-only-admin-reenters-password")
        await second.locator("[data-action='password']").click()
        await expect(second).to_have_count(0)

        # U12: the install fails: red banner, the failure window
        await expect(banner).to_have_attribute("data-state", "red", timeout=30_000)
        await expect(banner).to_have_attribute("data-colour", "red")
        await expect(admin.locator("#failure-panel")).to_contain_text("ENDED ABNORMALLY")
        await expect(admin.locator("#failure-panel")).to_contain_text("disk full (simulated)")
        await admin.click("#reactivate")
        await answer(admin, "confirm-reactivate", "yes")
        summary = admin.locator("dialog[open][data-name='summary-error']")
        await expect(summary.locator("[data-outcome='delivered']")).to_have_count(1)
        await summary.locator("[data-action='ok']").click()
        # issue 13 §5: once reactivated, the window says work resumes and what remains; the
        # red banner stays (support resolves), Reactivate is no longer offered
        await expect(admin.locator("#work-resumes")).to_contain_text("work can resume")
        await expect(admin.locator("#work-resumes")).to_contain_text("send the report")
        await expect(admin.locator("#reactivate")).to_have_count(0)
        await expect(admin.locator("#failure-panel")).to_have_attribute("data-reactivated",
                                                                        "true")
        await expect(admin.locator(f"#device-grid tr[data-serial='{serials[0]}'] "
                                   "[data-status]")).to_have_attribute("data-status", "working")
        await expect(banner).to_have_attribute("data-colour", "red")
        await expect(banner.locator("#manage-update")).to_have_text("Manage update")
        await assert_accessible(admin, "failed update, reactivated")
        await admin.click("#support-report")
        await answer(admin, "confirm-report", "yes")
        # the support desk refuses the first delivery: pending, retried, then delivered
        await expect(admin.locator("#report-status")).to_have_attribute(
            "data-status", "delivered", timeout=20_000)
        assert lockstep.env.support_reports(), "the support desk received no report"
        await shot(admin, "23-failed-red-reactivated-reported")

        # vendor support resolves it: the red banner goes for everyone, live
        support = await open_console(browser, lockstep, SUPPORT)
        await expect(support.locator("#banner")).to_have_attribute("data-colour", "red")
        site_row = support.locator(f"#sites-grid tr[data-site='{lockstep.site_id}']")
        await expect(site_row).to_contain_text("Negozio Centro")
        await expect(site_row).to_contain_text("failed: contact support")
        await shot(support, "24-support-sites")
        await site_row.click()
        await support.click("#resolve")
        await answer(support, "confirm-resolve", "yes")
        for page in (support, admin):
            await expect(page.locator("#banner")).not_to_have_attribute("data-colour", "red")
        assert not admin.errors and not support.errors  # type: ignore[attr-defined]
    finally:
        await fleet.stop()
