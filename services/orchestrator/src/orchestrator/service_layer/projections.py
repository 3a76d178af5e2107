"""What the other services' events change in the orchestrator's own tables: the releases and
the subscription of a site (→ banner, R4, R7) and the device projection (→ grid, fleet summary).

Each handler runs in the consumer's unit of work (``entrypoints/consumers.py`` registers them).
Device events are one statement each (those that move the barrier: a locked read and a write,
decided by ``domain.barrier``) — the notification outcomes and the last sync one statement per
delivery batch for all its devices (``tx.gather``) — and the saga is not involved: it reads
the devices only as counts (``fleet_summary``) when an admin's next command needs them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime
from typing import Any

from lockstep_shared.catalogue import (
    DeviceBlocked,
    DeviceDataHandedIn,
    DeviceInstallFailed,
    DeviceNotificationDelivered,
    DeviceNotificationNotDelivered,
    DevicePackageStaged,
    DeviceRegistered,
    DevicesConnected,
    DeviceUnblocked,
    DeviceVersionReported,
    EntitlementChecked,
    ReleaseCheckFailed,
)
from lockstep_shared.unit_of_work import Tx
from orchestrator.adapters.devices_repository import DevicesRepository
from orchestrator.adapters.repositories import Repositories
from orchestrator.domain.barrier import DeviceBarrier, on_blocked, on_handed_in, on_unblocked
from orchestrator.domain.devices import (
    NOTE_BLOCKED_BY_CODE,
    NOTE_DDI_ADMIN,
    NOTE_DDI_STAGED,
    NOTE_RESUMED_NOTHING_TO_INSTALL,
    NOTE_UNBLOCKED_AFTER_ERROR,
    NOTE_UNBLOCKED_BY_CODE,
    NOTE_UPDATED,
)
from orchestrator.domain.releases import ReleaseEvent, apply_release_event
from orchestrator.domain.sites import Entitlement
from orchestrator.service_layer.audit import AuditLog
from orchestrator.service_layer.stop_times import StopTimes

GATEWAY = "device-gateway"
DDI_WAITING_NOTES = {"staged": NOTE_DDI_STAGED, "admin": NOTE_DDI_ADMIN}  # (D14)


class SiteProjection:
    """The watcher's answers about a site: its next release per product, its subscription."""

    def __init__(self, repos: Repositories, *, clock: Callable[[], datetime]) -> None:
        self.repos = repos
        self.clock = clock

    async def on_release_event(self, tx: Tx, event: ReleaseEvent) -> None:
        """R7: up to date, check failed, available, progress, downloaded, code required."""
        sites, releases = self.repos.sites, self.repos.releases
        if isinstance(event, ReleaseCheckFailed) and event.product is None:
            products = list(await sites.products(tx.conn, event.site_id))
        else:
            products = [event.product]  # type: ignore[list-item]
        for product in sorted(products):
            await releases.lock(tx.conn, event.site_id, product)
            current = await releases.get(tx.conn, event.site_id, product)
            await releases.save(tx.conn, apply_release_event(current, event, product),
                                self.clock())

    async def on_entitlement_checked(self, tx: Tx, event: EntitlementChecked) -> None:
        """R4: the vendor's subscription answer for the site (the newest one counts)."""
        await self.repos.entitlements.save(tx.conn, event.site_id, Entitlement(
            event.active, event.valid_until, event.reason, event.checked_at))


