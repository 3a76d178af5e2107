"""One contract, two adapters: the in-process bus and RabbitMQ must behave the same (X4)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from lockstep_shared.bus import Bus, Outgoing, PermanentError
from lockstep_shared.bus.memory import InProcessBus
from lockstep_shared.bus.rabbit import RabbitBus
from lockstep_shared.catalogue import AgentHeartbeat, ReleaseCheckRequested, binding
from lockstep_shared.envelope import Envelope
from lockstep_shared.message_factory import MessageFactory

pytestmark = pytest.mark.integration

factory = MessageFactory("contract-test")
BusMaker = Callable[[], Bus]


@pytest.fixture(params=["in-process", "rabbitmq"])
def make_bus(
    request: pytest.FixtureRequest, tmp_path: Path, amqp_url: str, bus_namespace: str
) -> BusMaker:
    """A factory of bus instances on the same durable store: another process, or a restart."""

    def make() -> Bus:
        if request.param == "in-process":
            return InProcessBus(tmp_path / "bus.db", bus_namespace, max_deliveries=3,
                                backoff_base_s=0.01)
        return RabbitBus(amqp_url, bus_namespace, max_deliveries=3, backoff_base_s=0.01)

    return make


@pytest.fixture
async def bus(make_bus: BusMaker) -> AsyncIterator[Bus]:
    instance = make_bus()
    await instance.start()
    yield instance
    await instance.close()


def check_request(site: str = "site-a") -> Outgoing:
    return Outgoing.of(factory.new(ReleaseCheckRequested(site_id=site, requested_by="test")))


class Inbox:
    """Collects what a handler received."""

    def __init__(self) -> None:
        self.received: list[Envelope] = []
        self.changed = asyncio.Event()

    async def __call__(self, envelope: Envelope) -> None:
        self.received.append(envelope)
        self.changed.set()

    async def wait_for(self, count: int, timeout: float = 10) -> list[Envelope]:
        async def enough() -> None:
            while len(self.received) < count:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(enough(), timeout)
        return self.received


async def settle(seconds: float = 0.3) -> None:
    await asyncio.sleep(seconds)


async def test_a_published_message_arrives_in_its_envelope(bus: Bus) -> None:
    inbox = Inbox()
    await bus.subscribe("watcher", [binding(ReleaseCheckRequested)], inbox)
    sent = check_request()
    await bus.publish([sent])
    [received] = await inbox.wait_for(1)
    assert received.id == sent.message_id
    assert received.data == ReleaseCheckRequested(site_id="site-a", requested_by="test")
    assert received.routing_key == "lockstep.release.check-requested.site-a"


async def test_bindings_select_types_and_sites(bus: Bus) -> None:
    one_site, heartbeats = Inbox(), Inbox()
    await bus.subscribe("agent-b", [binding(ReleaseCheckRequested, "site-b")], one_site)
    await bus.subscribe("heartbeats", [binding(AgentHeartbeat)], heartbeats)
    await bus.publish([check_request("site-a"), check_request("site-b")])
    [received] = await one_site.wait_for(1)
    assert received.siteid == "site-b"
    await settle()
    assert len(one_site.received) == 1
    assert heartbeats.received == []


async def test_messages_wait_in_a_durable_queue_for_their_consumer(make_bus: BusMaker) -> None:
    first = make_bus()
    await first.start()
    await first.subscribe("durable", [binding(ReleaseCheckRequested)], Inbox())
    await first.close()  # the consumer goes away; its queue stays

    publisher = make_bus()
    await publisher.start()
    sent = [check_request() for _ in range(5)]
    await publisher.publish(sent)
    await publisher.close()

    restarted = make_bus()
    await restarted.start()
    inbox = Inbox()
    await restarted.subscribe("durable", [binding(ReleaseCheckRequested)], inbox)
    received = await inbox.wait_for(5)
    assert sorted(e.id for e in received) == sorted(m.message_id for m in sent)
    await restarted.close()


async def test_messages_handled_together_are_acknowledged_and_never_come_back(
        make_bus: BusMaker) -> None:
    """Acknowledgements go together (RabbitMQ: one multiple ack for the deliveries finished in
    one moment), a slow delivery among them included: after the consumer went away nothing
    handled is delivered again, and a delivery it never finished is."""
    consumer = make_bus()
    await consumer.start()
    sent = [check_request(f"site-{i}") for i in range(30)]
    unfinished = sent[7].message_id
    handled: list[str] = []
    release = asyncio.Event()

    async def handle(envelope: Envelope) -> None:
        if envelope.id == unfinished:
            await release.wait()  # still being handled when the consumer goes away
        if envelope.id == sent[3].message_id:
            await asyncio.sleep(0.2)  # slow: those finished behind it wait, then go alone
        handled.append(envelope.id)

    await consumer.subscribe("acked", [binding(ReleaseCheckRequested)], handle, prefetch=100)
    await consumer.publish(sent)
    for _ in range(200):
        if len(handled) == 29:
            break
        await asyncio.sleep(0.05)
    await settle()
    await consumer.close()
    assert unfinished not in handled and len(handled) == 29

    restarted = make_bus()
    await restarted.start()
    inbox = Inbox()
    await restarted.subscribe("acked", [binding(ReleaseCheckRequested)], inbox)
    again = await inbox.wait_for(1)
    await settle(1.0)
    assert [e.id for e in again] == [unfinished]
    await restarted.close()


def sample(name: str, queue: str) -> float:
    return REGISTRY.get_sample_value(name, {"queue": queue}) or 0.0


async def test_a_failing_handler_is_retried_until_it_succeeds(bus: Bus) -> None:
    redeliveries = sample("lockstep_consumer_redeliveries_total", "flaky")
    attempts: list[str] = []
    done = Inbox()

    async def flaky(envelope: Envelope) -> None:
        attempts.append(envelope.id)
        if len(attempts) < 2:
            raise ConnectionError("database briefly unreachable")
        await done(envelope)

    await bus.subscribe("flaky", [binding(ReleaseCheckRequested)], flaky)
    await bus.publish([check_request()])
    await done.wait_for(1)
    assert len(attempts) == 2
    assert await bus.dead_letters("flaky") == []
    assert sample("lockstep_consumer_redeliveries_total", "flaky") == redeliveries + 1


async def test_a_permanent_error_dead_letters_at_once(bus: Bus) -> None:
    dead_before = sample("lockstep_dead_lettered_total", "refusing")
    calls: list[str] = []

    async def refuse(envelope: Envelope) -> None:
        calls.append(envelope.id)
        raise PermanentError("release check for an unknown site")

    await bus.subscribe("refusing", [binding(ReleaseCheckRequested)], refuse)
    sent = check_request()
    await bus.publish([sent])
    letters = await wait_for_dead_letters(bus, "refusing", 1)
    assert Envelope.from_json(letters[0].body).id == sent.message_id
    assert calls == [sent.message_id]
    assert sample("lockstep_dead_lettered_total", "refusing") == dead_before + 1


async def test_a_handler_that_always_fails_is_dead_lettered_after_the_limit(bus: Bus) -> None:
    calls: list[str] = []

    async def broken(envelope: Envelope) -> None:
        calls.append(envelope.id)
        raise RuntimeError("bug")

    await bus.subscribe("broken", [binding(ReleaseCheckRequested)], broken)
    await bus.publish([check_request()])
    await wait_for_dead_letters(bus, "broken", 1)
    assert 3 <= len(calls) <= 4  # max_deliveries=3 (RabbitMQ counts the first try apart)


async def test_an_undecodable_message_is_dead_lettered_not_handled(bus: Bus) -> None:
    inbox = Inbox()
    await bus.subscribe("strict", [binding(ReleaseCheckRequested)], inbox)
    key = "lockstep.release.check-requested.site-a"
    garbage = Outgoing("bad-1", key, b'{"not": "an envelope"}')
    await bus.publish([garbage, check_request()])
    await inbox.wait_for(1)
    letters = await wait_for_dead_letters(bus, "strict", 1)
    assert letters[0].body == b'{"not": "an envelope"}'
    assert len(inbox.received) == 1


async def test_every_process_gets_a_broadcast(make_bus: BusMaker) -> None:
    one, two = make_bus(), make_bus()
    if isinstance(one, InProcessBus):
        two = one  # single-node has one process: both subscriptions live in it
    await one.start()
    await two.start()
    first, second = Inbox(), Inbox()
    await one.subscribe_broadcast([binding(ReleaseCheckRequested)], first)
    await two.subscribe_broadcast([binding(ReleaseCheckRequested)], second)
    await one.publish([check_request()])
    await first.wait_for(1)
    await second.wait_for(1)
    await one.close()
    await two.close()


async def test_replicas_share_a_queue_and_each_message_is_handled_once(
    make_bus: BusMaker,
) -> None:
    one, two = make_bus(), make_bus()
    if isinstance(one, InProcessBus):
        pytest.skip("the in-process bus has a single consumer process by design")
    await one.start()
    await two.start()
    first, second = Inbox(), Inbox()
    await one.subscribe("shared", [binding(ReleaseCheckRequested)], first, prefetch=1)
    await two.subscribe("shared", [binding(ReleaseCheckRequested)], second, prefetch=1)
    sent = [check_request() for _ in range(40)]
    await one.publish(sent)

    async def all_handled() -> None:
        while len(first.received) + len(second.received) < 40:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(all_handled(), 10)
    await settle()
    ids = [e.id for e in first.received + second.received]
    assert sorted(ids) == sorted(m.message_id for m in sent)
    assert first.received and second.received
    await one.close()
    await two.close()


async def wait_for_dead_letters(bus: Bus, queue: str, count: int, timeout: float = 10) -> list:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        letters = await bus.dead_letters(queue)
        if len(letters) >= count or asyncio.get_running_loop().time() > deadline:
            assert len(letters) == count, letters
            return letters
        await asyncio.sleep(0.1)


_: Callable[..., Awaitable[None]] | None = None
