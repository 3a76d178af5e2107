"""SQL for the update saga's state, with optimistic concurrency on the ``version`` column."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep_shared.catalogue import PackageRef
from lockstep_shared.db import ConcurrentUpdate
from orchestrator.adapters.tables import aware, update_is_active, updates
from orchestrator.domain.model import (
    AgentStatus,
    Failure,
    Update,
    UpdateAlreadyActive,
    UpdateState,
)


class UpdatesRepository:
    async def add(self, conn: AsyncConnection, new: Update) -> Update:
        """Insert a new update. Run it in its own transaction: a concurrent click that lost
        the race gets ``UpdateAlreadyActive`` from the unique index."""
        try:
            await conn.execute(insert(updates).values(**_values(new), version=1))
        except IntegrityError as exc:
            raise UpdateAlreadyActive(new.site_id) from exc
        return _with_version(new, 1)

    async def save(self, conn: AsyncConnection, changed: Update) -> Update:
        """``UPDATE … WHERE update_id = :id AND version = :v``; a lost race raises
        ``ConcurrentUpdate`` so the whole handler runs again on fresh state."""
        result = await conn.execute(
            update(updates)
            .where(updates.c.update_id == changed.update_id, updates.c.version == changed.version)
            .values(**_values(changed), version=changed.version + 1)
        )
        if result.rowcount != 1:
            raise ConcurrentUpdate(f"update {changed.update_id} changed concurrently")
        return _with_version(changed, changed.version + 1)

    async def get(self, conn: AsyncConnection, update_id: str) -> Update | None:
        row = (await conn.execute(select(updates).where(updates.c.update_id == update_id))).first()
        return None if row is None else _update(row)

    async def active_for_site(self, conn: AsyncConnection, site_id: str) -> Update | None:
        row = (await conn.execute(
            select(updates).where(updates.c.site_id == site_id, update_is_active)
        )).first()
        return None if row is None else _update(row)

    async def all_active(self, conn: AsyncConnection) -> list[Update]:
        """The active update of every site that has one (failed ones included until
        resolved)."""
        rows = await conn.execute(select(updates).where(update_is_active)
                                  .order_by(updates.c.site_id))
        return [_update(r) for r in rows]

    async def latest_for_site(self, conn: AsyncConnection, site_id: str) -> Update | None:
        row = (await conn.execute(
            select(updates).where(updates.c.site_id == site_id)
            .order_by(updates.c.opened_at.desc()).limit(1)
        )).first()
        return None if row is None else _update(row)


def _with_version(u: Update, version: int) -> Update:
    return replace(u, version=version)


def _values(u: Update) -> dict[str, Any]:
    failure = u.failure
    return {
        "update_id": u.update_id, "site_id": u.site_id, "product": u.product,
        "from_version": u.from_version, "to_version": u.to_version,
        "package_sha256": u.package.sha256, "package_size": u.package.size,
        "package_url": u.package.url, "package_target": u.package.target,
        "state": u.state.value, "active": u.state.active,
        "notes_url": u.notes_url, "devices_released": u.devices_released, "forced": u.forced,
        "authorized_by": "\n".join(u.authorized_by), "opened_at": u.opened_at,
        "opened_by": u.opened_by, "notifying_since": u.notifying_since,
        "server_update_started_at": u.server_update_started_at,
        "server_updated_at": u.server_updated_at, "closed_at": u.closed_at,
        "closed_by": u.closed_by,
        "failure_reason": failure.reason if failure else None,
        "failure_exit_code": failure.exit_code if failure else None,
        "failure_log_tail": failure.log_tail if failure else None,
        "failure_interrupted": failure.interrupted if failure else False,
        "agent_last_heartbeat": u.agent.last_heartbeat,
        "agent_last_progress": u.agent.last_progress,
        "agent_last_percent": u.agent.last_percent,
        "agent_last_progress_at": u.agent.last_progress_at,
        "agent_install_started_at": u.agent.install_started_at,
        "challenge": u.challenge, "code_attempts": u.code_attempts,
        "force_requested_by": u.force_requested_by,
        "force_requested_at": u.force_requested_at,
        "devices_reactivated_at": u.devices_reactivated_at,
        "failed_at": u.failed_at,
    }


def _update(r: Row[Any]) -> Update:
    failure = None
    if r.failure_reason is not None:
        failure = Failure(r.failure_reason, r.failure_exit_code, r.failure_log_tail or "",
                          r.failure_interrupted)
    return Update(
        update_id=r.update_id, site_id=r.site_id, product=r.product,
        from_version=r.from_version, to_version=r.to_version,
        package=PackageRef(product=r.product, version=r.to_version, sha256=r.package_sha256,
                           size=r.package_size, url=r.package_url, target=r.package_target),
        state=UpdateState(r.state), opened_at=aware(r.opened_at),  # type: ignore[arg-type]
        opened_by=r.opened_by, notes_url=r.notes_url, devices_released=r.devices_released,
        forced=r.forced,
        authorized_by=tuple(a for a in r.authorized_by.split("\n") if a),
        notifying_since=aware(r.notifying_since),
        server_update_started_at=aware(r.server_update_started_at),
        server_updated_at=aware(r.server_updated_at), closed_at=aware(r.closed_at),
        closed_by=r.closed_by, failure=failure,
        agent=AgentStatus(
            last_heartbeat=aware(r.agent_last_heartbeat),
            last_progress=r.agent_last_progress, last_percent=r.agent_last_percent,
            last_progress_at=aware(r.agent_last_progress_at),
            install_started_at=aware(r.agent_install_started_at),
        ),
        challenge=r.challenge, code_attempts=r.code_attempts,
        force_requested_by=r.force_requested_by,
        force_requested_at=aware(r.force_requested_at),
        devices_reactivated_at=aware(r.devices_reactivated_at),
        failed_at=aware(r.failed_at),
        version=r.version,
    )
