"""Fixtures for the installer agent's integration tests: demo packages, a recording bus, and
agents built on a real PostgreSQL database that really run the demo host scripts."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import shutil
import tarfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from installer_agent.bootstrap import AgentService, build
from installer_agent.settings import AgentSettings
from lockstep_shared.artifacts import ArtifactStore
from lockstep_shared.bus.memory import TopicPattern
from lockstep_shared.bus.port import DeadLetter, Handler, Outgoing
from lockstep_shared.catalogue import InstallRequested, PackageRef
from lockstep_shared.envelope import Envelope
from lockstep_shared.loops import Loop
from lockstep_shared.message_factory import MessageFactory
from lockstep_shared.outbox import OutboxRelay
from lockstep_shared.settings import LockstepSettings

REPO = Path(__file__).resolve().parents[3]
DEMO_HOST = REPO / "tools" / "demo-host"
SITE = "site-a"


def demo_package(directory: Path, version: str, *, files: dict[str, str] | None = None) -> Path:
    """A package as the vendor tool makes them: a .tar.gz with ``VERSION`` at its root. The
    same content always gives the same bytes (no build time in the gzip header)."""
    path = directory / f"demo-{version}.tar.gz"
    with path.open("wb") as file, gzip.GzipFile(fileobj=file, mode="wb", mtime=0) as zipped, \
            tarfile.open(fileobj=zipped, mode="w") as archive:
        for name, text in {"VERSION": version + "\n", **(files or {})}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def stored(store: ArtifactStore, package_file: Path, product: str, version: str) -> PackageRef:
    """Put a package into the agent's artifact store (as the watcher would) and describe it."""
    data = package_file.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    shutil.copyfile(package_file, store.path_for(sha256))
    return PackageRef(product=product, version=version, sha256=sha256, size=len(data),
                      url=f"http://127.0.0.1:9/watcher/v1/artifacts/{sha256}")


def install_command(package: PackageRef, *, site_id: str = SITE, update_id: str = "u1",
                    correlation_id: str | None = None) -> Envelope:
    """An ``InstallRequested`` as the orchestrator sends it."""
    factory = MessageFactory("orchestrator")
    return factory.new(
        InstallRequested(site_id=site_id, update_id=update_id, package=package),
        correlation_id=correlation_id,
    )


@dataclass
class RecordingBus:
    """A hand-written bus: records what is published and hands subscribed messages over when a
    test delivers them, routing by the same topic rules as the real adapters."""

    published: list[Envelope] = field(default_factory=list)
    subscriptions: list[tuple[str, list[str], Handler]] = field(default_factory=list)

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ready(self) -> bool:
        return True

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        self.published.extend(Envelope.from_json(m.body) for m in messages)

    async def subscribe(self, queue: str, bindings: Sequence[str], handler: Handler, *,
                        prefetch: int = 100) -> None:
        self.subscriptions.append((queue, list(bindings), handler))

    async def subscribe_broadcast(self, bindings: Sequence[str], handler: Handler) -> None:
        raise AssertionError("the agent needs no broadcast")

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        return []

    async def deliver(self, envelope: Envelope) -> int:
        """Hand the envelope to every subscription bound to its routing key; how many took it."""
        taken = 0
        for _queue, bindings, handler in self.subscriptions:
            if any(TopicPattern(b).match(envelope.routing_key) for b in bindings):
                await handler(envelope)
                taken += 1
        return taken

    def of_type(self, type_: str) -> list[Envelope]:
        return [e for e in self.published if e.type == type_]


@dataclass
class Host:
    """The demo host: its state directory, a run counter and the installer's pid file."""

    root: Path
    store: ArtifactStore

    @property
    def dir(self) -> Path:
        return self.root / "host"

    @property
    def runs_file(self) -> Path:
        return self.root / "runs"

    @property
    def pid_file(self) -> Path:
        return self.root / "installer.pid"

    def runs(self) -> int:
        return len(self.runs_file.read_text().splitlines()) if self.runs_file.exists() else 0

    def version(self, product: str) -> str | None:
        path = self.dir / f"{product}.version"
        return path.read_text().strip() if path.exists() else None

    def set_version(self, product: str, version: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / f"{product}.version").write_text(version + "\n")

    def package(self, product: str, version: str, *, content_version: str | None = None,
                files: dict[str, str] | None = None) -> PackageRef:
        made = demo_package(self.root, content_version or version, files=files)
        return stored(self.store, made, product, version)


