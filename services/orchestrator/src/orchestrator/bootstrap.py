"""The one place the orchestrator is wired: every adapter (engine, repositories, outbox and
inbox, passwords, the gateway's code API, the support endpoint), the unit of work, the
service-layer handlers, the bus subscriptions, the background loops (outbox relay, inbox
retention, support-report delivery, the saga watchdog), the console's live-stream hub and
the routes.

``build`` is the only place: the runtime calls it (one process, or beside the other
services), and so do the command line (``create-user``) and the tests, which reach the service
layer it wired through ``OrchestratorService.handlers``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from lockstep_shared.bus.port import Bus
from lockstep_shared.contracts.confirmation_code import format_code
from lockstep_shared.db import reader
from lockstep_shared.http_limits import BodyLimit
from lockstep_shared.loops import Loop
from lockstep_shared.message_factory import new_id, utcnow
from lockstep_shared.service import Service
from lockstep_shared.settings import LockstepSettings
from lockstep_shared.storage import service_storage
from orchestrator.adapters import tables
from orchestrator.adapters.accounts_repository import AccountsRepository
from orchestrator.adapters.audit_repository import AuditRepository
from orchestrator.adapters.devices_repository import DevicesRepository
from orchestrator.adapters.http_clients import GatewayCodes, SupportEndpoint
from orchestrator.adapters.passwords import Passwords
from orchestrator.adapters.repositories import Repositories
from orchestrator.adapters.saga_commands_repository import SagaCommandsRepository
from orchestrator.adapters.sites_repository import (
    EntitlementsRepository,
    ReleasesRepository,
    SitesRepository,
)
from orchestrator.adapters.support_reports_repository import SupportReportsRepository
from orchestrator.adapters.updates_repository import UpdatesRepository
from orchestrator.domain.watchdog import WatchdogPolicy
from orchestrator.entrypoints.api import admin_router
from orchestrator.entrypoints.api_dead_letters import dead_letters_router
from orchestrator.entrypoints.api_operations import operations_router
from orchestrator.entrypoints.api_vendor import vendor_router
from orchestrator.entrypoints.auth import Guard, accounts_router
from orchestrator.entrypoints.console import console_router
from orchestrator.entrypoints.consumers import consumers
from orchestrator.entrypoints.internal_api import internal_router
from orchestrator.service_layer.accounts import AccountHandlers
from orchestrator.service_layer.audit import AuditLog
from orchestrator.service_layer.dead_letters import DeadLetterHandlers
from orchestrator.service_layer.devices import DeviceHandlers
from orchestrator.service_layer.fleet_metrics import FleetMetrics
from orchestrator.service_layer.projections import DeviceProjection, SiteProjection
from orchestrator.service_layer.site_stream import SiteStreamHub, site_reader
from orchestrator.service_layer.sites import SiteHandlers
from orchestrator.service_layer.stop_times import StopTimes
from orchestrator.service_layer.stream_tickets import StreamTicketHandlers
from orchestrator.service_layer.support import SupportDelivery, SupportHandlers
from orchestrator.service_layer.updates import UpdateHandlers
from orchestrator.service_layer.vendor_view import VendorViews
from orchestrator.service_layer.views import Views
from orchestrator.service_layer.watchdog import SagaWatchdog
from orchestrator.settings import OrchestratorSettings

SERVICE = "orchestrator"
MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True, slots=True)
class Handlers:
    """The service layer as ``build`` wired it."""

    sites: SiteHandlers
    updates: UpdateHandlers
    devices: DeviceHandlers
    accounts: AccountHandlers
    reports: SupportHandlers
    delivery: SupportDelivery
    views: Views
    site_stream: SiteStreamHub
    watchdog: SagaWatchdog


@dataclass
class OrchestratorService(Service):
    """The orchestrator's ``Service``; ``handlers`` is for the command line and the tests (the
    routes, subscriptions and loops already hold what they use)."""

    handlers: Handlers = field(kw_only=True)


def new_challenge() -> str:
    """U13: a random challenge shown to the admin, ddddd-ddddd-ddddd."""
    return format_code(secrets.randbelow(10**15))


def new_token() -> str:
    """S1: a bearer token (only its sha256 is stored)."""
    return secrets.token_urlsafe(32)


def build(
    common: LockstepSettings,
    settings: OrchestratorSettings,
    bus: Bus,
    *,
    clock: Callable[[], datetime] = utcnow,
    ids: Callable[[], str] = new_id,
    http_transport: httpx.AsyncBaseTransport | None = None,
) -> OrchestratorService:
    """Construct everything. ``http_transport`` carries the calls to the gateway's code API
    and to the support endpoint (tests pass an ``httpx.MockTransport``; default: the network).
    """
    storage = service_storage(common, bus, service=SERVICE, schema=SERVICE,
                              outbox=tables.outbox, inbox=tables.inbox, clock=clock, ids=ids,
                              pool_size=settings.db_pool_size, max_overflow=0)
    engine, uow = storage.engine, storage.uow
    reads = reader(engine)  # transactions that only read (single-node: they never queue)
    repos = Repositories(
        sites=SitesRepository(), releases=ReleasesRepository(),
        entitlements=EntitlementsRepository(), updates=UpdatesRepository(),
        devices=DevicesRepository(), accounts=AccountsRepository(), audit=AuditRepository(),
        reports=SupportReportsRepository(), commands=SagaCommandsRepository(),
    )
    audit = AuditLog(uow, repos.audit, clock=clock)

    sites = SiteHandlers(uow, repos, audit, clock=clock,
                         default_check_interval_s=settings.default_check_interval_s)
    updates = UpdateHandlers(uow, repos, audit, clock=clock, ids=ids, challenges=new_challenge)
    devices = DeviceHandlers(uow, repos, audit, GatewayCodes(
        settings.gateway_url, settings.internal_token or common.internal_token,
        transport=http_transport))
    accounts = AccountHandlers(uow, repos.accounts, audit,
                               Passwords(settings.argon2_time_cost, settings.argon2_memory_kib),
                               sites=repos.sites, clock=clock, tokens=new_token)
    views = Views(engine, repos, clock=clock, agent_silence_s=settings.agent_silence_s,
                  device_online_s=settings.device_online_s)
    delivery = SupportDelivery(uow, repos.reports, audit,
                               SupportEndpoint(settings.support_url, transport=http_transport),
                               clock=clock)
    delivery_loop = Loop(f"{SERVICE}-support-delivery", delivery.round,
                         every_s=settings.support_poll_s)
    reports = SupportHandlers(uow, repos, audit, clock=clock, support_url=settings.support_url,
                             wake_delivery=delivery_loop.wake)
    site_stream = SiteStreamHub(site_reader(views))
    watchdog = SagaWatchdog(uow, reads, repos.commands, WatchdogPolicy(
        push_deadline_s=settings.watchdog_push_deadline_s,
        install_start_deadline_s=settings.watchdog_install_start_s,
        max_reissues=settings.watchdog_max_reissues,
    ), clock=clock)
    watchdog_loop = Loop(f"{SERVICE}-saga-watchdog", watchdog.round,
                         every_s=settings.watchdog_interval_s)
    fleet_metrics = FleetMetrics(reads)

    guard = Guard(accounts, views)
    return OrchestratorService(
        name=SERVICE, engine=engine, bus=bus, schema=SERVICE, migrations=MIGRATIONS,
        routers=[
            accounts_router(accounts, guard),
            admin_router(sites, updates, views, guard, accounts.password_matches),
            operations_router(devices, reports, views, guard),
            console_router(views, StreamTicketHandlers(uow, repos.accounts, clock=clock),
                           site_stream, guard),
            dead_letters_router(DeadLetterHandlers(reads, repos, bus, audit), guard),
            internal_router(views, internal_token=settings.internal_token
                            or common.internal_token),
            vendor_router(VendorViews(engine, repos, support_url=settings.support_url), guard),
        ],
        body_limits=[
            BodyLimit(r"/api/v1/sites", settings.max_site_body_bytes, frozenset({"POST"})),
            BodyLimit(r"/api/v1/.*", settings.max_body_bytes),
        ],
        subscriptions=[consumers(uow, SiteProjection(repos, clock=clock),
                                 DeviceProjection(repos.devices, audit,
                                                  StopTimes(repos, audit)), updates)],
        prefetch=settings.prefetch,
        loops=[*storage.loops, delivery_loop, watchdog_loop],
        on_start=[fleet_metrics.start, watchdog.start],
        on_stop=[fleet_metrics.stop, watchdog.stop, site_stream.close],
        uow=uow,
        handlers=Handlers(
            sites=sites, updates=updates, devices=devices, accounts=accounts, reports=reports,
            delivery=delivery, views=views, site_stream=site_stream, watchdog=watchdog),
    )
