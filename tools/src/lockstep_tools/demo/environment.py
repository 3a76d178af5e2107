"""Everything a demo run needs around Lockstep: a vendor feed with a published release, a demo
server host for the agent, and Lockstep itself as real processes in either mode."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lockstep_tools.cluster import BIN, Cluster, ServiceProcess, tail
from lockstep_tools.demo.admin import AdminClient, login
from lockstep_tools.demo.support_desk import SupportDesk
from lockstep_tools.vendor.package import make_demo_package
from lockstep_tools.vendor.repository import VendorRepository

DEMO_HOST = Path(__file__).resolve().parents[3] / "demo-host"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432"
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Release:
    product: str
    from_version: str
    to_version: str


@dataclass
class DemoEnvironment:
    """``async with DemoEnvironment(...) as env``: feed served, Lockstep up, torn down after."""

    mode: str
    work_dir: Path
    release: Release
    site_id: str = field(default_factory=lambda: f"shop-{secrets.token_hex(3)}")
    agent_env: dict[str, str] = field(default_factory=dict)
    orchestrators: int = 1
    gateways: int = 1
    keep: bool = False
    prepare_feed: Callable[[VendorRepository, DemoEnvironment], None] | None = None
    """Scenario hook: what the vendor publishes beyond the release (entitlements, versions)."""
    extra_env: dict[str, str] = field(default_factory=dict)
    database_server: str | None = None
    """Distributed mode: the PostgreSQL server (``postgresql://user@host:port``) on which the
    demo creates its own database and drops it afterwards. Default: ``LOCKSTEP_DATABASE_URL``
    if set (used as is, never created or dropped), else the local server on port 5432."""
    amqp_url: str | None = None
    """Distributed mode: the RabbitMQ URL. Default: ``LOCKSTEP_AMQP_URL``, else the local one."""
    bus_users: bool = False
    """Distributed: each service its own RabbitMQ user (created with rabbitmqctl on this host)."""
    port: int | None = None
    """The admin API's port (single: the node's; distributed: the first orchestrator's, the
    other services on the ports after it). None: free ports."""

    def __post_init__(self) -> None:
        if self.mode not in ("single", "distributed"):
            raise ValueError(f"mode must be 'single' or 'distributed', not {self.mode!r}")
        self.run_id = secrets.token_hex(4)
        self.var_dir = self.work_dir / "var"
        self.host_dir = self.work_dir / "host"
        self.feed: ServiceProcess | None = None
        self.support = SupportDesk()
        self.node: ServiceProcess | None = None
        self.cluster: Cluster | None = None
        self._database: str | None = None
        self._namespace: str | None = None

    # --- the vendor's side ----------------------------------------------------------------

    @property
    def feed_dir(self) -> Path:
        return self.work_dir / "feed"

    def publish_release(self) -> Path:
        repo = VendorRepository.init(self.feed_dir)
        if self.prepare_feed is not None:
            self.prepare_feed(repo, self)
        else:
            self.publish(repo, self.release.to_version)
            repo.entitle(self.license_key)  # an active subscription, no end (R4)
        return repo.root_path

    def publish(self, repo: VendorRepository, version: str, *, product: str | None = None,
                payload_kib: int = 64, **options: Any) -> None:
        product = product or self.release.product
        package = make_demo_package(self.work_dir / "packages", product, version,
                                    payload_kib=payload_kib)
        repo.publish(product=product, version=version, package=package,
                     notes_url=f"https://vendor.example/notes/{product}/{version}",
                     **options)

    def set_host_version(self, product: str, version: str) -> None:
        """The demo server host runs ``product`` at ``version`` (the starting point)."""
        subprocess.run(["sh", str(DEMO_HOST / "set-version.sh"), product, version],
                       env={**os.environ, "LOCKSTEP_DEMO_HOST_DIR": str(self.host_dir)},
                       check=True)

    @property
    def license_key(self) -> str:
        return f"LIC-{self.run_id}"

    # --- Lockstep -------------------------------------------------------------------------

    def lockstep_env(self, trusted_root: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKSTEP_")}
        assert self.feed is not None
        env.update({
            "LOCKSTEP_VAR_DIR": str(self.var_dir),
            "LOCKSTEP_LOG_JSON": "true",
            "LOCKSTEP_WATCHER_FEED_URL": self.feed.url,
            "LOCKSTEP_WATCHER_TRUSTED_ROOT": str(trusted_root),
            "LOCKSTEP_WATCHER_SCHEDULER_POLL_S": "1",
            "LOCKSTEP_AGENT_SITE_ID": self.site_id,
            # The agent checks every package against the vendor's signature itself (S4).
            "LOCKSTEP_AGENT_FEED_URL": self.feed.url,
            "LOCKSTEP_AGENT_TRUSTED_ROOT": str(trusted_root),
            "LOCKSTEP_AGENT_INSTALLER_COMMAND":
                f"sh {DEMO_HOST / 'install.sh'} {{package}} {{version}} {{product}}",
            "LOCKSTEP_AGENT_VERSION_COMMAND": f"sh {DEMO_HOST / 'version.sh'} {{product}}",
            "LOCKSTEP_AGENT_HEARTBEAT_INTERVAL_S": "1",
            "LOCKSTEP_DEMO_HOST_DIR": str(self.host_dir),
            "LOCKSTEP_DEMO_INSTALL_SECONDS": "1",
            "LOCKSTEP_GATEWAY_DELIVERY_DEADLINE_S": "10",
            "LOCKSTEP_ORCHESTRATOR_SUPPORT_URL": self.support.url,
            "LOCKSTEP_ORCHESTRATOR_SUPPORT_POLL_S": "0.5",
        })
        env.update(self.extra_env)
        env.update(self.agent_env)
        if self.mode == "distributed":
            self._database = f"lockstep_demo_{self.run_id}"
            self._namespace = f"lockstep-demo-{self.run_id}"
            env["LOCKSTEP_DATABASE_URL"] = f"{self.pg_server}/{self._database}"
            env["LOCKSTEP_AMQP_URL"] = self.bus_url
            env["LOCKSTEP_BUS_NAMESPACE"] = self._namespace
            if self.database_server is None and "LOCKSTEP_DATABASE_URL" in os.environ:
                env["LOCKSTEP_DATABASE_URL"] = os.environ["LOCKSTEP_DATABASE_URL"]
                self._database = None  # the caller's database: never created or dropped here
        return env

    @property
    def pg_server(self) -> str:
        return (self.database_server or DEFAULT_PG).rstrip("/")

    @property
    def bus_url(self) -> str:
        return self.amqp_url or os.environ.get("LOCKSTEP_AMQP_URL", DEFAULT_AMQP)

    async def __aenter__(self) -> DemoEnvironment:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.support.start()
        self.set_host_version(self.release.product, self.release.from_version)
        trusted_root = self.publish_release()
        feed_port = free_port()
        self.feed = ServiceProcess("vendor-feed", "lockstep-vendor", feed_port, dict(os.environ),
                                   self.var_dir / "logs" / "vendor-feed.log",
                                   args=("serve", str(self.work_dir / "feed"),
                                         "--port", str(feed_port)))
        self.feed.start()
        await wait_listening(feed_port)
        env = self.lockstep_env(trusted_root)
        self.env = env
        try:
            if self.mode == "single":
                port = self.port or free_port()
                self.node = ServiceProcess("lockstep-node", "lockstep-node", port,
                                           {**env, "LOCKSTEP_NODE_PORT": str(port)},
                                           self.var_dir / "logs" / "lockstep-node.log")
                self.node.start()
                await wait_ready(self.node)
            else:
                if self._database:
                    await pg_admin(f'CREATE DATABASE "{self._database}"', self.admin_dsn)
                self.cluster = Cluster(env, self.var_dir, agent_site=self.site_id,
                                       base_port=self.port or free_port_block(
                                           4 + self.orchestrators + self.gateways),
                                       orchestrators=self.orchestrators, gateways=self.gateways,
                                       bus_users=self.bus_users)
                await self.cluster.start()
            self.create_user("vendor", "support", [])  # the site's admin once it exists
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.node is not None:
            self.node.stop()
        if self.cluster is not None:
            self.cluster.stop()
        if self.feed is not None:
            self.feed.stop()
        self.support.stop()
        if self._database and not self.keep:
            with contextlib.suppress(Exception):
                await pg_admin(f'DROP DATABASE IF EXISTS "{self._database}" WITH (FORCE)',
                               self.admin_dsn)
        if self._namespace and not self.keep:
            with contextlib.suppress(Exception):
                await delete_namespace(self._namespace, self.site_id, self.bus_url)
        if not self.keep:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    @property
    def admin_dsn(self) -> str:
        if self.database_server is not None:
            return f"{self.pg_server}/postgres"
        return os.environ.get("LOCKSTEP_DEMO_PG_ADMIN", f"{DEFAULT_PG}/postgres")

    @property
    def orchestrator_url(self) -> str:
        if self.node is not None:
            return self.node.url
        assert self.cluster is not None
        return self.cluster.orchestrator_url

    @property
    def gateway_urls(self) -> list[str]:
        if self.node is not None:
            return [self.node.url]
        assert self.cluster is not None
        return self.cluster.urls("device-gateway")

    # --- accounts (S1: no default credentials; the first ones are made by a command) ---------

    def password(self, username: str) -> str:
        return f"{username}-demo-{self.run_id}"

    def create_user(self, username: str, role: str, sites: list[str]) -> None:
        command = [str(BIN / "lockstep-orchestrator"), "create-user", username, "--role", role,
                   "--password-stdin"]
        for site in sites:
            command += ["--site", site]
        done = subprocess.run(command, input=self.password(username) + "\n", env=self.env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"create-user {username} failed: {done.stderr or done.stdout}")

    async def admin(self, username: str = "admin", *,
                    client: type[AdminClient] = AdminClient) -> AdminClient:
        """An API client logged in as one of the demo's accounts."""
        token = await login(self.orchestrator_url, username, self.password(username))
        return client(self.orchestrator_url, token=token)

    def support_reports(self) -> list[dict[str, Any]]:
        return list(self.support.reports)

    def installed_on_host(self, product: str | None = None) -> str | None:
        path = self.host_dir / f"{product or self.release.product}.version"
        return path.read_text().strip() if path.exists() else None

    def logs(self) -> Iterator[tuple[str, str]]:
        processes = [self.node] if self.node else (self.cluster.processes if self.cluster else [])
        for process in processes:
            if process is not None:
                yield process.name, tail(process.log_path, 40)


def free_port_block(count: int) -> int:
    """A base port with ``count`` free consecutive ports after it."""
    for _ in range(50):
        base = free_port()
        if base + count > 65000:
            continue
        ok = True
        for port in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no block of free ports found")


async def wait_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def wait_ready(process: ServiceProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            assert process.process is not None
            if process.process.poll() is not None:
                raise RuntimeError(f"{process.name} exited with {process.process.returncode}:\n"
                                   f"{tail(process.log_path)}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{process.url}/readyz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{process.name} not ready:\n{tail(process.log_path)}")
            await asyncio.sleep(0.2)


async def pg_admin(sql: str, dsn: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def delete_namespace(namespace: str, site_id: str, amqp_url: str) -> None:
    """Remove the demo's queues and exchanges (names from the bus topology)."""
    import aio_pika

    from lockstep_shared.bus.topology import Topology

    topology = Topology(namespace)
    queues = ["orchestrator", "release-watcher", "device-gateway", f"installer-agent.{site_id}"]
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(topology.queue_name(queue))
            await channel.queue_delete(topology.dead_queue_name(queue))
        await channel.exchange_delete(topology.exchange_name)
        await channel.exchange_delete(topology.dead_letter_exchange_name)
    finally:
        await connection.close()
