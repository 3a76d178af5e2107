"""The one place the installer agent is wired together."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from installer_agent.adapters import tables
from installer_agent.adapters.host_processes import free_disk_bytes, running_processes
from installer_agent.adapters.installs_repository import InstallsRepository
from installer_agent.adapters.site_lock import SiteLock
from installer_agent.service_layer.agent import SCHEMA, AgentService
from installer_agent.service_layer.heartbeat import Heartbeat
from installer_agent.service_layer.install_job import InstallJob
from installer_agent.service_layer.intake import InstallIntake
from installer_agent.service_layer.preflight import EnoughDisk, PackageFetcher, ProcessesStopped
from installer_agent.service_layer.worker import InstallWorker
from installer_agent.settings import AgentSettings
from lockstep_shared.artifacts import ArtifactStore
from lockstep_shared.bus.port import Bus
from lockstep_shared.db import create_engine
from lockstep_shared.envelope import Envelope
from lockstep_shared.inbox import idempotent
from lockstep_shared.messages import MessageFactory, utcnow
from lockstep_shared.outbox import Outbox, OutboxRelay
from lockstep_shared.settings import LockstepSettings

SERVICE = "installer-agent"


def build(
    common: LockstepSettings,
    settings: AgentSettings,
    bus: Bus,
    *,
    clock: Callable[[], datetime] = utcnow,
    monotonic: Callable[[], float] = time.monotonic,
) -> AgentService:
    engine = create_engine(common.database_url_for(SERVICE), schema=SCHEMA, pool_size=4)
    outbox = Outbox(tables.outbox)
    relay = OutboxRelay(engine, outbox, bus, batch=100, poll_interval_s=1.0,
                        service="installer-agent")
    repository = InstallsRepository(settings.site_id)
    messages = MessageFactory(SERVICE, clock=clock)
    heartbeat = Heartbeat(
        bus=bus,
        messages=messages,
        site_id=settings.site_id,
        interval_s=settings.heartbeat_interval_s,
        idle_interval_s=settings.idle_heartbeat_interval_s,
        clock=clock,
    )
    state_dir = settings.state_path(common)
    job = InstallJob(
        settings=settings,
        engine=engine,
        repository=repository,
        outbox=outbox,
        messages=messages,
        fetch_package=PackageFetcher(ArtifactStore(settings.artifacts_path(common))),
        checks=[
            ProcessesStopped(settings.required_stopped_processes, running_processes),
            EnoughDisk(settings.disk_path(), settings.min_free_disk_mb, free_disk_bytes),
        ],
        heartbeat=heartbeat,
        logs_dir=state_dir / "installs",
        clock=clock,
        monotonic=monotonic,
    )
    worker = InstallWorker(
        engine=engine,
        repository=repository,
        outbox=outbox,
        messages=messages,
        job=job,
        clock=clock,
    )
    intake = InstallIntake(
        site_id=settings.site_id,
        repository=repository,
        outbox=outbox,
        messages=messages,
        clock=clock,
    )
    record = idempotent(engine, tables.inbox, SERVICE, intake, outbox=outbox)

    async def on_install_requested(envelope: Envelope) -> None:
        await record(envelope)
        worker.wake()

    return AgentService(
        site_id=settings.site_id,
        engine=engine,
        bus=bus,
        relay=relay,
        worker=worker,
        heartbeat=heartbeat,
        handler=on_install_requested,
        site_lock=SiteLock(engine, settings.site_id),
    )
