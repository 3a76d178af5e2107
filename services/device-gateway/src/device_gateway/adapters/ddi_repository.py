"""The gateway's SQL for DDI devices (D14): their actions, the waiting rule of their model, the
site's gateway token. Core statements returning typed frozen rows."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from device_gateway.adapters.repository import as_utc
from device_gateway.adapters.tables import (
    ddi_actions,
    ddi_gateway_tokens,
    ddi_join_requests,
    ddi_models,
    devices,
    notifications,
)
from device_gateway.domain.ddi import (
    MAX_JOIN_REQUESTS,
    Action,
    DdiDevice,
    Deployment,
    Handling,
    JoinRequest,
    ModelRule,
    Outcome,
    Purpose,
    StoredAction,
    Waiting,
)
from device_gateway.domain.updates import Package
from lockstep_shared.db import is_postgres, upsert

DEFAULT_SUFFIX = ".swu"  # SWUpdate installs only artifacts named so; rauc-hawkbit reads any name


async def ddi_device(conn: AsyncConnection, site_id: str, serial: str) -> DdiDevice | None:
    row = (await conn.execute(
        select(devices.c.agent, devices.c.model, devices.c.ddi_attributes_at,
               ddi_models.c.waiting, ddi_models.c.artifact_suffix)
        .select_from(devices.outerjoin(ddi_models, (ddi_models.c.site_id == devices.c.site_id)
                                       & (ddi_models.c.model == devices.c.model)))
        .where(devices.c.site_id == site_id, devices.c.serial == serial))).first()
    if row is None:
        return None
    last_end = (await conn.execute(
        select(func.max(notifications.c.created_at))
        .where(notifications.c.site_id == site_id, notifications.c.serial == serial,
               notifications.c.kind == "end"))).scalar()
    return DdiDevice(row.agent, row.model, Waiting(row.waiting or Waiting.ADMIN),
                     row.artifact_suffix if row.artifact_suffix is not None else DEFAULT_SUFFIX,
                     None if row.ddi_attributes_at is None else as_utc(row.ddi_attributes_at),
                     None if last_end is None else as_utc(last_end))


_ACTION_COLUMNS = (ddi_actions.c.action_id, ddi_actions.c.purpose, ddi_actions.c.update_id,
                   ddi_actions.c.product, ddi_actions.c.version, ddi_actions.c.sha256,
                   ddi_actions.c.size, ddi_actions.c.url, ddi_actions.c.served_update,
                   ddi_actions.c.staged, ddi_actions.c.cancel_requested, ddi_actions.c.outcome,
                   ddi_actions.c.closed_at, ddi_actions.c.details)


def _stored(row: Row[*tuple[Any, ...]]) -> StoredAction:
    action = Action(int(row.action_id), Purpose(row.purpose), row.update_id, row.sha256,
                    closed=None if row.outcome is None else Outcome(row.outcome),
                    staged=bool(row.staged), cancel_requested=bool(row.cancel_requested))
    package = Package(row.product, row.version, row.sha256, int(row.size), row.url)
    return StoredAction(action, package,
                        None if row.served_update is None else Handling(row.served_update),
                        None if row.closed_at is None else as_utc(row.closed_at),
                        row.details)


async def actions_of(conn: AsyncConnection, site_id: str, serial: str) -> list[StoredAction]:
    rows = await conn.execute(select(*_ACTION_COLUMNS)
                              .where(ddi_actions.c.site_id == site_id,
                                     ddi_actions.c.serial == serial)
                              .order_by(ddi_actions.c.action_id))
    return [_stored(r) for r in rows]


async def action(conn: AsyncConnection, site_id: str, serial: str, action_id: int, *,
                 lock: bool = False) -> StoredAction | None:
    """The device's action (another device's is as unknown as a missing one)."""
    query = select(*_ACTION_COLUMNS).where(ddi_actions.c.action_id == action_id,
                                           ddi_actions.c.site_id == site_id,
                                           ddi_actions.c.serial == serial)
    if lock and is_postgres(conn):
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return None if row is None else _stored(row)


async def create_action(conn: AsyncConnection, site_id: str, serial: str,
                        deployment: Deployment, now: datetime) -> int:
    package = deployment.package
    done = await conn.execute(ddi_actions.insert().values(
        site_id=site_id, serial=serial, purpose=deployment.purpose.value,
        update_id=deployment.update_id, product=package.product, version=package.version,
        sha256=package.sha256, size=package.size, url=package.url, created_at=now,
    ).returning(ddi_actions.c.action_id))
    return int(done.scalar_one())


async def set_action(conn: AsyncConnection, action_id: int, **values: Any) -> None:
    await conn.execute(update(ddi_actions).where(ddi_actions.c.action_id == action_id)
                       .values(**values))


async def close_action(conn: AsyncConnection, action_id: int, outcome: Outcome,
                       details: str | None, now: datetime) -> None:
    await set_action(conn, action_id, outcome=outcome.value, details=details, closed_at=now)


async def save_attributes(conn: AsyncConnection, site_id: str, serial: str,
                          attributes: dict[str, str] | None, now: datetime | None) -> None:
    """The agent's configData (None, None: link configData again, after an install)."""
    values: dict[str, Any] = {"ddi_attributes_at": now}
    if attributes is not None:
        values["ddi_attributes"] = json.dumps(attributes, sort_keys=True)
    await conn.execute(update(devices).where(devices.c.site_id == site_id,
                                             devices.c.serial == serial).values(**values))


