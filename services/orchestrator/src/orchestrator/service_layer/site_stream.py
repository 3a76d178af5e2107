"""Live console (X7, U3 "it updates live"): one small hub per orchestrator process that tells
the open consoles of a site when what they show (banner, update, device grid) has changed.

For each site with at least one subscriber, ONE watcher task reads the site's view once per
interval (one set of queries, whatever the number of consoles), fingerprints it and, when the
fingerprint changes, hands every subscriber the newest event. Subscribers never queue up old
events: each keeps only the latest one (a slow console skips to the present). The watcher
stops when the last subscriber leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.service_layer.errors import NotFound
from orchestrator.service_layer.views import Views

log = logging.getLogger(__name__)

Snapshot = dict[str, Any]
ReadSite = Callable[[str], Awaitable[Snapshot]]


@dataclass(frozen=True, slots=True)
class SiteChanged:
    """What a console is told: the fingerprint of the site's view and its small parts (the
    banner and the update); the console fetches the grid itself, with its own filter."""

    site_id: str
    fingerprint: str
    summary: Snapshot

    def as_json(self) -> str:
        return json.dumps({"site_id": self.site_id, "fingerprint": self.fingerprint,
                           **self.summary}, default=str)


def fingerprint(snapshot: Snapshot) -> str:
    text = json.dumps(snapshot, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class _Subscriber:
    def __init__(self) -> None:
        self.latest: SiteChanged | None = None
        self.ready = asyncio.Event()

    def offer(self, event: SiteChanged) -> None:
        self.latest = event
        self.ready.set()

    async def next(self, timeout: float) -> SiteChanged | None:
        """The newest event not yet taken, or None after ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
        except TimeoutError:
            return None
        self.ready.clear()
        event, self.latest = self.latest, None
        return event


@dataclass
class _Watched:
    subscribers: set[_Subscriber] = field(default_factory=set)
    last: SiteChanged | None = None
    task: asyncio.Task[None] | None = None


class SiteStreamHub:
    """``async for event in hub.subscribe(site_id)`` yields a ``SiteChanged`` at once (the
    present), then whenever the site's view changes, and ``None`` every ``keepalive_s`` of
    quiet (so the caller can write a keep-alive and notice a gone client)."""

    def __init__(self, read_site: ReadSite, *, interval_s: float = 1.0,
                 keepalive_s: float = 15.0) -> None:
        self.read_site = read_site
        self.interval_s = interval_s
        self.keepalive_s = keepalive_s
        self._sites: dict[str, _Watched] = {}
        self.reads = 0  # how many times a site's view was read (tests: one per interval)

    def watched_sites(self) -> list[str]:
        return sorted(self._sites)

    def subscribers(self, site_id: str) -> int:
        watched = self._sites.get(site_id)
        return len(watched.subscribers) if watched else 0

    async def subscribe(self, site_id: str) -> AsyncGenerator[SiteChanged | None, None]:
        subscriber = _Subscriber()
        watched = self._sites.setdefault(site_id, _Watched())
        watched.subscribers.add(subscriber)
        if watched.last is not None:
            subscriber.offer(watched.last)
        if watched.task is None or watched.task.done():
            watched.task = asyncio.create_task(self._watch(site_id, watched),
                                               name=f"site-stream-{site_id}")
        try:
            while True:
                yield await subscriber.next(self.keepalive_s)
        finally:
            watched.subscribers.discard(subscriber)
            if not watched.subscribers:
                await self._forget(site_id, watched)

    async def _forget(self, site_id: str, watched: _Watched) -> None:
        if self._sites.get(site_id) is watched:
            del self._sites[site_id]
        task = watched.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _watch(self, site_id: str, watched: _Watched) -> None:
        while watched.subscribers:
            try:
                self.reads += 1
                snapshot = await self.read_site(site_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("site stream: reading site %s failed", site_id, exc_info=True)
            else:
                mark = fingerprint(snapshot)
                if watched.last is None or watched.last.fingerprint != mark:
                    event = SiteChanged(site_id, mark, {k: v for k, v in snapshot.items()
                                                        if k != "grid"})
                    watched.last = event
                    for subscriber in list(watched.subscribers):
                        subscriber.offer(event)
            await asyncio.sleep(self.interval_s)

    async def close(self) -> None:
        for site_id, watched in list(self._sites.items()):
            watched.subscribers.clear()
            await self._forget(site_id, watched)


def site_reader(views: Views) -> ReadSite:
    """The site's view as a console shows it: banner, active update (or None), whole grid —
    the same read models the admin API answers with."""

    async def read(site_id: str) -> Snapshot:
        banner = await views.banner(site_id)
        try:
            update: Snapshot | None = (
                await views.current_update(site_id)).model_dump(mode="json")
        except NotFound:
            update = None
        grid = await views.grid(site_id, "all")
        return {"banner": banner.model_dump(mode="json"), "update": update,
                "grid": grid.model_dump(mode="json")}

    return read
