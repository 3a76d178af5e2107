"""The event catalogue: every message on the Lockstep bus, one frozen model each (X1).

Events are past tense, commands imperative. Each model has a ``type`` literal
(``lockstep.<area>.<what>``); ``Message`` is the discriminated union of all of them.
Messages change by adding optional fields only; a type is never renamed or reused.

Every message names its site; the routing key is ``<type>.<site_id>``, so a consumer can bind
to one type for all sites (``<type>.*``) or for one site (the installer agent: S3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from lockstep_shared.versions import VersionText

SiteId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", max_length=63)]
Serial = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", max_length=64)]
Product = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", max_length=63)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
NotificationKind = Literal["start", "end", "error"]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    site_id: SiteId


class _UpdateMessage(_Message):
    update_id: str = Field(min_length=1, max_length=64)


class ProductVersion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    product: Product
    version: VersionText


class PackageRef(BaseModel):
    """Where a verified package can be fetched from, and how to check it (S4)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product: Product
    version: VersionText
    sha256: Sha256
    size: int = Field(ge=0)
    url: str = Field(description="release-watcher artifact URL serving the package with Range")
    target: str | None = Field(
        default=None, max_length=500,
        description="the package's TUF target path in the vendor's signed targets metadata, "
        "whose length and sha256 it has (None: not known, from a release found before it was "
        "carried); a device that verifies TUF itself looks it up there",
    )


# --- orchestrator: sites ------------------------------------------------------------------


class SiteConfigured(_Message):
    """A site was created or changed: its products, versions, licence and enrolment code."""

    type: Literal["lockstep.site.configured"] = "lockstep.site.configured"
    name: str
    license_key: str
    enrolment_code_sha256: Sha256
    check_interval_s: int = Field(gt=0)
    products: tuple[ProductVersion, ...]
    device_product: Product | None = Field(
        default=None, description="the product whose version the device app follows"
    )


class ReleaseCheckRequested(_Message):
    """Command: check the vendor feed for this site now ("check now", R3)."""

    type: Literal["lockstep.release.check-requested"] = "lockstep.release.check-requested"
    requested_by: str


# --- release-watcher: discovery (R7) ------------------------------------------------------


class ReleaseUpToDate(_Message):
    """No release above the site's installed version (R7)."""

    type: Literal["lockstep.release.up-to-date"] = "lockstep.release.up-to-date"
    product: Product
    installed_version: VersionText
    checked_at: datetime


class ReleaseCheckFailed(_Message):
    """The check of the vendor feed failed, with the reason (R7; blue banner: N1)."""

    type: Literal["lockstep.release.check-failed"] = "lockstep.release.check-failed"
    product: Product | None = None
    reason: str
    checked_at: datetime
    refused: bool = Field(
        default=False, description="the feed or the package was refused as untrustworthy "
        "(rollback, freeze, bad signature, bytes not matching their signed hash), not merely "
        "unreachable: what was offered before is not offered while it lasts")


class ReleaseAvailable(_Message):
    """A next release exists and its package is being downloaded."""

    type: Literal["lockstep.release.available"] = "lockstep.release.available"
    product: Product
    version: VersionText
    notes_url: str | None = None
    size: int = Field(ge=0)
    requires_confirmation_code: bool = False
    min_platform_version: VersionText | None = None


class ReleaseDownloadProgressed(_Message):
    """Bytes of the next release's package received so far (R6; yellow banner)."""

    type: Literal["lockstep.release.download-progressed"] = "lockstep.release.download-progressed"
    product: Product
    version: VersionText
    received_bytes: int = Field(ge=0)
    total_bytes: int = Field(ge=0)


class ReleaseDownloaded(_Message):
    """The package is in the artifact store, length and hash verified against TUF."""

    type: Literal["lockstep.release.downloaded"] = "lockstep.release.downloaded"
    product: Product
    version: VersionText
    notes_url: str | None = None
    requires_confirmation_code: bool = False
    package: PackageRef
    min_platform_version: VersionText | None = None


class ConfirmationCodeRequired(_Message):
    """The release needs the vendor's confirmation code before it can be opened (U13; white)."""

    type: Literal["lockstep.release.confirmation-code-required"] = (
        "lockstep.release.confirmation-code-required"
    )
    product: Product
    version: VersionText


