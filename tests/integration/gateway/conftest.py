"""A real device gateway for integration tests: PostgreSQL, a bus, uvicorn on a free port."""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from device_gateway.adapters import repository
from device_gateway.bootstrap import build
from device_gateway.settings import GatewaySettings
from lockstep_shared.bus import Bus, Outgoing
from lockstep_shared.bus.memory import InProcessBus
from lockstep_shared.catalogue import Message, ProductVersion, SiteConfigured
from lockstep_shared.contracts.device_registration import secret_proof
from lockstep_shared.envelope import Envelope
from lockstep_shared.message_factory import MessageFactory, utcnow
from lockstep_shared.runtime import http_app
from lockstep_shared.service import Service
from lockstep_shared.settings import LockstepSettings

SITE = "shop-1"
CODE = "enrol-shop-1"
orchestrator = MessageFactory("orchestrator")
CONNECTED = re.compile(r"^lockstep_gateway_connected_devices ([0-9.e+-]+)$", re.MULTILINE)


class Clock:
    """The gateway's clock: the real time, moved forward when a test says so."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.ahead

    def advance(self, by: timedelta) -> None:
        self.ahead += by


class RunningGateway:
    """One gateway process (in this event loop) and what it published."""

    def __init__(self, service: Service, bus: Bus, base_url: str,
                 published: list[Envelope], clock: Clock) -> None:
        self.service = service
        self.bus = bus
        self.base_url = base_url
        self.published = published
        self.clock = clock
        self.client = httpx.AsyncClient(base_url=base_url, timeout=40)

    async def long_polls_waiting(self) -> float:
        """Long-polls waiting in this process (every gateway running in it), from /metrics."""
        found = CONNECTED.search((await self.client.get("/metrics")).text)
        return float(found.group(1)) if found else 0.0

    async def publish(self, message: Message) -> Envelope:
        envelope = orchestrator.new(message)
        await self.bus.publish([Outgoing.of(envelope)])
        return envelope

    async def configure_site(self, site_id: str = SITE, code: str = CODE,
                             version: str = "03.01.00_030") -> None:
        await self.publish(SiteConfigured(
            site_id=site_id, name=site_id, license_key="lic",
            enrolment_code_sha256=hashlib.sha256(code.encode()).hexdigest(),
            check_interval_s=3600, products=(ProductVersion(product="shop", version=version),)))
        await eventually(lambda: self._site_known(site_id, code))

    async def _site_known(self, site_id: str, code: str) -> bool:
        async with self.service.engine.connect() as conn:
            site = await repository.load_site(conn, site_id)
        return site is not None and site.admits(code)

    async def register(self, serial: str, site_id: str = SITE, code: str = CODE,
                       app_version: str = "03.01.00_030", *, secret: str | None = None,
                       expect: int | None = 201, headers: dict[str, str] | None = None) -> Any:
        """Registers ``serial`` (again: with the proof made from its current ``secret``);
        the answer's body, or the response itself when ``expect`` is not 201 (None: any)."""
        headers = dict(headers or {})
        if secret is not None:
            headers["Lockstep-Secret-Proof"] = secret_proof(secret, site_id, serial)
        response = await self.client.post("/device/v1/registrations", json={
            "site_id": site_id, "enrolment_code": code, "serial": serial, "model": "TC52",
            "app_version": app_version, "notifications_enabled": True,
            "operator": {"code": "OP1", "name": "Rossi Mario", "phone": "+39 333"}},
            headers=headers)
        assert expect is None or response.status_code == expect, response.text
        return response.json() if expect == 201 else response

    site = SITE
    code = CODE

    @staticmethod
    def auth(device: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {device['device_token']}"}

    @staticmethod
    async def eventually(check: Callable[[], Awaitable[bool] | bool],
                         within: float = 8.0) -> None:
        await eventually(check, within)

    def events(self, type_: type[Any]) -> list[Any]:
        wanted = type_.model_fields["type"].default
        return [e.data for e in self.published if e.type == wanted]


async def eventually(check: Callable[[], Awaitable[bool] | bool], within: float = 8.0) -> None:
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


GatewayMaker = Callable[..., Awaitable[RunningGateway]]


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Distributed mode's PostgreSQL, and single-node mode's SQLite file."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'device-gateway.db'}"
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture
async def start_gateway(database_url: str, tmp_path: Path) -> AsyncIterator[GatewayMaker]:
    """Start gateway replicas sharing one database and (by default) one in-process bus."""
    stops: list[Callable[[], Awaitable[None]]] = []

    async def start(*, bus: Bus | None = None, **overrides: Any) -> RunningGateway:
        common = LockstepSettings(database_url=database_url, var_dir=tmp_path)
        values: dict[str, Any] = {"artifacts_dir": tmp_path / "artifacts",
                                  "delivery_deadline_s": 1.0, "sweep_interval_s": 0.2}
        settings = GatewaySettings(**{**values, **overrides})
        bus = bus or InProcessBus(tmp_path / "bus.db", "gw-test", backoff_base_s=0.01)
        published: list[Envelope] = []

        async def observe(envelope: Envelope) -> None:
            if envelope.source == "/lockstep/device-gateway":
                published.append(envelope)

        clock = Clock()
        service = build(common, settings, bus, clock=clock)

        async def on_started() -> None:
            pass

        app = http_app([service], bus, title="gateway under test", on_started=on_started)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(app, lifespan="on", access_log=False, log_config=None,
                                timeout_graceful_shutdown=1, backlog=4096)
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        # the observer queue must exist before the gateway publishes anything
        await bus.start()
        await bus.subscribe(f"observer-{port}", ["lockstep.device.#"], observe)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        await eventually(lambda: server.started, within=20)
        gateway = RunningGateway(service, bus, f"http://127.0.0.1:{port}", published, clock)

        async def stop() -> None:
            await gateway.client.aclose()
            server.should_exit = True
            await task
            sock.close()

        stops.append(stop)
        return gateway

    yield start
    for stop in reversed(stops):
        await stop()


@pytest.fixture
async def gateway(start_gateway: GatewayMaker) -> RunningGateway:
    running = await start_gateway()
    await running.configure_site()
    return running
