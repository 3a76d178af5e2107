"""What the gateway does with the orchestrator's events (queue ``device-gateway``): one handler
per consumed type, registered in ``entrypoints/consumers.py``.

Each handler runs in the consumer's unit of work: the inbox row, the effect on the gateway's
tables and any message it emits commit together, and a redelivered event has no second effect.
What must wait for the commit (waking long-polls, forgetting cached tokens, fetching a package)
is registered with ``tx.after_commit``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial

from device_gateway.adapters import notifications_repository, repository, staging_repository
from device_gateway.domain.updates import Package, Phase, advance, device_version_of
from lockstep_shared.catalogue import (
    DeviceDisabled,
    DeviceEnabled,
    DeviceNotificationRequested,
    DeviceNotificationsQueued,
    DevicesReleased,
    PackageRef,
    ReleaseDownloaded,
    ServerUpdateStarted,
    SiteConfigured,
    SiteVersionPackageReady,
    UpdateCancelled,
    UpdateConcluded,
    UpdateFailed,
    UpdateOpened,
)
from lockstep_shared.envelope import Envelope
from lockstep_shared.unit_of_work import Tx

log = logging.getLogger(__name__)

WakeDevices = Callable[[str, Sequence[str] | None], Awaitable[int]]


def package_of(ref: PackageRef) -> Package:
    return Package(ref.product, ref.version, ref.sha256, ref.size, ref.url)


async def _remember_target(tx: Tx, ref: PackageRef) -> None:
    """Keep the package's TUF target path for the devices' directive (issue 10)."""
    if ref.target is not None:
        await repository.remember_target(tx.conn, ref.sha256, ref.target)


class SiteProjection:
    """The handlers, with the after-commit actions they may ask for: wake this replica's
    long-polls of a site, forget a device's cached tokens, fetch a package into the store."""

    def __init__(self, clock: Callable[[], datetime], *, wake_devices: WakeDevices,
                 forget_device: Callable[[str, str], None],
                 prefetch: Callable[[Package], None]) -> None:
        self.clock = clock
        self.wake_devices = wake_devices
        self.forget_device = forget_device
        self.prefetch = prefetch

    async def on_site_configured(self, tx: Tx, event: SiteConfigured) -> None:
        products = [(p.product, p.version) for p in event.products]
        await repository.save_site(tx.conn, event.site_id, event.enrolment_code_sha256,
                                   products, self.clock(),
                                   device_version_of(products, event.device_product))
        log.info("site %s configured", event.site_id, extra=log_context(_cause(tx)))

    async def on_notification_requested(self, tx: Tx, event: DeviceNotificationRequested
                                        ) -> None:
        cause = _cause(tx)
        # ordered with the site's update events: an END committed here before its release is
        # held, and the release (after this commit) sees its rows and wakes their devices
        await repository.lock_site(tx.conn, event.site_id)
        created = await notifications_repository.create_notifications(
            tx.conn, site_id=event.site_id, update_id=event.update_id, kind=event.kind,
            request_id=event.request_id, serials=event.serials,
            correlation_id=cause.correlationid, cause_id=cause.id, now=self.clock())
        if created:  # wakes every replica's long-polls once these rows are committed
            tx.emit(DeviceNotificationsQueued(site_id=event.site_id, update_id=event.update_id,
                                              request_id=event.request_id, kind=event.kind))
        # this replica's long-polls at once (every replica's on DeviceNotificationsQueued)
        tx.after_commit(partial(self.wake_devices, event.site_id, event.serials))
        log.info("%d %s notifications for site %s (request %s)", created, event.kind,
                 event.site_id, event.request_id, extra=log_context(cause))

    async def on_site_version_package_ready(self, tx: Tx, event: SiteVersionPackageReady
                                            ) -> None:
        package = package_of(event.package)
        await repository.save_site_package(tx.conn, event.site_id, package, self.clock())
        await _remember_target(tx, event.package)
        tx.after_commit(partial(self.prefetch, package))
        log.info("site %s version package %s %s known", event.site_id, package.product,
                 package.version, extra=log_context(_cause(tx)))

    async def on_release_downloaded(self, tx: Tx, event: ReleaseDownloaded) -> None:
        """The site's next release is verified at the site (green banner): its devices may
        stage it in the background (issue 14 §2); the gateway fetches it into its store."""
        package = package_of(event.package)
        await staging_repository.save_offer(tx.conn, event.site_id, package, self.clock())
        tx.after_commit(partial(self.prefetch, package))
        log.info("site %s may stage %s %s", event.site_id, package.product, package.version,
                 extra=log_context(_cause(tx)))

    async def on_update_opened(self, tx: Tx, event: UpdateOpened) -> None:
        package = await self._for_devices(tx, event.site_id, event.package)
        await self._advance(tx, event.site_id, event.update_id, Phase.PREPARING, package)
        await _remember_target(tx, event.package)
        if package is not None:
            tx.after_commit(partial(self.prefetch, package))

    async def on_server_update_started(self, tx: Tx, event: ServerUpdateStarted) -> None:
        await self._advance(tx, event.site_id, event.update_id, Phase.SERVER_UPDATING)
        await repository.admit_devices(tx.conn, event.site_id, event.update_id,
                                       event.waiting_serials)

    async def on_devices_released(self, tx: Tx, event: DevicesReleased) -> None:
        """Phase 3. An END of this update consumed before (held until now) becomes
        deliverable with this commit: every replica wakes its devices, as for new rows."""
        if not await self._advance(tx, event.site_id, event.update_id, Phase.RELEASED,
                                   await self._for_devices(tx, event.site_id, event.package)):
            return
        held = await notifications_repository.held_requests(tx.conn, event.site_id,
                                                            event.update_id)
        for request_id in held:
            tx.emit(DeviceNotificationsQueued(site_id=event.site_id, update_id=event.update_id,
                                              request_id=request_id, kind="end"))
        if held:
            tx.after_commit(partial(self.wake_devices, event.site_id, None))

    async def on_update_concluded(self, tx: Tx, event: UpdateConcluded) -> None:
        package = (await self._for_devices(tx, event.site_id, event.package)
                   if event.package else None)
        if await self._advance(tx, event.site_id, event.update_id, Phase.CONCLUDED, package):
            # D10: the site now runs the new version; late devices catch up with it
            await repository.site_now_runs(tx.conn, event.site_id, event.product,
                                           event.version, self.clock())
        if package is not None:
            await repository.save_site_package(tx.conn, event.site_id, package, self.clock())
            tx.after_commit(partial(self.prefetch, package))

    async def on_update_cancelled(self, tx: Tx, event: UpdateCancelled) -> None:
        await self._advance(tx, event.site_id, event.update_id, Phase.CANCELLED)

    async def on_update_failed(self, tx: Tx, event: UpdateFailed) -> None:
        await self._advance(tx, event.site_id, event.update_id, Phase.FAILED)

    async def on_device_disabled(self, tx: Tx, event: DeviceDisabled) -> None:
        await self._set_enabled(tx, event.site_id, event.serial, False)

    async def on_device_enabled(self, tx: Tx, event: DeviceEnabled) -> None:
        await self._set_enabled(tx, event.site_id, event.serial, True)

    async def _set_enabled(self, tx: Tx, site_id: str, serial: str, enabled: bool) -> None:
        await repository.set_enabled(tx.conn, site_id, serial, enabled)
        tx.after_commit(partial(self.forget_device, site_id, serial))  # this replica at once
        log.info("device %s %s", serial, "enabled" if enabled else "disabled",
                 extra=log_context(_cause(tx)))

    async def _for_devices(self, tx: Tx, site_id: str, ref: PackageRef) -> Package | None:
        """The update's package when the device app follows its product; None for another
        product's update (R8: the platform's), which stops and releases the devices but
        gives them nothing to install."""
        followed = await repository.device_product(tx.conn, site_id)
        return package_of(ref) if followed in (None, ref.product) else None

    async def _advance(self, tx: Tx, site_id: str, update_id: str, phase: Phase,
                       package: Package | None = None) -> bool:
        """Move the site's update; whether it changed."""
        await repository.lock_site(tx.conn, site_id)  # one site's events may run concurrently
        new = advance(await repository.load_site_update(tx.conn, site_id), update_id, phase,
                      package)
        if new is None:
            return False
        await repository.save_site_update(tx.conn, site_id, new, self.clock())
        log.info("site %s update %s now %s", site_id, update_id, new.phase.value,
                 extra={"site_id": site_id, "update_id": update_id})
        return True


def log_context(envelope: Envelope, **more: object) -> dict[str, object]:
    """``extra=`` of a log line about a consumed event (JSON logs pick these keys: X5)."""
    message = envelope.data
    return {"site_id": message.site_id, "update_id": getattr(message, "update_id", None),
            "serial": getattr(message, "serial", None),
            "correlation_id": envelope.correlationid, **more}


def _cause(tx: Tx) -> Envelope:
    assert tx.cause is not None, "a consumer's unit of work always has its message"
    return tx.cause
