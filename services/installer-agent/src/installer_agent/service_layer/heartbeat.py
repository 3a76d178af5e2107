"""The agent's heartbeat (U8): every ``interval_s`` while an install runs, every
``idle_interval_s`` when idle, and at once when an install starts or ends.

Heartbeats are published straight to the bus (``publish_ephemeral``), not through the outbox:
one that cannot be sent now is worthless later, and a missing heartbeat is exactly what the
orchestrator should notice. It runs as one of the agent's loops (``bootstrap`` builds it:
``round`` is one beat, ``every_s`` the interval now); a beat that fails is logged and the next
one comes at the next interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from lockstep_shared.bus.port import Bus, publish_ephemeral
from lockstep_shared.catalogue import AgentHeartbeat
from lockstep_shared.envelope import Envelope
from lockstep_shared.message_factory import MessageFactory

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self,
        *,
        bus: Bus,
        factory: MessageFactory,
        site_id: str,
        interval_s: float,
        idle_interval_s: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.bus = bus
        self.factory = factory
        self.site_id = site_id
        self.interval_s = interval_s
        self.idle_interval_s = idle_interval_s
        self.clock = clock
        self._install: Envelope | None = None
        self.sent = 0

    def every_s(self) -> float:
        """The interval now: ``interval_s`` while an install runs, else ``idle_interval_s``."""
        return self.interval_s if self._install else self.idle_interval_s

    def installing(self, request: Envelope | None) -> None:
        """The install now running (its command), or None when idle (whoever calls this wakes
        the heartbeat's loop, so the change is told at once)."""
        self._install = request

    async def beat(self) -> None:
        """Send one heartbeat now, correlated with the running install's command if any."""
        request = self._install
        update_id = getattr(request.data, "update_id", None) if request else None
        message = AgentHeartbeat(site_id=self.site_id, update_id=update_id, at=self.clock())
        if request is None:
            envelope = self.factory.make(message)
        else:
            envelope = self.factory.make(message, correlation_id=request.correlationid,
                                         causation_id=request.id)
        await publish_ephemeral(self.bus, [envelope])
        self.sent += 1

    async def round(self) -> bool:
        try:
            await self.beat()
        except Exception as exc:
            log.warning("heartbeat not sent: %s", exc)
        return False
