"""What the gateway does with the orchestrator's events (queue ``device-gateway``).

Each effect runs inside the idempotent inbox transaction; anything that must wait for the
commit (waking long-polls, fetching a package) is returned as an after-commit action.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from device_gateway.adapters import repository
from device_gateway.domain.updates import Package, Phase, advance
from lockstep_shared.catalogue import (
    DeviceDisabled,
    DeviceEnabled,
    DeviceNotificationRequested,
    DevicesReleased,
    PackageRef,
    ServerUpdateStarted,
    SiteConfigured,
    UpdateCancelled,
    UpdateConcluded,
    UpdateFailed,
    UpdateOpened,
)
from lockstep_shared.envelope import Envelope

log = logging.getLogger(__name__)

CONSUMED = (SiteConfigured, UpdateOpened, DeviceNotificationRequested, ServerUpdateStarted,
            DevicesReleased, UpdateConcluded, UpdateCancelled, UpdateFailed, DeviceDisabled,
            DeviceEnabled)

_ENDING = {UpdateCancelled: Phase.CANCELLED, UpdateFailed: Phase.FAILED}


def package_of(ref: PackageRef) -> Package:
    return Package(ref.product, ref.version, ref.sha256, ref.size, ref.url)


async def apply(conn: AsyncConnection, envelope: Envelope, now: datetime) -> None:
    """The effect of one consumed event on the gateway's tables."""
    message = envelope.data
    match message:
        case SiteConfigured():
            await repository.save_site(
                conn, message.site_id, message.enrolment_code_sha256,
                [{"product": p.product, "version": p.version} for p in message.products], now)
        case DeviceNotificationRequested():
            created = await repository.create_notifications(
                conn, site_id=message.site_id, update_id=message.update_id, kind=message.kind,
                request_id=message.request_id, serials=message.serials,
                correlation_id=envelope.correlationid, cause_id=envelope.id, now=now)
            log.info("%d %s notifications for site %s (request %s)", created, message.kind,
                     message.site_id, message.request_id)
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
            await _advance(conn, message.site_id, message.update_id, Phase.CONCLUDED, now,
                           package_of(message.package) if message.package else None)
        case UpdateCancelled() | UpdateFailed():
            await _advance(conn, message.site_id, message.update_id, _ENDING[type(message)], now)
        case DeviceDisabled() | DeviceEnabled():
            await repository.set_enabled(conn, message.site_id, message.serial,
                                         isinstance(message, DeviceEnabled))
        case _:
            log.debug("ignoring %s", envelope.type)


async def _advance(conn: AsyncConnection, site_id: str, update_id: str, phase: Phase,
                   now: datetime, package: Package | None = None) -> None:
    await repository.lock_site(conn, site_id)  # events of one site may be handled concurrently
    current = await repository.load_site_update(conn, site_id)
    new = advance(current, update_id, phase, package)
    if new is not None:
        await repository.save_site_update(conn, site_id, new, now)

