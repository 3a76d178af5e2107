"""The one place the gateway is wired together: ``build`` constructs every adapter, the unit of
work, the subscriptions, the loops and the routes, and returns the ``Service``.

Loops: the outbox relay, inbox retention and the delivery sweeper (D2). On stop the waiting
long-polls are answered first, then the package fetches end, then the loops.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from device_gateway.adapters import tables
from device_gateway.adapters.package_digests import PackageDigests
from device_gateway.entrypoints.api import device_router
from device_gateway.entrypoints.consumers import PREFETCH, consumers
from device_gateway.entrypoints.ddi_api import ddi_router
from device_gateway.entrypoints.ddi_internal_api import ddi_internal_router
from device_gateway.entrypoints.internal_api import internal_router
from device_gateway.service_layer.auth import DeviceAuthenticator
from device_gateway.service_layer.codes import CodeHandlers
from device_gateway.service_layer.ddi import DdiHandlers
from device_gateway.service_layer.ddi_site import DdiSiteHandlers
from device_gateway.service_layer.devices import DeviceHandlers
from device_gateway.service_layer.packages import PackageCache
from device_gateway.service_layer.presence import Presence
from device_gateway.service_layer.projections import SiteProjection
from device_gateway.service_layer.push import PushChannel
from device_gateway.service_layer.staging import StagingHandlers, StagingPolicy
from device_gateway.service_layer.sweeper import DeliverySweeper
from device_gateway.settings import GatewaySettings
from lockstep_shared.artifacts import ArtifactStore
from lockstep_shared.bus.port import Bus
from lockstep_shared.db import reader
from lockstep_shared.http_limits import BodyLimit
from lockstep_shared.loops import Loop
from lockstep_shared.message_factory import MessageFactory, new_id, utcnow
from lockstep_shared.service import Service
from lockstep_shared.settings import LockstepSettings
from lockstep_shared.storage import service_storage

SERVICE = "device-gateway"
SCHEMA = "device_gateway"
MIGRATIONS = Path(__file__).parent / "migrations"


def build(
    common: LockstepSettings,
    settings: GatewaySettings,
    bus: Bus,
    *,
    clock: Callable[[], datetime] = utcnow,
    ids: Callable[[], str] = new_id,
) -> Service:
    storage = service_storage(common, bus, service=SERVICE, schema=SCHEMA,
                              outbox=tables.outbox, inbox=tables.inbox, clock=clock, ids=ids,
                              pool_size=settings.db_pool_size, max_overflow=0)
    engine, uow = storage.engine, storage.uow
    reads = reader(engine)  # device hot reads never wait for a writer (single-node SQLite)
    auth = DeviceAuthenticator(reads, ttl_s=settings.token_cache_ttl_s)
    push = PushChannel(uow, reads, clock, long_poll_max_s=settings.long_poll_max_s)
    presence = Presence(bus, MessageFactory(SERVICE, clock=clock, ids=ids), clock)
    reporting = Loop(f"{SERVICE}-presence", presence.round, every_s=settings.presence_interval_s)
    internal_token = settings.internal_token or common.internal_token
    packages = PackageCache(ArtifactStore(settings.artifacts_dir or common.var_dir / "artifacts",
                                          internal_token=internal_token))
    devices = DeviceHandlers(uow, reads, auth, clock)
    staging = StagingHandlers(uow, reads, clock, StagingPolicy(
        slots_per_site=settings.staging_slots_per_site, slot_s=settings.staging_slot_s))
    codes = CodeHandlers(uow, clock, ids)
    ddi = DdiHandlers(uow, reads, auth, devices, packages, PackageDigests(), clock,
                      poll_s=settings.ddi_poll_s)
    sites = SiteProjection(clock, wake_devices=push.wake_site, forget_device=auth.forget_device,
                           prefetch=packages.prefetch)
    sweeper = DeliverySweeper(uow, clock, deadline_s=settings.delivery_deadline_s)
    sweeping = Loop(f"{SERVICE}-delivery-sweeper", sweeper.round,
                    every_s=settings.sweep_interval_s)
    return Service(
        name=SERVICE,
        engine=engine,
        bus=bus,
        schema=SCHEMA,
        migrations=MIGRATIONS,
        routers=[
            device_router(devices, auth, push, packages, staging, presence,
                          public_url=settings.public_url,
                          retired_protocols=settings.retired_protocols),
            internal_router(codes, devices, internal_token=internal_token),
            ddi_internal_router(ddi, DdiSiteHandlers(uow, reads, auth, clock),
                                internal_token=internal_token),
            ddi_router(ddi, presence, public_url=settings.public_url),
        ],
        body_limits=[BodyLimit(r"/(device|internal)/v1/.*", settings.max_body_bytes),
                     BodyLimit(r"/[^/]+/controller/v1/.+", settings.ddi_max_body_bytes)],
        subscriptions=[consumers(uow, sites, push)],
        prefetch=PREFETCH,
        loops=[*storage.loops, sweeping, reporting],
        on_stop=[packages.stop, push.close],  # run in reverse: long-polls answered first
        uow=uow,
    )
