"""The site server's installer in the DDI end-to-end tests: the release the vendor publishes
is the devices' image (a signed .swu, or a RAUC bundle), and the server "installs" it by
checking that the image really is the requested version and recording that version.

    python host_install.py PACKAGE VERSION PRODUCT     (LOCKSTEP_DEMO_HOST_DIR: the host)

A .swu is a cpio archive whose ``sw-description`` names its version (read with ``cpio``); a
bundle is a tar whose ``manifest.raucm`` does. Exits non-zero, changing nothing, otherwise.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path


def image_version(package: Path) -> str:
    if tarfile.is_tarfile(package):
        with tarfile.open(package) as tar:
            member = tar.extractfile("manifest.raucm")
            if member is None:
                raise SystemExit("install: error: the bundle has no manifest")
            manifest = configparser.ConfigParser()
            manifest.read_string(member.read().decode())
            return manifest.get("update", "version")
    with package.open("rb") as archive:
        description = subprocess.run(["cpio", "-i", "--quiet", "--to-stdout", "sw-description"],
                                     stdin=archive, capture_output=True, check=True).stdout
    found = re.search(r'version\s*=\s*"([^"]+)"', description.decode())
    if found is None:
        raise SystemExit("install: error: the image's sw-description has no version")
    return found.group(1)


def main() -> None:
    package, version, product = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    host = Path(os.environ.get("LOCKSTEP_DEMO_HOST_DIR", "var/host"))
    print(f"progress 10% checking {package.name}", flush=True)
    found = image_version(package)
    if found != version:
        raise SystemExit(f"install: error: the image is version {found!r}, not {version!r}")
    host.mkdir(parents=True, exist_ok=True)
    (host / f"{product}.version").write_text(version + "\n")
    print(f"progress 100% installed {product} {version}", flush=True)


if __name__ == "__main__":
    main()
