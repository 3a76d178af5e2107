"""One registry of what a service consumes (X3): handlers by message type, bindings derived.

    subs = Subscriptions("orchestrator", uow)

    @subs.on(DeviceBlocked)
    async def on_blocked(tx: Tx, event: DeviceBlocked) -> None: ...

    await subs.attach(bus, prefetch=100)

Each handler runs in a consumer's unit of work (inbox row, effects and emitted messages in one
transaction; a duplicate is skipped; a lost optimistic race runs it again). The queue is bound to
exactly the registered types (for one site when ``site_id`` is given: S3), so a handled type is
always bound and a bound type always handled; a message of any other type is dead-lettered.

While the database cannot be reached (``db.is_unavailable``), a delivery is held, not failed:
its handler is tried again with backoff for as long as the outage lasts, so an outage never
spends a message's delivery budget and never dead-letters it; the held deliveries fill the
prefetch window, so the consumer takes no new messages meanwhile, and ``problem`` says why for
``/readyz``. The delivery limit is for messages that fail on their own.

``on_broadcast`` handlers get every process's own copy of a message, outside any transaction:
for wake-ups only (port.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from lockstep_shared import metrics
from lockstep_shared.bus.port import Bus, PermanentError
from lockstep_shared.db import is_unavailable
from lockstep_shared.envelope import Envelope
from lockstep_shared.unit_of_work import Tx, UnitOfWork

log = logging.getLogger(__name__)

M = TypeVar("M")
MessageHandler = Callable[[Tx, Any], Awaitable[None]]
BroadcastHandler = Callable[[Envelope], Awaitable[None]]


class Subscriptions:
    def __init__(self, queue: str, uow: UnitOfWork, *, site_id: str | None = None) -> None:
        self.queue = queue
        self.uow = uow
        self.site_id = site_id
        self._handlers: dict[str, MessageHandler] = {}
        self._broadcast: dict[str, BroadcastHandler] = {}
        self.unavailable_since: float | None = None
        self.problem: str | None = None
        self.retry_base_s = 0.5
        self.retry_cap_s = 5.0

    def on(self, *types: type[Any]) -> Callable[[MessageHandler], MessageHandler]:
        """Register ``handler(tx, message)`` for these message types (one handler a type)."""

        def register(handler: MessageHandler) -> MessageHandler:
            for message_type in types:
                self.add(message_type, handler)
            return handler

        return register

    def add(self, message_type: type[Any], handler: MessageHandler) -> None:
        name = _type_name(message_type)
        if name in self._handlers:
            raise ValueError(f"{self.queue}: {name} already has a handler")
        self._handlers[name] = handler

    def on_broadcast(self, *types: type[Any]) -> Callable[[BroadcastHandler], BroadcastHandler]:
        def register(handler: BroadcastHandler) -> BroadcastHandler:
            for message_type in types:
                self._broadcast[_type_name(message_type)] = handler
            return handler

        return register

    @property
    def types(self) -> list[str]:
        return list(self._handlers)

    def bindings(self) -> list[str]:
        return [f"{name}.{self.site_id or '*'}" for name in self._handlers]

    async def handle(self, envelope: Envelope) -> None:
        """Handle one delivery: the bus acks when this returns, retries when it raises."""
        handler = self._handlers.get(envelope.type)
        if handler is None:
            raise PermanentError(f"{self.queue} does not consume {envelope.type}")
        data = envelope.data

        async def work(tx: Tx) -> None:
            await handler(tx, data)

        waits = 0
        while True:
            try:
                await self.uow.run(work, cause=envelope, consumer=self.queue)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                waits += 1
                self._unavailable(exc)
                await asyncio.sleep(min(self.retry_cap_s, self.retry_base_s * 2 ** (waits - 1)))
                continue
            self._available()
            return

    def _unavailable(self, exc: BaseException) -> None:
        if self.unavailable_since is None:
            self.unavailable_since = time.monotonic()
            log.warning("%s: the database is unavailable (%s: %s); holding deliveries until it "
                        "is back", self.queue, type(exc).__name__, exc)
            metrics.CONSUMER_HELD.labels(self.queue).set(1)
        self.problem = f"database unavailable: {type(exc).__name__}: {exc}"[:300]

    def _available(self) -> None:
        if self.unavailable_since is not None:
            log.warning("%s: the database is back after %.1f s; deliveries resume", self.queue,
                        time.monotonic() - self.unavailable_since)
            metrics.CONSUMER_HELD.labels(self.queue).set(0)
        self.unavailable_since = None
        self.problem = None

    async def ready(self) -> bool:
        """False while deliveries are held for a database outage (``problem`` says why)."""
        return self.problem is None

    async def _handle_broadcast(self, envelope: Envelope) -> None:
        handler = self._broadcast.get(envelope.type)
        if handler is not None:
            await handler(envelope)

    async def attach(self, bus: Bus, *, prefetch: int = 100) -> None:
        if self._handlers:
            await bus.subscribe(self.queue, self.bindings(), self.handle, prefetch=prefetch)
        if self._broadcast:
            await bus.subscribe_broadcast(
                [f"{name}.{self.site_id or '*'}" for name in self._broadcast],
                self._handle_broadcast)


def _type_name(message_type: type[Any]) -> str:
    return str(message_type.model_fields["type"].default)


def handled_types(subscriptions: Sequence[Subscriptions]) -> set[str]:
    return {name for s in subscriptions for name in s.types}
