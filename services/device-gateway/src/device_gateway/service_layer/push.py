"""The push channel (D2): long-polls waiting in memory, woken per site.

A waiting long-poll costs one asyncio future in ``WaitingDevices`` (site → serial → future).
New notifications are committed by whichever replica consumed the request; in the same
transaction it adds ``DeviceNotificationsQueued`` to its outbox, so every replica's broadcast
subscription is woken only once the rows are committed (the consuming replica also wakes its
own long-polls at once after commit). A woken replica loads the pending notifications of ITS
waiting devices of that site in one query (a read that never waits for writers) and hands
them over. Those broadcast wake-ups run in the background (``wake_site_soon``); ``close``
answers every waiting long-poll and ends the wake-ups still running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from device_gateway.adapters import notifications_repository
from device_gateway.domain.notifications import Notification
from device_gateway.metrics import CONNECTED_DEVICES
from lockstep_shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

_SITE_WIDE_QUERY_ABOVE = 500


class WaitingDevices:
    """In-process registry of the long-polls waiting on this replica, grouped by site."""

    def __init__(self) -> None:
        self._sites: dict[str, dict[str, asyncio.Future[list[Notification]]]] = {}

    def wait_for(self, site_id: str, serial: str) -> asyncio.Future[list[Notification]]:
        waiting = self._sites.setdefault(site_id, {})
        previous = waiting.get(serial)
        if previous is not None and not previous.done():
            previous.set_result([])  # the device reconnected: its older poll returns empty
        future: asyncio.Future[list[Notification]] = (
            asyncio.get_running_loop().create_future())
        waiting[serial] = future
        return future

    def release(self, site_id: str, serial: str,
                future: asyncio.Future[list[Notification]]) -> None:
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

    def hand_over(self, site_id: str, serial: str, items: list[Notification]) -> bool:
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
    def __init__(self, uow: UnitOfWork, reads: AsyncEngine, clock: Callable[[], datetime], *,
                 long_poll_max_s: float) -> None:
        self.uow = uow
        self.reads = reads  # the read-only engine: a poll never waits for a writer
        self.clock = clock
        self.long_poll_max_s = long_poll_max_s
        self.waiting = WaitingDevices()
        self._wakes: set[asyncio.Task[int]] = set()

    async def poll(self, site_id: str, serial: str, wait_s: float) -> list[Notification]:
        """Every unacknowledged notification of the device at once, or wait for one."""
        future = self.waiting.wait_for(site_id, serial)
        try:
            async with self.reads.connect() as conn:
                pending = await notifications_repository.pending_for_device(
                    conn, site_id, serial)
            if pending:
                await self._mark_sent([n.seq for n in pending if n.sent_at is None])
                return pending
            wait_s = min(max(wait_s, 0.0), self.long_poll_max_s)
            if wait_s == 0:
                return []
            CONNECTED_DEVICES.inc()
            try:
                done, _ = await asyncio.wait({future}, timeout=wait_s)
            finally:
                CONNECTED_DEVICES.dec()
            return future.result() if done else []
        finally:
            self.waiting.release(site_id, serial, future)

    async def wake_site(self, site_id: str, serials: Sequence[str] | None = None) -> int:
        """Hand the site's committed notifications to its devices waiting here; how many
        devices were woken."""
        targets = self.waiting.waiting_serials(site_id, serials)
        if not targets:
            return 0
        async with self.reads.connect() as conn:
            pending = await notifications_repository.pending_for_site(
                conn, site_id, None if len(targets) > _SITE_WIDE_QUERY_ABOVE else targets)
        by_serial: dict[str, list[Notification]] = {}
        for notification in pending:
            by_serial.setdefault(notification.serial, []).append(notification)
        handed: list[int] = []
        woken = 0
        for serial in targets:
            mine = by_serial.get(serial)
            if mine and self.waiting.hand_over(site_id, serial, mine):
                handed.extend(n.seq for n in mine if n.sent_at is None)
                woken += 1
        if handed:
            await self._mark_sent(handed)
        return woken

    def wake_site_soon(self, site_id: str) -> None:
        """``wake_site`` in the background (a broadcast handler does not wait for its query),
        kept referenced until it ends."""
        task = asyncio.create_task(self.wake_site(site_id), name=f"wake-site-{site_id}")
        self._wakes.add(task)
        task.add_done_callback(self._woken)

    def _woken(self, task: asyncio.Task[int]) -> None:
        self._wakes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("waking the long-polls of a site failed", exc_info=task.exception())

    async def close(self) -> None:
        """Answer every waiting long-poll (empty) so a stopping process lets go at once, and
        end the wake-ups still running."""
        self.waiting.release_all()
        wakes = list(self._wakes)
        for task in wakes:
            task.cancel()
        await asyncio.gather(*wakes, return_exceptions=True)

    async def _mark_sent(self, seqs: list[int]) -> None:
        if not seqs:
            return
        try:
            async with self.uow.begin() as tx:
                await notifications_repository.mark_sent(tx.conn, seqs, self.clock())
        except Exception:  # only the not-delivered reason depends on it; never fail a poll
            log.exception("could not record %d notifications as sent", len(seqs))
