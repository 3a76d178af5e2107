"""What the gateway consumes: the durable queue ``device-gateway`` (also its inbox consumer
name), shared by the gateway's replicas, and a per-process broadcast wake-up.

``consumers`` registers one handler per consumed type; the queue's bindings are derived from
the registrations, so a handled type is always delivered and a message of any other type is
dead-lettered at once. Each handler runs in a consumer's unit of work (``SiteProjection``).

``DeviceNotificationsQueued`` is emitted by the replica that committed new notification rows;
every replica (that one too) gets its own copy and wakes the long-polls waiting on it.
"""

from __future__ import annotations

import logging

from device_gateway.service_layer.projections import SiteProjection, log_context
from device_gateway.service_layer.push import PushChannel
from lockstep_shared.bus.subscriptions import Subscriptions
from lockstep_shared.catalogue import (
    DeviceDisabled,
    DeviceEnabled,
    DeviceNotificationRequested,
    DeviceNotificationsQueued,
    DevicesReleased,
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
from lockstep_shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

QUEUE = "device-gateway"
PREFETCH = 200


def consumers(uow: UnitOfWork, sites: SiteProjection, push: PushChannel) -> Subscriptions:
    subs = Subscriptions(QUEUE, uow)
    # a site's configuration and its version's package (D1, D10)
    subs.add(SiteConfigured, sites.on_site_configured)
    subs.add(SiteVersionPackageReady, sites.on_site_version_package_ready)
    # the site's next release, downloaded: devices may stage it (issue 14 §2)
    subs.add(ReleaseDownloaded, sites.on_release_downloaded)
    # the site's update, phase by phase (D3-D5)
    subs.add(UpdateOpened, sites.on_update_opened)
    subs.add(ServerUpdateStarted, sites.on_server_update_started)
    subs.add(DevicesReleased, sites.on_devices_released)
    subs.add(UpdateConcluded, sites.on_update_concluded)
    subs.add(UpdateCancelled, sites.on_update_cancelled)
    subs.add(UpdateFailed, sites.on_update_failed)
    # push notifications (D2) and the admin's device management (D9)
    subs.add(DeviceNotificationRequested, sites.on_notification_requested)
    subs.add(DeviceDisabled, sites.on_device_disabled)
    subs.add(DeviceEnabled, sites.on_device_enabled)

    @subs.on_broadcast(DeviceNotificationsQueued)
    async def wake(envelope: Envelope) -> None:
        """Sent by the replica that committed the rows, after its commit: they are there."""
        log.debug("waking long-polls of site %s", envelope.data.site_id,
                  extra=log_context(envelope))
        push.wake_site_soon(envelope.data.site_id)

    return subs
