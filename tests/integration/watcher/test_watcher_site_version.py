"""The package of the site's own version for late devices (D10), the minimum platform on
release events (R8), and a long download that does not hold up other sites' checks — real feed
over HTTP, PostgreSQL, in-process bus."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

import pytest

from lockstep_shared.catalogue import (
    EntitlementChecked,
    ProductVersion,
    ReleaseAvailable,
    ReleaseCheckRequested,
    ReleaseDownloaded,
    ReleaseUpToDate,
    SiteConfigured,
    SiteVersionPackageReady,
)
from lockstep_tools.vendor import FeedRequestHandler

pytestmark = pytest.mark.integration


def configured(site: str, license_key: str, **products: str) -> SiteConfigured:
    return SiteConfigured(
        site_id=site, name=site, license_key=license_key, enrolment_code_sha256="0" * 64,
        check_interval_s=14400,
        products=tuple(ProductVersion(product=p, version=v) for p, v in products.items()),
    )


async def test_the_site_versions_package_is_fetched_verified_and_announced(
    feed, start_watcher
) -> None:
    installed = feed.package_file("shop-3.0", 40_000)
    feed.repo.publish(product="shop", version="3.0", package=installed)
    feed.repo.publish(product="shop", version="2.0", package=feed.package_file("shop-2.0", 100))
    feed.repo.publish(product="shop", version="4.0", package=feed.package_file("shop-4.0", 100),
                      min_platform_version="5.1")
    feed.repo.entitle("LIC-1")
    sha = hashlib.sha256(installed.read_bytes()).hexdigest()
    w = await start_watcher()

    # "warehouse" 9.9 is not in the catalogue: nothing to hand late devices for it.
    await w.send(configured("milano", "LIC-1", shop="3.0", warehouse="9.9", platform="5.0"))

    ready = await w.observed.wait_for(SiteVersionPackageReady, site_id="milano")
    assert ready.data.package.product == "shop" and ready.data.package.version == "3.0"
    assert ready.data.package.sha256 == sha and ready.data.package.size == 40_000
    assert ready.data.package.url == f"http://watcher.test/watcher/v1/artifacts/{sha}"
    assert w.store.has(sha, 40_000)
    assert hashlib.sha256(w.store.path_for(sha).read_bytes()).hexdigest() == sha
    # R8: the next release names the platform it needs, on both events.
    downloaded = await w.observed.wait_for(ReleaseDownloaded, site_id="milano", product="shop")
    assert downloaded.data.version == "4.0"
    assert downloaded.data.min_platform_version == "5.1"
    (available,) = w.observed.of(ReleaseAvailable, site_id="milano", product="shop")
    assert available.data.min_platform_version == "5.1"
    await w.observed.wait_for(ReleaseUpToDate, site_id="milano", product="warehouse")
    assert len(w.observed.of(SiteVersionPackageReady)) == 1

    # At the next check it is announced again from the store, not downloaded again.
    fetched = len(feed.package_requests())
    request = await w.send(ReleaseCheckRequested(site_id="milano", requested_by="admin"))
    again = await w.observed.wait_for(
        SiteVersionPackageReady, lambda e: e.causationid == request.id, site_id="milano"
    )
    assert again.data.package == ready.data.package
    again_downloaded = await w.observed.wait_for(
        ReleaseDownloaded, lambda e: e.causationid == request.id, site_id="milano"
    )
    assert again_downloaded.data.min_platform_version == "5.1"
    assert len(feed.package_requests()) == fetched


async def test_a_site_without_subscription_still_gets_its_own_version(
    feed, start_watcher
) -> None:
    """Late devices must match the server they talk to; that is not offering an update."""
    feed.repo.publish(product="shop", version="3.0", package=feed.package_file("s3", 1000))
    feed.repo.publish(product="shop", version="4.0", package=feed.package_file("s4", 1000))
    w = await start_watcher()

    await w.send(configured("lapsed", "LIC-NONE", shop="3.0"))

    ready = await w.observed.wait_for(SiteVersionPackageReady, site_id="lapsed")
    assert ready.data.package.version == "3.0"
    checked = await w.observed.wait_for(EntitlementChecked, site_id="lapsed")
    assert not checked.data.active
    assert not w.observed.of(ReleaseAvailable, site_id="lapsed")
    assert not w.observed.of(ReleaseDownloaded, site_id="lapsed")


class GatedHandler(FeedRequestHandler):
    """Holds the answer for one package until the test opens the gate (10 s at most)."""

    gate: threading.Event
    slow_name: str

    def send_body(self, f, length: int) -> None:  # type: ignore[no-untyped-def]
        if self.slow_name in self.path:
            self.gate.wait(10)
        super().send_body(f, length)


GATE = threading.Event()


@pytest.fixture
def feed_handler() -> Iterator[type[FeedRequestHandler]]:
    GATE.clear()
    yield type("Gated", (GatedHandler,), {"gate": GATE, "slow_name": "big.tar.gz"})
    GATE.set()


async def test_a_long_download_does_not_hold_up_other_sites(feed, start_watcher) -> None:
    big = feed.package_file("big.tar.gz", 50_000)
    feed.repo.publish(product="shop", version="2.0", package=big)
    feed.repo.publish(product="crm", version="1.0", package=feed.package_file("crm.tar.gz", 100))
    feed.repo.entitle("LIC-A")
    feed.repo.entitle("LIC-B")
    w = await start_watcher()

    await w.send(configured("slow", "LIC-A", shop="1.0"))
    await w.observed.wait_for(ReleaseAvailable, site_id="slow")  # its download has begun
    await w.send(configured("quick", "LIC-B", crm="1.0"))

    # The other site is checked (and its own small package handled) while "slow" waits.
    await w.observed.wait_for(ReleaseUpToDate, site_id="quick", product="crm")
    await w.observed.wait_for(SiteVersionPackageReady, site_id="quick")
    assert not w.observed.of(ReleaseDownloaded, site_id="slow")

    GATE.set()
    done = await w.observed.wait_for(ReleaseDownloaded, site_id="slow")
    assert done.data.package.size == 50_000
