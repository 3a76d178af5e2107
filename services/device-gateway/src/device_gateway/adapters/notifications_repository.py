"""The gateway's SQL for push notifications (D2): created for a whole site in one statement,
read per device or per site in one query, acknowledged and claimed overdue in one statement
each. Returns typed frozen rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, and_, bindparam, exists, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from device_gateway.adapters.repository import as_utc, chunks
from device_gateway.adapters.tables import devices, notifications, outbox, site_updates
from device_gateway.domain.notifications import (
    HELD_UNTIL_RELEASED,
    Acknowledged,
    Notification,
    Overdue,
)
from device_gateway.domain.updates import BEFORE_RELEASE
from lockstep_shared.db import DriverChange, DriverQuery, is_postgres


async def create_notifications(
    conn: AsyncConnection, *, site_id: str, update_id: str, kind: str, request_id: str,
    serials: Sequence[str] | None, correlation_id: str, cause_id: str, now: datetime,
) -> int:
    """One row per enabled target device, in ONE ``INSERT … SELECT`` (None = every enabled
    device of the site). A repeated request adds nothing (unique request + serial)."""
    source = select(
        literal(site_id), devices.c.serial, literal(update_id), literal(kind),
        literal(request_id), literal(correlation_id), literal(cause_id),
        literal(now, DateTime(timezone=True)),
    ).where(devices.c.site_id == site_id, devices.c.enabled.is_(True))
    if serials is not None:
        source = source.where(devices.c.serial.in_(list(serials)))
    dialect_insert = postgresql.insert if is_postgres(conn) else sqlite.insert
    stmt = dialect_insert(notifications).from_select(
        ["site_id", "serial", "update_id", "kind", "request_id", "correlation_id", "cause_id",
         "created_at"], source,
    ).on_conflict_do_nothing()
    result = await conn.execute(stmt)
    return result.rowcount or 0


_RELEASE_RECORDED = exists().where(
    site_updates.c.site_id == notifications.c.site_id,
    site_updates.c.update_id == notifications.c.update_id,
    site_updates.c.phase.not_in([phase.value for phase in BEFORE_RELEASE]))
_DELIVERABLE = or_(notifications.c.kind != HELD_UNTIL_RELEASED, _RELEASE_RECORDED)
_PENDING = select(notifications.c.seq, notifications.c.serial, notifications.c.kind,
                  notifications.c.update_id, notifications.c.created_at,
                  notifications.c.sent_at).where(notifications.c.acked_at.is_(None),
                                                 _DELIVERABLE)


_PENDING_FOR_DEVICE = DriverQuery(
    _PENDING.where(notifications.c.site_id == bindparam("site_id"),
                   notifications.c.serial == bindparam("serial"))
    .order_by(notifications.c.seq))


async def pending_for_device(conn: AsyncConnection, site_id: str, serial: str
                             ) -> list[Notification]:
    """The device's unacknowledged notifications it may be handed now, oldest first (an END
    waits for its release to be recorded: ``HELD_UNTIL_RELEASED``)."""
    rows = await _PENDING_FOR_DEVICE.all(conn, site_id=site_id, serial=serial)
    return [_notification(*row) for row in rows]


async def pending_for_site(
    conn: AsyncConnection, site_id: str, serials: Sequence[str] | None
) -> list[Notification]:
    """Unacknowledged notifications of some (or all) devices of a site, in one query."""
    query = _PENDING.where(notifications.c.site_id == site_id)
    if serials is not None:
        query = query.where(notifications.c.serial.in_(list(serials)))
    rows = (await conn.execute(query.order_by(notifications.c.seq))).all()
    return [_notification(*row) for row in rows]


async def held_requests(conn: AsyncConnection, site_id: str, update_id: str) -> list[str]:
    """The requests whose unacknowledged notifications wait for this update's release."""
    rows = await conn.execute(
        select(notifications.c.request_id).distinct()
        .where(notifications.c.site_id == site_id, notifications.c.update_id == update_id,
               notifications.c.kind == HELD_UNTIL_RELEASED, notifications.c.acked_at.is_(None))
        .order_by(notifications.c.request_id))
    return list(rows.scalars())


