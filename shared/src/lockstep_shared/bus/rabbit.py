"""The RabbitMQ bus for distributed mode, through aio-pika.

Topology (``topology.py``): one durable topic exchange for every message, a durable quorum
queue per consuming service with a delivery limit and a dead-letter exchange, and a dead-letter
queue beside each. Publishing waits for publisher confirms, many messages in flight at once.
``connect_robust`` reconnects after a broker restart and re-declares channels, queues, bindings
and consumers.

Every message is published with ``user_id`` = this connection's login, which the broker
validates; with a ``PublisherCheck`` a consumer dead-letters, unhandled, a message whose
``user_id`` is not the user of the service allowed to publish its type (``identity.py``).

A delivery is acknowledged once its handler returned (for a consumer's batch: once the batch
committed), never before; the acknowledgements of one moment go together (``_Acks``): every
finished delivery from the oldest unsettled one on in ONE ``basic.ack(multiple=True)``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
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
        self._acks: weakref.WeakKeyDictionary[object, _Acks] = weakref.WeakKeyDictionary()

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

    def _acks_of(self, message: AbstractIncomingMessage) -> _Acks:
        """The acknowledgements of the message's channel (delivery tags are a channel's: a
        reopened channel starts again at 1 and gets a tracker of its own)."""
        acks = self._acks.get(message.channel)
        if acks is None:
            acks = self._acks[message.channel] = _Acks()
        return acks

    async def _handle(self, queue: str, handler: Handler, message: AbstractIncomingMessage) -> None:
        acks = self._acks_of(message)
        acks.received(message)
        try:
            await self._settle(queue, handler, message, acks)
        finally:
            acks.forget(message)

    async def _settle(self, queue: str, handler: Handler, message: AbstractIncomingMessage,
                      acks: _Acks) -> None:
        try:
            envelope = Envelope.from_json(message.body)
            if self.publishers is not None and self.publishers.refused(
                    queue, envelope, message.user_id):
                metrics.DEAD_LETTERED.labels(queue).inc()
                await message.reject(requeue=False)
                acks.settled(message)
                return
            with envelope_context(envelope):
                await handler(envelope)
        except (PermanentError, InvalidEnvelope) as exc:
            log.error("dead-lettering message %s on %s: %s", message.message_id, queue, exc)
            metrics.DEAD_LETTERED.labels(queue).inc()
            await message.reject(requeue=False)
            acks.settled(message)
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
            acks.settled(message)
        else:
            acks.done(message)
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


class _Acks:
    """The acknowledgements of one channel's deliveries, sent together.

    A finished delivery is marked done; at the end of the loop's current step every done
    delivery from the oldest unsettled tag on is acknowledged by ONE ``basic.ack`` with
    ``multiple=True`` of the newest of them — never a tag still being handled (the run must be
    contiguous: every tag in it received here and done, or settled alone by a nack/reject).
    A done delivery behind one still being handled waits ``behind_s`` (50 ms) for it, then is
    acknowledged alone: a slow or held delivery never keeps the others unacknowledged (they
    fill the prefetch window). A lost channel loses its acknowledgements: the broker hands
    those messages out again and the inbox drops the copies."""

    def __init__(self, behind_s: float = 0.05) -> None:
        self.behind_s = behind_s
        self._floor = 0  # every tag up to here is settled
        self._received: dict[int, AbstractIncomingMessage | None] = {}  # tag → None: handling
        self._done: dict[int, AbstractIncomingMessage] = {}
        self._alone: set[int] = set()  # settled alone, above the floor
        self._flush: asyncio.Handle | None = None
        self._late: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()

    def received(self, message: AbstractIncomingMessage) -> None:
        tag = message.delivery_tag
        if tag is not None:
            self._received[tag] = None

    def settled(self, message: AbstractIncomingMessage) -> None:
        """Settled alone (rejected, nacked — called once that was sent, so a multiple ack can
        never reach the broker before it): the run of acknowledgements may pass it."""
        tag = message.delivery_tag
        if tag is not None and self._received.pop(tag, 0) is None:
            self._alone.add(tag)

    def forget(self, message: AbstractIncomingMessage) -> None:
        """The handling ended without an outcome (cancelled): the message is not settled."""
        tag = message.delivery_tag
        if tag is not None and tag in self._received and tag not in self._done:
            del self._received[tag]

    def done(self, message: AbstractIncomingMessage) -> None:
        tag = message.delivery_tag
        if tag is None:
            return
        self._done[tag] = message
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_soon(self._send)

    def _send(self, *, late: bool = False) -> None:
        self._flush = None
        newest: AbstractIncomingMessage | None = None
        tag = self._floor + 1
        while True:
            if tag in self._done:
                newest = self._done.pop(tag)
                del self._received[tag]
            elif tag in self._alone:
                self._alone.discard(tag)
            else:
                break
            self._floor = tag
            tag += 1
        if newest is not None:
            self._ack(newest, multiple=True)
        if not self._done:
            return
        if late:  # still behind a delivery being handled: acknowledged alone
            for behind, message in list(self._done.items()):
                del self._done[behind], self._received[behind]
                self._alone.add(behind)
                self._ack(message, multiple=False)
        elif self._late is None:
            self._late = asyncio.get_running_loop().call_later(self.behind_s, self._late_send)

    def _late_send(self) -> None:
        self._late = None
        self._send(late=True)

    def _ack(self, message: AbstractIncomingMessage, *, multiple: bool) -> None:
        task = asyncio.create_task(self._send_ack(message, multiple))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    @staticmethod
    async def _send_ack(message: AbstractIncomingMessage, multiple: bool) -> None:
        try:
            await message.ack(multiple=multiple)
        except Exception as exc:  # the channel is gone: the broker hands them out again
            log.warning("acknowledging up to delivery %s failed (%s: %s); the broker will "
                        "deliver again what was not acknowledged (the inbox drops copies)",
                        message.delivery_tag, type(exc).__name__, exc)
