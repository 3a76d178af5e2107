"""Read models for the admin API: sites, banner, update, grid. Each is a few small queries
(the fleet is one aggregate, the grid one select), never a loop over devices."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lockstep_shared.contracts.confirmation_code import MAX_ATTEMPTS
from orchestrator.adapters.repositories import Repositories
from orchestrator.domain.accounts import Account
from orchestrator.domain.audit import AuditEntry, AuditQuery
from orchestrator.domain.banner import banner, site_gate
from orchestrator.domain.devices import GridFilter
from orchestrator.domain.model import FleetSummary, Update, agent_not_responding
from orchestrator.domain.platform import (
    PLATFORM_PRODUCT,
    device_product,
    devices_target_version,
    platform_required,
)
from orchestrator.domain.releases import Release
from orchestrator.service_layer.errors import NotFound


class ProductView(BaseModel):
    product: str
    version: str


class ReleaseView(BaseModel):
    product: str
    version: str | None
    status: str
    received_bytes: int
    total_bytes: int
    notes_url: str | None
    requires_confirmation_code: bool
    reason: str | None
    min_platform_version: str | None = Field(
        default=None, description="R8: the oldest platform version this release runs on")
    platform_required: str | None = Field(
        default=None, description="R8: the platform version the site must install before "
        "this release can be opened (None: its platform is new enough)")


class EntitlementView(BaseModel):
    active: bool
    valid_until: datetime | None
    reason: str | None
    checked_at: datetime | None


class SiteView(BaseModel):
    site_id: str
    name: str
    products: list[ProductView]
    check_interval_s: int
    time_zone: str = Field(default="UTC", description="IANA name: the console shows the site's "
                           "dates and times, and reads its audit filters, in this zone")
    releases: list[ReleaseView] = []
    entitlement: EntitlementView | None = None


class GateView(BaseModel):
    open: bool
    reason: str | None


class ForceRequestView(BaseModel):
    requested_by: str
    requested_at: datetime | None


class AuditView(BaseModel):
    id: int | None
    at: datetime
    site_id: str | None
    update_id: str | None
    actor: str
    role: str | None
    action: str
    details: dict[str, object]
    outcome: str


class BannerView(BaseModel):
    state: Literal["none", "blue", "yellow", "green", "white", "update_in_progress",
                   "server_updated", "red"]
    colour: Literal["none", "blue", "yellow", "green", "white", "red"]
    message: str
    details_url: str | None
    product: str | None
    version: str | None
    update_id: str | None
    platform_required: str | None = Field(
        default=None, description="R8: the release shown needs this platform version first; "
        "Manage update refuses it (platform_required) until the platform update is installed")


class FleetView(BaseModel):
    enabled: int
    notified: int
    delivered: int
    blocked: int
    waiting: int
    on_target: int


class AgentView(BaseModel):
    last_heartbeat: datetime | None
    last_progress: str | None
    last_percent: int | None
    not_responding: bool


class FailureView(BaseModel):
    reason: str
    exit_code: int | None
    log_tail: str


class StuckCommandView(BaseModel):
    """A command of the saga still without an outcome after every re-send (the watchdog)."""

    what: Literal["start", "end", "error", "install"]
    command_id: str
    since: datetime  # first sent
    stuck_since: datetime
    sent: int  # times sent, the first included
    detail: str


class StopTimeView(BaseModel):
    """Issue 14 §2: from the first device blocked to the last enabled device back at work on
    the new version (so far, until ``complete``)."""

    first_blocked_at: datetime | None
    last_back_at: datetime | None
    seconds: float | None
    complete: bool


class UpdateView(BaseModel):
    update_id: str
    site_id: str
    product: str
    from_version: str
    to_version: str
    state: str
    phase: int | None
    devices_released: bool
    forced: bool
    authorized_by: list[str]
    fleet: FleetView
    agent: AgentView
    failure: FailureView | None
    notes_url: str | None
    opened_at: datetime
    opened_by: str
    concluded_at: datetime | None
    challenge: str | None = None
    code_attempts_left: int | None = None
    force_request: ForceRequestView | None = None
    stuck: list[StuckCommandView] = []
    site_admins: int = 0  # enabled admins of the site (U7: one admin approves with the password)
    stop_time: StopTimeView | None = None
    version: int


class DeviceView(BaseModel):
    serial: str
    model: str
    operator_code: str | None
    operator_name: str | None
    operator_phone: str | None
    last_sync: datetime | None
    notifications_enabled: bool
    notification_sent: bool
    notification_kind: str | None
    notification_outcome: Literal["delivered", "not_delivered", "pending"] | None
    notification_note: str | None
    blocked: bool
    waiting_for_update: bool
    app_version: str
    on_target_version: bool | None
    notes: str | None  # a code: blocked_by_code, unblocked_by_code, unblocked_after_error, updated
    last_contact: datetime | None  # last heard from (any of its events, or a poll)
    online: bool = Field(
        default=False, description="heard from within the orchestrator's DEVICE_ONLINE_S "
        "(the gateway reports polling devices): 'online now', else 'last seen <last_contact>'")
    agent: Literal["ddi"] | None = Field(
        default=None, description="'ddi': a hawkBit DDI agent (SWUpdate, rauc-hawkbit: D14)")
    ddi_waiting: Literal["staged", "admin"] | None = Field(
        default=None, description="a DDI device's waiting in this update: 'staged' (its "
        "agent staged the package) or 'admin' (the site admin blocked it)")
    staged_version: str | None = None
    package_staged: bool = False


class GridView(BaseModel):
    target_version: str | None
    devices: list[DeviceView]
    counts: FleetView


def _release_view(r: Release, installed_platform: str | None) -> ReleaseView:
    return ReleaseView(product=r.product, version=r.version, status=r.status.value,
                       received_bytes=r.received_bytes, total_bytes=r.total_bytes,
                       notes_url=r.notes_url,
                       requires_confirmation_code=r.requires_confirmation_code, reason=r.reason,
                       min_platform_version=r.min_platform_version,
                       platform_required=platform_required(r.min_platform_version,
                                                           installed_platform))


def _audit_view(e: AuditEntry) -> AuditView:
    return AuditView(id=e.id, at=e.at, site_id=e.site_id, update_id=e.update_id,
                     actor=e.actor, role=e.role, action=e.action, details=e.details,
                     outcome=e.outcome)


def _fleet(f: FleetSummary) -> FleetView:
    return FleetView(enabled=f.enabled, notified=f.notified, delivered=f.delivered,
                     blocked=f.blocked, waiting=f.waiting, on_target=f.on_target)


class Views:
    """Read-only: each view is read on a connection of its own, never in a unit of work."""

    def __init__(self, engine: AsyncEngine, repos: Repositories, *,
                 clock: Callable[[], datetime], agent_silence_s: float,
                 device_online_s: float = 75.0) -> None:
        self.engine = engine
        self.repos = repos
        self.clock = clock
        self.agent_silence_s = agent_silence_s  # U8: "not responding" after this silence
        self.device_online_s = device_online_s  # U3: "online now" when heard from this lately

    async def sites(self, viewer: Account) -> list[SiteView]:
        async with self.engine.connect() as conn:
            sites = [s for s in await self.repos.sites.all(conn) if viewer.covers(s.site_id)]
        return [SiteView(site_id=s.site_id, name=s.name, check_interval_s=s.check_interval_s,
                         time_zone=s.time_zone,
                         products=[ProductView(product=p, version=v)
                                   for p, v in s.products.items()]) for s in sites]

    async def site(self, site_id: str) -> SiteView:
        async with self.engine.connect() as conn:
            site = await self.repos.sites.get(conn, site_id)
            if site is None:
                raise NotFound(f"unknown site {site_id!r}")
            releases = await self.repos.releases.for_site(conn, site_id)
            entitlement = await self.repos.entitlements.get(conn, site_id)
        return SiteView(site_id=site.site_id, name=site.name, time_zone=site.time_zone,
                        check_interval_s=site.check_interval_s,
                        products=[ProductView(product=p, version=v)
                                  for p, v in site.products.items()],
                        releases=[_release_view(r, site.products.get(PLATFORM_PRODUCT))
                                  for r in releases],
                        entitlement=EntitlementView(
                            active=entitlement.active, valid_until=entitlement.valid_until,
                            reason=entitlement.reason, checked_at=entitlement.checked_at))

    async def banner(self, site_id: str) -> BannerView:
        repos = self.repos
        async with self.engine.connect() as conn:
            if not await repos.sites.exists(conn, site_id):
                raise NotFound(f"unknown site {site_id!r}")
            shown = banner(await repos.releases.for_site(conn, site_id),
                           await repos.sites.products(conn, site_id),
                           await repos.updates.active_for_site(conn, site_id),
                           (await repos.entitlements.get(conn, site_id)).active)
        return BannerView(state=shown.state.value, colour=shown.colour,  # type: ignore[arg-type]
                          message=shown.message, details_url=shown.details_url,
                          product=shown.product, version=shown.version,
                          update_id=shown.update_id,
                          platform_required=shown.platform_required)

    async def gate(self, site_id: str) -> GateView:
        """N3: closed while the server is updated."""
        repos = self.repos
        async with self.engine.connect() as conn:
            if not await repos.sites.exists(conn, site_id):
                raise NotFound(f"unknown site {site_id!r}")
            gate = site_gate(await repos.updates.active_for_site(conn, site_id))
        return GateView(open=gate.open, reason=gate.reason)

    async def site_of_update(self, update_id: str) -> str:
        async with self.engine.connect() as conn:
            update = await self.repos.updates.get(conn, update_id)
        if update is None:
            raise NotFound(f"unknown update {update_id!r}")
        return update.site_id

    async def update_at_site(self, site_id: str, update_id: str) -> Update:
        """The update as recorded (its state and package): what an installer agent asks before
        it installs anything (issue 10: an install command is tied to the site's open update)."""
        async with self.engine.connect() as conn:
            update = await self.repos.updates.get(conn, update_id)
        if update is None or update.site_id != site_id:
            raise NotFound(f"no update {update_id!r} at site {site_id!r}")
        return update

    async def audit(self, query: AuditQuery) -> list[AuditView]:
        async with self.engine.connect() as conn:
            entries = await self.repos.audit.find(conn, query)
        return [_audit_view(e) for e in entries]

    async def update(self, update_id: str) -> UpdateView:
        async with self.engine.connect() as conn:
            update = await self.repos.updates.get(conn, update_id)
            if update is None:
                raise NotFound(f"unknown update {update_id!r}")
            return await self._update_view(conn, update)

    async def current_update(self, site_id: str) -> UpdateView:
        async with self.engine.connect() as conn:
            update = await self.repos.updates.active_for_site(conn, site_id)
            if update is None:
                if not await self.repos.sites.exists(conn, site_id):
                    raise NotFound(f"unknown site {site_id!r}")
                raise NotFound(f"no active update at site {site_id!r}")
            return await self._update_view(conn, update)

    async def render(self, update: Update) -> UpdateView:
        async with self.engine.connect() as conn:
            return await self._update_view(conn, update)

    async def _update_view(self, conn: AsyncConnection, update: Update) -> UpdateView:
        repos = self.repos
        target = devices_target_version(update.product, update.to_version,
                                        await repos.sites.products(conn, update.site_id))
        fleet = await repos.devices.fleet_summary(conn, update.site_id, target)
        failure = update.failure
        stuck = [StuckCommandView(what=c.kind.value, command_id=c.command_id,  # type: ignore[arg-type]
                                  since=c.issued_at, stuck_since=c.stuck_since or c.issued_at,
                                  sent=c.reissues + 1, detail=detail)
                 for c, detail in await repos.commands.stuck_reasons(conn, update.update_id)]
        stop = await repos.stop_times.get(conn, update.update_id)
        return UpdateView(
            update_id=update.update_id, site_id=update.site_id, product=update.product,
            from_version=update.from_version, to_version=update.to_version,
            state=update.state.value, phase=update.phase,
            devices_released=update.devices_released, forced=update.forced,
            authorized_by=list(update.authorized_by), fleet=_fleet(fleet),
            agent=AgentView(
                last_heartbeat=update.agent.last_heartbeat,
                last_progress=update.agent.last_progress,
                last_percent=update.agent.last_percent,
                not_responding=agent_not_responding(update, self.clock(),
                                                    self.agent_silence_s),
            ),
            failure=None if failure is None else FailureView(
                reason=failure.reason, exit_code=failure.exit_code, log_tail=failure.log_tail),
            notes_url=update.notes_url, opened_at=update.opened_at, opened_by=update.opened_by,
            concluded_at=update.closed_at, version=update.version,
            challenge=update.challenge,
            code_attempts_left=(MAX_ATTEMPTS - update.code_attempts
                                if update.challenge is not None else None),
            force_request=None if update.force_requested_by is None else ForceRequestView(
                requested_by=update.force_requested_by,
                requested_at=update.force_requested_at),
            stuck=stuck,
            site_admins=await repos.accounts.site_admins(conn, update.site_id),
            stop_time=None if stop.first_blocked_at is None else StopTimeView(
                first_blocked_at=stop.first_blocked_at, last_back_at=stop.last_back_at,
                seconds=stop.seconds, complete=stop.complete),
        )

    async def grid(self, site_id: str, shown: GridFilter) -> GridView:
        repos = self.repos
        async with self.engine.connect() as conn:
            site = await repos.sites.get(conn, site_id)
            if site is None:
                raise NotFound(f"unknown site {site_id!r}")
            # in an update: its devices' new version; outside one: the version they run now
            active = await repos.updates.active_for_site(conn, site_id)
            followed = device_product(site.products)
            target = devices_target_version(active.product, active.to_version, site.products) \
                if active is not None else (site.products.get(followed) if followed else None)
            lines = await repos.devices.grid(conn, site_id, target, shown)
            fleet = await repos.devices.fleet_summary(conn, site_id, target)
        return GridView(target_version=target, counts=_fleet(fleet),
                        devices=[DeviceView.model_validate(line, from_attributes=True).model_copy(
                            update={"online": self.online(line.last_contact)})
                                 for line in lines])

    def online(self, last_contact: datetime | None) -> bool:
        """U3: "online now" — heard from (an event or a poll) within ``device_online_s``."""
        return last_contact is not None and \
            last_contact >= self.clock() - timedelta(seconds=self.device_online_s)
