"""Where the vendor's package files come from (R6): one HTTP client for every download,
opened by ``bootstrap.build`` and closed by the service on stop (``close``).

A download is resumable and verified against its TUF hash by the ``ArtifactStore``; a failed
attempt is tried again a bounded number of times.
"""

from __future__ import annotations

import asyncio

import httpx

from lockstep_shared.artifacts import ArtifactStore, ArtifactUnavailable, Progress
from release_watcher.domain.feed import PackageTarget


class PackageSource:
    def __init__(self, store: ArtifactStore, *, attempts: int = 3,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.store = store
        self.attempts = attempts
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0),
                                      transport=transport)

    async def fetch(self, target: PackageTarget, progress: Progress | None) -> None:
        """Put the target's verified bytes in the store (nothing to do if it has them);
        ``ArtifactRejected`` if they do not match the signed hash, ``ArtifactUnavailable``
        once every attempt failed (the partial file stays, to be resumed)."""
        if self.store.has(target.sha256, target.size):
            return  # another site's check fetched it meanwhile
        for attempt in range(1, self.attempts + 1):
            try:
                await self.store.download(
                    self.http, target.url, target.sha256, target.size, progress=progress
                )
                return
            except ArtifactUnavailable:
                if attempt == self.attempts:
                    raise
                await asyncio.sleep(0.2 * attempt)

    async def close(self) -> None:
        await self.http.aclose()