@pytest.fixture
def host(tmp_path: Path) -> Host:
    root = tmp_path / "site"
    root.mkdir()
    wrapper = root / "counting-install.sh"
    # Counts every run of the installer and records its pid (= its process group), then
    # becomes the real demo installer.
    wrapper.write_text(
        "#!/bin/sh\n"
        f'echo run >> "{root}/runs"\n'
        f'echo $$ > "{root}/installer.pid"\n'
        f'exec sh "{DEMO_HOST}/install.sh" "$@"\n'
    )
    return Host(root, ArtifactStore(root / "artifacts"))


@dataclass
class Agent:
    """An agent built exactly as in production (``build``), and the parts of it a test drives
    by hand: its consumer (``handler``), its worker, its heartbeat's loop and outbox relay."""

    service: AgentService

    def __post_init__(self) -> None:
        (subscriptions,) = self.service.subscriptions
        self.handler = subscriptions.handle
        self.worker = self.service.handlers.worker
        (self.heartbeat,) = [loop for loop in self.service.loops
                             if isinstance(loop, Loop) and loop.name == "installer-agent-heartbeat"]
        (self.relay,) = [loop for loop in self.service.loops if isinstance(loop, OutboxRelay)]

    @property
    def engine(self) -> AsyncEngine:
        return self.service.engine

    async def migrate(self) -> None:
        await self.service.migrate()

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        await self.service.stop()

    async def ready(self) -> bool:
        return await self.service.ready()


AgentFactory = Callable[..., Awaitable[Agent]]


@pytest.fixture
async def make_agent(
    pg_database: str, host: Host, tmp_path: Path
) -> AsyncIterator[AgentFactory]:
    """Build (and migrate) agents on one PostgreSQL database (``database_url``: the same one
    reached another way, e.g. through a ``TcpProxy``); each call is a fresh process's worth of
    agent over the same tables. Stopped afterwards."""
    built: list[Agent] = []

    async def make(bus: object, *, site_id: str = SITE, seconds: int = 0,
                   fail: bool = False, database_url: str | None = None,
                   **overrides: object) -> Agent:
        env = {"LOCKSTEP_DEMO_HOST_DIR": str(host.dir),
               "LOCKSTEP_DEMO_INSTALL_SECONDS": str(seconds)}
        if fail:
            env["LOCKSTEP_DEMO_INSTALL_FAIL"] = "1"
        values: dict[str, object] = {
            "site_id": site_id,
            "installer_command": f"sh {host.root}/counting-install.sh {{package}} {{version}} "
            "{product}",
            "version_command": f"sh {DEMO_HOST}/version.sh {{product}}",
            "artifacts_dir": host.store.root,
            "state_dir": host.root / "agent",
            "command_env": env,
            "heartbeat_interval_s": 0.2,
            "package_fetch_patience_s": 0,  # a test's unreachable watcher stays unreachable
            # No vendor feed and no orchestrator here: these tests are about the installing;
            # the checks before it have tests of their own (test_agent_open_update.py,
            # tests/integration/bus/test_bus_authorization.py).
            "insecure_unverified_installs": True,
        }
        settings = AgentSettings(**{**values, **overrides})  # type: ignore[arg-type]
        common = LockstepSettings(database_url=database_url or pg_database,
                                  var_dir=tmp_path / "var")
        agent = Agent(build(common, settings, bus))  # type: ignore[arg-type]
        await agent.migrate()
        built.append(agent)
        return agent

    yield make
    for agent in built:
        await agent.stop()


async def relayed(agent: Agent) -> None:
    """Publish everything the agent's outbox holds (what its relay does after each commit)."""
    while await agent.relay.publish_pending():
        pass


async def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.fixture
def bus() -> RecordingBus:
    return RecordingBus()


@pytest.fixture
def command() -> Callable[..., Envelope]:
    return install_command


@pytest.fixture
def relay() -> Callable[[Agent], Awaitable[None]]:
    return relayed


@pytest.fixture
def until() -> Callable[..., Awaitable[None]]:
    return wait_for
