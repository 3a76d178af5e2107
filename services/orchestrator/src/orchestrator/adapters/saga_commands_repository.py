"""SQL for the saga watchdog's memory (``saga_commands``) and the facts it judges them by: the
update's state, whether the install started, a push's target devices still "pending"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep_shared.db import insert_ignoring_duplicates
from orchestrator.adapters.tables import aware, devices, saga_commands, updates
from orchestrator.domain.model import UpdateState
from orchestrator.domain.watchdog import CommandFacts, CommandKind, SentCommand, StoredCommand


class SagaCommandsRepository:
    async def add(self, conn: AsyncConnection, command: SentCommand, message: str) -> None:
        """Remember a command just sent (a second send of the same id is ignored)."""
        await conn.execute(insert_ignoring_duplicates(conn, saga_commands).values(
            command_id=command.command_id, kind=command.kind.value, site_id=command.site_id,
            update_id=command.update_id, message=message, issued_at=command.issued_at,
            last_issued_at=command.last_issued_at, reissues=command.reissues))

    async def unsettled(self, conn: AsyncConnection, limit: int) -> list[StoredCommand]:
        rows = await conn.execute(
            select(saga_commands).order_by(saga_commands.c.last_issued_at).limit(limit))
        return [StoredCommand(_command(r), r.message) for r in rows]

    async def stuck_reasons(self, conn: AsyncConnection, update_id: str
                            ) -> list[tuple[SentCommand, str]]:
        rows = await conn.execute(select(saga_commands).where(
            saga_commands.c.update_id == update_id, saga_commands.c.stuck_since.is_not(None),
        ).order_by(saga_commands.c.stuck_since))
        return [(_command(r), r.stuck_reason or "") for r in rows]

    async def counts(self, conn: AsyncConnection) -> dict[str, tuple[int, int]]:
        """Per kind: (unsettled, of which stuck)."""
        stuck = func.coalesce(func.sum(case((saga_commands.c.stuck_since.is_not(None), 1),
                                            else_=0)), 0)
        rows = await conn.execute(select(saga_commands.c.kind, func.count(), stuck)
                                  .group_by(saga_commands.c.kind))
        return {kind: (int(n), int(s)) for kind, n, s in rows}

    async def facts(self, conn: AsyncConnection, command: SentCommand,
                    serials: Sequence[str] | None) -> CommandFacts:
        row = (await conn.execute(
            select(updates.c.state, updates.c.agent_install_started_at)
            .where(updates.c.update_id == command.update_id))).first()
        if row is None:
            return CommandFacts(update_state=None)
        without_outcome = 0
        if command.kind.is_push:
            where = [devices.c.site_id == command.site_id, devices.c.enabled.is_(True),
                     devices.c.update_id == command.update_id,
                     devices.c.notification_kind == command.kind.value,
                     devices.c.notification_outcome == "pending"]
            if serials is not None:
                where.append(devices.c.serial.in_(list(serials)))
            without_outcome = int((await conn.execute(
                select(func.count()).select_from(devices).where(*where))).scalar_one())
        return CommandFacts(update_state=UpdateState(row.state),
                            install_started=row.agent_install_started_at is not None,
                            devices_without_outcome=without_outcome)

    async def reissued(self, conn: AsyncConnection, command: SentCommand, now: datetime) -> bool:
        """Count one more send, if nobody (another replica) did since ``command`` was read."""
        result = await conn.execute(
            update(saga_commands).where(saga_commands.c.command_id == command.command_id,
                                        saga_commands.c.reissues == command.reissues)
            .values(reissues=command.reissues + 1, last_issued_at=now))
        return bool(result.rowcount)

    async def mark_stuck(self, conn: AsyncConnection, command_id: str, now: datetime,
                         reason: str) -> bool:
        result = await conn.execute(
            update(saga_commands).where(saga_commands.c.command_id == command_id,
                                        saga_commands.c.stuck_since.is_(None))
            .values(stuck_since=now, stuck_reason=reason))
        return bool(result.rowcount)

    async def settle(self, conn: AsyncConnection, command_id: str) -> None:
        await conn.execute(delete(saga_commands).where(saga_commands.c.command_id == command_id))


def _command(r: Row[Any]) -> SentCommand:
    return SentCommand(
        command_id=r.command_id, kind=CommandKind(r.kind), site_id=r.site_id,
        update_id=r.update_id, issued_at=_utc(r.issued_at),
        last_issued_at=_utc(r.last_issued_at), reissues=r.reissues,
        stuck_since=aware(r.stuck_since))


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time we store is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
