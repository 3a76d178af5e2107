"""DDI agents check packages by sha1 (SWUpdate) and md5 (rauc-hawkbit): computed from the
verified bytes, and a store file that changed is refused (D14, S4)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from device_gateway.adapters.package_digests import PackageDigests, digests_of
from device_gateway.domain.ddi import PackageChanged


def test_digests_of_a_package(tmp_path: Path) -> None:
    data = b"lockstep" * 300_000
    path = tmp_path / "pkg"
    path.write_bytes(data)
    digests = digests_of(path, hashlib.sha256(data).hexdigest())
    assert digests.sha1 == hashlib.sha1(data).hexdigest()
    assert digests.md5 == hashlib.md5(data).hexdigest()


def test_a_changed_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pkg"
    path.write_bytes(b"tampered")
    with pytest.raises(PackageChanged, match="fetch the package again"):
        digests_of(path, hashlib.sha256(b"original").hexdigest())


async def test_computed_once_per_package(tmp_path: Path) -> None:
    path = tmp_path / "pkg"
    path.write_bytes(b"one")
    sha256 = hashlib.sha256(b"one").hexdigest()
    cache = PackageDigests()
    first = await cache.of(path, sha256)
    path.unlink()  # a second call must not read the file again
    assert await cache.of(path, sha256) == first
