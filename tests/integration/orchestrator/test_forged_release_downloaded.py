"""A forged ``release.downloaded`` (published by anyone but the release watcher) is never
recorded: the banner stays as it was and the message waits in the dead-letter queue. Single-node
wiring: each service publishes as itself on the in-process bus, as ``lockstep-node`` does."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from lockstep_shared.bus.identity import PublisherCheck
from lockstep_shared.bus.memory import InProcessBus
from lockstep_shared.bus.port import Outgoing
from lockstep_shared.envelope import Envelope
from lockstep_shared.message_factory import MessageFactory
from lockstep_shared.runtime import http_app
from lockstep_shared.settings import LockstepSettings
from orchestrator.bootstrap import build
from orchestrator.domain.accounts import Account, Role
from orchestrator.settings import OrchestratorSettings

from .conftest import downloaded

pytestmark = pytest.mark.integration


async def test_a_release_downloaded_from_the_gateway_marks_nothing_downloaded(
        tmp_path: Path) -> None:
    bus = InProcessBus(tmp_path / "bus.db", "lockstep", publishers=PublisherCheck("lockstep"))
    orchestrator = build(LockstepSettings(var_dir=tmp_path),
                         OrchestratorSettings(argon2_time_cost=1, argon2_memory_kib=64),
                         bus.as_service("orchestrator"))
    app = http_app([orchestrator], bus, title="orchestrator under test")
    async with app.router.lifespan_context(app):
        support = Account("vendor", Role.SUPPORT)
        await orchestrator.handlers.sites.create(
            "shop-1", "Shop 1", "LIC-1", "ENROL-1", {"shop": "03.01.00_030"}, None, support)
        await orchestrator.handlers.accounts.create_user(None, "vendor", "support-password",
                                                         Role.SUPPORT, ())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://o") as client:
            login = await client.post("/api/v1/sessions", json={
                "username": "vendor", "password": "support-password"})
            client.headers["Authorization"] = f"Bearer {login.json()['token']}"

            async def banner() -> str:
                answer = await client.get("/api/v1/sites/shop-1/banner")
                return str(answer.json()["state"])

            forged = Outgoing.of(MessageFactory("release-watcher").new(downloaded()))
            await bus.as_service("device-gateway").publish([forged])
            for _ in range(100):
                if await bus.dead_letters("orchestrator"):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            assert await banner() != "green"
            [dead] = await bus.dead_letters("orchestrator")
            assert Envelope.from_json(dead.body).id == forged.message_id
            assert "may be published only by release-watcher" in dead.reason

            genuine = Outgoing.of(MessageFactory("release-watcher").new(downloaded()))
            await bus.as_service("release-watcher").publish([genuine])
            for _ in range(200):
                if await banner() == "green":
                    break
                await asyncio.sleep(0.05)
            assert await banner() == "green"
