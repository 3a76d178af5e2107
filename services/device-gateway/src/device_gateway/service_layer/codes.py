"""The gateway's side of the three-code exchange (D8, U5): issue code 2, verify code 3, record
the device's new state and tell the orchestrator (``DeviceBlocked``/``DeviceUnblocked`` with
``by_code=True``). Each request is one unit of work; the rules are in ``domain.codes``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from device_gateway.adapters import repository
from device_gateway.domain import codes, updates
from device_gateway.service_layer.errors import DeviceRefused, disabled
from lockstep_shared.catalogue import DeviceBlocked, DeviceUnblocked
from lockstep_shared.message_factory import new_id
from lockstep_shared.unit_of_work import Tx, UnitOfWork

log = logging.getLogger(__name__)

REFUSAL_CODES = {
    codes.Outcome.WRONG: "wrong_code",
    codes.Outcome.GONE: "exchange_gone",
    codes.Outcome.TOO_MANY: "too_many_attempts",
}


@dataclass(frozen=True, slots=True)
class Issued:
    exchange_id: str
    code2: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Confirmed:
    blocked: bool


class CodeHandlers:
    def __init__(self, uow: UnitOfWork, clock: Callable[[], datetime],
                 ids: Callable[[], str] = new_id) -> None:
        self.uow = uow
        self.clock = clock
        self.ids = ids

    async def issue(self, site_id: str, serial: str, action: codes.Action, code1: str) -> Issued:
        problem = codes.code_problem(code1, "code1")
        if problem is not None:
            raise DeviceRefused("invalid_code", problem)
        code1 = codes.normalize(code1)
        now = self.clock()
        async with self.uow.begin() as tx:
            # the device row is locked: two issues at once count and check code 1 in turn
            device = await _device(tx.conn, site_id, serial, lock=True)
            if action == "block" and not device.update_active:
                raise DeviceRefused("no_active_update", f"site {site_id} has no update in "
                                    "progress: there is nothing to block this device for")
            refusal = codes.issue_refusal(await repository.recent_exchanges(
                tx.conn, site_id, serial, now - codes.EXCHANGE_TTL))
            if refusal is not None:
                raise DeviceRefused("too_many_exchanges", refusal, retry_after=600)
            refusal = codes.reuse_refusal(await repository.code1_used(
                tx.conn, site_id, serial, code1))
            if refusal is not None:
                raise DeviceRefused("code1_reused", refusal)
            issued = Issued(self.ids(), codes.code2(device.secret, action, code1),
                            codes.expiry(now))
            await repository.save_exchange(tx.conn, {
                "exchange_id": issued.exchange_id, "site_id": site_id, "serial": serial,
                "action": action, "code1": code1, "code2": issued.code2, "created_at": now,
                "expires_at": issued.expires_at, "attempts": 0})
        log.info("code exchange %s issued to %s device %s", issued.exchange_id, action, serial,
                 extra={"site_id": site_id, "serial": serial, "update_id": device.update_id})
        return issued

    async def confirm(self, site_id: str, serial: str, exchange_id: str,
                      code3: str) -> Confirmed:
        now = self.clock()
        async with self.uow.begin() as tx:
            device = await _device(tx.conn, site_id, serial)
            exchange = await repository.load_exchange_for_update(
                tx.conn, site_id, serial, exchange_id)
            if exchange is None:
                raise DeviceRefused("unknown_exchange", f"no code exchange {exchange_id!r} for "
                                    f"device {serial} of site {site_id}")
            verdict = codes.judge(exchange, code3, device.secret, now)
            if verdict.counts_attempt:
                await repository.record_attempt(
                    tx.conn, exchange_id,
                    now if verdict.outcome is codes.Outcome.VERIFIED else None)
            blocked = exchange.action == "block"
            if verdict.outcome is codes.Outcome.VERIFIED:
                await _record(tx, site_id, serial, device, blocked, now)
        # refused after the commit: a wrong attempt must stay counted
        context = {"site_id": site_id, "serial": serial, "update_id": device.update_id}
        if verdict.outcome is not codes.Outcome.VERIFIED:
            log.info("code 3 for exchange %s refused: %s", exchange_id, verdict.outcome.value,
                     extra=context)
            raise DeviceRefused(REFUSAL_CODES[verdict.outcome], verdict.detail,
                                extra={"attempts_left": verdict.attempts_left})
        log.info("device %s %s by codes", serial, "blocked" if blocked else "unblocked",
                 extra=context)
        return Confirmed(blocked=blocked)


async def _device(conn: AsyncConnection, site_id: str, serial: str, *, lock: bool = False
                  ) -> codes.ExchangeDevice:
    device = await repository.exchange_device(conn, site_id, serial, lock=lock)
    if device is None:
        raise DeviceRefused("unknown_device", f"no device {serial} registered at site {site_id}")
    if not device.enabled:
        raise disabled()
    return device


async def _record(tx: Tx, site_id: str, serial: str, device: codes.ExchangeDevice,
                  blocked: bool, now: datetime) -> None:
    if blocked:
        # the update it was issued for, even if it ended meanwhile (the device blocked); a
        # block is only issued while the site has an update, and that row is never deleted
        update_id = device.update_id
        assert update_id is not None, "a block by codes without the site's update"
        block = updates.block(device.block, update_id, now, by_code=True)
        await repository.mark_blocked(tx.conn, site_id, serial, block)
        tx.emit(DeviceBlocked(site_id=site_id, update_id=update_id, serial=serial,
                              blocked_at=block.since, by_code=True))
    else:
        await repository.mark_unblocked(tx.conn, site_id, serial)
        tx.emit(DeviceUnblocked(site_id=site_id, serial=serial, update_id=device.update_id,
                                unblocked_at=now, by_code=True))
