"""D8: the three-code formulas (the simulator's device side uses the same functions) and the
exchange's rules: single use, expiry, attempts, exchanges per device."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from device_gateway.domain import codes
from device_gateway.domain.codes import Exchange, Outcome, judge

SECRET = "9f" * 32
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def contract_digits(secret: str, message: str) -> str:
    """The contract's formula written out independently of the module under test."""
    mac = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(mac[:8], 'big') % 10**6:06d}"


@pytest.mark.parametrize("action", ["block", "unblock"])
def test_code2_and_code3_follow_the_contract(action: codes.Action) -> None:
    code1 = "004217"
    code2 = codes.code2(SECRET, action, code1)
    code3 = codes.code3(SECRET, action, code1, code2)

    assert code2 == contract_digits(SECRET, f"{action}|{code1}|2")
    assert code3 == contract_digits(SECRET, f"{action}|{code1}|{code2}|3")
    assert len(code2) == len(code3) == 6 and code2.isdigit() and code3.isdigit()


def test_codes_depend_on_secret_action_and_code1() -> None:
    base = codes.code2(SECRET, "block", "123456")
    assert codes.code2(SECRET, "unblock", "123456") != base
    assert codes.code2(SECRET, "block", "123457") != base
    assert codes.code2("other-secret", "block", "123456") != base


def test_code1_is_six_digits_from_the_nonce_and_typed_codes_are_normalized() -> None:
    assert codes.code1_from_nonce(42) == "000042"
    assert codes.code1_from_nonce(123_456_789) == "456789"
    assert codes.normalize(" 123-456 ") == "123456"
    assert codes.code_problem("123 456", "code1") is None
    problem = codes.code_problem("12345", "code1")
    assert problem is not None and "code1 must be 6 digits" in problem
    assert codes.code_problem("abcdef", "code1") is not None


def exchange(**changes: object) -> Exchange:
    code2 = codes.code2(SECRET, "block", "111111")
    values: dict[str, object] = {"action": "block", "code1": "111111", "code2": code2,
                                 "expires_at": codes.expiry(NOW)}
    values.update(changes)
    return Exchange(**values)  # type: ignore[arg-type]


def right_code3(ex: Exchange) -> str:
    return codes.code3(SECRET, ex.action, ex.code1, ex.code2)


def test_the_right_code3_verifies_and_spends_the_exchange() -> None:
    ex = exchange()
    verdict = judge(ex, right_code3(ex)[:3] + " " + right_code3(ex)[3:], SECRET, NOW)
    assert verdict.outcome is Outcome.VERIFIED and verdict.counts_attempt


def test_wrong_code3_counts_down_then_too_many_even_for_the_right_one() -> None:
    ex = exchange()
    wrong = "000000" if right_code3(ex) != "000000" else "000001"
    lefts = []
    for attempts in range(codes.MAX_ATTEMPTS):
        verdict = judge(exchange(attempts=attempts), wrong, SECRET, NOW)
        assert verdict.outcome is Outcome.WRONG and verdict.counts_attempt
        lefts.append(verdict.attempts_left)
    assert lefts == [4, 3, 2, 1, 0]
    exhausted = exchange(attempts=codes.MAX_ATTEMPTS)
    verdict = judge(exhausted, right_code3(exhausted), SECRET, NOW)
    assert verdict.outcome is Outcome.TOO_MANY and not verdict.counts_attempt


def test_expired_or_used_exchange_is_gone() -> None:
    ex = exchange()
    expired = judge(ex, right_code3(ex), SECRET, NOW + timedelta(minutes=10))
    just_in_time = judge(ex, right_code3(ex), SECRET, NOW + timedelta(minutes=9, seconds=59))
    used = judge(exchange(used_at=NOW), right_code3(ex), SECRET, NOW)

    assert expired.outcome is Outcome.GONE and "expired" in expired.detail
    assert just_in_time.outcome is Outcome.VERIFIED
    assert used.outcome is Outcome.GONE and "already used" in used.detail
    assert not expired.counts_attempt and not used.counts_attempt


def test_a_device_gets_a_limited_number_of_exchanges_per_window() -> None:
    assert codes.issue_refusal(codes.MAX_EXCHANGES_PER_TTL - 1) is None
    refusal = codes.issue_refusal(codes.MAX_EXCHANGES_PER_TTL)
    assert refusal is not None and "wait" in refusal
