"""U12: the report of a failed update to the vendor's support. ``SupportHandlers.request``
stores it in the transaction that records the request; ``SupportDelivery`` (one round of the
service's support-delivery loop) delivers the due reports, retried with backoff until accepted.
Replicas never deliver one report twice at once: each attempt is claimed first."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from lockstep_shared.unit_of_work import UnitOfWork
from orchestrator.adapters.http_clients import SupportEndpoint
from orchestrator.adapters.repositories import Repositories
from orchestrator.adapters.support_reports_repository import SupportReportsRepository
from orchestrator.domain.accounts import Account
from orchestrator.domain.audit import AuditQuery
from orchestrator.domain.model import NotAllowed
from orchestrator.domain.support import DeliveryFailed, SupportReport, retry_delay, support_report
from orchestrator.service_layer.audit import AuditLog
from orchestrator.service_layer.errors import NotFound

log = logging.getLogger(__name__)

BATCH = 10  # reports tried per round


class SupportHandlers:
    """The admin's side: ask for the report of a failed update, and see where it is."""

    def __init__(self, uow: UnitOfWork, repos: Repositories, audit: AuditLog, *,
                 clock: Callable[[], datetime], support_url: str | None,
                 wake_delivery: Callable[[], None]) -> None:
        self.uow = uow
        self.repos = repos
        self.audit = audit
        self.clock = clock
        self.support_url = support_url  # recorded in the audit entry
        self.wake_delivery = wake_delivery

    async def request(self, update_id: str, actor: Account) -> SupportReport:
        repos = self.repos
        now = self.clock()
        refused: NotAllowed | None = None
        async with self.uow.begin() as tx:
            update = await repos.updates.get(tx.conn, update_id)
            if update is None:
                raise NotFound(f"unknown update {update_id!r}")
            site = await repos.sites.get(tx.conn, update.site_id)
            history = await repos.audit.find(tx.conn, AuditQuery(update_id=update_id,
                                                                 limit=1000))
            try:
                body = support_report(
                    update, [{"at": e.at.isoformat(), "actor": e.actor, "action": e.action,
                              "outcome": e.outcome, "details": e.details}
                             for e in reversed(history)],
                    site_name=site.name if site else update.site_id,
                    requested_by=actor.username, now=now,
                    stop=await repos.stop_times.get(tx.conn, update_id))
            except NotAllowed as exc:
                await self.audit.record(tx, actor, "update.support_report",
                                        outcome=f"refused: {exc}", site_id=update.site_id,
                                        update_id=update_id)
                refused = exc
            else:
                await repos.reports.save_new(tx.conn, update_id, update.site_id, body, now)
                await self.audit.record(tx, actor, "update.support_report",
                                        site_id=update.site_id, update_id=update_id,
                                        support_url=self.support_url)
                tx.after_commit(self.wake_delivery)
            report = await repos.reports.get(tx.conn, update_id)
        if refused is not None:
            raise refused
        assert report is not None
        return report

    async def status(self, update_id: str) -> SupportReport:
        async with self.uow.engine.connect() as conn:
            report = await self.repos.reports.get(conn, update_id)
        if report is None:
            raise NotFound(f"no report to support was sent for update {update_id!r}")
        return report


class SupportDelivery:
    """The worker's side: one round delivers every report that is due."""

    def __init__(self, uow: UnitOfWork, reports: SupportReportsRepository, audit: AuditLog,
                 endpoint: SupportEndpoint, *, clock: Callable[[], datetime]) -> None:
        self.uow = uow
        self.reports = reports
        self.audit = audit
        self.endpoint = endpoint
        self.clock = clock

    async def round(self) -> bool:
        """A round of the loop: True when a full batch was due (there may be more)."""
        now = self.clock()
        due = await self._due(now)
        await self._deliver(due, now)
        return len(due) == BATCH

    async def deliver_due(self) -> int:
        """Try every report that is due; how many were delivered."""
        now = self.clock()
        return await self._deliver(await self._due(now), now)

    async def _due(self, now: datetime) -> list[SupportReport]:
        async with self.uow.engine.connect() as conn:
            return await self.reports.due(conn, now, limit=BATCH)

    async def _deliver(self, due: list[SupportReport], now: datetime) -> int:
        delivered = 0
        for report in due:
            attempts = report.attempts + 1
            async with self.uow.begin() as tx:  # claim: another replica skips it
                if not await self.reports.claim(tx.conn, report, now,
                                                now + retry_delay(attempts)):
                    continue
            try:
                await self.endpoint.deliver(report.body)
            except DeliveryFailed as exc:
                log.warning("support report of update %s not delivered (attempt %d): %s",
                            report.update_id, attempts, exc)
                async with self.uow.begin() as tx:
                    await self.reports.failed_attempt(tx.conn, report.update_id, attempts,
                                                      str(exc),
                                                      self.clock() + retry_delay(attempts))
                continue
            async with self.uow.begin() as tx:
                await self.reports.delivered(tx.conn, report.update_id, attempts, self.clock())
                await self.audit.record(tx, "orchestrator", "update.support_report_delivered",
                                        site_id=report.site_id, update_id=report.update_id,
                                        attempts=attempts)
            delivered += 1
        return delivered
