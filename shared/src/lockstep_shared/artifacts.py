"""Content-addressed artifact store: verified packages under ``<root>/sha256/<hex>``.

How services reach a package (S4): the release-watcher downloads from the vendor feed into its
store and serves it at ``GET /watcher/v1/artifacts/{sha256}`` (Range/206). The gateway and the
agent call ``ensure``: if their store already holds the verified file (single-node: one shared
store) nothing moves; otherwise they fetch it resumably from that URL and verify length and
hash before it counts. A partial download lives in ``<hex>.part`` and resumes with Range.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from lockstep_shared.settings import INTERNAL_HEADER

log = logging.getLogger(__name__)

CHUNK = 1 << 16
Progress = Callable[[int, int], Awaitable[None]]


class ArtifactRejected(Exception):
    """A downloaded package did not match its expected length or hash; it was discarded."""


class ArtifactUnavailable(Exception):
    """The package could not be fetched (network, HTTP error); the partial file is kept.
    ``transient``: worth trying again later (unreachable, a 5xx or 429, a cut download), not
    an answer that will stay the same (a 404, a 403)."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class ArtifactStore:
    def __init__(self, root: Path, *, internal_token: str = "") -> None:
        """``internal_token``: sent (``X-Lockstep-Internal``) when fetching from the watcher."""
        self.root = Path(root)
        self.fetch_headers = {INTERNAL_HEADER: internal_token} if internal_token else {}
        (self.root / "sha256").mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / "sha256" / sha256

    def partial_path(self, sha256: str) -> Path:
        return self.path_for(sha256).with_suffix(".part")

    def has(self, sha256: str, size: int | None = None) -> bool:
        path = self.path_for(sha256)
        return path.is_file() and (size is None or path.stat().st_size == size)

    async def ensure(
        self,
        sha256: str,
        size: int,
        url: str,
        *,
        client: httpx.AsyncClient | None = None,
        progress: Progress | None = None,
        attempts: int = 3,
    ) -> Path:
        """The verified package, fetched from ``url`` if this store lacks it."""
        if self.has(sha256, size):
            return self.path_for(sha256)
        own = client is None
        client = client or httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0),
                                             headers=self.fetch_headers)
        try:
            for attempt in range(1, attempts + 1):
                try:
                    return await self.download(client, url, sha256, size, progress=progress)
                except ArtifactUnavailable:
                    if attempt == attempts:
                        raise
                    await asyncio.sleep(0.5 * attempt)
            raise AssertionError("unreachable")
        finally:
            if own:
                await client.aclose()

    async def download(
        self,
        client: httpx.AsyncClient,
        url: str,
        sha256: str,
        size: int,
        *,
        progress: Progress | None = None,
        headers: dict[str, str] | None = None,
    ) -> Path:
        """Download resumably into ``.part``, verify, then move into place atomically."""
        final = self.path_for(sha256)
        part = self.partial_path(sha256)
        have = part.stat().st_size if part.exists() else 0
        if have > size:
            part.unlink()
            have = 0
        if have < size:
            request_headers = dict(headers or {})
            if have:
                request_headers["Range"] = f"bytes={have}-"
            try:
                async with client.stream("GET", url, headers=request_headers) as response:
                    if response.status_code == 200 and have:
                        have = 0  # server ignored Range: start over
                    elif response.status_code not in (200, 206):
                        status = response.status_code
                        raise ArtifactUnavailable(f"GET {url} answered {status}",
                                                  transient=status >= 500 or status == 429)
                    with part.open("ab" if have else "wb") as f:
                        async for chunk in response.aiter_bytes(CHUNK):
                            if have + len(chunk) > size:
                                f.write(chunk[: size - have + 1])
                                have = size + 1
                                break
                            f.write(chunk)
                            have += len(chunk)
                            if progress is not None:
                                await progress(have, size)
            except httpx.HTTPError as exc:
                raise ArtifactUnavailable(f"download of {url} interrupted: {exc}") from exc
        actual_size = part.stat().st_size
        if actual_size != size:
            if actual_size > size:
                part.unlink()
                raise ArtifactRejected(f"{url}: longer than the expected {size} bytes; discarded")
            raise ArtifactUnavailable(f"{url}: got {actual_size} of {size} bytes; will resume")
        actual = await asyncio.to_thread(file_sha256, part)
        if actual != sha256:
            part.unlink()
            raise ArtifactRejected(
                f"{url}: sha256 {actual} is not the expected {sha256}; discarded"
            )
        os.replace(part, final)
        return final
