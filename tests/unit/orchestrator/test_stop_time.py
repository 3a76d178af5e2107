"""The stop time of an update (issue 14 §2): first device blocked → last device back at work
on the new version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.domain.stop_time import StopTime, device_back, device_blocked

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_stop_begins_at_the_earliest_block_whatever_the_order() -> None:
    stop = device_blocked(StopTime(), s(5))
    assert stop is not None
    earlier = device_blocked(stop, s(2))
    assert earlier is not None and earlier.first_blocked_at == s(2)
    assert device_blocked(earlier, s(9)) is None  # a later block changes nothing


def test_it_lasts_until_the_last_device_is_back_and_is_complete_then() -> None:
    stop = StopTime(first_blocked_at=s(0))
    one = device_back(stop, s(40), everyone_back=False)
    assert one is not None and one.seconds == 40 and not one.complete
    late_event_of_earlier_device = device_back(one, s(30), everyone_back=False)
    assert late_event_of_earlier_device is None  # nothing changes: the last is still 40
    done = device_back(one, s(55.5), everyone_back=True)
    assert done is not None and done.complete and done.seconds == 55.5


def test_a_complete_stop_is_never_reopened() -> None:
    done = StopTime(s(0), s(50), complete=True)
    assert device_back(done, s(90), everyone_back=True) is None
    assert device_blocked(done, s(-10)) is None


def test_nothing_to_measure_when_no_device_was_blocked() -> None:
    assert device_back(StopTime(), s(10), everyone_back=True) is None
    assert StopTime().seconds is None
