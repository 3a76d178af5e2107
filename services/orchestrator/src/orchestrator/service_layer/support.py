"""U12: the report to the vendor's support — stored in the transaction that records the
request, then delivered by a background worker, retried with backoff until accepted."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from orchestrator.adapters.audit_repository import AuditQuery
from orchestrator.adapters.http_clients import DeliveryFailed
from orchestrator.adapters.support_reports_repository import SupportReport
from orchestrator.domain.accounts import Account
from orchestrator.domain.model import NotAllowed
from orchestrator.domain.support import retry_delay, support_report
from orchestrator.service_layer.context import Context
from orchestrator.service_layer.errors import NotFound

log = logging.getLogger(__name__)


class SupportReports:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def request(self, update_id: str, actor: Account) -> SupportReport:
        ctx = self.ctx
        now = ctx.clock()
        refused: NotAllowed | None = None
        async with ctx.engine.begin() as conn:
            update = await ctx.updates.get(conn, update_id)
            if update is None:
                raise NotFound(f"unknown update {update_id!r}")
            site = await ctx.sites.get(conn, update.site_id)
            history = await ctx.audit_log.find(conn, AuditQuery(update_id=update_id,
                                                                limit=1000))
            try:
                body = support_report(
                    update, [{"at": e.at.isoformat(), "actor": e.actor, "action": e.action,
                              "outcome": e.outcome, "details": e.details}
                             for e in reversed(history)],
                    site_name=site.name if site else update.site_id,
                    requested_by=actor.username, now=now)
            except NotAllowed as exc:
                await ctx.audit(conn, actor, "update.support_report", outcome=f"refused: {exc}",
                                site_id=update.site_id, update_id=update_id)
                refused = exc
            else:
                await ctx.reports.save_new(conn, update_id, update.site_id, body, now)
                await ctx.audit(conn, actor, "update.support_report", site_id=update.site_id,
                                update_id=update_id, support_url=ctx.settings.support_url)
            report = await ctx.reports.get(conn, update_id)
        if refused is not None:
            raise refused
        self._wake.set()
        assert report is not None
        return report

    async def status(self, update_id: str) -> SupportReport:
        async with self.ctx.engine.connect() as conn:
            report = await self.ctx.reports.get(conn, update_id)
        if report is None:
            raise NotFound(f"no report to support was sent for update {update_id!r}")
        return report

    # --- the delivery worker --------------------------------------------------------------

    async def deliver_due(self) -> int:
        """One pass: try every report that is due. Returns how many were delivered."""
        ctx = self.ctx
        now = ctx.clock()
        async with ctx.engine.connect() as conn:
            due = await ctx.reports.due(conn, now)
        delivered = 0
        for report in due:
            attempts = report.attempts + 1
            async with ctx.engine.begin() as conn:  # claim: another replica skips it
                if not await ctx.reports.claim(conn, report, now, now + retry_delay(attempts)):
                    continue
            try:
                await ctx.support.deliver(report.body)  # type: ignore[union-attr]
            except DeliveryFailed as exc:
                log.warning("support report of update %s not delivered (attempt %d): %s",
                            report.update_id, attempts, exc)
                async with ctx.engine.begin() as conn:
                    await ctx.reports.failed_attempt(conn, report.update_id, attempts, str(exc),
                                                     ctx.clock() + retry_delay(attempts))
                continue
            async with ctx.engine.begin() as conn:
                await ctx.reports.delivered(conn, report.update_id, attempts, ctx.clock())
                await ctx.audit(conn, "orchestrator", "update.support_report_delivered",
                                site_id=report.site_id, update_id=report.update_id,
                                attempts=attempts)
            delivered += 1
        return delivered

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="support-report-delivery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except Exception:  # keep the worker alive: the next pass retries
                log.exception("support report delivery pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.ctx.settings.support_poll_s)