class EntitlementChecked(_Message):
    """The vendor's subscription answer for the site's licence (R4). Inactive: nothing offered."""

    type: Literal["lockstep.release.entitlement-checked"] = "lockstep.release.entitlement-checked"
    active: bool
    valid_until: datetime | None = None
    reason: str | None = None
    checked_at: datetime


class SiteVersionPackageReady(_Message):
    """The verified package of the version the site runs now: devices that must catch up with
    the site outside an update (D10, downgrade included) install it."""

    type: Literal["lockstep.release.site-version-package-ready"] = (
        "lockstep.release.site-version-package-ready"
    )
    package: PackageRef


# --- orchestrator: the update saga --------------------------------------------------------


class UpdateOpened(_UpdateMessage):
    """Phase 1 began: backups confirmed, no device notified yet."""

    type: Literal["lockstep.update.opened"] = "lockstep.update.opened"
    from_version: VersionText
    package: PackageRef


class UpdateCancelled(_UpdateMessage):
    """The update was closed before any device was notified."""

    type: Literal["lockstep.update.cancelled"] = "lockstep.update.cancelled"


class DeviceNotificationRequested(_UpdateMessage):
    """Command: push START / END / ERROR UPDATE to these devices (None = every enabled one)."""

    type: Literal["lockstep.device.notification-requested"] = (
        "lockstep.device.notification-requested"
    )
    kind: NotificationKind
    serials: tuple[Serial, ...] | None = None
    request_id: str = Field(min_length=1, max_length=64)


class DeviceNotificationsQueued(_UpdateMessage):
    """The gateway committed notifications for these devices: every gateway replica wakes the
    long-polls it holds for them (a broadcast wake-up, sent after commit)."""

    type: Literal["lockstep.device.notifications-queued"] = "lockstep.device.notifications-queued"
    request_id: str = Field(min_length=1, max_length=64)
    kind: NotificationKind


class ServerUpdateStarted(_UpdateMessage):
    """Phase 2 began: the site gate is closed and late data hand-ins are refused."""

    type: Literal["lockstep.update.server-update-started"] = "lockstep.update.server-update-started"
    forced: bool = False
    waiting_serials: tuple[Serial, ...] = ()


class InstallRequested(_UpdateMessage):
    """Command to the site's installer agent (routing key is per site: S3)."""

    type: Literal["lockstep.install.requested"] = "lockstep.install.requested"
    package: PackageRef


class ServerUpdated(_UpdateMessage):
    """Phase 3 began: the server runs the new version; devices may be released."""

    type: Literal["lockstep.update.server-updated"] = "lockstep.update.server-updated"
    product: Product
    installed_version: VersionText


class DevicesReleased(_UpdateMessage):
    """END UPDATE was sent: devices may fetch the package (D5 stops answering 409)."""

    type: Literal["lockstep.update.devices-released"] = "lockstep.update.devices-released"
    package: PackageRef


class UpdateConcluded(_UpdateMessage):
    """The update is over (U11): the banner clears and checks resume."""

    type: Literal["lockstep.update.concluded"] = "lockstep.update.concluded"
    product: Product
    version: VersionText
    package: PackageRef | None = None


class UpdateResolved(_UpdateMessage):
    """Support marked a failed update resolved (U12): checks resume, a new update may open."""

    type: Literal["lockstep.update.resolved"] = "lockstep.update.resolved"
    resolved_by: str


class DeviceDisabled(_Message):
    """The site admin disabled a device (U10): the gateway refuses it everywhere (D9)."""

    type: Literal["lockstep.device.disabled"] = "lockstep.device.disabled"
    serial: Serial
    disabled_by: str


class DeviceEnabled(_Message):
    """The site admin enabled a disabled device again (U10)."""

    type: Literal["lockstep.device.enabled"] = "lockstep.device.enabled"
    serial: Serial
    enabled_by: str


class UpdateFailed(_UpdateMessage):
    """The install failed or timed out (U12): red banner until support resolves it."""

    type: Literal["lockstep.update.failed"] = "lockstep.update.failed"
    reason: str


# --- device-gateway -----------------------------------------------------------------------


