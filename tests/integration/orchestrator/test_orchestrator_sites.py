"""Sites and releases through the admin API and the bus consumer (X9, N1, R3)."""

from __future__ import annotations

import hashlib

import pytest

from lockstep_shared.catalogue import (
    ReleaseAvailable,
    ReleaseCheckFailed,
    ReleaseDownloadProgressed,
    SiteConfigured,
)

from .conftest import SITE_BODY, Harness, downloaded

pytestmark = pytest.mark.integration


async def test_create_site_publishes_site_configured(harness: Harness) -> None:
    answer = await harness.client.post("/api/v1/sites", json=SITE_BODY)
    assert answer.status_code == 201, answer.text
    assert answer.json()["products"] == [{"product": "shop", "version": "03.01.00_030"}]
    [envelope] = await harness.outbox()
    message = envelope.data
    assert isinstance(message, SiteConfigured)
    assert message.enrolment_code_sha256 == hashlib.sha256(b"ENROL-1").hexdigest()
    assert envelope.routing_key == "lockstep.site.configured.shop-1"

    again = await harness.client.post("/api/v1/sites", json=SITE_BODY)
    assert again.status_code == 409 and "exists already" in again.json()["detail"]
    listed = (await harness.client.get("/api/v1/sites")).json()
    assert [s["site_id"] for s in listed] == ["shop-1"]


async def test_bad_site_bodies_get_clear_422(harness: Harness) -> None:
    bad_version = {**SITE_BODY, "products": [{"product": "shop", "version": "3.x"}]}
    answer = await harness.client.post("/api/v1/sites", json=bad_version)
    assert answer.status_code == 422 and "invalid version" in answer.text
    bad_id = {**SITE_BODY, "site_id": "Shop 1!"}
    assert (await harness.client.post("/api/v1/sites", json=bad_id)).status_code == 422
    assert (await harness.client.get("/api/v1/sites/nope")).status_code == 404
    assert (await harness.client.get("/api/v1/sites/nope/banner")).status_code == 404


async def test_release_events_drive_the_banner(harness: Harness) -> None:
    await harness.client.post("/api/v1/sites", json=SITE_BODY)

    async def banner() -> dict[str, object]:
        return (await harness.client.get("/api/v1/sites/shop-1/banner")).json()

    assert (await banner())["state"] == "none"
    await harness.deliver(harness.watcher, ReleaseCheckFailed(
        site_id="shop-1", reason="vendor feed unreachable", checked_at=harness.clock()))
    shown = await banner()
    assert shown["state"] == "blue" and "vendor feed unreachable" in str(shown["message"])

    await harness.deliver(harness.watcher, ReleaseAvailable(
        site_id="shop-1", product="shop", version="03.01.00_031", size=4096,
        notes_url="http://wiki.example/fix/031"))
    await harness.deliver(harness.watcher, ReleaseDownloadProgressed(
        site_id="shop-1", product="shop", version="03.01.00_031", received_bytes=1024,
        total_bytes=4096))
    shown = await banner()
    assert (shown["state"], shown["colour"]) == ("yellow", "yellow")
    assert "25%" in str(shown["message"])

    await harness.deliver(harness.watcher, downloaded())
    shown = await banner()
    assert (shown["state"], shown["colour"], shown["version"]) == (
        "green", "green", "03.01.00_031")
    assert shown["details_url"] == "http://wiki.example/fix/031"
    site = (await harness.client.get("/api/v1/sites/shop-1")).json()
    assert site["releases"][0]["status"] == "downloaded"
    assert site["releases"][0]["received_bytes"] == 4096


async def test_check_now_publishes_a_release_check_request(harness: Harness) -> None:
    await harness.client.post("/api/v1/sites", json=SITE_BODY)
    await harness.outbox()
    answer = await harness.client.post("/api/v1/sites/shop-1/release-checks",
                                       headers={"X-Lockstep-Actor": "anna"})
    assert answer.status_code == 202
    [envelope] = await harness.outbox()
    assert envelope.type == "lockstep.release.check-requested"
    assert envelope.data.requested_by == "anna"  # type: ignore[union-attr]
    missing = await harness.client.post("/api/v1/sites/nope/release-checks")
    assert missing.status_code == 404


async def test_vendor_support_may_check_now_after_entitling_a_licence(harness: Harness) -> None:
    await harness.client.post("/api/v1/sites", json=SITE_BODY)
    await harness.outbox()
    await harness.create_user("vendor", "support")
    answer = await harness.client.post("/api/v1/sites/shop-1/release-checks",
                                       headers=await harness.login("vendor"))
    assert answer.status_code == 202, answer.text
    [envelope] = await harness.outbox()
    assert envelope.type == "lockstep.release.check-requested"
    assert envelope.data.requested_by == "vendor"  # type: ignore[union-attr]


async def test_platform_first_refusal_names_the_platform_version(harness: Harness) -> None:
    """R8 through the API: the watcher's release names its minimum platform; Manage update
    answers 409 platform_required with the versions until the platform is new enough."""
    body = {**SITE_BODY, "products": [{"product": "shop", "version": "03.01.00_030"},
                                      {"product": "platform", "version": "05.00"}]}
    assert (await harness.client.post("/api/v1/sites", json=body)).status_code == 201
    await harness.deliver(harness.watcher, downloaded().model_copy(
        update={"min_platform_version": "05.01"}))
    site = (await harness.client.get("/api/v1/sites/shop-1")).json()
    [release] = site["releases"]
    assert (release["min_platform_version"], release["platform_required"]) == ("05.01", "05.01")
    shown = (await harness.client.get("/api/v1/sites/shop-1/banner")).json()
    assert (shown["state"], shown["platform_required"]) == ("green", "05.01")
    refused = await harness.client.post("/api/v1/sites/shop-1/updates",
                                        json={"product": "shop", "backups_confirmed": True})
    assert refused.status_code == 409, refused.text
    answer = refused.json()
    assert (answer["code"], answer["platform_version"], answer["installed_platform_version"]) \
        == ("platform_required", "05.01", "05.00")
    assert "platform 05.01" in answer["detail"]
