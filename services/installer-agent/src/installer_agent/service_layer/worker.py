"""The worker: performs the installs recorded as ``requested``, one at a time (A1). At start it
takes up every install the agent was in the middle of (A6): it follows a detached installer
that outlived the previous agent process to its real outcome, and reports the rest
interrupted.

It runs as one of the agent's loops (``bootstrap`` builds it: ``round`` is one pass, at once
when woken by the install handlers, else every ``POLL_INTERVAL_S``), but installs nothing before
``take_over``: this process must first hold the site's lock, so a second agent for the site
never installs, and must have reported what the previous process left ``running``, so it never
reports its own install as interrupted. ``hand_over``, once the loop has stopped, gives the lock
up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from installer_agent.adapters.installs_repository import InstallsRepository
from installer_agent.adapters.site_lock import SiteLock
from installer_agent.domain.installs import InstallStatus, Stage, interrupted
from installer_agent.service_layer.install_job import InstallJob
from lockstep_shared.envelope import Envelope
from lockstep_shared.unit_of_work import UnitOfWork

log = logging.getLogger("installer_agent.host")

POLL_INTERVAL_S = 5.0


class InstallWorker:
    def __init__(
        self,
        *,
        uow: UnitOfWork,
        repository: InstallsRepository,
        job: InstallJob,
        site_lock: SiteLock,
        clock: Callable[[], datetime],
    ) -> None:
        self.uow = uow
        self.repository = repository
        self.job = job
        self.site_lock = site_lock
        self.clock = clock
        self.on_duty = False
        self._one_at_a_time = asyncio.Lock()
        self._to_follow: list[tuple[Envelope, Stage]] = []

    async def ready(self) -> bool:
        """The agent is ready when its worker is on duty (holds the site lock)."""
        return self.on_duty

    async def take_over(self) -> None:
        """Become the site's agent: take the site lock (``AnotherAgentRunning`` if another
        agent holds it: then nothing is installed here), report the installs left running,
        then install what is requested (the service wakes the worker's loop next)."""
        await self.site_lock.acquire()
        left = await self.report_interrupted()
        if left:
            log.error("%d install(s) interrupted by the last agent stop were reported", left)
        self.on_duty = True

    async def hand_over(self) -> None:
        """Give the site's lock up; call once the worker's loop has stopped (nothing installs
        here any more)."""
        self.on_duty = False
        await self.site_lock.release()

    async def report_interrupted(self) -> int:
        """Every install left ``running`` by a previous agent process: the worker follows
        those whose detached installer runs or left its exit status (first thing, before any
        new install); the others are reported interrupted. Call at start, before the worker
        runs: nothing in this process is installing yet. Returns how many were interrupted."""
        reported = 0
        async with self.uow.begin() as tx:
            left = await self.repository.running(tx.conn)
            for tail, stage, request in left:
                update_id = request.data.update_id  # type: ignore[union-attr]
                if await self.job.can_follow(request, stage):
                    if all(r.id != request.id for r, _ in self._to_follow):
                        self._to_follow.append((request, stage))
                    continue
                reported += 1
                outcome = interrupted(tail, stage)
                await self.repository.finish(tx.conn, update_id, outcome, self.clock(),
                                             expected=InstallStatus.RUNNING)
                tx.emit(outcome.message(request.siteid, update_id),
                        correlation_id=request.correlationid, causation_id=request.id)
                log.error("install for update %s was interrupted by an agent restart; it is "
                          "reported interrupted and NOT run again — check the host", update_id,
                          extra={"site_id": request.siteid, "update_id": update_id,
                                 "correlation_id": request.correlationid})
        return reported

    async def run_pending(self) -> int:
        """Perform every requested install, oldest first, one at a time. Returns how many."""
        done = 0
        async with self._one_at_a_time:
            while self._to_follow:
                request, stage = self._to_follow[0]
                await self.job.follow_again(request, stage)
                self._to_follow.pop(0)
                done += 1
            while True:
                async with self.uow.engine.connect() as conn:
                    request = await self.repository.next_requested(conn)
                if request is None:
                    return done
                await self.job.perform(request)
                done += 1

    async def round(self) -> bool:
        if self.on_duty:
            await self.run_pending()
        return False
