"""Issue 14 in the console: vendor support's view across sites (filters, one release across the
sites, the CSV export), the site admin's grid showing each device's package staged in the
background, and the update's stop time once every device is back on the new version."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from console_harness import (
    ADMIN,
    FROM_VERSION,
    PRODUCT,
    SUPPORT,
    TO_VERSION,
    Lockstep,
    open_console,
    shot,
    start_lockstep,
)
from playwright.async_api import Browser, expect

from lockstep_tools.simulator.fleet import Fleet

OTHER_SITE = "far-shop"


@pytest.fixture
async def lockstep(tmp_path: Path) -> AsyncIterator[Lockstep]:
    async for running in start_lockstep(tmp_path / "demo", admins=()):
        yield running


async def test_support_reads_every_site_and_the_admin_sees_staging_and_the_stop_time(
        browser: Browser, lockstep: Lockstep) -> None:
    site = lockstep.site_id
    await lockstep.api(SUPPORT, "POST", "/sites", {
        "site_id": OTHER_SITE, "name": "Far Away Shop", "license_key": "LIC-far",
        "enrolment_code": "enrol-far", "products": [{"product": PRODUCT,
                                                      "version": "03.01.00_029"}]})
    fleet = Fleet(lockstep.url, site, lockstep.enrolment_code, 2, FROM_VERSION,
                  serial_prefix="POS", wait_s=5, check_every_s=1, staging=True)
    await fleet.register()
    await fleet.run()
    try:
        await lockstep.wait_for("release downloaded", lockstep.banner_state,
                                lambda state: state == "green")

        # vendor support: every site, filters, a release across the sites, the export
        vendor = await open_console(browser, lockstep, SUPPORT)
        await vendor.click("#tabs [data-tab='vendor']")
        rows = vendor.locator("#vendor-sites tbody tr")
        await expect(rows).to_have_count(2)
        await expect(vendor.locator(f"#vendor-sites tr[data-site='{site}'] "
                                    "[data-column='banner']")).to_have_text("green")
        await vendor.select_option("#vendor-banner", "green")
        await vendor.click("#vendor-show")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-site", site)
        await vendor.fill("#vendor-release-product", PRODUCT)
        await vendor.fill("#vendor-release-version", TO_VERSION)
        await vendor.click("#vendor-release-show")
        counts = vendor.locator("#vendor-release-counts")
        await expect(counts.locator("[data-adoption='offered'] b")).to_have_text("1")
        await expect(counts.locator("[data-adoption='not_yet_offered'] b")).to_have_text("1")
        await expect(vendor.locator("#vendor-failed-updates")).to_contain_text(
            "No failed update")
        await shot(vendor, "60-vendor-view")
        async with vendor.expect_download() as waiting:
            await vendor.click("#vendor-csv")
        saved = await (await waiting.value).path()
        exported = await anyio.Path(saved).read_text(encoding="utf-8")
        assert [r["site_id"] for r in csv.DictReader(io.StringIO(exported))] == [site]

        # the devices stage the release in the background: the grid says so per device
        await lockstep.wait_for("both devices staged", lambda: lockstep.api(
            ADMIN, "GET", f"/sites/{site}/devices"),
            lambda grid: all(d["package_staged"] for d in grid["devices"]))
        update = await lockstep.api(ADMIN, "POST", f"/sites/{site}/updates",
                                    {"product": PRODUCT, "backups_confirmed": True})
        uid = update["update_id"]
        admin = await open_console(browser, lockstep, ADMIN)
        staged = admin.locator("#device-grid td[data-column='staged']")
        await expect(staged).to_have_count(2)
        await expect(staged.nth(0)).to_have_text("✔")
        await expect(staged.nth(1)).to_have_text("✔")
        await shot(admin, "61-grid-package-staged")

        # the whole update; the stop time shows once every device is back on the new version
        await lockstep.api(ADMIN, "POST", f"/updates/{uid}/start-notifications", {})
        await lockstep.wait_for("both waiting", lambda: lockstep.api(
            ADMIN, "GET", f"/updates/{uid}"), lambda u: u["fleet"]["waiting"] == 2)
        await lockstep.api(ADMIN, "POST", f"/updates/{uid}/server-update", {})
        await lockstep.wait_for("server updated", lambda: lockstep.api(
            ADMIN, "GET", f"/updates/{uid}"), lambda u: u["state"] == "server_updated")
        await lockstep.api(ADMIN, "POST", f"/updates/{uid}/end-notifications", {})
        done = await lockstep.wait_for("stop time measured", lambda: lockstep.api(
            ADMIN, "GET", f"/updates/{uid}"),
            lambda u: bool(u["stop_time"] and u["stop_time"]["complete"]))
        assert fleet.snapshot().devices[0].installed_from_staged == 1
        stop = admin.locator("#stop-time")
        await expect(stop).to_contain_text("Devices stopped")
        await expect(stop).to_contain_text(f"{done['stop_time']['seconds']:.1f} s")
        await shot(admin, "62-stop-time")
        assert not admin.errors and not vendor.errors  # type: ignore[attr-defined]
    finally:
        await fleet.stop()
