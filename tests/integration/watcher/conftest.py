"""A real vendor feed over HTTP, a real PostgreSQL database and the in-process bus, with a
watcher wired exactly as in production and an observer queue recording its events."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lockstep_shared.artifacts import ArtifactStore
from lockstep_shared.bus.memory import InProcessBus
from lockstep_shared.bus.port import Outgoing
from lockstep_shared.catalogue import Message
from lockstep_shared.envelope import Envelope
from lockstep_shared.message_factory import MessageFactory
from lockstep_shared.settings import LockstepSettings
from lockstep_tools.vendor import FeedRequestHandler, VendorRepository, running_feed
from release_watcher.bootstrap import WatcherService, build
from release_watcher.settings import WatcherSettings


class RecordingMixin(FeedRequestHandler):
    """Records (path, Range header) of every request the feed answers."""

    requests: list[tuple[str, str | None]]

    def _respond(self, *, head: bool) -> None:
        self.requests.append((self.path, self.headers.get("Range")))
        super()._respond(head=head)


def handler_recording_into(
    requests: list[tuple[str, str | None]], base: type[FeedRequestHandler]
) -> type[FeedRequestHandler]:
    return type("Handler", (RecordingMixin, base), {"requests": requests})


@dataclass
class Feed:
    repo: VendorRepository
    url: str
    requests: list[tuple[str, str | None]]
    tmp: Path

    def package_file(self, name: str, size: int) -> Path:
        path = self.tmp / name
        path.write_bytes(os.urandom(size))
        return path

    def package_requests(self) -> list[tuple[str, str | None]]:
        return [r for r in self.requests if r[0].startswith("/targets/packages/")]


@pytest.fixture
def feed_handler() -> type[FeedRequestHandler]:
    """The feed's request handler; a test module overrides it to inject faults."""
    return FeedRequestHandler


@pytest.fixture
def feed(tmp_path: Path, feed_handler: type[FeedRequestHandler]) -> Iterator[Feed]:
    repo = VendorRepository.init(tmp_path / "vendor")
    requests: list[tuple[str, str | None]] = []
    with running_feed(repo.repo_dir, handler=handler_recording_into(requests, feed_handler)) as srv:
        yield Feed(repo=repo, url=srv.url, requests=requests, tmp=tmp_path)


@dataclass
class Observed:
    """Every watcher event that reached the bus, in order."""

    envelopes: list[Envelope] = field(default_factory=list)

    def of(
        self, kind: type, where: Callable[[Envelope], bool] = lambda e: True, **match: Any
    ) -> list[Envelope]:
        return [
            e for e in self.envelopes
            if isinstance(e.data, kind)
            and all(getattr(e.data, k) == v for k, v in match.items())
            and where(e)
        ]

    async def wait_for(
        self, kind: type, where: Callable[[Envelope], bool] = lambda e: True, **match: Any
    ) -> Envelope:
        """The first such event, waiting up to 15 s for it."""
        async with asyncio.timeout(15):
            while not (found := self.of(kind, where, **match)):
                await asyncio.sleep(0.02)
        return found[0]


@dataclass
class Harness:
    service: WatcherService
    bus: InProcessBus
    observed: Observed
    orchestrator: MessageFactory
    store: ArtifactStore
    """The artifact store the watcher fills and serves (its configured directory)."""

    async def send(self, message: Message) -> Envelope:
        envelope = self.orchestrator.new(message)
        await self.bus.publish([Outgoing.of(envelope)])
        return envelope


WatcherFactory = Callable[..., Any]
INTERNAL_TOKEN = "watcher-test-token"  # what the gateway and the agents present


@pytest.fixture
async def start_watcher(
    tmp_path: Path, pg_database: str, feed: Feed
) -> AsyncIterator[WatcherFactory]:
    started: list[Harness] = []

    async def start(*, sqlite: bool = False, **overrides: Any) -> Harness:
        """The watcher on PostgreSQL (distributed mode's store) or its SQLite file (single-node)."""
        common = LockstepSettings(
            database_url=None if sqlite else pg_database, var_dir=tmp_path / "var"
        )
        settings = WatcherSettings(
            feed_url=feed.url,
            trusted_root=feed.repo.root_path,
            metadata_dir=tmp_path / "tuf",
            artifacts_dir=tmp_path / "artifacts",
            public_url="http://watcher.test",
            scheduler_poll_s=0.1,
            **{"internal_token": INTERNAL_TOKEN, **overrides},
        )
        bus = InProcessBus(tmp_path / "bus.db", "watcher-test")
        observed = Observed()

        async def record(envelope: Envelope) -> None:
            observed.envelopes.append(envelope)

        await bus.start()
        await bus.subscribe("test-observer", ["lockstep.release.#"], record)
        service = build(common, settings, bus)
        await service.migrate()
        await service.start()
        store = ArtifactStore(settings.artifacts_path(common))
        harness = Harness(service, bus, observed, MessageFactory("orchestrator"), store)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        await harness.service.stop()
        await harness.bus.close()
