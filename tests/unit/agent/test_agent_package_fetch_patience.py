"""The agent's pre-flight fetch waits for a release watcher that is briefly unreachable (found
by the fault suite: a watcher restarting when the install request arrived failed the update),
and still refuses at once what is wrong rather than unreachable."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from installer_agent.service_layer.preflight import PackageFetcher, PreflightFailed
from installer_agent.service_layer.signed_packages import SignedPackageFetcher
from lockstep_shared.artifacts import ArtifactRejected, ArtifactStore, ArtifactUnavailable
from lockstep_shared.catalogue import PackageRef

CONTENT = b"the package"
SHA = hashlib.sha256(CONTENT).hexdigest()
PACKAGE = PackageRef(product="shop", version="03.02.00_001", sha256=SHA, size=len(CONTENT),
                     url="http://watcher.invalid/artifacts/" + SHA)


class FlakyStore(ArtifactStore):
    """An artifact store whose first ``failures`` fetches find the watcher unreachable."""

    def __init__(self, root: Path, failures: int, error: Exception | None = None) -> None:
        super().__init__(root)
        self.failures = failures
        self.error = error or ArtifactUnavailable("connection refused")
        self.calls = 0

    async def ensure(self, sha256: str, size: int, url: str, **_: object) -> Path:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        path = self.path_for(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(CONTENT)
        return path


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


async def test_a_watcher_down_for_a_while_is_waited_for(tmp_path: Path) -> None:
    sleeps = Sleeps()
    store = FlakyStore(tmp_path, failures=3)
    path = await PackageFetcher(store, patience_s=180, sleep=sleeps)(PACKAGE)
    assert path.read_bytes() == CONTENT
    assert sleeps == [2.0, 4.0, 8.0] and store.calls == 4


async def test_after_its_patience_the_fetch_fails_saying_so(tmp_path: Path) -> None:
    sleeps = Sleeps()
    store = FlakyStore(tmp_path, failures=1000)
    with pytest.raises(PreflightFailed, match=r"could not be fetched .* for \d+ s"):
        await PackageFetcher(store, patience_s=60, sleep=sleeps)(PACKAGE)
    assert sum(sleeps) >= 60 and max(sleeps) <= 30


async def test_a_rejected_package_is_refused_at_once(tmp_path: Path) -> None:
    sleeps = Sleeps()
    store = FlakyStore(tmp_path, failures=1, error=ArtifactRejected("longer than expected"))
    with pytest.raises(PreflightFailed, match="rejected while downloading"):
        await PackageFetcher(store, sleep=sleeps)(PACKAGE)
    assert sleeps == [] and store.calls == 1


async def test_an_answer_that_will_not_change_is_not_waited_for(tmp_path: Path) -> None:
    sleeps = Sleeps()
    store = FlakyStore(tmp_path, failures=1,
                       error=ArtifactUnavailable("GET … answered 404", transient=False))
    with pytest.raises(PreflightFailed, match="answered 404"):
        await PackageFetcher(store, sleep=sleeps)(PACKAGE)
    assert sleeps == [] and store.calls == 1


def test_the_signed_fetcher_shows_its_store(tmp_path: Path) -> None:
    """An agent re-attaching to an install after a restart finds the package through it."""
    store = ArtifactStore(tmp_path)
    signed = SignedPackageFetcher(PackageFetcher(store), signatures=None)  # type: ignore[arg-type]
    assert signed.store is store
