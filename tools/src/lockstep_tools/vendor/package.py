"""Demo release packages: real ``.tar.gz`` files the demo installer can unpack."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

VERSION_FILE = "VERSION"


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def make_demo_package(path: Path | str, product: str, version: str, *, payload_kib: int = 64) -> (
    Path
):
    """Write ``path``: a gzip tarball with ``VERSION`` (= version) and a small payload.

    If ``path`` is a directory (or a new path without a suffix) the file is named
    ``<product>-<version>.tar.gz`` inside it.
    """
    path = Path(path)
    if path.is_dir() or (not path.exists() and not path.suffix):
        path = path / f"{product}-{version}.tar.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Deterministic, version-specific and incompressible: every release has its own hash and
    # the package keeps its size after gzip (so downloads show progress).
    payload = hashlib.shake_256(f"{product} {version}".encode()).digest(payload_kib * 1024)
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, VERSION_FILE, version.encode())
        _add(tar, "PRODUCT", product.encode())
        _add(tar, "payload/data.bin", payload)
    return path


def read_package_version(path: Path | str) -> str:
    """The ``VERSION`` inside a demo package."""
    with tarfile.open(path, "r:gz") as tar:
        member = tar.extractfile(VERSION_FILE)
        if member is None:
            raise ValueError(f"{path} has no {VERSION_FILE} file")
        return member.read().decode().strip()