async def attributes_of(conn: AsyncConnection, site_id: str, serial: str) -> dict[str, str]:
    text = (await conn.execute(select(devices.c.ddi_attributes).where(
        devices.c.site_id == site_id, devices.c.serial == serial))).scalar()
    return dict(json.loads(text)) if text else {}


async def save_model_rule(conn: AsyncConnection, site_id: str, model: str, waiting: Waiting,
                          artifact_suffix: str, now: datetime) -> None:
    await conn.execute(upsert(conn, ddi_models, ["site_id", "model"], {
        "site_id": site_id, "model": model, "waiting": waiting.value,
        "artifact_suffix": artifact_suffix, "updated_at": now}))


async def model_rules(conn: AsyncConnection, site_id: str) -> list[ModelRule]:
    """Every model that has a rule or a DDI device at the site, by name."""
    counts = {str(r.model): int(r.n) for r in await conn.execute(
        select(devices.c.model, func.count().label("n"))
        .where(devices.c.site_id == site_id, devices.c.agent == "ddi")
        .group_by(devices.c.model))}
    chosen = {str(r.model): r for r in await conn.execute(
        select(ddi_models.c.model, ddi_models.c.waiting, ddi_models.c.artifact_suffix)
        .where(ddi_models.c.site_id == site_id))}
    rules = []
    for model in sorted(counts.keys() | chosen.keys()):
        row = chosen.get(model)
        rules.append(ModelRule(
            model, Waiting(row.waiting) if row is not None else Waiting.ADMIN,
            row.artifact_suffix if row is not None else DEFAULT_SUFFIX,
            counts.get(model, 0), row is not None))
    return rules


async def save_gateway_token(conn: AsyncConnection, site_id: str, token_sha256: str,
                             now: datetime) -> None:
    await conn.execute(upsert(conn, ddi_gateway_tokens, ["site_id"], {
        "site_id": site_id, "token_sha256": token_sha256, "issued_at": now}))


async def site_of_gateway_token(conn: AsyncConnection, token_sha256: str) -> str | None:
    return (await conn.execute(select(ddi_gateway_tokens.c.site_id).where(
        ddi_gateway_tokens.c.token_sha256 == token_sha256))).scalar()


async def device_enabled(conn: AsyncConnection, site_id: str, serial: str) -> bool | None:
    """Whether the device may act; None = no such device."""
    found = (await conn.execute(select(devices.c.enabled).where(
        devices.c.site_id == site_id, devices.c.serial == serial))).first()
    return None if found is None else bool(found[0])


async def record_join_request(conn: AsyncConnection, site_id: str, serial: str,
                              now: datetime) -> bool:
    """The serial asked (again) to join; False when the site already holds the most
    requests it keeps (``MAX_JOIN_REQUESTS``) and this one is new."""
    key = (ddi_join_requests.c.site_id == site_id) & (ddi_join_requests.c.serial == serial)
    seen = await conn.execute(update(ddi_join_requests).where(key).values(last_seen_at=now))
    if seen.rowcount:
        return True
    held = (await conn.execute(select(func.count()).select_from(ddi_join_requests)
                               .where(ddi_join_requests.c.site_id == site_id))).scalar_one()
    if held >= MAX_JOIN_REQUESTS:
        return False
    await conn.execute(upsert(conn, ddi_join_requests, ["site_id", "serial"], {
        "site_id": site_id, "serial": serial, "first_seen_at": now, "last_seen_at": now}))
    return True


async def join_requests(conn: AsyncConnection, site_id: str) -> list[JoinRequest]:
    rows = await conn.execute(
        select(ddi_join_requests.c.serial, ddi_join_requests.c.first_seen_at,
               ddi_join_requests.c.last_seen_at)
        .where(ddi_join_requests.c.site_id == site_id,
               ~select(devices.c.serial).where(
                   devices.c.site_id == site_id,
                   devices.c.serial == ddi_join_requests.c.serial).exists())
        .order_by(ddi_join_requests.c.first_seen_at, ddi_join_requests.c.serial))
    return [JoinRequest(r.serial, as_utc(r.first_seen_at), as_utc(r.last_seen_at))
            for r in rows]


async def remove_join_request(conn: AsyncConnection, site_id: str, serial: str) -> bool:
    done = await conn.execute(ddi_join_requests.delete().where(
        ddi_join_requests.c.site_id == site_id, ddi_join_requests.c.serial == serial))
    return bool(done.rowcount)
