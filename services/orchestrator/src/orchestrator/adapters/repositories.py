"""The orchestrator's repositories as one frozen bundle, built once in ``bootstrap.build``.

Each repository is SQL over the caller's connection (``tx.conn`` inside a unit of work, or a
read-only connection for the read models); none opens a transaction of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.adapters.accounts_repository import AccountsRepository
from orchestrator.adapters.audit_repository import AuditRepository
from orchestrator.adapters.devices_repository import DevicesRepository
from orchestrator.adapters.saga_commands_repository import SagaCommandsRepository
from orchestrator.adapters.sites_repository import (
    EntitlementsRepository,
    ReleasesRepository,
    SitesRepository,
)
from orchestrator.adapters.stop_times_repository import StopTimesRepository
from orchestrator.adapters.support_reports_repository import SupportReportsRepository
from orchestrator.adapters.updates_repository import UpdatesRepository


@dataclass(frozen=True, slots=True)
class Repositories:
    sites: SitesRepository
    releases: ReleasesRepository
    entitlements: EntitlementsRepository
    updates: UpdatesRepository
    devices: DevicesRepository
    accounts: AccountsRepository
    audit: AuditRepository
    reports: SupportReportsRepository
    commands: SagaCommandsRepository
    stop_times: StopTimesRepository = field(default_factory=StopTimesRepository)
