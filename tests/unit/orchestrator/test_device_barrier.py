"""U6 in the grid: waiting for update = blocked for the update, then handed in after blocking,
whatever order the gateway's events about one device arrive in (issue 9 §1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import permutations

from orchestrator.domain.barrier import DeviceBarrier, on_blocked, on_handed_in, on_unblocked

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
FRESH = DeviceBarrier("u1")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def replay(events: tuple[tuple[str, datetime], ...]) -> DeviceBarrier:
    barrier = FRESH
    for kind, when in events:
        match kind:
            case "blocked":
                new = on_blocked(barrier, "u1", when)
            case "handed_in":
                new = on_handed_in(barrier, "u1", when, in_phase_1=True)
            case _:
                new = on_unblocked(barrier, when)
        barrier = new or barrier
    return barrier


def test_a_hand_in_that_the_gateway_did_not_count_as_waiting_changes_no_flag() -> None:
    assert on_handed_in(FRESH, None, None, in_phase_1=True) is None  # normal work
    assert on_handed_in(FRESH, "u1", None, in_phase_1=True) is None  # no block behind it
    assert on_handed_in(FRESH, "u1", at(0), in_phase_1=False) is None  # after phase 1
    assert on_handed_in(FRESH, "u0", at(0), in_phase_1=True) is None  # another update


def test_blocked_then_handed_in_is_waiting_and_the_hand_in_proves_the_block() -> None:
    blocked = on_blocked(FRESH, "u1", at(0))
    assert blocked == DeviceBarrier("u1", blocked=True, changed_at=at(0))
    assert not blocked.ready
    waiting = on_handed_in(blocked, "u1", at(0), in_phase_1=True)
    assert waiting is not None and waiting.ready
    # the hand-in overtook its DeviceBlocked: the late block changes nothing
    early = on_handed_in(FRESH, "u1", at(0), in_phase_1=True)
    assert early is not None and early.ready and on_blocked(early, "u1", at(0)) is None


def test_an_unblock_ends_waiting_and_a_new_block_needs_a_new_hand_in() -> None:
    waiting = DeviceBarrier("u1", blocked=True, waiting=True, changed_at=at(0))
    unblocked = on_unblocked(waiting, at(5))
    assert unblocked == DeviceBarrier("u1", changed_at=at(5))
    again = on_blocked(unblocked, "u1", at(9))
    assert again is not None and again.blocked and not again.waiting
    assert on_handed_in(again, "u1", at(0), in_phase_1=True) is None  # a hand-in of the old block


def test_events_of_block_hand_in_unblock_block_end_the_same_in_any_order() -> None:
    """Blocked at 0, handed in, unblocked at 5, blocked again at 9 without a hand-in: however
    the four events arrive, the device ends blocked and not waiting."""
    events = [("blocked", at(0)), ("handed_in", at(0)), ("unblocked", at(5)),
              ("blocked", at(9))]
    for order in permutations(events):
        barrier = replay(order)
        assert barrier.blocked and not barrier.waiting, order


def test_an_unblock_at_the_same_instant_as_the_block_wins_in_any_order() -> None:
    events = [("blocked", at(0)), ("handed_in", at(0)), ("unblocked", at(0))]
    for order in permutations(events):
        barrier = replay(order)
        assert not barrier.blocked and not barrier.waiting, order
