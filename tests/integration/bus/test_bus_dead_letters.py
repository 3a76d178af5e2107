"""Dead letters on both adapters: what each says about a message (id, routing key, why, how
often, since when), and replaying one to its queue once the cause is fixed (issue 9 §2)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from lockstep_shared.bus import Bus, PermanentError
from lockstep_shared.catalogue import ReleaseCheckRequested, binding
from lockstep_shared.envelope import Envelope

from . import test_bus_contract as contract
from .test_bus_contract import check_request, wait_for_dead_letters

make_bus = contract.make_bus  # the same two adapters as the contract (fixtures)
bus = contract.bus

pytestmark = pytest.mark.integration


async def test_a_dead_letter_says_which_message_it_is_and_why(bus: Bus) -> None:
    async def refuse(envelope: Envelope) -> None:
        raise PermanentError("no such site")

    async def broken(envelope: Envelope) -> None:
        raise RuntimeError("a bug")

    await bus.subscribe("dl-refusing", [binding(ReleaseCheckRequested, "site-a")], refuse)
    await bus.subscribe("dl-broken", [binding(ReleaseCheckRequested, "site-b")], broken)
    before = datetime.now(UTC) - timedelta(seconds=5)
    refused, failing = check_request("site-a"), check_request("site-b")
    await bus.publish([refused, failing])
    [letter] = await wait_for_dead_letters(bus, "dl-refusing", 1)
    assert letter.message_id == refused.message_id
    assert letter.routing_key == "lockstep.release.check-requested.site-a"
    assert letter.reason.startswith("rejected")
    assert letter.count == 1
    assert letter.first_death_at is not None and letter.first_death_at > before
    [limit] = await wait_for_dead_letters(bus, "dl-broken", 1)
    assert limit.message_id == failing.message_id
    assert limit.reason.startswith("delivery_limit")
    # peeking leaves them where they are
    assert [d.message_id for d in await bus.dead_letters("dl-refusing")] == [letter.message_id]


async def test_a_replayed_dead_letter_is_handled_once_and_leaves_the_dead_letters(
        bus: Bus) -> None:
    fixed = False
    handled: list[str] = []

    async def handler(envelope: Envelope) -> None:
        if not fixed:
            raise PermanentError("the site is not known yet")
        handled.append(envelope.id)

    await bus.subscribe("dl-replay", [binding(ReleaseCheckRequested)], handler)
    poison, other = check_request(), check_request()
    await bus.publish([poison, other])
    await wait_for_dead_letters(bus, "dl-replay", 2)
    fixed = True
    assert await bus.replay_dead_letter("dl-replay", poison.message_id) is True
    for _ in range(200):
        if handled:
            break
        await asyncio.sleep(0.05)
    assert handled == [poison.message_id]
    assert [d.message_id for d in await bus.dead_letters("dl-replay")] == [other.message_id]
    # a second replay finds nothing to do; nothing is handled twice
    assert await bus.replay_dead_letter("dl-replay", poison.message_id) is False
    await asyncio.sleep(0.3)
    assert handled == [poison.message_id]


async def test_a_queue_never_declared_has_no_dead_letters(bus: Bus) -> None:
    assert await bus.dead_letters("never-declared") == []
    assert await bus.replay_dead_letter("never-declared", "x") is False
    assert await bus.dead_letters("never-declared") == []  # and the bus still works
