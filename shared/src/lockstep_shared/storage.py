"""A service's own database and the messaging that lives in it, set up the same way for every
service: the engine, the outbox and its relay, the inbox and its retention, the message factory
and the unit of work over them (X3). Each ``bootstrap.build`` calls ``service_storage`` once
and puts ``storage.loops`` first among its loops.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from lockstep_shared.bus.port import Bus
from lockstep_shared.db import create_engine
from lockstep_shared.inbox import InboxRetention
from lockstep_shared.message_factory import MessageFactory
from lockstep_shared.outbox import Outbox, OutboxRelay
from lockstep_shared.settings import LockstepSettings
from lockstep_shared.unit_of_work import UnitOfWork

RELAY_IN_FLIGHT = 4


@dataclass(frozen=True, slots=True)
class Storage:
    engine: AsyncEngine
    outbox: Outbox
    factory: MessageFactory
    uow: UnitOfWork
    relay: OutboxRelay
    retention: InboxRetention

    @property
    def loops(self) -> list[OutboxRelay | InboxRetention]:
        """The outbox relay, then inbox retention (the service starts them, stops them last)."""
        return [self.relay, self.retention]


def service_storage(
    common: LockstepSettings,
    bus: Bus,
    *,
    service: str,
    schema: str,
    outbox: Table,
    inbox: Table,
    clock: Callable[[], datetime],
    ids: Callable[[], str],
    database: str | None = None,
    pool_size: int = 10,
    max_overflow: int | None = None,
    relay_batch: int = 500,
    relay_poll_s: float = 0.5,
) -> Storage:
    """``service`` names the messages' source and the loops; ``database``
    (default: ``service``) names the SQLite file when no ``database_url`` is set; ``schema``
    is the PostgreSQL schema."""
    url = common.database_url_for(database or service)
    engine = create_engine(url, schema=schema, pool_size=pool_size, max_overflow=max_overflow)
    # the relay's rounds on a connection of their own, never queued behind the requests
    # (up to four at once, each on its own connection: one awaits its confirms, the next
    # commit's round starts); on SQLite one at a time over the service's engine
    postgres = engine.dialect.name == "postgresql"
    rounds = (create_engine(url, schema=schema, pool_size=RELAY_IN_FLIGHT, max_overflow=0)
              if postgres else engine)
    messages = Outbox(outbox)
    factory = MessageFactory(service, clock=clock, ids=ids)
    return Storage(
        engine=engine,
        outbox=messages,
        factory=factory,
        uow=UnitOfWork(engine, messages, factory, inbox=inbox),
        relay=OutboxRelay(engine, messages, bus, batch=relay_batch,
                          poll_interval_s=relay_poll_s, service=service,
                          rounds_engine=rounds,
                          in_flight=RELAY_IN_FLIGHT if postgres else 1),
        retention=InboxRetention(engine, inbox, horizon_s=common.inbox_retention_s,
                                 clock=clock, service=service),
    )
