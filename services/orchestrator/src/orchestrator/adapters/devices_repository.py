"""SQL for the device projection and the grid. Hot path: every device event is ONE Core
statement keyed by ``(site_id, serial)`` — but the events that move the barrier (blocked,
unblocked, a hand-in while waiting), which read the device's flags locked and save what
``domain.barrier`` decides; the most frequent ones (notification outcomes, last sync) are ONE
statement per delivery batch, run for every device of the batch at once (``executemany``);
the fleet summary is ONE aggregate query; the grid is ONE select. No device row is ever loaded
into the saga."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    String,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from lockstep_shared.db import is_postgres
from orchestrator.adapters.tables import aware, devices, update_is_active, updates
from orchestrator.domain.barrier import DeviceBarrier
from orchestrator.domain.devices import DeviceLine, GridFilter, ManagedDevice
from orchestrator.domain.model import FleetSummary, UpdateState
from orchestrator.domain.saga import PHASE_1

# U6: waiting for update = blocked for the update, then handed in (``domain.barrier``)
WAITING = and_(devices.c.blocked.is_(True), devices.c.waiting_for_update.is_(True))


def _key(site_id: str, serial: str) -> ColumnElement[bool]:
    return and_(devices.c.site_id == site_id, devices.c.serial == serial)


def _contact(at: datetime | ColumnElement[Any]) -> ColumnElement[datetime]:
    """The device was heard from at ``at``: the newest contact stays (events come in any
    order)."""
    return case((or_(devices.c.last_contact.is_(None), devices.c.last_contact < at), at),
                else_=devices.c.last_contact)


def _latest_notification(kind: str) -> ColumnElement[bool]:
    """An outcome of ``kind`` is the device's latest notification's — also when this service
    marked none for the update: START or END to every device reached one the gateway knew
    before this service learnt of it (its registration and the request crossed)."""
    return or_(devices.c.notification_kind == kind, devices.c.notification_kind.is_(None))


def _bind(row: Mapping[str, Any]) -> dict[str, Any]:
    return {f"b_{k}": v for k, v in row.items()}


def _device_key() -> Any:
    return and_(devices.c.site_id == bindparam("b_site_id"),
                devices.c.serial == bindparam("b_serial"))


def _notification_statements() -> tuple[Any, Any]:
    """The notification outcomes as statements over bound parameters (``b_…``), run for many
    devices at once."""
    kind = bindparam("b_kind", type_=String)
    of_update = and_(_device_key(), devices.c.update_id == bindparam("b_update_id"))
    latest = _latest_notification(kind)
    delivered = update(devices).where(of_update).values(
        notification_outcome=case((latest, "delivered"), else_=devices.c.notification_outcome),
        notification_note=case((latest, None), else_=devices.c.notification_note),
        notification_kind=func.coalesce(devices.c.notification_kind, kind),
        notification_sent=or_(devices.c.notification_sent, bindparam("b_start", type_=Boolean)),
        last_contact=_contact(bindparam("b_at", type_=devices.c.last_contact.type)),
    )
    applies = and_(latest, func.coalesce(devices.c.notification_outcome, "") != "delivered")
    not_delivered = update(devices).where(of_update).values(
        notification_outcome=case((applies, "not_delivered"),
                                  else_=devices.c.notification_outcome),
        notification_note=case((applies, bindparam("b_reason")),
                               else_=devices.c.notification_note),
        notification_kind=func.coalesce(devices.c.notification_kind, kind),
    )
    return delivered, not_delivered


_DELIVERED, _NOT_DELIVERED = _notification_statements()
_SYNCED_AT = bindparam("b_at", type_=devices.c.last_sync.type)
_LAST_SYNC = update(devices).where(_device_key()).values(last_sync=_SYNCED_AT,
                                                          last_contact=_contact(_SYNCED_AT))


class DevicesRepository:
    # --- projection of the gateway's events (one statement each) ------------------------

    async def register(self, conn: AsyncConnection, site_id: str, serial: str,
                       values: dict[str, Any]) -> None:
        """Upsert; a new device joins the site's active update (its flags belong to it)."""
        dialect = postgresql if is_postgres(conn) else sqlite
        active = (select(updates.c.update_id)
                  .where(updates.c.site_id == site_id, update_is_active).scalar_subquery())
        stmt = dialect.insert(devices).values(site_id=site_id, serial=serial, update_id=active,
                                              last_contact=values["registered_at"], **values)
        stmt = stmt.on_conflict_do_update(index_elements=["site_id", "serial"],
                                          set_={**{k: stmt.excluded[k] for k in values},
                                                "last_contact": stmt.excluded.last_contact})
        await conn.execute(stmt)

    async def notifications_delivered(self, conn: AsyncConnection,
                                      rows: Sequence[Mapping[str, Any]]) -> None:
        """``DeviceNotificationDelivered`` of many devices, in order, in one ``executemany``:
        each row has ``site_id``, ``serial``, ``update_id``, ``kind``, ``at``."""
        if rows:
            await conn.execute(_DELIVERED, [{**_bind(r), "b_start": r["kind"] == "start"}
                                            for r in rows])

    async def notifications_not_delivered(self, conn: AsyncConnection,
                                          rows: Sequence[Mapping[str, Any]]) -> None:
        """``DeviceNotificationNotDelivered`` of many devices, in order: each row has
        ``site_id``, ``serial``, ``update_id``, ``kind``, ``reason``."""
        if rows:
            await conn.execute(_NOT_DELIVERED, [_bind(r) for r in rows])

    async def barrier(self, conn: AsyncConnection, site_id: str, serial: str
                      ) -> tuple[DeviceBarrier, bool] | None:
        """The device's barrier flags, locked until commit (its events may be handled at the
        same time), and whether the update they belong to is in phase 1."""
        in_phase_1 = exists().where(updates.c.update_id == devices.c.update_id,
                                    updates.c.state.in_([s.value for s in PHASE_1]))
        query = select(devices.c.update_id, devices.c.blocked, devices.c.waiting_for_update,
                       devices.c.block_changed_at, in_phase_1).where(_key(site_id, serial))
        if is_postgres(conn):
            query = query.with_for_update(of=devices)
        row = (await conn.execute(query)).first()
        if row is None:
            return None
        update_id, blocked, waiting, changed_at, phase_1 = row
        return DeviceBarrier(update_id, bool(blocked), bool(waiting), aware(changed_at)), bool(
            phase_1)

    async def save_barrier(self, conn: AsyncConnection, site_id: str, serial: str,
                           barrier: DeviceBarrier, note: str | None = None) -> None:
        values: dict[str, Any] = {} if note is None else {"notes": note}
        if barrier.changed_at is not None:
            values["last_contact"] = _contact(barrier.changed_at)
        await conn.execute(update(devices).where(_key(site_id, serial)).values(
            blocked=barrier.blocked, waiting_for_update=barrier.waiting,
            block_changed_at=barrier.changed_at, **values))

    async def ddi_waiting(self, conn: AsyncConnection, site_id: str, serial: str,
                          how: str) -> None:
        """What "waiting" means for this DDI device in this update (D14)."""
        await conn.execute(update(devices).where(_key(site_id, serial)).values(ddi_waiting=how))

    async def note(self, conn: AsyncConnection, site_id: str, serial: str, note: str) -> None:
        await conn.execute(update(devices).where(_key(site_id, serial)).values(notes=note))

    async def last_syncs(self, conn: AsyncConnection,
                         rows: Sequence[Mapping[str, Any]]) -> None:
        """Hand-ins of many devices, in order: each row has ``site_id``, ``serial``, ``at``."""
        if rows:
            await conn.execute(_LAST_SYNC, [_bind(r) for r in rows])

    async def set_enabled(self, conn: AsyncConnection, site_id: str, serial: str,
                          enabled: bool) -> bool:
        result = await conn.execute(update(devices).where(_key(site_id, serial))
                                    .values(enabled=enabled))
        return bool(result.rowcount)

    async def exists(self, conn: AsyncConnection, site_id: str, serial: str) -> bool:
        row = (await conn.execute(select(devices.c.serial).where(_key(site_id, serial)))).first()
        return row is not None

    async def management(self, conn: AsyncConnection, site_id: str) -> list[ManagedDevice]:
        """U10: every device of the site, disabled ones included."""
        rows = await conn.execute(
            select(*(devices.c[f.name] for f in fields(ManagedDevice)))
            .where(devices.c.site_id == site_id).order_by(devices.c.serial))
        return [ManagedDevice(**{**r._asdict(), "last_sync": aware(r.last_sync),
                                 "registered_at": aware(r.registered_at),
                                 "last_contact": aware(r.last_contact)}) for r in rows]

    async def version_reported(self, conn: AsyncConnection, site_id: str, serial: str,
                               app_version: str, at: datetime) -> bool:
        """Saves the version; True when it is the new version of the device's update and the
        server was updated already (phase 3 or concluded): the device is working again. One
        statement: the update returns the answer."""
        back = exists().where(
            updates.c.update_id == devices.c.update_id, updates.c.to_version == app_version,
            updates.c.state.in_([UpdateState.SERVER_UPDATED.value,
                                 UpdateState.CONCLUDED.value]))
        row = (await conn.execute(update(devices).where(_key(site_id, serial))
                                  .values(app_version=app_version, last_contact=_contact(at))
                                  .returning(back.label("back")))).first()
        return bool(row and row[0])

    async def connected(self, conn: AsyncConnection, site_id: str, serials: Sequence[str],
                        at: datetime) -> None:
        """The gateway saw these devices poll by ``at`` (one statement for the report)."""
        await conn.execute(update(devices).where(devices.c.site_id == site_id,
                                                 devices.c.serial.in_(serials))
                           .values(last_contact=_contact(at)))

    async def package_staged(self, conn: AsyncConnection, site_id: str, serial: str,
                             version: str) -> None:
        await conn.execute(update(devices).where(_key(site_id, serial))
                           .values(staged_version=version))

    # --- effects of the saga (one statement for the whole site) -------------------------

    async def reset_flags(self, conn: AsyncConnection, site_id: str, update_id: str) -> None:
        await conn.execute(update(devices).where(devices.c.site_id == site_id).values(
            update_id=update_id, notification_kind=None, notification_outcome=None,
            notification_note=None, notification_sent=False, blocked=False,
            waiting_for_update=False, block_changed_at=None, ddi_waiting=None,
            notes=None,
        ))

    async def settle(self, conn: AsyncConnection, site_id: str, update_id: str) -> None:
        """The update ended (concluded, cancelled, resolved): the notifications' outcomes
        belonged to it; the grid and its counts now describe the devices as they are."""
        await conn.execute(update(devices).where(devices.c.site_id == site_id,
                                                 devices.c.update_id == update_id).values(
            notification_kind=None, notification_outcome=None, notification_note=None,
            notification_sent=False,
        ))

    async def mark_pending(self, conn: AsyncConnection, site_id: str, update_id: str,
                           kind: str, serials: tuple[str, ...] | None) -> None:
        where = [devices.c.site_id == site_id, devices.c.enabled.is_(True)]
        if serials is not None:
            where.append(devices.c.serial.in_(serials))
        await conn.execute(update(devices).where(*where).values(
            update_id=update_id, notification_kind=kind, notification_outcome="pending",
            notification_note=None,
        ))

    # --- reads --------------------------------------------------------------------------

    async def fleet_summary(self, conn: AsyncConnection, site_id: str,
                            target_version: str | None) -> FleetSummary:
        def count(condition: ColumnElement[bool]) -> ColumnElement[int]:
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        on_target = devices.c.app_version == target_version if target_version else false()
        row = (await conn.execute(select(
            func.count(),
            count(devices.c.notification_kind.is_not(None)),
            count(devices.c.notification_outcome == "delivered"),
            count(devices.c.blocked.is_(True)),
            count(WAITING),
            count(on_target),
        ).where(devices.c.site_id == site_id, devices.c.enabled.is_(True)))).one()
        return FleetSummary(*(int(v) for v in row))

    async def everyone_on(self, conn: AsyncConnection, site_id: str, version: str) -> bool:
        """Every enabled device of the site runs ``version`` (stops at the first that does
        not: cheap while many are still behind)."""
        behind = await conn.execute(select(devices.c.serial).where(
            devices.c.site_id == site_id, devices.c.enabled.is_(True),
            devices.c.app_version != version).limit(1))
        return behind.first() is None

    async def nobody_blocked(self, conn: AsyncConnection, site_id: str, update_id: str) -> bool:
        """No enabled device of the site is blocked for ``update_id`` (stops at the first)."""
        blocked = await conn.execute(select(devices.c.serial).where(
            devices.c.site_id == site_id, devices.c.enabled.is_(True),
            devices.c.update_id == update_id, devices.c.blocked.is_(True)).limit(1))
        return blocked.first() is None

    async def waiting_serials(self, conn: AsyncConnection, site_id: str) -> tuple[str, ...]:
        rows = await conn.execute(select(devices.c.serial).where(
            devices.c.site_id == site_id, devices.c.enabled.is_(True), WAITING,
        ).order_by(devices.c.serial))
        return tuple(rows.scalars())

    async def grid(self, conn: AsyncConnection, site_id: str, target_version: str | None,
                   shown: GridFilter = "all") -> list[DeviceLine]:
        where = [devices.c.site_id == site_id, devices.c.enabled.is_(True)]
        if shown != "all" and target_version is not None:
            where.append(devices.c.app_version == target_version if shown == "updated"
                         else devices.c.app_version != target_version)
        columns = [devices.c[f.name] for f in fields(DeviceLine) if f.name != "on_target_version"]
        rows = await conn.execute(select(*columns).where(*where).order_by(devices.c.serial))
        return [
            DeviceLine(
                r.serial, r.model, r.operator_code, r.operator_name, r.operator_phone,
                aware(r.last_sync), r.notifications_enabled, r.notification_sent,
                r.notification_kind, r.notification_outcome, r.notification_note, r.blocked,
                r.waiting_for_update, r.app_version,
                None if target_version is None else r.app_version == target_version, r.notes,
                r.agent, r.ddi_waiting, aware(r.last_contact), r.staged_version,
            )
            for r in rows
        ]
