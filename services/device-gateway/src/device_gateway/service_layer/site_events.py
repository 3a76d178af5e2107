"""What the gateway does with the orchestrator's events (queue ``device-gateway``).

Each effect runs inside the idempotent inbox transaction; anything that must wait for the
commit (waking long-polls, fetching a package) is returned as an after-commit action.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from device_gateway.adapters import notifications_repository, repository
from device_gateway.domain.updates import Package, Phase, advance, device_version_of
from lockstep_shared.catalogue import (
    DeviceDisabled,
    DeviceEnabled,
    DeviceNotificationRequested,
    DeviceNotificationsQueued,
    DevicesReleased,
    PackageRef,
    ServerUpdateStarted,
    SiteConfigured,
    SiteVersionPackageReady,
    UpdateCancelled,
    UpdateConcluded,
    UpdateFailed,
    UpdateOpened,
)
from lockstep_shared.envelope import Envelope
from lockstep_shared.messages import MessageFactory
from lockstep_shared.outbox import Outbox

log = logging.getLogger(__name__)

CONSUMED = (SiteConfigured, UpdateOpened, DeviceNotificationRequested, ServerUpdateStarted,
            DevicesReleased, UpdateConcluded, UpdateCancelled, UpdateFailed, DeviceDisabled,
            DeviceEnabled, SiteVersionPackageReady)

_ENDING = {UpdateCancelled: Phase.CANCELLED, UpdateFailed: Phase.FAILED}


def package_of(ref: PackageRef) -> Package:
    return Package(ref.product, ref.version, ref.sha256, ref.size, ref.url)


def log_context(envelope: Envelope, **more: object) -> dict[str, object]:
    """``extra=`` of a log line about a consumed event (JSON logs pick these keys: X5)."""
    message = envelope.data
    return {"site_id": message.site_id, "update_id": getattr(message, "update_id", None),
            "serial": getattr(message, "serial", None),
            "correlation_id": envelope.correlationid, **more}


async def apply(conn: AsyncConnection, envelope: Envelope, now: datetime, *,
                outbox: Outbox, messages: MessageFactory) -> None:
    """The effect of one consumed event on the gateway's tables (and outbox)."""
    message = envelope.data
    match message:
        case SiteConfigured():
            products = [(p.product, p.version) for p in message.products]
            await repository.save_site(
                conn, message.site_id, message.enrolment_code_sha256, products, now,
                device_version_of(products, message.device_product))
            log.info("site %s configured", message.site_id, extra=log_context(envelope))
        case DeviceNotificationRequested():
            created = await notifications_repository.create_notifications(
                conn, site_id=message.site_id, update_id=message.update_id, kind=message.kind,
                request_id=message.request_id, serials=message.serials,
                correlation_id=envelope.correlationid, cause_id=envelope.id, now=now)
            if created:  # wakes every replica's long-polls once these rows are committed
                await outbox.add(conn, [messages.caused_by(envelope, DeviceNotificationsQueued(
                    site_id=message.site_id, update_id=message.update_id,
                    request_id=message.request_id, kind=message.kind))])
            log.info("%d %s notifications for site %s (request %s)", created, message.kind,
                     message.site_id, message.request_id, extra=log_context(envelope))
        case SiteVersionPackageReady():
            await repository.save_site_package(conn, message.site_id,
                                               package_of(message.package), now)
            log.info("site %s version package %s %s known", message.site_id,
                     message.package.product, message.package.version,
                     extra=log_context(envelope))
        case UpdateOpened():
            await _advance(conn, message.site_id, message.update_id, Phase.PREPARING, now,
                           package_of(message.package))
        case ServerUpdateStarted():
            await _advance(conn, message.site_id, message.update_id, Phase.SERVER_UPDATING, now)
            await repository.admit_devices(conn, message.site_id, message.update_id,
                                           message.waiting_serials)
        case DevicesReleased():
            await _advance(conn, message.site_id, message.update_id, Phase.RELEASED, now,
                           package_of(message.package))
        case UpdateConcluded():
            package = package_of(message.package) if message.package else None
            if await _advance(conn, message.site_id, message.update_id, Phase.CONCLUDED, now,
                              package):
                # D10: the site now runs the new version; late devices catch up with it
                await repository.site_now_runs(conn, message.site_id, message.product,
                                               message.version, now)
            if package is not None:
                await repository.save_site_package(conn, message.site_id, package, now)
        case UpdateCancelled() | UpdateFailed():
            await _advance(conn, message.site_id, message.update_id, _ENDING[type(message)], now)
        case DeviceDisabled() | DeviceEnabled():
            enabled = isinstance(message, DeviceEnabled)
            await repository.set_enabled(conn, message.site_id, message.serial, enabled)
            log.info("device %s %s", message.serial, "enabled" if enabled else "disabled",
                     extra=log_context(envelope))
        case _:
            log.debug("ignoring %s", envelope.type)


async def _advance(conn: AsyncConnection, site_id: str, update_id: str, phase: Phase,
                   now: datetime, package: Package | None = None) -> bool:
    """Move the site's update; whether it changed."""
    await repository.lock_site(conn, site_id)  # events of one site may be handled concurrently
    current = await repository.load_site_update(conn, site_id)
    new = advance(current, update_id, phase, package)
    if new is None:
        return False
    await repository.save_site_update(conn, site_id, new, now)
    log.info("site %s update %s now %s", site_id, update_id, new.phase.value,
             extra={"site_id": site_id, "update_id": update_id})
    return True


def package_to_fetch(message: object) -> Package | None:
    """After commit: the package a consumed event asks the gateway to have at hand."""
    match message:
        case UpdateOpened() | SiteVersionPackageReady():
            return package_of(message.package)
        case UpdateConcluded() if message.package is not None:
            return package_of(message.package)
    return None

