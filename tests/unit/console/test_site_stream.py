"""The console's live stream hub: one read of a site per interval whatever the number of
consoles, an event only when the view changed, the newest event only, and no watcher left
behind once the last console has gone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from orchestrator.service_layer.site_stream import SiteChanged, SiteStreamHub, fingerprint


class Site:
    """A hand-written site whose view the test changes; counts its reads."""

    def __init__(self) -> None:
        self.view: dict[str, Any] = {"banner": {"state": "green"}, "update": None,
                                     "grid": {"devices": []}}
        self.reads: dict[str, int] = {}

    async def read(self, site_id: str) -> dict[str, Any]:
        self.reads[site_id] = self.reads.get(site_id, 0) + 1
        return {**self.view, "site": site_id}


async def next_event(stream: AsyncIterator[SiteChanged | None], timeout: float = 1.0
                     ) -> SiteChanged:
    while True:
        event = await asyncio.wait_for(anext(stream), timeout)
        if event is not None:
            return event


async def test_every_console_gets_the_present_then_each_change() -> None:
    site = Site()
    hub = SiteStreamHub(site.read, interval_s=0.01)
    async with contextlib.aclosing(hub.subscribe("s1")) as first, \
            contextlib.aclosing(hub.subscribe("s1")) as second:
        a = await next_event(first)
        b = await next_event(second)
        assert a.fingerprint == b.fingerprint
        assert a.summary["banner"] == {"state": "green"}
        assert "grid" not in a.summary, "the grid is fetched by the console with its filter"

        site.view = {**site.view, "grid": {"devices": [{"serial": "S1", "blocked": True}]}}
        changed = await next_event(first)
        assert changed.fingerprint != a.fingerprint
        assert (await next_event(second)).fingerprint == changed.fingerprint


async def test_one_read_per_interval_whatever_the_number_of_consoles() -> None:
    site = Site()
    hub = SiteStreamHub(site.read, interval_s=0.05)
    streams = [hub.subscribe("s1") for _ in range(20)]
    try:
        for stream in streams:
            await next_event(stream)
        site.reads.clear()
        await asyncio.sleep(0.5)
        assert 5 <= site.reads["s1"] <= 12, site.reads
        assert hub.subscribers("s1") == 20
    finally:
        for stream in streams:
            await stream.aclose()


async def test_no_event_while_nothing_changes_and_keep_alive_instead() -> None:
    site = Site()
    hub = SiteStreamHub(site.read, interval_s=0.01, keepalive_s=0.05)
    async with contextlib.aclosing(hub.subscribe("s1")) as stream:
        await next_event(stream)
        quiet = [await asyncio.wait_for(anext(stream), 1) for _ in range(3)]
        assert quiet == [None, None, None]
        assert site.reads["s1"] >= 5


async def test_a_slow_console_skips_to_the_newest_view() -> None:
    site = Site()
    hub = SiteStreamHub(site.read, interval_s=0.01)
    async with contextlib.aclosing(hub.subscribe("s1")) as stream:
        await next_event(stream)
        for n in range(5):
            site.view = {**site.view, "banner": {"state": f"s{n}"}}
            await asyncio.sleep(0.05)
        latest = await next_event(stream)
        assert latest.summary["banner"] == {"state": "s4"}


async def test_the_watcher_stops_with_the_last_console_and_sites_are_separate() -> None:
    site = Site()
    hub = SiteStreamHub(site.read, interval_s=0.01)
    async with contextlib.aclosing(hub.subscribe("s1")) as one, \
            contextlib.aclosing(hub.subscribe("s2")) as two:
        assert (await next_event(one)).site_id == "s1"
        assert (await next_event(two)).site_id == "s2"
        assert hub.watched_sites() == ["s1", "s2"]
    assert hub.watched_sites() == []
    reads = dict(site.reads)
    await asyncio.sleep(0.1)
    assert site.reads == reads, "a site nobody watches is not read"


async def test_a_failing_read_does_not_end_the_stream() -> None:
    site = Site()
    failures = {"left": 3}

    async def flaky(site_id: str) -> dict[str, Any]:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("database restarting")
        return await site.read(site_id)

    hub = SiteStreamHub(flaky, interval_s=0.01)
    async with contextlib.aclosing(hub.subscribe("s1")) as stream:
        event = await next_event(stream)
        assert event.summary["banner"] == {"state": "green"}


def test_fingerprint_ignores_key_order_only() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
