"""The stop time of each update (issue 14 §2), measured from the devices' own events: the first
``DeviceBlocked`` for the update starts it, and each device back at work extends it until it is
complete — and written to the update's history (the audit log). Back at work means:

- an update of the product the devices follow: the device reported the new version after END
  UPDATE; complete once every enabled device of the site runs it;
- an update of another product (R8: the platform), which gives the devices nothing to
  install: the device acknowledged END UPDATE (it resumes work at once on the version it
  runs); complete once no enabled device of the site is still blocked for the update;
- an update that failed or was cancelled: the device acknowledged ERROR UPDATE (it resumes
  work on the old version); complete likewise.

The update's stop-time row is every device's: version reports are gathered (``tx.gather``) and
the row is read locked and written once per transaction — once per delivery batch — not once
per device event (which made the consumer's concurrent batches queue on its lock)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime

from lockstep_shared.unit_of_work import Tx
from orchestrator.adapters.repositories import Repositories
from orchestrator.domain import stop_time
from orchestrator.domain.model import Update
from orchestrator.domain.platform import device_product
from orchestrator.service_layer.audit import AuditLog

DEVICES = "device-gateway"  # the events come from the site's devices, through the gateway


class StopTimes:
    def __init__(self, repos: Repositories, audit: AuditLog) -> None:
        self.repos = repos
        self.audit = audit

    async def device_blocked(self, tx: Tx, site_id: str, update_id: str, at: datetime) -> None:
        tx.gather(("stop_time.blocked", update_id), at,
                  functools.partial(self._blocked, site_id, update_id))

    async def _blocked(self, site_id: str, update_id: str, tx: Tx,
                       moments: list[datetime]) -> None:
        stops = self.repos.stop_times
        new = stop_time.device_blocked(await stops.get(tx.conn, update_id, lock=True),
                                       min(moments))
        if new is not None:
            await stops.save(tx.conn, site_id, update_id, new)

    async def device_back(self, tx: Tx, site_id: str, app_version: str, at: datetime) -> None:
        """A device of the site reported ``app_version``: back at work on the new version when
        it is the target of the site's update and END UPDATE was sent."""
        tx.gather(("stop_time.back", site_id), (app_version, at),
                  functools.partial(self._version_back, site_id))

    async def _version_back(self, site_id: str, tx: Tx,
                            reports: list[tuple[str, datetime]]) -> None:
        update = await self.repos.updates.active_for_site(tx.conn, site_id)
        if update is None or not update.devices_released:
            return
        back = [at for version, at in reports if version == update.to_version]
        if not back or not await self.installs_on_devices(tx, update):
            return
        await self._back(tx, update, max(back), lambda: self.repos.devices.everyone_on(
            tx.conn, site_id, update.to_version))

    async def installs_on_devices(self, tx: Tx, update: Update) -> bool:
        """Whether the update installs a new version on the site's devices: it updates the
        product their app follows (the gateway's rule, ``device_product``); an update of
        another product — the platform's (R8) — stops and releases them only."""
        followed = device_product(await self.repos.sites.products(tx.conn, update.site_id))
        return followed in (None, update.product)

    async def nothing_to_install(self, tx: Tx, update_id: str) -> bool:
        """The update exists and gives the devices nothing to install (R8: the platform's)."""
        update = await self.repos.updates.get(tx.conn, update_id)
        return update is not None and not await self.installs_on_devices(tx, update)

    async def device_resumed(self, tx: Tx, update_id: str, at: datetime) -> None:
        """A device acknowledged END UPDATE of an update that installs nothing on it, or ERROR
        UPDATE (its barrier already saved as not blocked): back at work at ``at``."""
        update = await self.repos.updates.get(tx.conn, update_id)
        if update is None:
            return
        await self._back(tx, update, at, lambda: self.repos.devices.nobody_blocked(
            tx.conn, update.site_id, update_id))

    async def _back(self, tx: Tx, update: Update, at: datetime,
                    everyone_back: Callable[[], Awaitable[bool]]) -> None:
        site_id, stops = update.site_id, self.repos.stop_times
        # locked first: two devices back at once go in turn, and the second one counts the
        # fleet after the first one's commit (else neither would see everyone back)
        current = await stops.get(tx.conn, update.update_id, lock=True)
        if current.complete or current.first_blocked_at is None:
            return  # measured already, or nothing was stopped: no need to look at the fleet
        new = stop_time.device_back(current, at, everyone_back=await everyone_back())
        if new is None:
            return
        await stops.save(tx.conn, site_id, update.update_id, new)
        if new.complete:
            assert new.first_blocked_at is not None and new.last_back_at is not None
            fleet = await self.repos.devices.fleet_summary(tx.conn, site_id, update.to_version)
            await self.audit.record(
                tx, DEVICES, "update.devices_back_at_work", site_id=site_id,
                update_id=update.update_id, stop_time_s=new.seconds,
                first_blocked_at=new.first_blocked_at.isoformat(),
                last_back_at=new.last_back_at.isoformat(), devices=fleet.enabled)
