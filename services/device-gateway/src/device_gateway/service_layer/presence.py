"""Which devices are connected now (U3: the grid's "online now" against "last seen …").

Every long-poll of the device API and every poll of the DDI controller API marks its device
seen (one set insert, in memory). Every ``interval_s`` the serials seen since the last report
go to the orchestrator, one ``DevicesConnected`` per site, straight to the bus
(``publish_ephemeral``): a report that cannot be sent now is worthless later, and the next one
follows. Each replica reports the devices that polled it. A device that stops polling is in no
report: the orchestrator's "online now" lapses after a few intervals on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from lockstep_shared.bus.port import Bus, publish_ephemeral
from lockstep_shared.catalogue import DevicesConnected
from lockstep_shared.message_factory import MessageFactory

log = logging.getLogger(__name__)

MAX_SERIALS = 10_000  # per message (DevicesConnected.serials)


class Presence:
    def __init__(self, bus: Bus, factory: MessageFactory,
                 clock: Callable[[], datetime]) -> None:
        self.bus = bus
        self.factory = factory
        self.clock = clock
        self._seen: dict[str, set[str]] = {}

    def seen(self, site_id: str, serial: str) -> None:
        """The device polled now."""
        self._seen.setdefault(site_id, set()).add(serial)

    async def report(self) -> int:
        """Send what was seen since the last report; how many messages."""
        seen, self._seen = self._seen, {}
        at = self.clock()
        envelopes = []
        for site_id, serials in seen.items():
            ordered = sorted(serials)
            for first in range(0, len(ordered), MAX_SERIALS):
                envelopes.append(self.factory.make(DevicesConnected(
                    site_id=site_id, serials=tuple(ordered[first:first + MAX_SERIALS]),
                    seen_at=at)))
        if envelopes:
            await publish_ephemeral(self.bus, envelopes)
        return len(envelopes)

    async def round(self) -> bool:
        """One report, a round of the bootstrap's presence loop; never raises."""
        try:
            await self.report()
        except Exception as exc:
            log.warning("presence report not sent: %s", exc)
        return False