class DeviceRegistered(_Message):
    """A device registered, or registered again, with the site (D1)."""

    type: Literal["lockstep.device.registered"] = "lockstep.device.registered"
    serial: Serial
    model: str
    operator_code: str | None = None
    operator_name: str | None = None
    operator_phone: str | None = None
    app_version: VersionText
    notifications_enabled: bool = True
    registered_at: datetime
    reregistered: Literal["secret_proof", "idempotency_key", "admin_approval"] | None = Field(
        default=None,
        description="how a serial the site knew proved it is the same device (its secret, a "
                    "retry with the same Idempotency-Key, the admin's approval); null for a "
                    "first registration")
    agent: Literal["ddi"] | None = Field(
        default=None, description="'ddi': the device's update agent speaks hawkBit DDI "
                                  "(SWUpdate, rauc-hawkbit: D14); null: the Lockstep app")


class DeviceNotificationDelivered(_UpdateMessage):
    """The device acknowledged a START / END / ERROR UPDATE push (D2)."""

    type: Literal["lockstep.device.notification-delivered"] = (
        "lockstep.device.notification-delivered"
    )
    serial: Serial
    kind: NotificationKind
    delivered_at: datetime


class DeviceNotificationNotDelivered(_UpdateMessage):
    """A push was not acknowledged in time, and why (D2)."""

    type: Literal["lockstep.device.notification-not-delivered"] = (
        "lockstep.device.notification-not-delivered"
    )
    serial: Serial
    kind: NotificationKind
    reason: str


class DeviceBlocked(_UpdateMessage):
    """The device stopped work: after START UPDATE (D3) or by the code exchange (D8).
    ``blocked_at`` is when this block began: a repeated report of the same block repeats it."""

    type: Literal["lockstep.device.blocked"] = "lockstep.device.blocked"
    serial: Serial
    blocked_at: datetime
    by_code: bool = False
    ddi_waiting: Literal["staged", "admin"] | None = Field(
        default=None, description="a DDI device (D14): what its waiting means — 'staged' "
                                  "(its agent staged the package) or 'admin' (the site admin "
                                  "blocked it); null for the Lockstep app")


class DeviceUnblocked(_Message):
    """The device resumed work: after ERROR UPDATE, or unblocked by the three-code exchange."""

    type: Literal["lockstep.device.unblocked"] = "lockstep.device.unblocked"
    serial: Serial
    update_id: str | None = None
    unblocked_at: datetime
    by_code: bool = False


class DeviceDataHandedIn(_Message):
    """Sync acknowledgement: the device's unsent data reached the server (D4). ``update_id``
    is the update the device now waits for (None: normal work); in phase 1 that means it was
    blocked for it and handed in after blocking, and ``blocked_at`` names that block (the
    ``blocked_at`` of its ``DeviceBlocked``)."""

    type: Literal["lockstep.device.data-handed-in"] = "lockstep.device.data-handed-in"
    serial: Serial
    update_id: str | None = None
    synced_at: datetime
    blocked_at: datetime | None = None


class DeviceVersionReported(_Message):
    """The app version now installed on the device (D7)."""

    type: Literal["lockstep.device.version-reported"] = "lockstep.device.version-reported"
    serial: Serial
    app_version: VersionText
    reported_at: datetime


class DeviceInstallFailed(_Message):
    """A device's agent reported that installing a package failed, with its details lines
    (D14: a DDI deployment's ``closed/failure``)."""

    type: Literal["lockstep.device.install-failed"] = "lockstep.device.install-failed"
    serial: Serial
    update_id: str | None = Field(default=None, max_length=64)
    version: VersionText
    details: str = Field(max_length=4000)
    failed_at: datetime

class DevicesConnected(_Message):
    """The site's devices with a long-poll open on one gateway replica (or that polled since its
    last report): sent every ``presence_interval_s`` straight to the bus (``publish_ephemeral``:
    worthless once late). The orchestrator takes ``seen_at`` as their last contact, so the grid
    tells "online now" (heard from within a few reports) from "last seen …" (U3)."""

    type: Literal["lockstep.devices.connected"] = "lockstep.devices.connected"
    serials: tuple[Serial, ...] = Field(min_length=1, max_length=10_000)
    seen_at: datetime


class DevicePackageStaged(_Message):
    """The device downloaded the site's next release in the background and verified its sha256;
    it is staged, not installed: after END UPDATE it only installs it (the stop is shorter)."""

    type: Literal["lockstep.device.package-staged"] = "lockstep.device.package-staged"
    serial: Serial
    product: Product
    version: VersionText
    sha256: Sha256
    staged_at: datetime