async def mark_sent(conn: AsyncConnection, seqs: Sequence[int], now: datetime) -> None:
    for chunk in chunks(seqs, 5000):
        await conn.execute(update(notifications)
                           .where(notifications.c.seq.in_(chunk), notifications.c.sent_at.is_(None))
                           .values(sent_at=now))


async def acknowledge(
    conn: AsyncConnection, site_id: str, serial: str, seq: int, now: datetime
) -> Acknowledged | None:
    """Set acked_at once; the row back only for the first acknowledgement."""
    row = (await conn.execute(
        update(notifications)
        .where(notifications.c.seq == seq, notifications.c.site_id == site_id,
               notifications.c.serial == serial, notifications.c.acked_at.is_(None))
        .values(acked_at=now)
        .returning(notifications.c.update_id, notifications.c.kind,
                   notifications.c.correlation_id, notifications.c.cause_id,
                   notifications.c.created_at)
    )).first()
    if row is None:
        return None
    update_id, kind, correlation_id, cause_id, created_at = row
    return Acknowledged(update_id, kind, correlation_id, cause_id, as_utc(created_at))


@dataclass(frozen=True, slots=True)
class Sent:
    """A notification of the device as its acknowledgement finds it."""

    update_id: str
    kind: str
    correlation_id: str
    cause_id: str
    created_at: datetime
    acknowledged: bool


_SENT = DriverQuery(
    select(notifications.c.update_id, notifications.c.kind, notifications.c.correlation_id,
           notifications.c.cause_id, notifications.c.created_at, notifications.c.acked_at)
    .where(notifications.c.seq == bindparam("seq"),
           notifications.c.site_id == bindparam("site_id"),
           notifications.c.serial == bindparam("serial")))


async def sent(conn: AsyncConnection, site_id: str, serial: str, seq: int) -> Sent | None:
    """The device's notification ``seq`` (None: no such notification of this device)."""
    row = await _SENT.first(conn, seq=seq, site_id=site_id, serial=serial)
    if row is None:
        return None
    update_id, kind, correlation_id, cause_id, created_at, acked_at = row
    return Sent(update_id, kind, correlation_id, cause_id, as_utc(created_at),
                acked_at is not None)


# the first acknowledgement, with its outbox rows (``UnitOfWork.change``): key_seq,
# key_site_id, key_serial, now; hits no row when it was acknowledged already
ACKNOWLEDGE = DriverChange(
    update(notifications)
    .where(notifications.c.seq == bindparam("key_seq"),
           notifications.c.site_id == bindparam("key_site_id"),
           notifications.c.serial == bindparam("key_serial"),
           notifications.c.acked_at.is_(None))
    .values(acked_at=bindparam("now")), outbox)


async def notification_exists(conn: AsyncConnection, site_id: str, serial: str, seq: int) -> bool:
    row = (await conn.execute(
        select(notifications.c.seq).where(notifications.c.seq == seq,
                                          notifications.c.site_id == site_id,
                                          notifications.c.serial == serial)
    )).first()
    return row is not None


async def claim_overdue(
    conn: AsyncConnection, cutoff: datetime, now: datetime, limit: int
) -> list[Overdue]:
    """Mark up to ``limit`` unacknowledged notifications created before ``cutoff`` as overdue,
    in one statement; each row comes back exactly once, even with several replicas."""
    candidates = (
        select(notifications.c.seq)
        .where(notifications.c.acked_at.is_(None), notifications.c.overdue_at.is_(None),
               notifications.c.created_at < cutoff)
        .order_by(notifications.c.created_at).limit(limit)
    )
    if is_postgres(conn):
        candidates = candidates.with_for_update(skip_locked=True)
    stmt = (
        update(notifications)
        .where(notifications.c.seq.in_(candidates.scalar_subquery()),
               and_(notifications.c.acked_at.is_(None), notifications.c.overdue_at.is_(None)))
        .values(overdue_at=now)
        .returning(notifications.c.site_id, notifications.c.serial, notifications.c.update_id,
                   notifications.c.kind, notifications.c.sent_at,
                   notifications.c.correlation_id, notifications.c.cause_id)
    )
    return [Overdue(*row) for row in (await conn.execute(stmt)).all()]


def _notification(seq: int, serial: str, kind: str, update_id: str, created_at: datetime,
                  sent_at: datetime | None) -> Notification:
    return Notification(seq, serial, kind, update_id, as_utc(created_at), sent_at)
