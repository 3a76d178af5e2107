"""The saga watchdog's rule: which command the saga sent is overdue, and what to do about it.

The saga sends two kinds of command whose loss would stall it for good: a push (START, END or
ERROR UPDATE, asked of the gateway) and the install request (to the site's installer agent).
Each is remembered when it is sent. A command is *settled* once it has an outcome — for a push,
none of its target devices is still "pending" (each was delivered or reported not delivered);
for the install, the agent reported ``install.started`` (or an outcome moved the update on) —
or once the update left the state the command belongs to (a START after the server update
started is moot). A command still unsettled ``deadline`` after it was last sent is sent again,
unchanged (same request id, same update id: the receiver recognizes it), up to
``max_reissues`` times; after that it is *stuck*, shown to the admin and in the metrics, until
it settles. Pure: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from orchestrator.domain.model import UpdateState


class CommandKind(StrEnum):
    """Persisted as these exact strings."""

    START = "start"
    END = "end"
    ERROR = "error"
    INSTALL = "install"

    @property
    def is_push(self) -> bool:
        return self is not CommandKind.INSTALL

    @property
    def shown_as(self) -> str:
        """How the admin reads it."""
        return _SHOWN[self]


_SHOWN = {
    CommandKind.START: "START UPDATE push",
    CommandKind.END: "END UPDATE push",
    CommandKind.ERROR: "ERROR UPDATE push",
    CommandKind.INSTALL: "install request to the installer agent",
}

# The update state each command belongs to: in any other state it is moot.
_BELONGS_TO: dict[CommandKind, frozenset[UpdateState]] = {
    CommandKind.START: frozenset({UpdateState.OPEN, UpdateState.NOTIFYING}),
    CommandKind.END: frozenset({UpdateState.SERVER_UPDATED}),
    CommandKind.ERROR: frozenset({UpdateState.FAILED}),
    CommandKind.INSTALL: frozenset({UpdateState.SERVER_UPDATING}),
}


@dataclass(frozen=True, slots=True)
class WatchdogPolicy:
    push_deadline_s: float  # longer than the gateway's delivery deadline
    install_start_deadline_s: float  # the agent's window to report install.started
    max_reissues: int

    def deadline(self, kind: CommandKind) -> timedelta:
        seconds = self.push_deadline_s if kind.is_push else self.install_start_deadline_s
        return timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class SentCommand:
    """A command the saga sent, as remembered."""

    command_id: str
    kind: CommandKind
    site_id: str
    update_id: str
    issued_at: datetime
    last_issued_at: datetime
    reissues: int = 0
    stuck_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class CommandFacts:
    """What the orchestrator knows now about the command's outcome."""

    update_state: UpdateState | None  # None: the update is gone
    install_started: bool = False
    devices_without_outcome: int = 0  # a push's targets still "pending"


class Verdict(StrEnum):
    SETTLED = "settled"  # it has its outcome, or is moot: forget it
    WAIT = "wait"  # not overdue yet
    REISSUE = "reissue"  # overdue: send it again
    STUCK = "stuck"  # overdue and re-sent as often as allowed: a person must look


def review(command: SentCommand, facts: CommandFacts, now: datetime,
           policy: WatchdogPolicy) -> Verdict:
    if facts.update_state not in _BELONGS_TO[command.kind]:
        return Verdict.SETTLED
    if command.kind.is_push and facts.devices_without_outcome == 0:
        return Verdict.SETTLED
    if command.kind is CommandKind.INSTALL and facts.install_started:
        return Verdict.SETTLED
    if now - command.last_issued_at < policy.deadline(command.kind):
        return Verdict.WAIT
    if command.reissues < policy.max_reissues:
        return Verdict.REISSUE
    return Verdict.STUCK


def describe(command: SentCommand, facts: CommandFacts) -> str:
    """What the admin is told about a stuck command."""
    sent = f"sent {command.reissues + 1} times"
    if command.kind.is_push:
        return (f"{command.kind.shown_as}: {facts.devices_without_outcome} devices have no "
                f"outcome ({sent}); check that the device gateway is running and its queue is "
                "consumed, then send the push again")
    return (f"{command.kind.shown_as}: the agent has not reported the install as started "
            f"({sent}); check that the site's installer agent is running and connected")


@dataclass(frozen=True, slots=True)
class StoredCommand:
    command: SentCommand
    message: str  # the catalogue message as sent (JSON)
