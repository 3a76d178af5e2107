"""The watcher against a real TUF feed over HTTP, real PostgreSQL and the in-process bus:
finds and downloads a release, refuses a tampered package and expired metadata, resumes an
interrupted download with Range."""

from __future__ import annotations

import hashlib
from itertools import pairwise

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from lockstep_shared.catalogue import (
    ConfirmationCodeRequired,
    ProductVersion,
    ReleaseAvailable,
    ReleaseCheckFailed,
    ReleaseCheckRequested,
    ReleaseDownloaded,
    ReleaseDownloadProgressed,
    ReleaseUpToDate,
    SiteConfigured,
)
from release_watcher.adapters.tables import outbox

from .conftest import INTERNAL_TOKEN

pytestmark = pytest.mark.integration

SITE = "shop-milano"
INSTALLED = "03.01.00_030"
NEXT = "03.01.00_031"
LICENSE = "LIC-1"


def site_configured(**products: str) -> SiteConfigured:
    return SiteConfigured(
        site_id=SITE,
        name="Shop Milano",
        license_key=LICENSE,
        enrolment_code_sha256="0" * 64,
        check_interval_s=14400,
        products=tuple(ProductVersion(product=p, version=v) for p, v in products.items()),
    )


def checks_failed() -> float:
    return REGISTRY.get_sample_value("lockstep_release_checks_total",
                                     {"outcome": "failed"}) or 0.0


def api(harness, token: str | None = INTERNAL_TOKEN) -> httpx.AsyncClient:
    """The watcher's routes, called as Lockstep's services call them (with the token)."""
    app = FastAPI()
    for router in harness.service.routers:
        app.include_router(router)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://w",
                             headers={"X-Lockstep-Internal": token} if token else {})


@pytest.mark.parametrize("sqlite", [False, True], ids=["postgres", "sqlite"])
async def test_a_published_release_is_found_downloaded_and_served(
    feed, start_watcher, sqlite: bool
) -> None:
    feed.repo.entitle(LICENSE)  # an active subscription (R4)
    package = feed.package_file("shop.tar.gz", 300_000)
    feed.repo.publish(product="shop", version=INSTALLED, package=feed.package_file("o", 10))
    feed.repo.publish(product="shop", version=NEXT, package=package,
                      notes_url="https://vendor.example/notes/031",
                      requires_confirmation_code=True)
    feed.repo.publish(product="shop", version="03.01.00_032", package=feed.package_file("n", 10))
    sha = hashlib.sha256(package.read_bytes()).hexdigest()
    w = await start_watcher(sqlite=sqlite)

    await w.send(site_configured(shop=INSTALLED, warehouse="1.0"))

    done = await w.observed.wait_for(ReleaseDownloaded, product="shop")
    assert done.data.version == NEXT  # one step at a time, never 032 (R5)
    assert done.data.notes_url == "https://vendor.example/notes/031"
    assert done.data.package.sha256 == sha
    assert done.data.package.size == 300_000
    assert done.data.package.url == f"http://watcher.test/watcher/v1/artifacts/{sha}"
    # the TUF target the vendor signed it as, for the devices that verify it (issue 10)
    assert done.data.package.target == f"packages/shop/{NEXT}/shop.tar.gz"
    available = w.observed.of(ReleaseAvailable, product="shop")
    assert [a.data.version for a in available] == [NEXT]
    assert available[0].data.size == 300_000 and available[0].data.requires_confirmation_code
    assert w.observed.envelopes.index(available[0]) < w.observed.envelopes.index(done)
    await w.observed.wait_for(ConfirmationCodeRequired, product="shop", version=NEXT)
    up_to_date = await w.observed.wait_for(ReleaseUpToDate, product="warehouse")
    assert up_to_date.data.installed_version == "1.0"
    progress = w.observed.of(ReleaseDownloadProgressed, product="shop")
    assert progress and progress[0].data.total_bytes == 300_000
    gaps = [(b.time - a.time).total_seconds() for a, b in pairwise(progress)]
    assert all(gap >= 0.99 for gap in gaps)  # throttled: at most one per second
    assert not w.observed.of(ReleaseCheckFailed)
    assert w.store.has(sha, 300_000)

    async with api(w) as client:
        whole = await client.get(f"/watcher/v1/artifacts/{sha}")
        assert whole.status_code == 200 and whole.content == package.read_bytes()
        assert whole.headers["etag"] == f'"{sha}"'
        part = await client.get(f"/watcher/v1/artifacts/{sha}", headers={"Range": "bytes=1000-"})
        assert part.status_code == 206 and part.content == package.read_bytes()[1000:]
        assert (await client.get(f"/watcher/v1/artifacts/{'a' * 64}")).status_code == 404
        assert (await client.get("/watcher/v1/artifacts/nope")).status_code == 422
        view = (await client.get(f"/watcher/v1/sites/{SITE}/releases")).json()
        shop = next(p for p in view["products"] if p["product"] == "shop")
        assert shop["status"] == "downloaded" and shop["next_release"]["version"] == NEXT
        assert shop["next_release"]["received_bytes"] == 300_000
        assert (await client.get("/watcher/v1/sites/unknown/releases")).status_code == 404
        # A refusal says what was wrong and carries its code.
        missing = (await client.get(f"/watcher/v1/artifacts/{'a' * 64}")).json()
        assert missing == {"detail": f"no verified package with sha256 {'a' * 64} here",
                           "code": "package_not_here"}
        assert (await client.get("/watcher/v1/artifacts/nope")).json()["code"] == (
            "invalid_sha256")
        assert (await client.get("/watcher/v1/sites/unknown/releases")).json()["code"] == (
            "unknown_site")
        assert (await client.get("/watcher/v1/sites/Bad!/releases")).json()["code"] == (
            "invalid_site_id")

    # "Check now": the package is in the store, so it is announced again, not fetched again.
    fetched = len(feed.package_requests())
    request = await w.send(ReleaseCheckRequested(site_id=SITE, requested_by="admin"))
    again = await w.observed.wait_for(
        ReleaseDownloaded, lambda e: e.causationid is not None, product="shop", version=NEXT
    )
    assert again.causationid == request.id
    assert again.correlationid == request.correlationid
    assert len(feed.package_requests()) == fetched
    async with w.service.engine.connect() as conn:  # the relay drained the outbox
        assert (await conn.execute(select(func.count()).select_from(outbox))).scalar_one() == 0


