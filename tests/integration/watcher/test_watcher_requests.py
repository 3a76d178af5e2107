"""The watcher's consumers: "check now" for an unknown site, and a malformed configuration."""

from __future__ import annotations

import asyncio

import pytest

from lockstep_shared.catalogue import (
    ProductVersion,
    ReleaseCheckFailed,
    ReleaseCheckRequested,
    SiteConfigured,
)
from release_watcher.adapters import repository

pytestmark = pytest.mark.integration


async def test_check_now_for_an_unknown_site_says_so(start_watcher) -> None:
    w = await start_watcher()

    request = await w.send(ReleaseCheckRequested(site_id="nobody", requested_by="admin"))

    failed = await w.observed.wait_for(ReleaseCheckFailed, site_id="nobody")
    assert "not configured" in failed.data.reason
    assert failed.causationid == request.id


async def test_a_site_listing_a_product_twice_is_dead_lettered(start_watcher) -> None:
    w = await start_watcher()
    shop = ProductVersion(product="shop", version="1.0")

    await w.send(SiteConfigured(
        site_id="twice", name="T", license_key="L", enrolment_code_sha256="0" * 64,
        check_interval_s=60, products=(shop, shop),
    ))

    async with asyncio.timeout(10):
        while not (dead := await w.bus.dead_letters("release-watcher")):
            await asyncio.sleep(0.05)
    assert "twice" in dead[0].reason
    async with w.service.engine.connect() as conn:
        assert await repository.site_state(conn, "twice") is None