class DeviceProjection:
    """The gateway's device events, as the grid and the fleet summary show them (U3, U9)."""

    def __init__(self, devices: DevicesRepository, audit: AuditLog,
                 stop_times: StopTimes) -> None:
        # the most frequent events are gathered and written once per delivery batch, one
        # statement for all its devices (``tx.gather``); the barrier's stay one by one
        self._notifications = object()
        self._syncs = object()
        self.devices = devices
        self.audit = audit
        self.stop_times = stop_times

    async def on_device_registered(self, tx: Tx, event: DeviceRegistered) -> None:
        await self.devices.register(tx.conn, event.site_id, event.serial, {
            "model": event.model, "operator_code": event.operator_code,
            "operator_name": event.operator_name, "operator_phone": event.operator_phone,
            "app_version": event.app_version,
            "notifications_enabled": event.notifications_enabled,
            "registered_at": event.registered_at, "agent": event.agent,
        })
        if event.reregistered is not None:  # a known serial took new credentials: audited
            await self.audit.record(tx, GATEWAY, "device.reregistered", site_id=event.site_id,
                                    serial=event.serial, proved_by=event.reregistered)

    async def on_devices_connected(self, tx: Tx, event: DevicesConnected) -> None:
        """U3: polled the gateway lately, so "online now" in the grid (not audited)."""
        await self.devices.connected(tx.conn, event.site_id, event.serials, event.seen_at)

    async def on_notification_delivered(self, tx: Tx,
                                        event: DeviceNotificationDelivered) -> None:
        """Delivered; END UPDATE of an update that installs nothing on the devices (R8: the
        platform's) sets the device back at work at once (issue 14 §2)."""
        tx.gather(self._notifications, ("delivered", {
            "site_id": event.site_id, "serial": event.serial, "update_id": event.update_id,
            "kind": event.kind, "at": event.delivered_at}), self._write_notifications)
        if event.kind != "end":
            return
        if not await self.stop_times.nothing_to_install(tx, event.update_id):
            return
        await self._barrier(tx, event.site_id, event.serial,
                            lambda b, _: on_unblocked(b, event.delivered_at),
                            note=NOTE_RESUMED_NOTHING_TO_INSTALL)
        await self.stop_times.device_resumed(tx, event.update_id, event.delivered_at)

    async def on_notification_not_delivered(self, tx: Tx,
                                            event: DeviceNotificationNotDelivered) -> None:
        tx.gather(self._notifications, ("not_delivered", {
            "site_id": event.site_id, "serial": event.serial, "update_id": event.update_id,
            "kind": event.kind, "reason": event.reason}), self._write_notifications)

    async def _write_notifications(self, tx: Tx,
                                   outcomes: list[tuple[str, dict[str, Any]]]) -> None:
        """The batch's notification outcomes, in their order: a run of one outcome is one
        statement for all its devices."""
        for outcome, run in itertools.groupby(outcomes, key=lambda o: o[0]):
            rows = [row for _, row in run]
            if outcome == "delivered":
                await self.devices.notifications_delivered(tx.conn, rows)
            else:
                await self.devices.notifications_not_delivered(tx.conn, rows)

    async def on_device_blocked(self, tx: Tx, event: DeviceBlocked) -> None:
        """After START UPDATE, or by the three codes (U5: audited)."""
        await self._barrier(tx, event.site_id, event.serial, lambda b, _: on_blocked(
            b, event.update_id, event.blocked_at),
            note=(NOTE_BLOCKED_BY_CODE if event.by_code
                  else DDI_WAITING_NOTES.get(event.ddi_waiting or "")))
        if event.ddi_waiting is not None:
            await self.devices.ddi_waiting(tx.conn, event.site_id, event.serial,
                                           event.ddi_waiting)
        await self.stop_times.device_blocked(tx, event.site_id, event.update_id,
                                             event.blocked_at)
        if event.by_code:
            await self.audit.record(tx, GATEWAY, "device.blocked_by_code",
                                    site_id=event.site_id, update_id=event.update_id,
                                    serial=event.serial)

    async def on_device_unblocked(self, tx: Tx, event: DeviceUnblocked) -> None:
        """After ERROR UPDATE, or by the three codes (U5: audited): no longer waiting."""
        await self._barrier(tx, event.site_id, event.serial,
                            lambda b, _: on_unblocked(b, event.unblocked_at),
                            note=NOTE_UNBLOCKED_BY_CODE if event.by_code
                            else NOTE_UNBLOCKED_AFTER_ERROR)
        if not event.by_code:  # ERROR UPDATE: back at work on the old version (issue 14 §2)
            await self.stop_times.device_resumed(tx, event.update_id, event.unblocked_at)
        else:
            await self.audit.record(tx, GATEWAY, "device.unblocked_by_code",
                                    site_id=event.site_id, update_id=event.update_id,
                                    serial=event.serial)

    async def on_data_handed_in(self, tx: Tx, event: DeviceDataHandedIn) -> None:
        """Last sync always; waiting for update (U6) when the gateway counted this hand-in as
        made after blocking for the update, in phase 1."""
        tx.gather(self._syncs, {"site_id": event.site_id, "serial": event.serial,
                                "at": event.synced_at}, self._write_syncs)
        if event.update_id is None or event.blocked_at is None:
            return  # normal work: one statement
        await self._barrier(tx, event.site_id, event.serial, lambda b, phase_1: on_handed_in(
            b, event.update_id, event.blocked_at, in_phase_1=phase_1))

    async def _write_syncs(self, tx: Tx, rows: list[dict[str, Any]]) -> None:
        await self.devices.last_syncs(tx.conn, rows)

    async def _barrier(self, tx: Tx, site_id: str, serial: str,
                       decide: Callable[[DeviceBarrier, bool], DeviceBarrier | None],
                       note: str | None = None) -> None:
        """Load the device's barrier flags (locked) and whether its update is in phase 1,
        decide, and save what changed (with ``note`` for the grid)."""
        found = await self.devices.barrier(tx.conn, site_id, serial)
        new = None if found is None else decide(*found)
        if new is not None:
            await self.devices.save_barrier(tx.conn, site_id, serial, new, note)

    async def on_install_failed(self, tx: Tx, event: DeviceInstallFailed) -> None:
        """A DDI agent's ``closed/failure``: its details lines in the grid's notes (D14)."""
        await self.devices.note(tx.conn, event.site_id, event.serial,
                                f"install of {event.version} failed: {event.details}")

    async def on_version_reported(self, tx: Tx, event: DeviceVersionReported) -> None:
        """The version now installed; a device that reports its update's new version once the
        server was updated is working again: no longer blocked nor waiting (U9)."""
        if await self.devices.version_reported(tx.conn, event.site_id, event.serial,
                                               event.app_version, event.reported_at):
            await self._barrier(tx, event.site_id, event.serial,
                                lambda b, _: on_unblocked(b, event.reported_at),
                                note=NOTE_UPDATED)
        await self.stop_times.device_back(tx, event.site_id, event.app_version,
                                          event.reported_at)

    async def on_package_staged(self, tx: Tx, event: DevicePackageStaged) -> None:
        """The device holds the next release, verified, not installed (issue 14 §2)."""
        await self.devices.package_staged(tx.conn, event.site_id, event.serial, event.version)