# --- installer-agent ----------------------------------------------------------------------


class InstallStarted(_UpdateMessage):
    """The site's installer agent started running the installer (A4)."""

    type: Literal["lockstep.install.started"] = "lockstep.install.started"
    started_at: datetime


class InstallProgressed(_UpdateMessage):
    """An output line and, when known, the percentage of the running installer (U8)."""

    type: Literal["lockstep.install.progressed"] = "lockstep.install.progressed"
    line: str = Field(max_length=2000)
    percent: int | None = Field(default=None, ge=0, le=100)


class AgentHeartbeat(_Message):
    """The site's installer agent is alive (U8: a silent one is shown "not responding")."""

    type: Literal["lockstep.agent.heartbeat"] = "lockstep.agent.heartbeat"
    update_id: str | None = None
    at: datetime


class InstallSucceeded(_UpdateMessage):
    """Installed: the version read on the host afterwards, and the log's tail (A5)."""

    type: Literal["lockstep.install.succeeded"] = "lockstep.install.succeeded"
    installed_version: VersionText
    log_tail: str = ""
    duration_s: float = Field(ge=0)


class InstallFailed(_UpdateMessage):
    """The install failed: stage, reason, exit code and the log's tail (A5)."""

    type: Literal["lockstep.install.failed"] = "lockstep.install.failed"
    reason: str
    exit_code: int | None = None
    log_tail: str = ""
    interrupted: bool = False
    stage: Literal["preflight", "backup", "installer", "version", "restore"] | None = None


Message = (
    SiteConfigured
    | ReleaseCheckRequested
    | ReleaseUpToDate
    | ReleaseCheckFailed
    | ReleaseAvailable
    | ReleaseDownloadProgressed
    | ReleaseDownloaded
    | ConfirmationCodeRequired
    | EntitlementChecked
    | SiteVersionPackageReady
    | UpdateOpened
    | UpdateCancelled
    | DeviceNotificationRequested
    | DeviceNotificationsQueued
    | ServerUpdateStarted
    | InstallRequested
    | ServerUpdated
    | DevicesReleased
    | UpdateConcluded
    | UpdateFailed
    | UpdateResolved
    | DeviceDisabled
    | DeviceEnabled
    | DeviceRegistered
    | DeviceNotificationDelivered
    | DeviceNotificationNotDelivered
    | DeviceBlocked
    | DeviceUnblocked
    | DeviceDataHandedIn
    | DeviceVersionReported
    | DeviceInstallFailed
    | DevicePackageStaged
    | DevicesConnected
    | InstallStarted
    | InstallProgressed
    | AgentHeartbeat
    | InstallSucceeded
    | InstallFailed
)

MESSAGE_TYPES: dict[str, type[BaseModel]] = {
    cls.model_fields["type"].default: cls for cls in Message.__args__  # type: ignore[attr-defined]
}


def subject_of(message: Message) -> str:
    """CloudEvents subject: ``site/<id>`` or ``site/<id>/update/<id>``."""
    update_id = getattr(message, "update_id", None)
    return f"site/{message.site_id}" + (f"/update/{update_id}" if update_id else "")


def binding(message_type: type[BaseModel], site_id: str | None = None) -> str:
    """Routing-key pattern for one message type, for all sites or one site."""
    return f"{message_type.model_fields['type'].default}.{site_id or '*'}"


# --- who publishes and who consumes each type ---------------------------------------------

Service = Literal["orchestrator", "release-watcher", "device-gateway", "installer-agent"]
SERVICES: tuple[Service, ...] = (
    "orchestrator", "release-watcher", "device-gateway", "installer-agent"
)


@dataclass(frozen=True)
class Route:
    """Who publishes one message type and which services consume it (X1, S7).

    ``publisher`` is the one service that emits the type: broker permissions are provisioned
    from it (a service may write only the routing keys of the types it publishes) and a
    consumer may refuse the type from anyone else. ``consumers`` are the services whose queue
    binds the type; each name is that service's queue name (``<ns>.<name>``). ``broadcast``:
    the consumers get it on a per-process wake-up queue instead (every replica its own copy,
    outside any transaction), not on their durable queue. ``per_site``: each consumer binds
    only its own site's routing key ``<type>.<site_id>`` (the installer agent, whose queue is
    ``<ns>.installer-agent.<site_id>``: S3).
    """

    publisher: Service
    consumers: tuple[Service, ...]
    broadcast: bool = False
    per_site: bool = False

    def __post_init__(self) -> None:
        unknown = {self.publisher, *self.consumers} - set(SERVICES)
        if unknown:
            raise ValueError(f"unknown service(s) {sorted(unknown)}: use one of {SERVICES}")
        if len(set(self.consumers)) != len(self.consumers):
            raise ValueError(f"a consumer is listed twice in {self.consumers}")


