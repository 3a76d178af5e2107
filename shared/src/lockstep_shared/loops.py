"""Background loops: every service's periodic work (outbox relay, delivery sweeper, release
checks, heartbeat, install worker, support reports, inbox retention) runs the same way.

A loop calls its ``round`` at start, then again when woken or when ``every_s`` has passed. A
round returns True when there may be more to do at once (a full batch), so the loop runs it again
without waiting. A round that fails is logged and retried after ``failure_backoff_s``; the loop
never dies of it. ``start`` twice starts one task; ``stop`` cancels it and waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Round = Callable[[], Awaitable[bool | None]]


class Loop:
    def __init__(self, name: str, round: Round, *, every_s: float | Callable[[], float],
                 failure_backoff_s: float = 1.0) -> None:
        self.name = name
        self.round = round
        self._every_s = every_s
        self.failure_backoff_s = failure_backoff_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0
        self.failures = 0

    @property
    def every_s(self) -> float:
        return self._every_s() if callable(self._every_s) else self._every_s

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def wake(self) -> None:
        """Run a round soon, without waiting for ``every_s``."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                more = await self.round()
                self.rounds += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                log.exception("%s: round failed; retrying in %.1f s", self.name,
                              self.failure_backoff_s)
                await asyncio.sleep(self.failure_backoff_s)
                continue
            if more:
                await asyncio.sleep(0)  # let others run between full batches
                continue
            await self._sleep()

    async def _sleep(self) -> None:
        """Until woken, or ``every_s`` passed. Not ``wait_for``: on Python 3.11 it swallows a
        cancellation that arrives as the wait ends (woken just before ``stop``), and the
        stopped loop ran on forever."""
        waiter = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({waiter}, timeout=self.every_s)
        finally:
            waiter.cancel()
