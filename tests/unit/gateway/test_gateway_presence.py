"""The gateway tells the orchestrator which devices polled it (the grid's "online now")."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from device_gateway.service_layer.presence import MAX_SERIALS, Presence
from lockstep_shared.bus.port import Outgoing
from lockstep_shared.catalogue import DevicesConnected
from lockstep_shared.envelope import Envelope
from lockstep_shared.message_factory import MessageFactory

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class RecordingBus:
    """Only ``publish`` is used by a presence report."""

    def __init__(self) -> None:
        self.published: list[Outgoing] = []

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        self.published.extend(messages)


def messages(bus: RecordingBus) -> list[DevicesConnected]:
    return [Envelope.from_json(o.body).data for o in bus.published]  # type: ignore[misc]


def presence(bus: RecordingBus) -> Presence:
    return Presence(bus, MessageFactory("device-gateway", clock=lambda: NOW),  # type: ignore[arg-type]
                    lambda: NOW)


async def test_each_report_names_the_devices_seen_since_the_last_one_per_site() -> None:
    bus = RecordingBus()
    p = presence(bus)
    for site, serial in [("shop-1", "B"), ("shop-1", "A"), ("shop-1", "B"), ("shop-2", "C")]:
        p.seen(site, serial)
    assert await p.report() == 2
    sent = {m.site_id: m for m in messages(bus)}
    assert sent["shop-1"] == DevicesConnected(site_id="shop-1", serials=("A", "B"), seen_at=NOW)
    assert sent["shop-2"].serials == ("C",)
    assert await p.report() == 0, "a device that stopped polling is in no later report"


async def test_a_big_site_is_reported_in_several_messages() -> None:
    bus = RecordingBus()
    p = presence(bus)
    for i in range(MAX_SERIALS + 1):
        p.seen("shop-1", f"D{i:06d}")
    assert await p.report() == 2
    assert sorted(len(m.serials) for m in messages(bus)) == [1, MAX_SERIALS]
