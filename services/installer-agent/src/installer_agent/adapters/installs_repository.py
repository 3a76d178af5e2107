"""All SQL about installs. Every write happens inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from installer_agent.adapters.tables import installs
from installer_agent.domain.installs import (
    InstallRecord,
    InstallStatus,
    Outcome,
    Stage,
    stage_of,
)
from lockstep_shared.envelope import Envelope


def _record(row: Row) -> InstallRecord:
    status = InstallStatus(row.status)
    outcome = None
    if status.finished:
        outcome = Outcome(
            status,
            reason=row.reason,
            exit_code=row.exit_code,
            installed_version=row.installed_version,
            log_tail=row.log_tail or "",
            duration_s=row.duration_s,
            stage=None if status is InstallStatus.SUCCEEDED else stage_of(row.stage),
        )
    return InstallRecord(
        update_id=row.update_id,
        site_id=row.site_id,
        product=row.product,
        version=row.version,
        package_sha256=row.package_sha256,
        status=status,
        outcome=outcome,
    )


class InstallsRepository:
    """Installs of one site: an agent never sees or touches another site's rows, even where
    several sites' agents share one database (hosted, S3)."""

    def __init__(self, site_id: str) -> None:
        self.site_id = site_id

    async def get(self, conn: AsyncConnection, update_id: str) -> InstallRecord | None:
        query = select(installs).where(installs.c.update_id == update_id)
        query = query.where(installs.c.site_id == self.site_id)
        row = (await conn.execute(query)).first()
        return _record(row) if row else None

    async def add_requested(self, conn: AsyncConnection, request: Envelope, now: datetime) -> None:
        package = request.data.package  # type: ignore[union-attr]
        await conn.execute(
            insert(installs).values(
                update_id=request.data.update_id,  # type: ignore[union-attr]
                site_id=request.siteid,
                product=package.product,
                version=package.version,
                package_sha256=package.sha256,
                status=InstallStatus.REQUESTED.value,
                request=request.model_dump_json(),
                requested_at=now,
                log_tail="",
            )
        )

    async def next_requested(self, conn: AsyncConnection) -> Envelope | None:
        """The oldest install still waiting to run, as the command that asked for it."""
        row = (
            await conn.execute(
                select(installs.c.request)
                .where(installs.c.site_id == self.site_id)
                .where(installs.c.status == InstallStatus.REQUESTED.value)
                .order_by(installs.c.requested_at, installs.c.update_id)
                .limit(1)
            )
        ).first()
        return Envelope.from_json(row.request) if row else None

    async def running(self, conn: AsyncConnection) -> list[tuple[str, Stage, Envelope]]:
        """Installs left ``running`` (the agent stopped during them): (log tail, the step it
        was in, command)."""
        rows = (
            await conn.execute(
                select(installs.c.request, installs.c.log_tail, installs.c.stage)
                .where(installs.c.site_id == self.site_id)
                .where(installs.c.status == InstallStatus.RUNNING.value)
                .order_by(installs.c.requested_at)
            )
        ).all()
        return [(row.log_tail or "", stage_of(row.stage), Envelope.from_json(row.request))
                for row in rows]

    async def forget_requested(self, conn: AsyncConnection, update_id: str) -> bool:
        """Delete a command still ``requested`` (one its update's owner never issued)."""
        result = await conn.execute(
            delete(installs)
            .where(installs.c.update_id == update_id)
            .where(installs.c.site_id == self.site_id)
            .where(installs.c.status == InstallStatus.REQUESTED.value)
        )
        return result.rowcount == 1

    async def mark_running(self, conn: AsyncConnection, update_id: str, now: datetime) -> bool:
        """requested → running; False if it was not ``requested`` any more (someone else)."""
        result = await conn.execute(
            update(installs)
            .where(installs.c.update_id == update_id)
            .where(installs.c.site_id == self.site_id)
            .where(installs.c.status == InstallStatus.REQUESTED.value)
            .values(status=InstallStatus.RUNNING.value, started_at=now)
        )
        return result.rowcount == 1

    async def enter_stage(self, conn: AsyncConnection, update_id: str, stage: Stage) -> None:
        """The running install starts this step (so an interruption can say which)."""
        await conn.execute(
            update(installs)
            .where(installs.c.update_id == update_id)
            .where(installs.c.site_id == self.site_id)
            .where(installs.c.status == InstallStatus.RUNNING.value)
            .values(stage=stage)
        )

    async def save_log_tail(self, conn: AsyncConnection, update_id: str, tail: str) -> None:
        await conn.execute(
            update(installs)
            .where(installs.c.update_id == update_id)
            .where(installs.c.site_id == self.site_id)
            .values(log_tail=tail)
        )

    async def finish(
        self,
        conn: AsyncConnection,
        update_id: str,
        outcome: Outcome,
        now: datetime,
        *,
        expected: InstallStatus,
    ) -> bool:
        """Record the outcome; False if the install was not in the ``expected`` state."""
        result = await conn.execute(
            update(installs)
            .where(installs.c.update_id == update_id)
            .where(installs.c.site_id == self.site_id)
            .where(installs.c.status == expected.value)
            .values(
                status=outcome.status.value,
                finished_at=now,
                exit_code=outcome.exit_code,
                reason=outcome.reason,
                installed_version=outcome.installed_version,
                duration_s=outcome.duration_s,
                log_tail=outcome.log_tail,
                stage=outcome.stage,
            )
        )
        return result.rowcount == 1
