"""The one background-loop helper: rounds at start, on wake, on its period; full batches run
again at once; a failing round backs off and the loop lives on."""

from __future__ import annotations

import asyncio

from lockstep_shared.loops import Loop


async def wait_for(predicate: object, timeout: float = 2.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_a_loop_runs_at_start_and_when_woken() -> None:
    calls: list[int] = []

    async def round() -> bool:
        calls.append(1)
        return False

    loop = Loop("t", round, every_s=60)
    loop.start()
    loop.start()  # a second start starts nothing more
    await wait_for(lambda: len(calls) == 1)
    loop.wake()
    await wait_for(lambda: len(calls) == 2)
    await asyncio.sleep(0.05)
    assert len(calls) == 2
    await loop.stop()
    assert not loop.running


async def test_a_full_batch_runs_again_without_waiting() -> None:
    batches = [True, True, False]
    calls: list[int] = []

    async def round() -> bool:
        calls.append(1)
        return batches.pop(0) if batches else False

    loop = Loop("t", round, every_s=60)
    loop.start()
    await wait_for(lambda: len(calls) == 3)
    await loop.stop()


async def test_a_failing_round_backs_off_and_the_loop_survives() -> None:
    outcomes: list[object] = [RuntimeError("database down"), False]
    calls: list[int] = []

    async def round() -> bool:
        calls.append(1)
        outcome = outcomes.pop(0) if outcomes else False
        if isinstance(outcome, Exception):
            raise outcome
        return bool(outcome)

    loop = Loop("t", round, every_s=60, failure_backoff_s=0.05)
    loop.start()
    await wait_for(lambda: len(calls) == 2)
    assert loop.failures == 1 and loop.running
    await loop.stop()


async def test_the_period_may_depend_on_state() -> None:
    busy = {"now": True}
    calls: list[int] = []

    async def round() -> bool:
        calls.append(1)
        return False

    loop = Loop("t", round, every_s=lambda: 0.02 if busy["now"] else 60)
    loop.start()
    await wait_for(lambda: len(calls) >= 3)
    busy["now"] = False
    await asyncio.sleep(0.05)
    settled = len(calls)
    await asyncio.sleep(0.1)
    assert len(calls) <= settled + 1
    await loop.stop()


async def test_stop_ends_a_loop_woken_at_the_same_moment() -> None:
    """A wake-up during a round (a commit waking the outbox relay) right before ``stop`` must
    not swallow the cancellation: on Python 3.11 ``wait_for`` then returns the finished wait
    instead of raising, and the stopped loop ran on forever (``stop`` never returned)."""
    in_round = asyncio.Event()

    async def round() -> None:
        loop.wake()  # the event is set when the loop starts waiting
        in_round.set()

    loop = Loop("woken-while-stopped", round, every_s=3600)
    loop.start()
    await in_round.wait()
    stopping = asyncio.ensure_future(loop.stop())
    done, _ = await asyncio.wait({stopping}, timeout=2)
    assert stopping in done, "stop() did not return: the loop swallowed its cancellation"
