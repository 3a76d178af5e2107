"""The worker: performs the installs recorded as ``requested``, one at a time (A1), and at
start reports every install the agent was in the middle of as interrupted (A6)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from installer_agent.adapters.installs_repository import InstallsRepository
from installer_agent.domain.installs import InstallStatus, interrupted
from installer_agent.service_layer.install_job import InstallJob
from lockstep_shared.messages import MessageFactory
from lockstep_shared.outbox import Outbox

log = logging.getLogger("installer_agent.host")

POLL_INTERVAL_S = 5.0


class InstallWorker:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        repository: InstallsRepository,
        outbox: Outbox,
        messages: MessageFactory,
        job: InstallJob,
        clock: Callable[[], datetime],
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        self.engine = engine
        self.repository = repository
        self.outbox = outbox
        self.messages = messages
        self.job = job
        self.clock = clock
        self.poll_interval_s = poll_interval_s
        self._one_at_a_time = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def report_interrupted(self) -> int:
        """Every install left ``running`` by a previous agent process is reported interrupted.
        Call at start, before the worker runs: nothing in this process is installing yet."""
        async with self.engine.begin() as conn:
            left = await self.repository.running(conn)
            for tail, stage, request in left:
                update_id = request.data.update_id  # type: ignore[union-attr]
                outcome = interrupted(tail, stage)
                await self.repository.finish(conn, update_id, outcome, self.clock(),
                                             expected=InstallStatus.RUNNING)
                message = outcome.message(request.siteid, update_id)
                await self.outbox.add(conn, [self.messages.caused_by(request, message)])
                log.error("install for update %s was interrupted by an agent restart; it is "
                          "reported interrupted and NOT run again — check the host", update_id,
                          extra={"site_id": request.siteid, "update_id": update_id,
                                 "correlation_id": request.correlationid})
        if left:
            self.outbox.committed()
        return len(left)

    async def run_pending(self) -> int:
        """Perform every requested install, oldest first, one at a time. Returns how many."""
        done = 0
        async with self._one_at_a_time:
            while True:
                async with self.engine.connect() as conn:
                    request = await self.repository.next_requested(conn)
                if request is None:
                    return done
                await self.job.perform(request)
                done += 1

    async def run(self) -> None:
        while True:
            try:
                await self.run_pending()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("install worker round failed; retrying")
                await asyncio.sleep(1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
            self._wake.clear()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="install-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
