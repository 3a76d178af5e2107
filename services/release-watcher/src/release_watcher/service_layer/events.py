"""Envelopes for the watcher's events, carrying a "check now" request's correlation forward."""

from __future__ import annotations

from dataclasses import dataclass

from lockstep_shared.catalogue import Message
from lockstep_shared.envelope import Envelope, wrap
from lockstep_shared.messages import MessageFactory

SERVICE = "release-watcher"


@dataclass(frozen=True, slots=True)
class Cause:
    """Why a check runs: a request (its correlation and id) or the schedule (None, None)."""

    correlation_id: str | None = None
    causation_id: str | None = None


def envelope(factory: MessageFactory, message: Message, cause: Cause) -> Envelope:
    if cause.correlation_id is None:
        return factory.new(message)
    return wrap(
        message,
        id=factory.ids(),
        source=factory.source,
        time=factory.clock(),
        correlation_id=cause.correlation_id,
        causation_id=cause.causation_id,
    )
