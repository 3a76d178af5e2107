"""The vendor tool (R2): init, package, publish, root through its CLI; the feed server's
Range answers and its refusal to serve anything but metadata/ and targets/."""

from __future__ import annotations

import hashlib
import hmac
import json
import tarfile
from pathlib import Path

import httpx
import pytest
from tuf.api.metadata import Metadata

from lockstep_shared.contracts.confirmation_code import response_is_valid
from lockstep_shared.contracts.vendor_feed import entitlement_target
from lockstep_tools.vendor import (
    VendorRepository,
    confirmation_response,
    read_package_version,
    running_feed,
)
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


def test_entitle_publishes_a_signed_subscription_per_licence(tmp_path: Path, capsys) -> None:
    repo_dir = tmp_path / "feed"
    VendorRepository.init(repo_dir)
    before = VendorRepository(repo_dir).versions()

    assert main(["entitle", str(repo_dir), "--license-key", "ACME-1", "--until", "2027-06-30"]) == 0

    printed = json.loads(capsys.readouterr().out)
    assert printed == {"active": True, "valid_until": "2027-06-30T23:59:59Z"}
    repo = VendorRepository(repo_dir)
    assert repo.versions()["targets"] == before["targets"] + 1
    path = entitlement_target("ACME-1")
    assert path == f"entitlements/{hashlib.sha256(b'ACME-1').hexdigest()}.json"
    targets = Metadata.from_file(str(repo_dir / "metadata" / "targets.json")).signed.targets
    assert path in targets and not any("ACME" in name for name in targets)
    assert json.loads(repo.target_file(path).read_bytes()) == printed

    assert main(["entitle", str(repo_dir), "--license-key", "ACME-1", "--inactive"]) == 0
    assert VendorRepository(repo_dir).entitlement("ACME-1").active is False
    assert main(["entitle", str(repo_dir), "--license-key", "ACME-2", "--no-end"]) == 0
    unlimited = VendorRepository(repo_dir).entitlement("ACME-2")
    assert unlimited.active and unlimited.valid_until is None
    assert VendorRepository(repo_dir).entitlement("ACME-1").active is False  # kept
    capsys.readouterr()
    for bad in (["--until", "30/06/2027"], ["--until", "2027-06-30", "--inactive"], []):
        with pytest.raises(SystemExit) as exited:
            main(["entitle", str(repo_dir), "--license-key", "ACME-3", *bad])
        assert exited.value.code == 2, bad
    assert main(["entitle", str(tmp_path / "nothing"), "--license-key", "K", "--no-end"]) == 2
    assert VendorRepository(repo_dir).entitlement("ACME-3") is None


def test_confirmation_response_is_the_hmac_the_site_checks(capsys) -> None:
    key, challenge, product, version = "ACME-1", "12345-67890-13579", "shop", "03.01.00_031"
    digest = hmac.new(key.encode(), f"{challenge}|{product}|{version}".encode(),
                      hashlib.sha256).digest()
    digits = f"{int.from_bytes(digest[:8], 'big') % 10**15:015d}"
    expected = f"{digits[:5]}-{digits[5:10]}-{digits[10:]}"

    assert main(["confirmation-response", "--license-key", key, "--challenge", challenge,
                 "--product", product, "--version", version]) == 0
    assert capsys.readouterr().out.strip() == expected
    # The challenge as typed from the screen, without dashes, gives the same response.
    assert confirmation_response(key, "123456789013579", product, version) == expected
    assert confirmation_response(key, "12345 67890 13579", product, version) == expected
    assert response_is_valid(key, challenge, product, version, expected)
    assert confirmation_response("ACME-2", challenge, product, version) != expected
    assert confirmation_response(key, challenge, product, "03.01.00_032") != expected
    for bad in (["--challenge", "1234"], ["--version", "3.1-beta"]):
        args = {"--license-key": key, "--challenge": challenge, "--product": product,
                "--version": version}
        args[bad[0]] = bad[1]
        assert main(["confirmation-response", *(x for kv in args.items() for x in kv)]) == 2
    err = capsys.readouterr().err
    assert "challenge '1234'" in err and "3.1-beta" in err
