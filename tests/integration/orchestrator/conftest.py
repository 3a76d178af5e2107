"""Fixtures for the orchestrator's integration tests: the service on a real database (fresh
PostgreSQL per test, or a SQLite file), its admin API over ASGI, a settable clock, helpers to
feed it bus events and see what it emitted (``uow.observe``), and a stand-in for the HTTP
services it calls (the gateway's code API, the vendor's support endpoint)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from lockstep_shared.bus.port import DeadLetter, Handler, Outgoing
from lockstep_shared.catalogue import Message, PackageRef, ReleaseDownloaded
from lockstep_shared.envelope import Envelope
from lockstep_shared.message_factory import MessageFactory
from lockstep_shared.runtime import http_app
from lockstep_shared.settings import LockstepSettings
from orchestrator.bootstrap import Handlers, OrchestratorService, build
from orchestrator.settings import OrchestratorSettings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SHA = "e" * 64


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class UnstartedBus:
    """The bus port, never started: these tests see what the handlers emitted instead."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        raise AssertionError("nothing publishes in these tests: the relay is not started")

    async def subscribe(self, queue: str, bindings: Sequence[str], handler: Handler, *,
                        prefetch: int = 100) -> None: ...

    async def subscribe_broadcast(self, bindings: Sequence[str], handler: Handler) -> None: ...

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        return []

    async def ready(self) -> bool:
        return True


class Remote:
    """The other end of the orchestrator's outbound HTTP calls: ``answer`` is set by a test
    (nothing answers otherwise, like an unreachable host)."""

    def __init__(self) -> None:
        self.answer: Callable[[httpx.Request], httpx.Response] | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.answer is None:
            raise httpx.ConnectError("nothing answers in this test", request=request)
        return self.answer(request)


PASSWORD = "correct horse battery"
FAST_HASHING = {"argon2_time_cost": 1, "argon2_memory_kib": 64}


class Harness:
    """The service with its API. ``client`` is logged in as ``anna``, admin of every site
    (``*``); ``login(name)`` gives the headers of another account."""

    def __init__(self, orchestrator: OrchestratorService, client: httpx.AsyncClient,
                 clock: Clock, remote: Remote) -> None:
        self.service = orchestrator
        self.handlers: Handlers = orchestrator.handlers
        self.client = client
        self.clock = clock
        self.remote = remote
        self.app: FastAPI | None = None
        self.sent: list[Envelope] = []
        self.service.uow.observe(self.sent.extend)  # type: ignore[union-attr]
        self.gateway = MessageFactory("device-gateway", clock=clock)
        self.watcher = MessageFactory("release-watcher", clock=clock)
        self.agent = MessageFactory("installer-agent", clock=clock)

    async def deliver(self, factory: MessageFactory, message: Message) -> Envelope:
        envelope = factory.new(message)
        await self.handle(envelope)
        return envelope

    async def handle(self, envelope: Envelope) -> None:
        """As the bus delivers it to the queue ``orchestrator`` (again, for a redelivery)."""
        [consumer] = self.service.subscriptions
        await consumer.handle(envelope)

    async def outbox(self) -> list[Envelope]:
        """Everything emitted (and committed) since the last call."""
        sent, self.sent[:] = list(self.sent), []
        return sent

    async def outbox_types(self) -> list[str]:
        return [e.type for e in await self.outbox()]

    async def create_user(self, username: str, role: str, *sites: str) -> None:
        """As ``lockstep-orchestrator create-user`` does: every site named must exist already
        (create it first; ``*`` always does), else ``NotFound``."""
        from orchestrator.domain.accounts import Role

        await self.handlers.accounts.create_user(None, username, PASSWORD, Role(role), sites)

    async def login(self, username: str, password: str = PASSWORD) -> dict[str, str]:
        answer = await self.client.post("/api/v1/sessions",
                                        json={"username": username, "password": password},
                                        headers={"Authorization": ""})
        assert answer.status_code == 201, answer.text
        return {"Authorization": f"Bearer {answer.json()['token']}"}


def package(version: str = "03.01.00_031") -> PackageRef:
    return PackageRef(product="shop", version=version, sha256=SHA, size=4096,
                      url=f"http://watcher/watcher/v1/artifacts/{SHA}")


def downloaded(site_id: str = "shop-1", version: str = "03.01.00_031") -> ReleaseDownloaded:
    return ReleaseDownloaded(site_id=site_id, product="shop", version=version,
                             notes_url="http://wiki.example/fix/031", package=package(version))


SITE_BODY: dict[str, Any] = {
    "site_id": "shop-1", "name": "Shop 1", "license_key": "LIC-1", "enrolment_code": "ENROL-1",
    "products": [{"product": "shop", "version": "03.01.00_030"}], "check_interval_s": 14400,
}


@pytest.fixture(params=["postgres", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'orchestrator.db'}"
    return request.getfixturevalue("pg_database")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Orchestrator settings of the harness beyond the defaults (a test parametrizes it)."""
    return {}


@pytest.fixture
async def harness(database_url: str, settings_overrides: dict[str, Any]) -> AsyncIterator[Harness]:
    clock = Clock()
    counter = itertools.count(1)
    remote = Remote()
    settings = OrchestratorSettings(**{"agent_silence_s": 60, **FAST_HASHING,
                                       **settings_overrides})
    orchestrator = build(LockstepSettings(database_url=database_url), settings,
                         UnstartedBus(),  # type: ignore[arg-type]
                         clock=clock, ids=lambda: f"id{next(counter):06d}",
                         http_transport=httpx.MockTransport(remote))
    service = orchestrator
    await service.migrate()
    app = http_app([service], UnstartedBus(),  # type: ignore[arg-type]
                   title="orchestrator under test")  # the app of `lockstep-orchestrator`
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://orchestrator") as client:
        h = Harness(orchestrator, client, clock, remote)
        h.app = app  # served by uvicorn in the tests of client addresses
        await h.create_user("anna", "admin", "*")
        client.headers.update(await h.login("anna"))
        try:
            yield h
        finally:
            await service.engine.dispose()
