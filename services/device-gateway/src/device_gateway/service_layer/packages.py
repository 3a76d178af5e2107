"""The gateway's copy of released packages (D6, S4): fetched into its artifact store when an
update opens, and lazily on a first download if that did not work out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from device_gateway.domain.updates import Package
from lockstep_shared.artifacts import ArtifactStore

log = logging.getLogger(__name__)


class PackageUnavailable(Exception):
    """The package cannot be served now (not in the store and the watcher cannot give it)."""


class PackageCache:
    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self._fetches: dict[str, asyncio.Task[Path]] = {}

    def prefetch(self, package: Package) -> None:
        """Start fetching in the background (nothing moves if the store has it)."""
        if not self.store.has(package.sha256, package.size):
            self._fetch(package).add_done_callback(_consume_failure)

    async def path(self, package: Package) -> Path:
        if self.store.has(package.sha256, package.size):
            return self.store.path_for(package.sha256)
        try:
            return await asyncio.shield(self._fetch(package))
        except Exception as exc:
            raise PackageUnavailable(str(exc)) from exc

    def _fetch(self, package: Package) -> asyncio.Task[Path]:
        task = self._fetches.get(package.sha256)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.create_task(self._ensure(package), name=f"fetch-{package.sha256[:12]}")
            self._fetches[package.sha256] = task
        return task

    async def _ensure(self, package: Package) -> Path:
        try:
            path = await self.store.ensure(package.sha256, package.size, package.url)
            log.info("package %s %s ready in the gateway's store", package.product,
                     package.version)
            return path
        except Exception:
            log.exception("could not fetch package %s from %s", package.sha256, package.url)
            raise

    async def stop(self) -> None:
        for task in self._fetches.values():
            task.cancel()
        for task in self._fetches.values():
            with contextlib.suppress(BaseException):  # cancelled, or failed: nothing to keep
                await task
        self._fetches.clear()


def _consume_failure(task: asyncio.Task[Path]) -> None:
    if not task.cancelled():
        task.exception()  # already logged; a download retries it lazily
