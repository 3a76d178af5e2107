"""The orchestrator's bus consumer: queue ``orchestrator`` (also its inbox consumer name).

``consumers`` registers one handler per consumed type; the queue's bindings are derived from
the registrations, so a handled type is always delivered, and a message of any other type is
dead-lettered at once. Each handler runs in a consumer's unit of work: inbox row, effects and
emitted messages in one transaction, a redelivery skipped, a lost race run again.

Nothing here notifies the admin console: its stream polls the site's view once a second per
process (``service_layer/site_stream.py``), which works the same across replicas.
"""

from __future__ import annotations

from lockstep_shared.bus.subscriptions import Subscriptions
from lockstep_shared.catalogue import (
    AgentHeartbeat,
    ConfirmationCodeRequired,
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
    InstallFailed,
    InstallProgressed,
    InstallStarted,
    InstallSucceeded,
    ReleaseAvailable,
    ReleaseCheckFailed,
    ReleaseDownloaded,
    ReleaseDownloadProgressed,
    ReleaseUpToDate,
)
from lockstep_shared.unit_of_work import UnitOfWork
from orchestrator.service_layer.projections import DeviceProjection, SiteProjection
from orchestrator.service_layer.updates import UpdateHandlers

QUEUE = "orchestrator"


def consumers(uow: UnitOfWork, sites: SiteProjection, devices: DeviceProjection,
              updates: UpdateHandlers) -> Subscriptions:
    subs = Subscriptions(QUEUE, uow)
    # the watcher (R4, R7) → releases, banner, subscription
    subs.on(ReleaseUpToDate, ReleaseCheckFailed, ReleaseAvailable, ReleaseDownloadProgressed,
            ReleaseDownloaded, ConfirmationCodeRequired)(sites.on_release_event)
    subs.add(EntitlementChecked, sites.on_entitlement_checked)
    # the gateway → the device projection (grid, fleet summary)
    subs.add(DeviceRegistered, devices.on_device_registered)
    subs.add(DeviceNotificationDelivered, devices.on_notification_delivered)
    subs.add(DeviceNotificationNotDelivered, devices.on_notification_not_delivered)
    subs.add(DeviceBlocked, devices.on_device_blocked)
    subs.add(DeviceUnblocked, devices.on_device_unblocked)
    subs.add(DeviceDataHandedIn, devices.on_data_handed_in)
    subs.add(DeviceVersionReported, devices.on_version_reported)
    subs.add(DeviceInstallFailed, devices.on_install_failed)
    subs.add(DevicePackageStaged, devices.on_package_staged)
    subs.add(DevicesConnected, devices.on_devices_connected)
    # the installer agent (U8, U12) → the saga
    subs.on(InstallStarted, InstallProgressed, AgentHeartbeat, InstallSucceeded,
            InstallFailed)(updates.on_installer_event)
    return subs
