"""The unit of work (X3): one transaction that owns everything a handler changes.

A handler opens ``uow.begin()``, writes its state through ``tx.conn``, and ``tx.emit``s the
messages it causes. On leaving the block the unit of work writes the outbox rows, commits, wakes
the outbox relay and runs the ``after_commit`` actions (waking long-polls, prefetching a
package): nothing is published before the commit, and nothing is forgotten after it.

``tx.gather(key, value, flush)`` defers a write shared by many messages (a site's counter, an
update's stop time): ``flush(tx, values)`` runs once per key just before the commit — once per
delivery batch when a consumer handles several messages in one transaction (``run_batch``).

A consumer passes ``consumer=`` and the message being handled as ``cause=``: the inbox row
``(consumer, message id)`` is written first in the same transaction, and ``tx.duplicate`` says
the message was handled already (then the handler must do nothing). Messages emitted while
handling a message carry its correlation id and have it as their causation id.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lockstep_shared.catalogue import Message
from lockstep_shared.db import ConcurrentUpdate, DriverChange
from lockstep_shared.envelope import Envelope
from lockstep_shared.inbox import first_deliveries, first_delivery
from lockstep_shared.message_factory import MessageFactory
from lockstep_shared.outbox import Outbox

log = logging.getLogger(__name__)

__all__ = ["ConcurrentUpdate", "DuplicateEmit", "Tx", "UnitOfWork"]

T = TypeVar("T")
AfterCommit = Callable[[], Awaitable[object] | object]
Flush = Callable[["Tx", list[Any]], Awaitable[None]]


class DuplicateEmit(RuntimeError):
    """A handler emitted while handling a message that was already handled (a bug)."""


class Tx:
    """One open transaction: its connection, what it emits, what runs after its commit."""

    __slots__ = ("_after", "_factory", "_gathered", "causation_id", "cause", "conn",
                 "correlation_id", "duplicate", "emitted")

    def __init__(self, conn: AsyncConnection, factory: MessageFactory, *,
                 cause: Envelope | None, correlation_id: str | None,
                 causation_id: str | None,
                 gathered: dict[Hashable, _Gathered] | None = None) -> None:
        self.conn = conn
        self.cause = cause
        self.correlation_id = cause.correlationid if cause is not None else correlation_id
        self.causation_id = cause.id if cause is not None else causation_id
        self.duplicate = False
        self.emitted: list[Envelope] = []
        self._factory = factory
        self._after: list[AfterCommit] = []
        self._gathered: dict[Hashable, _Gathered] = {} if gathered is None else gathered

    def gather(self, key: Hashable, value: Any, flush: Flush) -> None:
        """Add ``value`` under ``key``; just before the commit ``flush(tx, values)`` runs ONCE
        per key with every value gathered under it in this transaction, in order — in a
        consumer's batch across all its messages (``UnitOfWork.run_batch``): a counter of the
        site written once per batch, not once per message, and its row locked only from then
        to the commit. ``tx`` is the transaction of the first message that gathered the key
        (what the flush emits or audits is caused by it)."""
        if self.duplicate:
            raise DuplicateEmit("a duplicate message must have no effect")
        found = self._gathered.get(key)
        if found is None:
            self._gathered[key] = _Gathered(self, flush, [value])
        else:
            found.values.append(value)

    async def _flush(self) -> None:
        """Run the gathered flushes (a flush may gather more: those run too)."""
        while self._gathered:
            key = next(iter(self._gathered))
            gathered = self._gathered.pop(key)
            await gathered.flush(gathered.tx, gathered.values)

    def emit(self, *messages: Message, correlation_id: str | None = None,
             causation_id: str | None = None) -> list[Envelope]:
        """Send these messages if (and only if) the transaction commits.

        They carry the transaction's correlation (the cause's, or the one given to ``begin``);
        ``correlation_id`` / ``causation_id`` here override it for these messages only (an
        outcome correlated with the request that asked for it, not with this transaction)."""
        if self.duplicate:
            raise DuplicateEmit("a duplicate message must have no effect")
        envelopes = [
            self._factory.make(
                m,
                correlation_id=correlation_id or self.correlation_id,
                causation_id=causation_id if correlation_id else (
                    causation_id or self.causation_id),
            )
            for m in messages
        ]
        self.emitted.extend(envelopes)
        return envelopes

    def after_commit(self, action: AfterCommit) -> None:
        """Run ``action`` (sync or async) once the transaction committed; never if it did not.
        Its failure is logged, not raised: the state is committed by then."""
        self._after.append(action)


class _Gathered:
    __slots__ = ("flush", "tx", "values")

    def __init__(self, tx: Tx, flush: Flush, values: list[Any]) -> None:
        self.tx = tx
        self.flush = flush
        self.values = values


Work = Callable[[Tx], Awaitable[object]]
"""What a consumer does with one message, in its transaction."""


class UnitOfWork:
    """Built once per service (in ``bootstrap.build``) over its engine, outbox and inbox."""

    def __init__(self, engine: AsyncEngine, outbox: Outbox, factory: MessageFactory, *,
                 inbox: Table | None = None) -> None:
        self.engine = engine
        self.outbox = outbox
        self.factory = factory
        self.inbox = inbox
        self._observers: list[Callable[[list[Envelope]], None]] = []
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    def observe(self, observer: Callable[[list[Envelope]], None]) -> None:
        """Call ``observer(envelopes)`` after every commit that emitted messages: how tests see
        what a handler sent (``uow.observe(sent.extend)``) without reading the outbox table."""
        self._observers.append(observer)

    @asynccontextmanager
    async def begin(self, *, cause: Envelope | None = None, consumer: str | None = None,
                    correlation_id: str | None = None,
                    causation_id: str | None = None) -> AsyncIterator[Tx]:
        """Open a transaction. ``consumer`` (with ``cause``) records the inbox row first."""
        if consumer is not None and (cause is None or self.inbox is None):
            raise ValueError("a consumer's unit of work needs the message (cause=) and an inbox")
        async with self.engine.begin() as conn:
            tx = Tx(conn, self.factory, cause=cause, correlation_id=correlation_id,
                    causation_id=causation_id)
            if consumer is not None and cause is not None and self.inbox is not None:
                tx.duplicate = not await first_delivery(conn, self.inbox, consumer, cause.id)
            yield tx
            await tx._flush()
            if tx.emitted:
                await self.outbox.add(conn, tx.emitted)
        await self._committed([tx])

    async def run_batch(self, deliveries: Sequence[tuple[Envelope, Work]], *,
                        consumer: str) -> None:
        """Handle several messages of one consumer in ONE transaction: their inbox rows in
        one statement, then each message not handled before in turn, ``work(tx)`` on a ``Tx``
        of its own (its cause, its correlation, its after-commit actions) over the same
        connection, every emitted outbox row, one commit. If any of them fails nothing of the
        batch is committed and the error is raised (the caller handles them one by one)."""
        if self.inbox is None:
            raise ValueError("a consumer's unit of work needs an inbox")
        done: list[Tx] = []
        gathered: dict[Hashable, _Gathered] = {}
        async with self.engine.begin() as conn:
            fresh = await first_deliveries(conn, self.inbox, consumer,
                                           [envelope.id for envelope, _ in deliveries])
            for envelope, work in deliveries:
                if envelope.id not in fresh:  # handled before (or twice in this batch)
                    log.debug("duplicate %s for %s skipped", envelope.id, consumer)
                    continue
                fresh.discard(envelope.id)
                tx = Tx(conn, self.factory, cause=envelope, correlation_id=None,
                        causation_id=None, gathered=gathered)
                await work(tx)
                done.append(tx)
            if done:
                await done[0]._flush()  # the batch's gathered writes (one per key)
            emitted = [e for tx in done for e in tx.emitted]
            if emitted:
                await self.outbox.add(conn, emitted)
        await self._committed(done)

    async def change(self, change: DriverChange, params: dict[str, Any], *messages: Message,
                     correlation_id: str | None = None,
                     causation_id: str | None = None) -> bool:
        """A unit of work of ONE state change (hitting at most one row) and the messages it
        causes, for the hottest paths: on PostgreSQL one statement in autocommit (the change
        and its outbox rows in one implicit transaction, one round trip), on SQLite a
        transaction of the change and the outbox insert. Whether the change hit its row: if
        not, nothing was written and nothing is sent. The messages carry ``correlation_id`` /
        ``causation_id`` as ``Tx.emit`` would."""
        envelopes = [self.factory.make(m, correlation_id=correlation_id,
                                       causation_id=causation_id) for m in messages]
        if self.engine.dialect.name == "postgresql":
            async with self._autocommit.connect() as conn:
                changed = await change.run(conn, params, envelopes)
        else:
            async with self.engine.begin() as conn:
                changed = bool((await conn.execute(change.change, params)).rowcount)
                if changed and envelopes:
                    await self.outbox.add(conn, envelopes)
        if changed and envelopes:
            self.outbox.committed()
            for observer in self._observers:
                observer(envelopes)
        return changed

    async def _committed(self, txs: Sequence[Tx]) -> None:
        """After the commit: wake the relay, tell the observers, run the after-commit
        actions (their failures are logged: the state is committed)."""
        emitted = [e for tx in txs for e in tx.emitted]
        if emitted:
            self.outbox.committed()
            for observer in self._observers:
                observer(emitted)
        for tx in txs:
            for action in tx._after:
                try:
                    result = action()
                    if inspect.isawaitable(result):
                        await result
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("an after-commit action failed (the transaction is committed)")

    async def run(self, work: Callable[[Tx], Awaitable[T]], *, attempts: int = 5,
                  cause: Envelope | None = None, consumer: str | None = None,
                  correlation_id: str | None = None) -> T | None:
        """Run ``work(tx)`` in a unit of work, again from the start when it lost an optimistic
        race (``ConcurrentUpdate``, a unique-key race, a deadlock) up to ``attempts`` times.
        Returns None without calling ``work`` for a duplicate message."""
        for attempt in range(1, attempts + 1):
            try:
                async with self.begin(cause=cause, consumer=consumer,
                                      correlation_id=correlation_id) as tx:
                    if tx.duplicate:
                        log.debug("duplicate %s for %s skipped",
                                  cause.id if cause else None, consumer)
                        return None
                    return await work(tx)
            except (ConcurrentUpdate, IntegrityError) as exc:
                if attempt == attempts:
                    raise
                log.debug("retrying after %s (attempt %d)", type(exc).__name__, attempt)
            except DBAPIError as exc:
                if "deadlock" not in str(exc).lower() or attempt == attempts:
                    raise
        raise AssertionError("unreachable")
