"""Staging requests (issue 14 §2, docs/device-protocol.md §5a): a device at work asks whether it
may download the site's next release now, downloads it while it holds one of its site's slots,
and reports it staged; the rules are ``domain.staging``'s."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from device_gateway.adapters import staging_repository
from device_gateway.domain.staging import Slots, may_download, retry_after_s, staging_offer
from device_gateway.domain.updates import DeviceContext, Package
from device_gateway.service_layer.auth import AuthenticatedDevice
from device_gateway.service_layer.devices import enabled_device
from device_gateway.service_layer.errors import DeviceRefused
from lockstep_shared.catalogue import DevicePackageStaged
from lockstep_shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

NOTHING_TO_STAGE = ("nothing to stage for this device now: the site has no newer release "
                    "downloaded, or this device runs or staged it already")


@dataclass(frozen=True, slots=True)
class StagingPolicy:
    """How many devices of a site download at once, how long a slot lasts without being taken
    again, and the shortest and longest wait a refused device is told (a device that finishes
    frees its slot before it ends, so the wait is capped well below ``slot_s``)."""

    slots_per_site: int = 4
    slot_s: int = 120
    retry_floor_s: int = 2
    retry_cap_s: int = 15


@dataclass(frozen=True, slots=True)
class StagingGrant:
    package: Package
    slot_s: int


class StagingHandlers:
    def __init__(self, uow: UnitOfWork, reads: AsyncEngine, clock: Callable[[], datetime],
                 policy: StagingPolicy) -> None:
        self.uow = uow
        self.reads = reads
        self.clock = clock
        self.policy = policy

    async def ask(self, device: AuthenticatedDevice) -> StagingGrant | None:
        """A slot to download the site's next release now (taken, or renewed when the device
        holds one); None: nothing to stage. Every slot taken: ``staging_busy`` with how long
        to wait."""
        now = self.clock()
        async with self.reads.connect() as conn:  # PostgreSQL: two queries by the driver
            offer = self._offer(await enabled_device(conn, device))
            if offer is not None:  # every slot seen taken by others: refused without a lock
                self._refuse_when_busy(await staging_repository.slots(
                    conn, device.site_id, device.serial, now), now)
        if offer is None:
            await self.uow.change(staging_repository.FREE_SLOT, {
                "key_site_id": device.site_id, "key_serial": device.serial})
            return None
        policy = self.policy
        async with self.uow.begin() as tx:  # counted again under the site's lock, then taken
            await staging_repository.lock_slots(tx.conn, device.site_id)
            slots = await staging_repository.slots(tx.conn, device.site_id, device.serial, now)
            self._refuse_when_busy(slots, now)
            await staging_repository.take_slot(tx.conn, device.site_id, device.serial,
                                               now + timedelta(seconds=policy.slot_s))
        return StagingGrant(offer, policy.slot_s)

    async def package(self, device: AuthenticatedDevice) -> Package:
        """The package a device holding a live slot downloads (read-only)."""
        async with self.reads.connect() as conn:
            offer = self._offer(await enabled_device(conn, device))
            holds = await staging_repository.holds_slot(conn, device.site_id, device.serial,
                                                        self.clock())
        if offer is None:
            raise DeviceRefused("nothing_to_stage", NOTHING_TO_STAGE)
        if not holds:
            raise DeviceRefused("no_staging_slot", "this device holds no staging slot (or it "
                                "ended): ask again with POST /device/v1/staging, then resume")
        return offer

    async def staged(self, device: AuthenticatedDevice, sha256: str) -> None:
        """The device verified the package and keeps it: recorded once, its slot freed."""
        now = self.clock()
        async with self.uow.begin() as tx:
            context = await enabled_device(tx.conn, device)
            offer = context.offer
            if offer is None or offer.sha256 != sha256:
                raise DeviceRefused("not_the_offer", "the site offers no package with this "
                                    "sha256 for staging: ask again with POST /device/v1/staging")
            await staging_repository.free_slot(tx.conn, device.site_id, device.serial)
            if context.staged_sha256 == sha256:
                return  # reported again: changes nothing
            await staging_repository.mark_staged(tx.conn, device.site_id, device.serial, sha256)
            tx.emit(DevicePackageStaged(site_id=device.site_id, serial=device.serial,
                                        product=offer.product, version=offer.version,
                                        sha256=sha256, staged_at=now))
        log.info("device %s staged %s %s", device.serial, offer.product, offer.version,
                 extra={"site_id": device.site_id, "serial": device.serial})

    def _refuse_when_busy(self, slots: Slots, now: datetime) -> None:
        policy = self.policy
        if not may_download(slots, policy.slots_per_site):
            wait = retry_after_s(slots, now, floor_s=policy.retry_floor_s,
                                 cap_s=min(policy.retry_cap_s, policy.slot_s))
            raise DeviceRefused(
                "staging_busy", f"{policy.slots_per_site} devices of this site are "
                f"downloading the release already: ask again in {wait} s", retry_after=wait)

    @staticmethod
    def _offer(context: DeviceContext) -> Package | None:
        return staging_offer(context.offer, site_version=context.site_version,
                             app_version=context.app_version,
                             staged_sha256=context.staged_sha256)
