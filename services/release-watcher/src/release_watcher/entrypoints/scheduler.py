"""The check loop (R3): checks at start, when a site's ``next_check_at`` comes, and at once
when woken (a site configured, "check now")."""

from __future__ import annotations

import asyncio
import logging

from release_watcher.service_layer.checks import ReleaseChecker

log = logging.getLogger(__name__)


class CheckScheduler:
    def __init__(self, checker: ReleaseChecker, *, poll_s: float = 5.0) -> None:
        self.checker = checker
        self.poll_s = poll_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                if await self.checker.run_due():
                    continue  # more may be due
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("release check round failed; retrying")
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            except TimeoutError:
                pass

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="release-checks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
