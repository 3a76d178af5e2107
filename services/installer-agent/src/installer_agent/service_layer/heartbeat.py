"""The agent's heartbeat (U8): every ``interval`` while an install runs, slower when idle.

Heartbeats go straight to the bus, not through the outbox: one that cannot be sent now is
worthless later, and a missing heartbeat is exactly what the orchestrator should notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from lockstep_shared.bus.port import Bus, Outgoing
from lockstep_shared.catalogue import AgentHeartbeat
from lockstep_shared.envelope import Envelope
from lockstep_shared.messages import MessageFactory

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self,
        *,
        bus: Bus,
        messages: MessageFactory,
        site_id: str,
        interval_s: float,
        idle_interval_s: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.bus = bus
        self.messages = messages
        self.site_id = site_id
        self.interval_s = interval_s
        self.idle_interval_s = idle_interval_s
        self.clock = clock
        self._install: Envelope | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    def installing(self, request: Envelope | None) -> None:
        """The install now running (its command), or None when idle; beats at once."""
        self._install = request
        self._changed.set()

    async def beat(self) -> None:
        request = self._install
        update_id = getattr(request.data, "update_id", None) if request else None
        message = AgentHeartbeat(site_id=self.site_id, update_id=update_id, at=self.clock())
        envelope = (
            self.messages.caused_by(request, message) if request else self.messages.new(message)
        )
        await self.bus.publish([Outgoing.of(envelope)])
        self.sent += 1

    async def run(self) -> None:
        while True:
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("heartbeat not sent: %s", exc)
            interval = self.interval_s if self._install else self.idle_interval_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), interval)
            self._changed.clear()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="agent-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