ROUTES: dict[type[BaseModel], Route] = {
    # orchestrator: sites
    SiteConfigured: Route("orchestrator", ("release-watcher", "device-gateway")),
    ReleaseCheckRequested: Route("orchestrator", ("release-watcher",)),
    # release-watcher
    ReleaseUpToDate: Route("release-watcher", ("orchestrator",)),
    ReleaseCheckFailed: Route("release-watcher", ("orchestrator",)),
    ReleaseAvailable: Route("release-watcher", ("orchestrator",)),
    ReleaseDownloadProgressed: Route("release-watcher", ("orchestrator",)),
    ReleaseDownloaded: Route("release-watcher", ("orchestrator", "device-gateway")),
    ConfirmationCodeRequired: Route("release-watcher", ("orchestrator",)),
    EntitlementChecked: Route("release-watcher", ("orchestrator",)),
    SiteVersionPackageReady: Route("release-watcher", ("device-gateway",)),
    # orchestrator: the update saga
    UpdateOpened: Route("orchestrator", ("device-gateway",)),
    UpdateCancelled: Route("orchestrator", ("device-gateway",)),
    DeviceNotificationRequested: Route("orchestrator", ("device-gateway",)),
    DeviceNotificationsQueued: Route("device-gateway", ("device-gateway",), broadcast=True),
    ServerUpdateStarted: Route("orchestrator", ("device-gateway",)),
    InstallRequested: Route("orchestrator", ("installer-agent",), per_site=True),
    ServerUpdated: Route("orchestrator", ()),
    DevicesReleased: Route("orchestrator", ("device-gateway",)),
    UpdateConcluded: Route("orchestrator", ("device-gateway",)),
    UpdateFailed: Route("orchestrator", ("device-gateway",)),
    UpdateResolved: Route("orchestrator", ()),
    DeviceDisabled: Route("orchestrator", ("device-gateway",)),
    DeviceEnabled: Route("orchestrator", ("device-gateway",)),
    # device-gateway
    DeviceRegistered: Route("device-gateway", ("orchestrator",)),
    DeviceNotificationDelivered: Route("device-gateway", ("orchestrator",)),
    DeviceNotificationNotDelivered: Route("device-gateway", ("orchestrator",)),
    DeviceBlocked: Route("device-gateway", ("orchestrator",)),
    DeviceUnblocked: Route("device-gateway", ("orchestrator",)),
    DeviceDataHandedIn: Route("device-gateway", ("orchestrator",)),
    DeviceVersionReported: Route("device-gateway", ("orchestrator",)),
    DeviceInstallFailed: Route("device-gateway", ("orchestrator",)),
    DevicePackageStaged: Route("device-gateway", ("orchestrator",)),
    DevicesConnected: Route("device-gateway", ("orchestrator",)),
    # installer-agent
    InstallStarted: Route("installer-agent", ("orchestrator",)),
    InstallProgressed: Route("installer-agent", ("orchestrator",)),
    AgentHeartbeat: Route("installer-agent", ("orchestrator",)),
    InstallSucceeded: Route("installer-agent", ("orchestrator",)),
    InstallFailed: Route("installer-agent", ("orchestrator",)),
}
"""Every message type's route, one entry each (a unit test holds it to ``Message``).

``ServerUpdated`` and ``UpdateResolved`` have no consumer today: no queue binds them, so the
broker drops them once published; a service that needs them adds itself here and binds them.
"""


def published_by(service: Service) -> tuple[type[BaseModel], ...]:
    """The message types ``service`` publishes (its write permissions on the events exchange)."""
    return tuple(t for t, route in ROUTES.items() if route.publisher == service)


def consumed_by(service: Service) -> tuple[type[BaseModel], ...]:
    """The message types ``service``'s durable queue binds (broadcast wake-ups excluded)."""
    return tuple(
        t for t, route in ROUTES.items() if service in route.consumers and not route.broadcast
    )