async def test_a_tampered_package_is_refused_and_never_offered(feed, start_watcher) -> None:
    feed.repo.entitle(LICENSE)  # an active subscription (R4)
    package = feed.package_file("shop.tar.gz", 100_000)
    feed.repo.publish(product="shop", version=NEXT, package=package)
    sha = hashlib.sha256(package.read_bytes()).hexdigest()
    served = feed.repo.target_file(f"packages/shop/{NEXT}/shop.tar.gz")
    tampered = bytearray(served.read_bytes())
    tampered[5000] ^= 0xFF
    served.write_bytes(bytes(tampered))
    w = await start_watcher()
    failed_checks = checks_failed()

    await w.send(site_configured(shop=INSTALLED))

    failed = await w.observed.wait_for(ReleaseCheckFailed, product="shop")
    assert "corrupt" in failed.data.reason and "discarded" in failed.data.reason
    assert failed.data.refused  # the orchestrator's banner shows it (not "downloading 99%")
    await w.service.handlers.downloads.idle()  # the download task ends after its commit
    assert checks_failed() == failed_checks + 1
    assert not w.observed.of(ReleaseDownloaded)
    assert not w.store.has(sha)
    assert not w.store.partial_path(sha).exists()
    async with api(w) as client:
        assert (await client.get(f"/watcher/v1/artifacts/{sha}")).status_code == 404
        view = (await client.get(f"/watcher/v1/sites/{SITE}/releases")).json()
        assert view["products"][0]["status"] == "failed"
        assert "corrupt" in view["last_failure"]


async def test_expired_feed_metadata_is_refused(feed, start_watcher) -> None:
    feed.repo.entitle(LICENSE)  # an active subscription (R4)
    feed.repo.publish(product="shop", version=NEXT, package=feed.package_file("p", 1000))
    feed.repo.resign(expiry_days=-1)  # the vendor's timestamp has run out: a freeze attack
    w = await start_watcher()

    await w.send(site_configured(shop=INSTALLED))

    failed = await w.observed.wait_for(ReleaseCheckFailed)
    assert failed.data.product is None
    assert "expired" in failed.data.reason and failed.data.refused
    assert not w.observed.of(ReleaseAvailable) and not w.observed.of(ReleaseDownloaded)
    assert not w.observed.of(ReleaseUpToDate)  # nothing is claimed about an untrusted feed


async def test_a_rolled_back_feed_is_refused(feed, start_watcher) -> None:
    feed.repo.entitle(LICENSE)  # an active subscription (R4)
    feed.repo.publish(product="shop", version=NEXT, package=feed.package_file("p", 1000))
    timestamp = feed.repo.metadata_dir / "timestamp.json"
    older = timestamp.read_bytes()
    feed.repo.resign()
    w = await start_watcher()
    await w.send(site_configured(shop=INSTALLED))
    await w.observed.wait_for(ReleaseDownloaded, product="shop")

    timestamp.write_bytes(older)  # a mirror replays yesterday's (validly signed) metadata
    request = await w.send(ReleaseCheckRequested(site_id=SITE, requested_by="admin"))

    failed = await w.observed.wait_for(ReleaseCheckFailed)
    assert "rollback" in failed.data.reason and failed.causationid == request.id
    assert failed.data.refused  # the green "Manage update" goes (orchestrator)


BAD_CATALOGUE = b'{"products": {"shop": {"releases": [{"version": "03.01.00_031"}]}}}'
"""What a buggy vendor script might sign: a release without a package."""


async def test_a_signed_but_invalid_catalogue_fails_the_check_with_the_reason(
    feed, start_watcher
) -> None:
    feed.repo.entitle(LICENSE)  # an active subscription (R4)
    feed.repo.sign_raw_catalogue(BAD_CATALOGUE, expiry_days=1)
    w = await start_watcher()

    await w.send(site_configured(shop=INSTALLED))

    failed = await w.observed.wait_for(ReleaseCheckFailed)
    assert "the vendor catalogue is invalid" in failed.data.reason
    assert "package" in failed.data.reason
    assert not w.observed.of(ReleaseUpToDate)


@pytest.mark.parametrize("path", ["/watcher/v1/artifacts/" + "a" * 64,
                                  f"/watcher/v1/sites/{SITE}/releases"])
async def test_the_watcher_routes_are_internal(start_watcher, path: str) -> None:
    w = await start_watcher(sqlite=True)
    await w.send(site_configured(shop=INSTALLED))
    async with api(w, token=None) as anyone:
        answer = await anyone.get(path)
        assert (answer.status_code, answer.json()["code"]) == (401, "internal_token_missing")
        answer = await anyone.get(path, headers={"X-Lockstep-Internal": "guess"})
        assert (answer.status_code, answer.json()["code"]) == (403, "internal_token_wrong")
    async with api(w) as lockstep:
        assert (await lockstep.get(path)).status_code in (200, 404)
    unconfigured = await start_watcher(sqlite=True, internal_token="")
    async with api(unconfigured, token="") as anyone:
        answer = await anyone.get(path)
        assert (answer.status_code, answer.json()["code"]) == (503, "internal_api_disabled")
