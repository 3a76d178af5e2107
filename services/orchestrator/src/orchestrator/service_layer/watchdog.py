"""The saga watchdog: no saga step waits forever on a command that was lost.

Every push (START, END, ERROR UPDATE) and the install request are remembered, in the
transaction that sends them, until they settle (``domain/watchdog.py`` says when). A loop
reviews the unsettled ones: an overdue one is sent again **unchanged** — the same request id
(a push) or update id (the install), in a new envelope — so the receiver's inbox takes it as a
new delivery while the receiver itself recognizes the command: the gateway adds no second
notification for a (request, device) it has, the agent never records a second install for an
update (and reports an install that already ended again). After ``max_reissues`` sends it is
marked stuck: the update's view lists it and ``lockstep_saga_commands_stuck`` counts it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from lockstep_shared import metrics as shared_metrics
from lockstep_shared.catalogue import (
    MESSAGE_TYPES,
    DeviceNotificationRequested,
    InstallRequested,
    Message,
)
from lockstep_shared.envelope import Envelope
from lockstep_shared.unit_of_work import Tx, UnitOfWork
from orchestrator import metrics
from orchestrator.adapters.saga_commands_repository import SagaCommandsRepository
from orchestrator.domain.watchdog import (
    CommandKind,
    SentCommand,
    StoredCommand,
    Verdict,
    WatchdogPolicy,
    describe,
    review,
)

log = logging.getLogger(__name__)


def command_of(message: Message, now: datetime) -> SentCommand | None:
    """The command a message sent by the saga is, if it is one the watchdog minds."""
    match message:
        case DeviceNotificationRequested():
            return SentCommand(message.request_id, CommandKind(message.kind), message.site_id,
                               message.update_id, now, now)
        case InstallRequested():
            return SentCommand(f"install:{message.update_id}", CommandKind.INSTALL,
                               message.site_id, message.update_id, now, now)
    return None


async def remember_commands(tx: Tx, commands: SagaCommandsRepository,
                            sent: Sequence[Envelope], now: datetime) -> None:
    """Remember the commands among the envelopes ``tx`` emits, in the same transaction."""
    for envelope in sent:
        command = command_of(envelope.data, now)
        if command is not None:
            await commands.add(tx.conn, command, envelope.data.model_dump_json())


class SagaWatchdog:
    """``round`` is the loop's (``bootstrap`` runs it every ``watchdog_interval_s``); ``start``
    and ``stop`` register its gauges with the metrics."""

    def __init__(self, uow: UnitOfWork, reads: AsyncEngine, commands: SagaCommandsRepository,
                 policy: WatchdogPolicy, *, clock: Callable[[], datetime],
                 batch: int = 500) -> None:
        self.uow = uow
        self.reads = reads
        self.commands = commands
        self.policy = policy
        self.clock = clock
        self.batch = batch

    async def round(self) -> bool:
        """Review every unsettled command once."""
        async with self.reads.connect() as conn:
            stored = await self.commands.unsettled(conn, self.batch)
        now = self.clock()
        for item in stored:
            await self._review(item, now)
        return False  # waiting commands stay unsettled: never loop at once on a full batch

    async def _review(self, item: StoredCommand, now: datetime) -> None:
        command = item.command
        message = _message(item.message)
        serials = message.serials if isinstance(message, DeviceNotificationRequested) else None
        async with self.uow.begin(correlation_id=command.update_id) as tx:
            facts = await self.commands.facts(tx.conn, command, serials)
            verdict = review(command, facts, now, self.policy)
            extra = {"site_id": command.site_id, "update_id": command.update_id}
            if verdict is Verdict.SETTLED:
                await self.commands.settle(tx.conn, command.command_id)
                if command.stuck_since is not None:
                    log.warning("%s %s is no longer stuck", command.kind.shown_as,
                                command.command_id, extra=extra)
            elif verdict is Verdict.REISSUE:
                if await self.commands.reissued(tx.conn, command, now):
                    tx.emit(message)
                    tx.after_commit(
                        metrics.SAGA_COMMANDS_REISSUED.labels(command.kind.value).inc)
                    log.warning("%s %s had no outcome %.0f s after it was sent: sent again "
                                "(%d of %d)", command.kind.shown_as, command.command_id,
                                (now - command.last_issued_at).total_seconds(),
                                command.reissues + 1, self.policy.max_reissues, extra=extra)
            elif verdict is Verdict.STUCK and command.stuck_since is None:
                reason = describe(command, facts)
                if await self.commands.mark_stuck(tx.conn, command.command_id, now, reason):
                    log.error("stuck: %s", reason, extra=extra)

    async def refresh_metrics(self) -> None:
        async with self.reads.connect() as conn:
            counts = await self.commands.counts(conn)
        for kind in CommandKind:
            awaiting, stuck = counts.get(kind.value, (0, 0))
            metrics.SAGA_COMMANDS_AWAITING.labels(kind.value).set(awaiting)
            metrics.SAGA_COMMANDS_STUCK.labels(kind.value).set(stuck)

    def start(self) -> None:
        shared_metrics.register_refresher(self.refresh_metrics)

    def stop(self) -> None:
        shared_metrics.unregister_refresher(self.refresh_metrics)


def _message(text: str) -> Message:
    model = MESSAGE_TYPES[json.loads(text)["type"]]
    return model.model_validate_json(text)  # type: ignore[return-value]
