"""A real device gateway (uvicorn on a free port, in this event loop) for the simulator.

The test plays the orchestrator on the bus. It learns that the gateway applied an event the way
an operator would: from the device API's answers to a probe handset of its own at the site
(never from the gateway's tables). The probe's own events are left out of ``events``.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from device_gateway.bootstrap import build
from device_gateway.settings import GatewaySettings
from lockstep_shared.bus import Bus, Outgoing
from lockstep_shared.bus.memory import InProcessBus
from lockstep_shared.catalogue import Message, ProductVersion, SiteConfigured
from lockstep_shared.envelope import Envelope
from lockstep_shared.message_factory import MessageFactory
from lockstep_shared.runtime import http_app
from lockstep_shared.service import Service
from lockstep_shared.settings import LockstepSettings

SITE = "sim-shop"
CODE = "sim-enrol-code"
OLD = "03.01.00_030"
PROBE = "PROBE-HANDSET"  # the test's own device at the site: never in a fleet, never updates
orchestrator = MessageFactory("orchestrator")


class SimGateway:
    """The gateway under the simulator; the test plays the orchestrator on the bus."""

    def __init__(
        self,
        service: Service,
        bus: Bus,
        url: str,
        artifacts: Path,
        published: list[Envelope],
    ) -> None:
        self.service = service
        self.bus = bus
        self.url = url
        self.artifacts = artifacts
        self.published = published
        self.client = httpx.AsyncClient(base_url=url, timeout=10)
        self.probe: dict[str, str] = {}

    async def publish(self, message: Message) -> None:
        await self.bus.publish([Outgoing.of(orchestrator.new(message))])

    async def register_probe(self) -> bool:
        """Register the probe handset; refused (401) until the gateway knows the site."""
        response = await self.client.post("/device/v1/registrations", json={
            "site_id": SITE, "enrolment_code": CODE, "serial": PROBE, "model": "probe",
            "app_version": OLD, "notifications_enabled": False})
        if response.status_code != 201:
            return False
        self.probe = {"Authorization": f"Bearer {response.json()['device_token']}"}
        return True

    async def phase(self) -> str | None:
        """The phase of the site's update as the probe (on the old version, never admitted)
        sees it: released when told to install the update, in preparation (phase 1 or 2)
        while told to wait; phase 1 only while its hand-in is still accepted."""
        directive = await self.client.get("/device/v1/update", headers=self.probe)
        if directive.status_code == 200 and directive.json()["reason"] == "update":
            return "released"
        if directive.status_code != 409:
            return None
        hand_in = await self.client.post("/device/v1/sync", json={"records": 0},
                                         headers=self.probe)
        return "preparing" if hand_in.status_code == 200 else "server_updating"

    async def until(self, check: Any, within: float = 15.0) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            result = check()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.05)

    def events(self, type_: type[Any]) -> list[Any]:
        """The gateway's messages of this type, but the probe's."""
        wanted = type_.model_fields["type"].default
        return [e.data for e in self.published
                if e.type == wanted and getattr(e.data, "serial", None) != PROBE]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'device-gateway.db'}"
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture
async def sim_gateway(database_url: str, tmp_path: Path) -> AsyncIterator[SimGateway]:
    common = LockstepSettings(database_url=database_url, var_dir=tmp_path)
    artifacts = tmp_path / "artifacts"
    settings = GatewaySettings(
        artifacts_dir=artifacts, delivery_deadline_s=2.0, sweep_interval_s=0.2
    )
    bus = InProcessBus(tmp_path / "bus.db", "sim-test", backoff_base_s=0.01)
    published: list[Envelope] = []

    async def observe(envelope: Envelope) -> None:
        if envelope.source == "/lockstep/device-gateway":
            published.append(envelope)

    service = build(common, settings, bus)
    app = http_app([service], bus, title="gateway under the simulator")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            lifespan="on",
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=1,
            backlog=4096,
        )
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    await bus.start()
    await bus.subscribe("simulator-observer", ["lockstep.device.#"], observe)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    gateway = SimGateway(service, bus, f"http://127.0.0.1:{port}", artifacts, published)
    await gateway.until(lambda: server.started, within=20)
    code_sha = hashlib.sha256(CODE.encode()).hexdigest()
    await gateway.publish(
        SiteConfigured(
            site_id=SITE,
            name=SITE,
            license_key="lic",
            enrolment_code_sha256=code_sha,
            check_interval_s=3600,
            products=(ProductVersion(product="shop", version=OLD),),
        )
    )

    await gateway.until(gateway.register_probe)
    yield gateway
    await gateway.client.aclose()
    server.should_exit = True
    await task
    sock.close()
