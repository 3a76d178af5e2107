"""The orchestrator's bus consumer: queue ``orchestrator``, one idempotent handler that
dispatches each event to its effect. A message we cannot use is dead-lettered at once."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep_shared.bus.port import Handler, PermanentError
from lockstep_shared.catalogue import (
    AgentHeartbeat,
    ConfirmationCodeRequired,
    DeviceBlocked,
    DeviceDataHandedIn,
    DeviceNotificationDelivered,
    DeviceNotificationNotDelivered,
    DeviceRegistered,
    DeviceUnblocked,
    DeviceVersionReported,
    EntitlementChecked,
    InstallFailed,
    InstallProgressed,
    InstallStarted,
    InstallSucceeded,
    ReleaseAvailable,
    ReleaseCheckFailed,
    ReleaseDownloaded,
    ReleaseDownloadProgressed,
    ReleaseUpToDate,
    binding,
)
from lockstep_shared.envelope import Envelope
from lockstep_shared.inbox import idempotent
from orchestrator.adapters.tables import inbox
from orchestrator.service_layer.context import Context
from orchestrator.service_layer.projections import (
    on_device_event,
    on_entitlement,
    on_release_event,
)
from orchestrator.service_layer.updates import UpdateHandlers

log = logging.getLogger(__name__)

QUEUE = "orchestrator"
RELEASE_EVENTS = (ReleaseUpToDate, ReleaseCheckFailed, ReleaseAvailable,
                  ReleaseDownloadProgressed, ReleaseDownloaded, ConfirmationCodeRequired)
DEVICE_EVENTS = (DeviceRegistered, DeviceNotificationDelivered, DeviceNotificationNotDelivered,
                 DeviceBlocked, DeviceDataHandedIn, DeviceVersionReported, DeviceUnblocked)
INSTALLER_EVENTS = (InstallStarted, InstallProgressed, AgentHeartbeat, InstallSucceeded,
                    InstallFailed)
BINDINGS = tuple(binding(m) for m in (*RELEASE_EVENTS, *DEVICE_EVENTS, *INSTALLER_EVENTS,
                                      EntitlementChecked))


def orchestrator_consumer(ctx: Context, updates: UpdateHandlers) -> Handler:
    async def effect(conn: AsyncConnection, envelope: Envelope) -> None:
        event = envelope.data
        if isinstance(event, RELEASE_EVENTS):
            await on_release_event(ctx, conn, event)
        elif isinstance(event, DEVICE_EVENTS):
            await on_device_event(ctx, conn, event)
        elif isinstance(event, INSTALLER_EVENTS):
            await updates.on_installer_event(conn, envelope, event)
        elif isinstance(event, EntitlementChecked):
            await on_entitlement(ctx, conn, event)
        else:
            raise PermanentError(f"the orchestrator does not consume {envelope.type}")

    return idempotent(ctx.engine, inbox, QUEUE, effect, outbox=ctx.outbox)
