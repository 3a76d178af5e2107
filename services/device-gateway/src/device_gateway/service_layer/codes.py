"""The gateway's side of the three-code exchange (D8, U5): issue code 2, verify code 3, record
the device's new state and tell the orchestrator (``DeviceBlocked``/``DeviceUnblocked`` with
``by_code=True``). Each request is one transaction; the rules are in ``domain.codes``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from device_gateway.adapters import repository
from device_gateway.domain import codes
from device_gateway.service_layer.errors import DeviceRefused, disabled
from lockstep_shared.catalogue import DeviceBlocked, DeviceUnblocked
from lockstep_shared.messages import MessageFactory, new_id
from lockstep_shared.outbox import Outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Issued:
    exchange_id: str
    code2: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Confirmed:
    blocked: bool


REFUSAL_CODES = {
    codes.Outcome.WRONG: "wrong_code",
    codes.Outcome.GONE: "exchange_gone",
    codes.Outcome.TOO_MANY: "too_many_attempts",
}


class CodeExchanges:
    def __init__(self, engine: AsyncEngine, outbox: Outbox, messages: MessageFactory,
                 clock: Callable[[], datetime], ids: Callable[[], str] = new_id) -> None:
        self.engine = engine
        self.outbox = outbox
        self.messages = messages
        self.clock = clock
        self.ids = ids

    async def issue(self, site_id: str, serial: str, action: codes.Action, code1: str) -> Issued:
        problem = codes.code_problem(code1, "code1")
        if problem is not None:
            raise DeviceRefused("invalid_code", problem)
        code1 = codes.normalize(code1)
        now = self.clock()
        async with self.engine.begin() as conn:
            device = await self._device(conn, site_id, serial)
            if action == "block" and not device.update_active:
                raise DeviceRefused("no_active_update", f"site {site_id} has no update in "
                                    "progress: there is nothing to block this device for")
            refusal = codes.issue_refusal(await repository.recent_exchanges(
                conn, site_id, serial, now - codes.EXCHANGE_TTL))
            if refusal is not None:
                raise DeviceRefused("too_many_exchanges", refusal, retry_after=600)
            issued = Issued(self.ids(), codes.code2(device.secret, action, code1),
                            codes.expiry(now))
            await repository.save_exchange(conn, {
                "exchange_id": issued.exchange_id, "site_id": site_id, "serial": serial,
                "action": action, "code1": code1, "code2": issued.code2, "created_at": now,
                "expires_at": issued.expires_at, "attempts": 0})
        log.info("code exchange %s issued to %s device %s", issued.exchange_id, action, serial,
                 extra={"site_id": site_id, "serial": serial, "update_id": device.update_id})
        return issued

    async def confirm(self, site_id: str, serial: str, exchange_id: str,
                      code3: str) -> Confirmed:
        now = self.clock()
        async with self.engine.begin() as conn:
            device = await self._device(conn, site_id, serial)
            exchange = await repository.load_exchange_for_update(
                conn, site_id, serial, exchange_id)
            if exchange is None:
                raise DeviceRefused("unknown_exchange", f"no code exchange {exchange_id!r} for "
                                    f"device {serial} of site {site_id}")
            verdict = codes.judge(exchange, code3, device.secret, now)
            if verdict.counts_attempt:
                await repository.record_attempt(
                    conn, exchange_id, now if verdict.outcome is codes.Outcome.VERIFIED else None)
            if verdict.outcome is codes.Outcome.VERIFIED:
                blocked = exchange.action == "block"
                await self._record(conn, site_id, serial, device, blocked, now)
        # outside the transaction: a wrong attempt must stay counted although it is refused
        context = {"site_id": site_id, "serial": serial, "update_id": device.update_id}
        if verdict.outcome is not codes.Outcome.VERIFIED:
            log.info("code 3 for exchange %s refused: %s", exchange_id, verdict.outcome.value,
                     extra=context)
            raise _refusal(verdict)
        self.outbox.committed()
        log.info("device %s %s by codes", serial, "blocked" if blocked else "unblocked",
                 extra=context)
        return Confirmed(blocked=blocked)

    async def _device(self, conn: Any, site_id: str, serial: str) -> codes.ExchangeDevice:
        device = await repository.exchange_device(conn, site_id, serial)
        if device is None:
            raise DeviceRefused("unknown_device",
                                f"no device {serial} registered at site {site_id}")
        if not device.enabled:
            raise disabled()
        return device

    async def _record(self, conn: Any, site_id: str, serial: str, device: codes.ExchangeDevice,
                      blocked: bool, now: datetime) -> None:
        if blocked:
            # the update it was issued for, even if it ended meanwhile (the device blocked)
            update_id = device.update_id
            await repository.mark_blocked(conn, site_id, serial, update_id)
            message: Any = DeviceBlocked(site_id=site_id, update_id=update_id, serial=serial,
                                         blocked_at=now, by_code=True)
        else:
            await repository.mark_unblocked(conn, site_id, serial)
            message = DeviceUnblocked(site_id=site_id, serial=serial, update_id=device.update_id,
                                      unblocked_at=now, by_code=True)
        await self.outbox.add(conn, [self.messages.new(message)])


def _refusal(verdict: codes.Verdict) -> DeviceRefused:
    return DeviceRefused(REFUSAL_CODES[verdict.outcome], verdict.detail,
                         extra={"attempts_left": verdict.attempts_left})
