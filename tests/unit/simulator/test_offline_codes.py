"""Manual block/unblock codes on the device (D8), without a network."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from device_gateway.domain.codes import Exchange, Outcome, judge
from lockstep_tools.simulator.device_state import DeviceState, Phase
from lockstep_tools.simulator.offline_codes import (
    CHALLENGE_TTL_S,
    Challenge,
    CodeRefused,
    code2_for,
)

SECRET = "device-secret-1"


def test_right_code2_gives_code3_once() -> None:
    challenge = Challenge.issue(12345, "block", now=100.0)
    assert challenge.code1 == "012345"
    code2 = code2_for(SECRET, challenge.code1, "block")

    code3 = challenge.answer(SECRET, code2, now=160.0)

    # the gateway accepts the device's code 3
    exchange = Exchange("block", "012345", code2, datetime(2030, 1, 1, tzinfo=UTC))
    verdict = judge(exchange, code3, SECRET, datetime(2029, 1, 1, tzinfo=UTC))
    assert verdict.outcome == Outcome.VERIFIED and len(code3) == 6
    with pytest.raises(CodeRefused, match="already used"):
        challenge.answer(SECRET, code2, now=161.0)


def test_code2_depends_on_the_action_and_the_secret() -> None:
    codes = {code2_for(SECRET, "012345", "block"), code2_for(SECRET, "012345", "unblock"),
             code2_for("other-secret", "012345", "block")}  # fmt: skip
    assert len(codes) == 3


def test_wrong_codes_are_limited() -> None:
    challenge = Challenge.issue(1, "unblock", now=0.0)
    for left in (2, 1, 0):
        with pytest.raises(CodeRefused, match=f"{left} attempt"):
            challenge.answer(SECRET, "000000", now=1.0)
    with pytest.raises(CodeRefused, match="3 wrong codes"):
        challenge.answer(SECRET, code2_for(SECRET, challenge.code1, "unblock"), now=1.0)


def test_expired_challenge_is_refused() -> None:
    challenge = Challenge.issue(1, "block", now=0.0)
    with pytest.raises(CodeRefused, match="expired"):
        challenge.answer(SECRET, code2_for(SECRET, challenge.code1, "block"),
                         now=CHALLENGE_TTL_S + 1)  # fmt: skip


def test_manual_block_then_unblock_moves_the_device() -> None:
    state = DeviceState("SIM000001", "1.0", 0)
    state.registered(None)
    state.manually_blocked()
    assert state.blocked and state.phase == Phase.BLOCKED
    state.manually_unblocked()
    assert not state.blocked and state.phase == Phase.WORKING
