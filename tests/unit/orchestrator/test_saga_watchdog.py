"""The saga watchdog's rule (domain/watchdog.py): which sent command is overdue, re-sent,
stuck, or settled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.domain.model import UpdateState
from orchestrator.domain.watchdog import (
    CommandFacts,
    CommandKind,
    SentCommand,
    Verdict,
    WatchdogPolicy,
    describe,
    review,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
POLICY = WatchdogPolicy(push_deadline_s=120, install_start_deadline_s=60, max_reissues=3)


def sent(kind: CommandKind, *, reissues: int = 0, last: datetime = T0) -> SentCommand:
    return SentCommand("cmd-1", kind, "shop-1", "u-1", T0, last, reissues)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


PUSH_STATES = {
    CommandKind.START: UpdateState.NOTIFYING,
    CommandKind.END: UpdateState.SERVER_UPDATED,
    CommandKind.ERROR: UpdateState.FAILED,
}


@pytest.mark.parametrize("kind", list(PUSH_STATES))
def test_a_push_without_any_outcome_waits_until_its_deadline_then_is_sent_again(
        kind: CommandKind) -> None:
    facts = CommandFacts(PUSH_STATES[kind], devices_without_outcome=5)
    assert review(sent(kind), facts, at(119), POLICY) is Verdict.WAIT
    assert review(sent(kind), facts, at(120), POLICY) is Verdict.REISSUE


@pytest.mark.parametrize("kind", list(PUSH_STATES))
def test_a_push_whose_devices_all_have_an_outcome_is_settled(kind: CommandKind) -> None:
    facts = CommandFacts(PUSH_STATES[kind], devices_without_outcome=0)
    assert review(sent(kind), facts, at(1), POLICY) is Verdict.SETTLED
    assert review(sent(kind, reissues=3), facts, at(999), POLICY) is Verdict.SETTLED


def test_the_deadline_counts_from_the_last_send() -> None:
    facts = CommandFacts(UpdateState.NOTIFYING, devices_without_outcome=1)
    command = sent(CommandKind.START, reissues=1, last=at(200))
    assert review(command, facts, at(300), POLICY) is Verdict.WAIT
    assert review(command, facts, at(320), POLICY) is Verdict.REISSUE


def test_after_the_last_allowed_resend_an_overdue_command_is_stuck() -> None:
    facts = CommandFacts(UpdateState.NOTIFYING, devices_without_outcome=2)
    assert review(sent(CommandKind.START, reissues=2), facts, at(500), POLICY) is Verdict.REISSUE
    assert review(sent(CommandKind.START, reissues=3), facts, at(500), POLICY) is Verdict.STUCK
    # stuck only once overdue again after the last send
    assert review(sent(CommandKind.START, reissues=3, last=at(450)), facts, at(500),
                  POLICY) is Verdict.WAIT


def test_no_resend_at_all_when_max_reissues_is_zero() -> None:
    policy = WatchdogPolicy(push_deadline_s=10, install_start_deadline_s=10, max_reissues=0)
    facts = CommandFacts(UpdateState.NOTIFYING, devices_without_outcome=2)
    assert review(sent(CommandKind.START), facts, at(11), policy) is Verdict.STUCK


@pytest.mark.parametrize(("kind", "state"), [
    (CommandKind.START, UpdateState.SERVER_UPDATING),  # the server update started anyway
    (CommandKind.START, UpdateState.CANCELLED),
    (CommandKind.END, UpdateState.CONCLUDED),
    (CommandKind.ERROR, UpdateState.RESOLVED),
    (CommandKind.INSTALL, UpdateState.SERVER_UPDATED),
    (CommandKind.INSTALL, UpdateState.FAILED),
    (CommandKind.START, None),  # the update is gone
])
def test_a_command_is_moot_once_the_update_left_its_state(kind: CommandKind,
                                                          state: UpdateState | None) -> None:
    facts = CommandFacts(state, devices_without_outcome=3)
    assert review(sent(kind, reissues=3), facts, at(10_000), POLICY) is Verdict.SETTLED


def test_the_install_request_is_sent_again_when_the_agent_did_not_start_in_its_window() -> None:
    waiting = CommandFacts(UpdateState.SERVER_UPDATING, install_started=False)
    assert review(sent(CommandKind.INSTALL), waiting, at(59), POLICY) is Verdict.WAIT
    assert review(sent(CommandKind.INSTALL), waiting, at(60), POLICY) is Verdict.REISSUE
    started = CommandFacts(UpdateState.SERVER_UPDATING, install_started=True)
    assert review(sent(CommandKind.INSTALL), started, at(60), POLICY) is Verdict.SETTLED


def test_the_install_deadline_is_not_the_push_deadline() -> None:
    """A push 60 s old is not overdue (its deadline is 120 s); an install request is."""
    push = CommandFacts(UpdateState.NOTIFYING, devices_without_outcome=1)
    assert review(sent(CommandKind.START), push, at(60), POLICY) is Verdict.WAIT


def test_the_admin_is_told_what_is_stuck_and_what_to_check() -> None:
    push = describe(sent(CommandKind.START, reissues=3),
                    CommandFacts(UpdateState.NOTIFYING, devices_without_outcome=7))
    assert "START UPDATE" in push and "7 devices" in push and "4 times" in push
    install = describe(sent(CommandKind.INSTALL, reissues=3),
                       CommandFacts(UpdateState.SERVER_UPDATING))
    assert "installer agent" in install
