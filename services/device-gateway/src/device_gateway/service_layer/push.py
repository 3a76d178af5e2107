"""The push channel (D2): long-polls waiting in memory, woken per site.

A waiting long-poll costs one asyncio future in ``WaitingDevices`` (site → serial → future).
New notifications are committed by whichever replica consumed the request; in the same
transaction it adds ``DeviceNotificationsQueued`` to its outbox, so every replica's broadcast
subscription is woken only once the rows are committed (the consuming replica also wakes its
own long-polls at once after commit). A woken replica loads the pending notifications of ITS
waiting devices of that site in one query (a read that never waits for writers) and hands
them over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from device_gateway.adapters import repository
from lockstep_shared.db import reader

log = logging.getLogger(__name__)

_SITE_WIDE_QUERY_ABOVE = 500


@dataclass(frozen=True, slots=True)
class PendingNotification:
    id: str
    kind: str
    update_id: str
    created_at: datetime

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "kind": self.kind, "update_id": self.update_id,
                "created_at": self.created_at.isoformat()}


def _pending(row: Any) -> PendingNotification:
    return PendingNotification(str(row.seq), row.kind, row.update_id,
                               repository.as_utc(row.created_at))


class WaitingDevices:
    """In-process registry of the long-polls waiting on this replica, grouped by site."""

    def __init__(self) -> None:
        self._sites: dict[str, dict[str, asyncio.Future[list[PendingNotification]]]] = {}

    def wait_for(self, site_id: str, serial: str) -> asyncio.Future[list[PendingNotification]]:
        waiting = self._sites.setdefault(site_id, {})
        previous = waiting.get(serial)
        if previous is not None and not previous.done():
            previous.set_result([])  # the device reconnected: its older poll returns empty
        future: asyncio.Future[list[PendingNotification]] = (
            asyncio.get_running_loop().create_future())
        waiting[serial] = future
        return future

    def release(self, site_id: str, serial: str,
                future: asyncio.Future[list[PendingNotification]]) -> None:
        waiting = self._sites.get(site_id)
        if waiting is not None and waiting.get(serial) is future:
            del waiting[serial]
            if not waiting:
                del self._sites[site_id]

    def waiting_serials(self, site_id: str, among: Sequence[str] | None = None) -> list[str]:
        waiting = self._sites.get(site_id, {})
        if among is None:
            return [s for s, f in waiting.items() if not f.done()]
        return [s for s in among if s in waiting and not waiting[s].done()]

    def hand_over(self, site_id: str, serial: str, items: list[PendingNotification]) -> bool:
        future = self._sites.get(site_id, {}).get(serial)
        if future is None or future.done():
            return False
        future.set_result(items)
        return True

    def release_all(self) -> None:
        for waiting in self._sites.values():
            for future in waiting.values():
                if not future.done():
                    future.set_result([])
        self._sites.clear()

    def __len__(self) -> int:
        return sum(len(w) for w in self._sites.values())


class PushChannel:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime], *,
                 long_poll_max_s: float) -> None:
        self.engine = engine
        self.reader = reader(engine)
        self.clock = clock
        self.long_poll_max_s = long_poll_max_s
        self.waiting = WaitingDevices()

    async def poll(self, site_id: str, serial: str, wait_s: float) -> list[PendingNotification]:
        """Every unacknowledged notification of the device at once, or wait for one."""
        future = self.waiting.wait_for(site_id, serial)
        try:
            async with self.reader.connect() as conn:
                rows = await repository.pending_for_device(conn, site_id, serial)
            if rows:
                await self._mark_sent([r.seq for r in rows if r.sent_at is None])
                return [_pending(r) for r in rows]
            wait_s = min(max(wait_s, 0.0), self.long_poll_max_s)
            if wait_s == 0:
                return []
            done, _ = await asyncio.wait({future}, timeout=wait_s)
            return future.result() if done else []
        finally:
            self.waiting.release(site_id, serial, future)

    async def wake_site(self, site_id: str, *, serials: Sequence[str] | None = None) -> int:
        """Hand the site's committed notifications to its devices waiting here; how many
        devices were woken."""
        targets = self.waiting.waiting_serials(site_id, serials)
        if not targets:
            return 0
        async with self.reader.connect() as conn:
            rows = await repository.pending_for_site(
                conn, site_id, None if len(targets) > _SITE_WIDE_QUERY_ABOVE else targets)
        by_serial: dict[str, list[Any]] = {}
        for row in rows:
            by_serial.setdefault(row.serial, []).append(row)
        handed: list[int] = []
        woken = 0
        for serial in targets:
            serial_rows = by_serial.get(serial)
            if serial_rows and self.waiting.hand_over(
                    site_id, serial, [_pending(r) for r in serial_rows]):
                handed.extend(r.seq for r in serial_rows if r.sent_at is None)
                woken += 1
        if handed:
            await self._mark_sent(handed)
        return woken

    def close(self) -> None:
        """Answer every waiting long-poll (empty) so a stopping process lets go at once."""
        self.waiting.release_all()

    async def _mark_sent(self, seqs: list[int]) -> None:
        if not seqs:
            return
        try:
            async with self.engine.begin() as conn:
                await repository.mark_sent(conn, seqs, self.clock())
        except Exception:  # only the not-delivered reason depends on it; never fail a poll
            log.exception("could not record %d notifications as sent", len(seqs))
