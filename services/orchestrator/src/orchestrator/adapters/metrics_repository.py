"""The aggregate queries behind the orchestrator's gauges: one query per figure per scrape."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from orchestrator.adapters.tables import devices, updates

DEVICE_STATES = ("enabled", "disabled", "notified", "blocked", "waiting_for_update")


async def updates_by_state(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(select(updates.c.state, func.count()).group_by(updates.c.state))
    return {state: int(count) for state, count in rows.all()}


async def devices_by_state(conn: AsyncConnection) -> dict[str, int]:
    def count_if(condition: object) -> object:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = (await conn.execute(select(
        count_if(devices.c.enabled.is_(True)),
        count_if(devices.c.enabled.is_(False)),
        count_if(devices.c.notification_sent.is_(True)),
        count_if(devices.c.blocked.is_(True)),
        count_if(devices.c.waiting_for_update.is_(True)),
    ))).one()
    return {state: int(value) for state, value in zip(DEVICE_STATES, row, strict=True)}
