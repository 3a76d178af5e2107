"""The RabbitMQ bus for distributed mode, through aio-pika.

Topology (``topology.py``): one durable topic exchange for every message, a durable quorum
queue per consuming service with a delivery limit and a dead-letter exchange, and a dead-letter
queue beside each. Publishing waits for publisher confirms, many messages in flight at once.
``connect_robust`` reconnects after a broker restart and re-declares channels, queues, bindings
and consumers.

Every message is published with ``user_id`` = this connection's login, which the broker
validates; with a ``PublisherCheck`` a consumer dead-letters, unhandled, a message whose
``user_id`` is not the user of the service allowed to publish its type (``identity.py``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from urllib.parse import unquote, urlsplit

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import QueueEmpty

from lockstep_shared import metrics
from lockstep_shared.bus.dead_letters import from_amqp
from lockstep_shared.bus.identity import PublisherCheck
from lockstep_shared.bus.port import DeadLetter, Handler, Outgoing, PermanentError
from lockstep_shared.bus.retry import DEFAULT_MAX_DELIVERIES, backoff_s
from lockstep_shared.bus.topology import Topology
from lockstep_shared.envelope import Envelope, InvalidEnvelope
from lockstep_shared.logs import envelope_context

log = logging.getLogger(__name__)


class RabbitBus:
    def __init__(
        self,
        url: str,
        namespace: str = "lockstep",
        *,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        backoff_base_s: float = 0.05,
        publishers: PublisherCheck | None = None,
    ) -> None:
        self.url = url
        self.user = unquote(urlsplit(url).username or "guest")  # aio-pika's default login
        self.publishers = publishers
        self.topology = Topology(namespace, max_deliveries=max_deliveries)
        self.backoff_base_s = backoff_base_s
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._channels: list[AbstractChannel] = []
        self._plain: AbstractConnection | None = None
        self._plain_lock = asyncio.Lock()

    async def start(self) -> None:
        if self._connection is not None:
            return
        self._connection = await aio_pika.connect_robust(
            self.url, client_properties={"connection_name": f"lockstep:{self.topology.namespace}"}
        )
        self._publish_channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await self.topology.declare_exchanges(self._publish_channel)

    async def close(self) -> None:
        if self._plain is not None:
            await self._plain.close()
            self._plain = None
        if self._connection is not None:
            await self._connection.close()
        self._connection = None
        self._publish_channel = None
        self._exchange = None
        self._channels.clear()

    @property
    def connection(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise RuntimeError("the bus is not started")
        return self._connection

    async def ready(self) -> bool:
        return (
            self._connection is not None
            and not self._connection.is_closed
            and self._publish_channel is not None
            and not self._publish_channel.is_closed
        )

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        if self._exchange is None:
            raise RuntimeError("the bus is not started")
        exchange = self._exchange
        await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(
                        m.body,
                        message_id=m.message_id,
                        content_type="application/cloudevents+json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        user_id=self.user,
                    ),
                    routing_key=m.routing_key,
                )
                for m in messages
            )
        )

    async def subscribe(
        self,
        queue: str,
        bindings: Sequence[str],
        handler: Handler,
        *,
        prefetch: int = 100,
    ) -> None:
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        self._channels.append(channel)
        declared = await self.topology.declare_queue(channel, queue, bindings)

        async def on_message(message: AbstractIncomingMessage) -> None:
            await self._handle(queue, handler, message)

        await declared.consume(on_message, no_ack=False)

    async def _handle(self, queue: str, handler: Handler, message: AbstractIncomingMessage) -> None:
        try:
            envelope = Envelope.from_json(message.body)
            if self.publishers is not None and self.publishers.refused(
                    queue, envelope, message.user_id):
                metrics.DEAD_LETTERED.labels(queue).inc()
                await message.reject(requeue=False)
                return
            with envelope_context(envelope):
                await handler(envelope)
        except (PermanentError, InvalidEnvelope) as exc:
            log.error("dead-lettering message %s on %s: %s", message.message_id, queue, exc)
            metrics.DEAD_LETTERED.labels(queue).inc()
            await message.reject(requeue=False)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            count = (message.headers or {}).get("x-delivery-count", 0)
            deliveries = (count if isinstance(count, int) else 0) + 1
            log.warning("handler on %s failed (delivery %d), retrying: %s", queue, deliveries, exc)
            if deliveries >= self.topology.max_deliveries:
                metrics.DEAD_LETTERED.labels(queue).inc()  # the queue's delivery limit
            else:
                metrics.REDELIVERIES.labels(queue).inc()
            await asyncio.sleep(backoff_s(deliveries, base=self.backoff_base_s))
            # The quorum queue's delivery limit dead-letters it after too many attempts.
            await message.nack(requeue=True)
        else:
            await message.ack()
            metrics.MESSAGES_HANDLED.labels(queue).inc()

    async def subscribe_broadcast(self, bindings: Sequence[str], handler: Handler) -> None:
        channel = await self.connection.channel()
        self._channels.append(channel)
        name = f"{self.topology.namespace}.broadcast.{uuid.uuid4().hex[:12]}"
        declared = await self.topology.declare_broadcast_queue(channel, name, bindings)

        async def on_message(message: AbstractIncomingMessage) -> None:
            try:
                envelope = Envelope.from_json(message.body)
                if self.publishers is not None and self.publishers.refused(
                        name, envelope, message.user_id):
                    return
                await handler(envelope)
            except Exception:
                log.exception("broadcast handler failed (wake-ups are best effort)")

        await declared.consume(on_message, no_ack=True)

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        """Peek at a queue's dead letters; they stay in the dead-letter queue."""
        letters: list[DeadLetter] = []
        async with self._dead_letter_queue(queue) as (_, dead):
            while dead is not None:
                try:
                    message = await dead.get(no_ack=False, timeout=5)
                except QueueEmpty:
                    break
                letters.append(self._dead_letter(queue, message))
        return letters  # closing the channel returned the unacknowledged gets to the queue

    async def replay_dead_letter(self, queue: str, message_id: str) -> bool:
        async with self._dead_letter_queue(queue, confirms=True) as (channel, dead):
            while dead is not None:
                try:
                    message = await dead.get(no_ack=False, timeout=5)
                except QueueEmpty:
                    return False
                if self._dead_letter(queue, message).message_id != message_id:
                    continue
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        message.body,
                        message_id=message.message_id,
                        content_type=message.content_type,
                        headers=dict(message.headers or {}),
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=self.topology.queue_name(queue),
                )  # confirmed by the broker before the dead letter is removed
                await message.ack()
                log.warning("dead letter %s replayed to %s", message_id, queue)
                return True
        return False

    def _dead_letter(self, queue: str, message: AbstractIncomingMessage) -> DeadLetter:
        return from_amqp(queue, self.topology.queue_name(queue), message.body,
                         message.message_id, message.headers)

    async def _plain_connection(self) -> AbstractConnection:
        """A connection of its own for the operator's dead-letter work, opened when first
        needed: not a robust one, whose channels reopen themselves after the broker closes
        one (as it does when a dead-letter queue does not exist)."""
        async with self._plain_lock:
            if self._plain is None or self._plain.is_closed:
                self._plain = await aio_pika.connect(self.url, client_properties={
                    "connection_name": f"lockstep:{self.topology.namespace}:dead-letters"})
            return self._plain

    @asynccontextmanager
    async def _dead_letter_queue(self, queue: str, *, confirms: bool = False
                                 ) -> AsyncIterator[tuple[AbstractChannel, AbstractQueue | None]]:
        """The queue's dead-letter queue on a channel of its own (None if it was never
        declared: the queue never had a consumer); the channel closes on leaving, which
        returns every message got but not acknowledged."""
        channel = await (await self._plain_connection()).channel(publisher_confirms=confirms)
        try:
            try:
                dead = await channel.declare_queue(self.topology.dead_queue_name(queue),
                                                   passive=True)
            except aio_pika.exceptions.ChannelNotFoundEntity:
                yield channel, None
                return
            yield channel, dead
        finally:
            if not channel.is_closed:
                await channel.close()
