"""An interrupted package download keeps its partial file and resumes with HTTP Range (R6)."""

from __future__ import annotations

import hashlib
from typing import BinaryIO

import pytest

from lockstep_shared.catalogue import (
    ProductVersion,
    ReleaseAvailable,
    ReleaseCheckFailed,
    ReleaseCheckRequested,
    ReleaseDownloaded,
    SiteConfigured,
)
from lockstep_tools.vendor import FeedRequestHandler

pytestmark = pytest.mark.integration


class CutOnceHandler(FeedRequestHandler):
    """Announces the whole package but sends a third of it and hangs up; only the first time."""

    cut: list[str]

    def send_body(self, f: BinaryIO, length: int) -> None:
        if self.path.startswith("/targets/packages/") and not self.cut:
            self.cut.append(self.path)
            self.wfile.write(f.read(length // 3))
            self.wfile.flush()
            self.close_connection = True
            return
        super().send_body(f, length)


@pytest.fixture
def feed_handler() -> type[FeedRequestHandler]:
    return type("CutOnce", (CutOnceHandler,), {"cut": []})


async def test_an_interrupted_download_resumes_with_range_at_the_next_check(
    feed, start_watcher
) -> None:
    feed.repo.entitle("L")
    package = feed.package_file("shop.tar.gz", 600_000)
    feed.repo.publish(product="shop", version="2.0", package=package)
    sha = hashlib.sha256(package.read_bytes()).hexdigest()
    w = await start_watcher(download_attempts=1)
    configured = SiteConfigured(
        site_id="site-1", name="Site 1", license_key="L", enrolment_code_sha256="0" * 64,
        check_interval_s=14400, products=(ProductVersion(product="shop", version="1.0"),),
    )

    await w.send(configured)

    failed = await w.observed.wait_for(ReleaseCheckFailed, product="shop")
    assert "resumes at the next check" in failed.data.reason
    assert not w.observed.of(ReleaseDownloaded)
    partial = w.store.partial_path(sha)
    kept = partial.stat().st_size
    assert 0 < kept < 600_000

    await w.send(ReleaseCheckRequested(site_id="site-1", requested_by="admin"))

    done = await w.observed.wait_for(ReleaseDownloaded, product="shop")
    assert done.data.package.sha256 == sha
    assert w.store.has(sha, 600_000)
    assert hashlib.sha256(w.store.path_for(sha).read_bytes()).hexdigest() == sha
    ranges = [r for _, r in feed.package_requests()]
    assert ranges == [None, f"bytes={kept}-"]  # the second check fetched only the rest
    assert len(w.observed.of(ReleaseAvailable, product="shop")) == 2
