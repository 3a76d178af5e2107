"""A service as ``bootstrap.build`` assembles it: what it holds, and the order it runs them in.

Every service's ``bootstrap.build(common, settings, bus, *, clock, ids)`` constructs all of its
adapters, its unit of work, its subscriptions, its loops and its routers, and returns one of
these. ``start`` starts the loops, attaches the subscriptions, then runs the ``on_start``
actions; ``stop`` runs the ``on_stop`` actions in reverse, stops the loops in reverse, then
runs the ``on_close`` actions in order (closing what ``build`` opened: HTTP clients, a held
lock; nothing uses them once the loops stopped) and closes the engine. Nothing is built here.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from lockstep_shared.bus.port import Bus
from lockstep_shared.bus.subscriptions import Subscriptions
from lockstep_shared.http_limits import BodyLimit
from lockstep_shared.migrations import migrate
from lockstep_shared.unit_of_work import UnitOfWork


class Runnable(Protocol):
    """A background loop (``Loop``) or something that runs one (``OutboxRelay``)."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


Action = Callable[[], Awaitable[object] | object]
Check = Callable[[], Awaitable[bool]]


@dataclass
class Service:
    name: str
    engine: AsyncEngine
    bus: Bus
    schema: str
    migrations: Path
    routers: Sequence[APIRouter] = ()
    body_limits: Sequence[BodyLimit] = ()  # first match wins; else http_limits.DEFAULT_BODY_BYTES
    subscriptions: Sequence[Subscriptions] = ()
    prefetch: int = 100
    loops: Sequence[Runnable] = ()
    on_start: Sequence[Action] = ()
    on_stop: Sequence[Action] = ()
    on_close: Sequence[Action] = ()  # after the loops stopped, in order
    checks: Sequence[Check] = ()
    problem_reports: Sequence[Callable[[], list[str]]] = ()
    uow: UnitOfWork | None = None
    started: bool = field(default=False, init=False)

    async def migrate(self) -> None:
        await migrate(self.engine, self.migrations, self.schema)

    async def start(self) -> None:
        if self.started:
            return
        for loop in self.loops:
            loop.start()
        for subscriptions in self.subscriptions:
            await subscriptions.attach(self.bus, prefetch=self.prefetch)
        for action in self.on_start:
            await _call(action)
        self.started = True

    async def stop(self) -> None:
        self.started = False
        for action in reversed(self.on_stop):
            await _call(action)
        for loop in reversed(self.loops):
            await loop.stop()
        for action in self.on_close:
            await _call(action)
        await self.engine.dispose()

    async def ready(self) -> bool:
        if not self.started or self.problems():
            return False
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        for check in self.checks:
            if not await check():
                return False
        return True

    def problems(self) -> list[str]:
        """Why the service is not taking work now, in words (``/readyz`` shows them)."""
        found = [] if self.started else ["not started"]
        found += [f"{s.queue}: {s.problem}" for s in self.subscriptions if s.problem]
        for report in self.problem_reports:
            found += report()
        return found


async def _call(action: Action) -> None:
    result = action()
    if inspect.isawaitable(result):
        await result
