"""The RabbitMQ consumer's acknowledgements (``rabbit._Acks``): the deliveries finished in one
moment go in ONE ``basic.ack(multiple=True)``, never over a delivery still being handled or
before a reject was sent; a finished delivery behind a slow one is acknowledged alone soon."""

from __future__ import annotations

import asyncio
from typing import Any

from lockstep_shared.bus.rabbit import _Acks


class Delivery:
    """What ``_Acks`` uses of an aio-pika incoming message: its tag and ``ack``."""

    def __init__(self, tag: int, sent: list[tuple[int, bool]]) -> None:
        self.delivery_tag = tag
        self.sent = sent

    async def ack(self, multiple: bool = False) -> None:
        self.sent.append((self.delivery_tag, multiple))


def deliveries(count: int) -> tuple[_Acks, list[Any], list[tuple[int, bool]]]:
    sent: list[tuple[int, bool]] = []
    acks = _Acks(behind_s=0.05)
    messages: list[Any] = [Delivery(tag, sent) for tag in range(1, count + 1)]
    for message in messages:
        acks.received(message)
    return acks, messages, sent


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_the_deliveries_done_together_are_acknowledged_by_one_multiple_ack() -> None:
    acks, m, sent = deliveries(5)
    for message in (m[2], m[0], m[1], m[3], m[4]):
        acks.done(message)
    await settle()
    assert sent == [(5, True)]


async def test_a_multiple_ack_never_covers_a_delivery_still_being_handled() -> None:
    acks, m, sent = deliveries(4)
    acks.done(m[0])
    acks.done(m[2])
    await settle()
    assert sent == [(1, True)], "3 waits: 2 is still being handled"
    await asyncio.sleep(0.1)
    assert sent == [(1, True), (3, False)], "behind a slow one: acknowledged alone"
    acks.done(m[1])
    await settle()
    assert sent[-1] == (2, True)
    acks.done(m[3])
    await settle()
    assert sent[-1] == (4, True), "the run passes 3, acknowledged alone already"


async def test_rejected_and_cancelled_deliveries_in_the_run() -> None:
    acks, m, sent = deliveries(5)
    acks.done(m[0])
    acks.settled(m[1])  # its reject was sent
    acks.done(m[2])
    acks.forget(m[3])  # handling cancelled: not settled, the broker delivers it again
    acks.done(m[4])
    await settle()
    assert sent == [(3, True)]
    await asyncio.sleep(0.1)
    assert sent == [(3, True), (5, False)], "4 is never covered by a multiple ack"


async def test_a_done_delivery_is_not_acknowledged_before_done() -> None:
    acks, m, sent = deliveries(2)
    await asyncio.sleep(0.1)
    assert sent == []
    acks.done(m[1])
    await asyncio.sleep(0.1)
    assert sent == [(2, False)]
