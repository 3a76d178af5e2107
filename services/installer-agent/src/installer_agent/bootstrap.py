"""The one place the installer agent is wired together: ``build`` constructs every adapter,
the unit of work, the subscription to its own site's install commands and the loops, and
returns the ``Service``. The agent has no HTTP routes of its own (health only).

Loops: the outbox relay, inbox retention, ``installer-agent-install-worker`` (installs nothing
before ``take_over``, a start action: the site lock, then the interrupted installs, A1, A6;
the lock is given up once the loops stopped) and ``installer-agent-heartbeat`` (U8).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from installer_agent.adapters import tables
from installer_agent.adapters.host_processes import free_disk_bytes, running_processes
from installer_agent.adapters.installs_repository import InstallsRepository
from installer_agent.adapters.orchestrator_api import OrchestratorRecords
from installer_agent.adapters.site_lock import SiteLock
from installer_agent.adapters.vendor_feed import VendorFeed
from installer_agent.domain.command_templates import HostCommand
from installer_agent.entrypoints.consumers import consumers
from installer_agent.service_layer.bookkeeping import Bookkeeping
from installer_agent.service_layer.heartbeat import Heartbeat
from installer_agent.service_layer.install_job import InstallJob
from installer_agent.service_layer.installs import InstallHandlers
from installer_agent.service_layer.open_updates import OpenUpdateCheck
from installer_agent.service_layer.preflight import (
    CommandCheck,
    EnoughDisk,
    PackageFetcher,
    ProcessesStopped,
)
from installer_agent.service_layer.signed_packages import SignedPackageFetcher
from installer_agent.service_layer.worker import POLL_INTERVAL_S, InstallWorker
from installer_agent.settings import AgentSettings
from lockstep_shared.artifacts import ArtifactStore
from lockstep_shared.bus.port import Bus
from lockstep_shared.loops import Loop
from lockstep_shared.message_factory import new_id, utcnow
from lockstep_shared.service import Service
from lockstep_shared.settings import LockstepSettings
from lockstep_shared.storage import service_storage

log = logging.getLogger("installer_agent.host")

SERVICE = "installer-agent"
SCHEMA = "installer_agent"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True, slots=True)
class Handlers:
    """The service layer as ``build`` wired it."""

    installs: InstallHandlers
    worker: InstallWorker
    heartbeat: Heartbeat


@dataclass
class AgentService(Service):
    """The agent's ``Service``; ``handlers`` is for the tests (the subscriptions and loops
    already hold what they use)."""

    handlers: Handlers = field(kw_only=True)


def build(
    common: LockstepSettings,
    settings: AgentSettings,
    bus: Bus,
    *,
    clock: Callable[[], datetime] = utcnow,
    ids: Callable[[], str] = new_id,
    monotonic: Callable[[], float] = time.monotonic,
) -> AgentService:
    storage = service_storage(common, bus, service=SERVICE, schema=SCHEMA,
                              outbox=tables.outbox, inbox=tables.inbox, clock=clock, ids=ids,
                              pool_size=4, relay_batch=100, relay_poll_s=1.0)
    engine, uow, factory = storage.engine, storage.uow, storage.factory
    repository = InstallsRepository(settings.site_id)
    heartbeat = Heartbeat(
        bus=bus,
        factory=factory,
        site_id=settings.site_id,
        interval_s=settings.heartbeat_interval_s,
        idle_interval_s=settings.idle_heartbeat_interval_s,
        clock=clock,
    )
    heartbeat_loop = Loop(f"{SERVICE}-heartbeat", heartbeat.round, every_s=heartbeat.every_s)
    bookkeeping = Bookkeeping(uow)
    fetch_package = PackageFetcher(ArtifactStore(settings.artifacts_path(common),
                                                  internal_token=common.internal_token),
                                   patience_s=settings.package_fetch_patience_s)
    if settings.trusted_root is not None and settings.feed_url:
        fetch_package = SignedPackageFetcher(fetch_package, VendorFeed(
            trusted_root=settings.trusted_root, metadata_dir=settings.metadata_path(common),
            feed_url=settings.feed_url))
    command_checks: list[CommandCheck] = []
    if settings.orchestrator_url:
        command_checks.append(OpenUpdateCheck(
            OrchestratorRecords(settings.orchestrator_url, common.internal_token),
            settings.site_id, patience_s=settings.package_fetch_patience_s))

    async def warn_if_insecure() -> None:
        # The settings allow a missing check only with insecure_unverified_installs.
        if settings.trusted_root is None:
            log.warning("INSECURE: LOCKSTEP_AGENT_TRUSTED_ROOT is not set: packages are checked "
                        "against the sha256 of the install command only, not against the "
                        "vendor's signature (LOCKSTEP_AGENT_INSECURE_UNVERIFIED_INSTALLS, "
                        "development only)")
        if not settings.orchestrator_url:
            log.warning("INSECURE: LOCKSTEP_AGENT_ORCHESTRATOR_URL is not set: install commands "
                        "are not confirmed with the orchestrator (LOCKSTEP_AGENT_INSECURE_"
                        "UNVERIFIED_INSTALLS, development only)")
    job = InstallJob(
        bookkeeping=bookkeeping,
        repository=repository,
        fetch_package=fetch_package,
        command_checks=command_checks,
        checks=[
            ProcessesStopped(settings.required_stopped_processes, running_processes),
            EnoughDisk(settings.disk_path(), settings.min_free_disk_mb, free_disk_bytes),
        ],
        heartbeat=heartbeat,
        wake_heartbeat=heartbeat_loop.wake,
        logs_dir=settings.state_path(common) / "installs",
        installer_command=HostCommand(settings.installer_command, settings.timeout_s),
        version_command=HostCommand(settings.version_command, settings.version_timeout_s),
        backup_command=HostCommand(settings.backup_command, settings.backup_timeout_s)
        if settings.backup_command else None,
        restore_command=HostCommand(settings.restore_command, settings.restore_timeout_s)
        if settings.restore_command else None,
        command_env=settings.command_env,
        working_dir=settings.working_dir,
        log_tail_lines=settings.log_tail_lines,
        clock=clock,
        monotonic=monotonic,
    )
    worker = InstallWorker(
        uow=uow,
        repository=repository,
        job=job,
        site_lock=SiteLock(engine, settings.site_id),
        clock=clock,
    )
    worker_loop = Loop(f"{SERVICE}-install-worker", worker.round, every_s=POLL_INTERVAL_S)
    installs = InstallHandlers(
        site_id=settings.site_id, repository=repository, clock=clock,
        wake_worker=worker_loop.wake,
    )

    async def worker_running() -> bool:
        return worker_loop.running

    return AgentService(
        name=SERVICE,
        engine=engine,
        bus=bus,
        schema=SCHEMA,
        migrations=MIGRATIONS,
        subscriptions=[consumers(uow, installs, site_id=settings.site_id)],
        loops=[*storage.loops, worker_loop, heartbeat_loop],
        on_start=[warn_if_insecure, worker.take_over, worker_loop.wake],
        on_close=[worker.hand_over],  # the site lock, once nothing installs here
        checks=[worker.ready, worker_running],
        problem_reports=[bookkeeping.problems],
        uow=uow,
        handlers=Handlers(installs=installs, worker=worker, heartbeat=heartbeat),
    )
