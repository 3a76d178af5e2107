"""The sha1 and md5 of a verified package, which DDI agents check it by (D14).

The package in the gateway's artifact store was verified against its sha256 (S4); its other
digests are computed from the same bytes once per process and package, off the event loop, and
the sha256 is checked again on the way (a store file that changed is refused, never served).
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from device_gateway.domain.ddi import Digests, PackageChanged

CHUNK = 1 << 20


def digests_of(path: Path, sha256: str) -> Digests:
    sha1, md5, check = hashlib.sha1(), hashlib.md5(), hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            sha1.update(chunk)
            md5.update(chunk)
            check.update(chunk)
    if check.hexdigest() != sha256:
        raise PackageChanged(f"{path} no longer has sha256 {sha256}: fetch the package again")
    return Digests(sha1.hexdigest(), md5.hexdigest(), sha256)


class PackageDigests:
    """Digests per package sha256, computed once per process."""

    def __init__(self) -> None:
        self._known: dict[str, Digests] = {}

    async def of(self, path: Path, sha256: str) -> Digests:
        known = self._known.get(sha256)
        if known is None:
            known = await asyncio.to_thread(digests_of, path, sha256)
            self._known[sha256] = known
        return known
