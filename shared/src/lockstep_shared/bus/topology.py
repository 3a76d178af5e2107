"""RabbitMQ topology, declared in one place (X3).

For namespace ``ns``:

- ``ns.events`` — durable topic exchange; every message, routing key ``<type>.<site_id>``.
- ``ns.dead-letter`` — durable direct exchange for messages that cannot be handled.
- ``ns.<queue>`` — durable quorum queue per consuming service (shared by its replicas), with
  ``x-delivery-limit`` and dead-lettering to ``ns.dead-letter`` under its own name.
- ``ns.<queue>.dead`` — durable quorum queue holding that queue's dead letters.
- ``ns.broadcast.<id>`` — exclusive auto-delete queue per process for wake-ups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from lockstep_shared.bus.retry import DEFAULT_MAX_DELIVERIES


@dataclass(frozen=True)
class Topology:
    namespace: str
    max_deliveries: int = DEFAULT_MAX_DELIVERIES

    @property
    def exchange_name(self) -> str:
        return f"{self.namespace}.events"

    @property
    def dead_letter_exchange_name(self) -> str:
        return f"{self.namespace}.dead-letter"

    def queue_name(self, queue: str) -> str:
        return f"{self.namespace}.{queue}"

    def dead_queue_name(self, queue: str) -> str:
        return f"{self.namespace}.{queue}.dead"

    async def declare_exchanges(self, channel: AbstractChannel) -> AbstractExchange:
        await channel.declare_exchange(
            self.dead_letter_exchange_name, aio_pika.ExchangeType.DIRECT, durable=True
        )
        return await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )

    async def declare_queue(
        self, channel: AbstractChannel, queue: str, bindings: Sequence[str]
    ) -> AbstractQueue:
        exchange = await self.declare_exchanges(channel)
        dead_exchange = await channel.get_exchange(self.dead_letter_exchange_name, ensure=False)
        name = self.queue_name(queue)
        dead = await channel.declare_queue(
            self.dead_queue_name(queue), durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead.bind(dead_exchange, routing_key=name)
        declared = await channel.declare_queue(
            name,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": self.max_deliveries,
                "x-dead-letter-exchange": self.dead_letter_exchange_name,
                "x-dead-letter-routing-key": name,
            },
        )
        for pattern in bindings:
            await declared.bind(exchange, routing_key=pattern)
        return declared

    async def declare_broadcast_queue(
        self, channel: AbstractChannel, name: str, bindings: Sequence[str]
    ) -> AbstractQueue:
        exchange = await self.declare_exchanges(channel)
        declared = await channel.declare_queue(name, exclusive=True, auto_delete=True)
        for pattern in bindings:
            await declared.bind(exchange, routing_key=pattern)
        return declared
