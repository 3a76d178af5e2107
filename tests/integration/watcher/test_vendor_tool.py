"""The vendor tool (R2): init, package, publish, root through its CLI; the feed server's
Range answers and its refusal to serve anything but metadata/ and targets/."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import httpx
import pytest
from tuf.api.metadata import Metadata

from lockstep_tools.vendor import VendorRepository, read_package_version, running_feed
from lockstep_tools.vendor.cli import main

pytestmark = pytest.mark.integration


def test_init_publish_and_root_through_the_cli(tmp_path: Path, capsys) -> None:
    repo_dir = tmp_path / "feed"
    assert main(["init", str(repo_dir), "--expiry-days", "30"]) == 0
    assert main(["init", str(repo_dir)]) == 2  # never overwrites a feed's keys
    assert (repo_dir / "metadata" / "1.root.json").read_bytes() == (
        repo_dir / "metadata" / "root.json"
    ).read_bytes()
    assert sorted(p.name for p in (repo_dir / "keys").iterdir()) == [
        "root.pem", "snapshot.pem", "targets.pem", "timestamp.pem",
    ]
    assert main(["package", str(tmp_path), "--product", "shop", "--version", "03.01.00_031"]) == 0
    package = tmp_path / "shop-03.01.00_031.tar.gz"
    assert read_package_version(package) == "03.01.00_031"
    with tarfile.open(package) as tar:
        assert {"VERSION", "PRODUCT", "payload/data.bin"} <= set(tar.getnames())
    before = VendorRepository(repo_dir).versions()
    capsys.readouterr()

    assert main([
        "publish", str(repo_dir), "--product", "shop", "--version", "03.01.00_031",
        "--package", str(package), "--notes-url", "https://vendor/notes",
        "--requires-confirmation-code", "--min-platform-version", "5.0",
    ]) == 0

    printed = json.loads(capsys.readouterr().out)
    assert printed["package"] == "packages/shop/03.01.00_031/shop-03.01.00_031.tar.gz"
    repo = VendorRepository(repo_dir)
    after = repo.versions()
    assert after["root"] == before["root"] == 1
    for role in ("targets", "snapshot", "timestamp"):
        assert after[role] == before[role] + 1
    (release,) = repo.catalogue().releases_of("shop")
    assert release.size == package.stat().st_size and release.requires_confirmation_code
    assert release.min_platform_version == "5.0"
    assert repo.target_file(release.package).read_bytes() == package.read_bytes()
    targets = Metadata.from_file(str(repo_dir / "metadata" / f"{after['targets']}.targets.json"))
    assert release.package in targets.signed.targets

    # Publishing the same version again replaces it; a bad version is refused.
    assert main(["publish", str(repo_dir), "--product", "shop", "--version", "03.01.00_031",
                 "--package", str(package)]) == 0
    assert len(VendorRepository(repo_dir).catalogue().releases_of("shop")) == 1
    assert main(["publish", str(repo_dir), "--product", "shop", "--version", "3.1-beta",
                 "--package", str(package)]) == 2
    assert main(["root", str(repo_dir)]) == 0
    assert capsys.readouterr().out.strip().endswith("feed/metadata/root.json")
    assert main(["root", str(tmp_path / "nothing")]) == 2


def test_the_feed_server_answers_ranges_and_hides_the_keys(tmp_path: Path) -> None:
    repo = VendorRepository.init(tmp_path / "feed")
    package = tmp_path / "p.bin"
    package.write_bytes(bytes(range(256)) * 40)
    release = repo.publish(product="shop", version="1.0", package=package)
    served = repo.target_file(release.package).relative_to(repo.repo_dir).as_posix()
    with running_feed(repo.repo_dir) as server, httpx.Client(base_url=server.url) as client:
        assert client.get(f"/{served}").content == package.read_bytes()
        part = client.get(f"/{served}", headers={"Range": "bytes=10000-"})
        assert part.status_code == 206
        assert part.headers["content-range"] == "bytes 10000-10239/10240"
        assert part.content == package.read_bytes()[10000:]
        assert client.get(f"/{served}", headers={"Range": "bytes=-5"}).content == bytes(
            range(251, 256)
        )
        assert client.get(f"/{served}", headers={"Range": "bytes=20000-"}).status_code == 416
        assert client.get("/metadata/timestamp.json").status_code == 200
        for hidden in ("/keys/root.pem", "/metadata/../keys/root.pem", "/", "/targets/nope"):
            assert client.get(hidden).status_code == 404, hidden
