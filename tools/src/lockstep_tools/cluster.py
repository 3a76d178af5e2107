"""Distributed mode on one machine: each service its own process on RabbitMQ and PostgreSQL.

Used by ``lockstep-node`` (when ``LOCKSTEP_AMQP_URL`` and ``LOCKSTEP_DATABASE_URL`` are set),
by ``make demo MODE=distributed`` and by the end-to-end tests. Each process is started from
its console script with its own ``LOCKSTEP_<SERVICE>_*`` settings and waits to be ready
(``/readyz``) before the cluster counts as up.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import httpx

from lockstep_shared.bus.bus_users_cli import apply_with_rabbitmqctl
from lockstep_shared.bus.provisioning import BusUser, bus_users
from lockstep_shared.settings import LockstepSettings

BIN = Path(sys.executable).parent


@dataclass
class ServiceProcess:
    name: str
    command: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    args: tuple[str, ...] = ("serve",)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(BIN / self.command), *self.args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, timeout: float = 10) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """Simulate a crash: SIGKILL, no shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@dataclass
class Cluster:
    """The four services as processes. Ports: orchestrators from ``base_port``, then gateways,
    then the watcher, then the agent."""

    env: dict[str, str]
    var_dir: Path
    agent_site: str | None = None
    base_port: int = 8000
    orchestrators: int = 1
    gateways: int = 1
    bus_users: bool = False
    """Give each service its own RabbitMQ user with exactly its rights, as deployments do
    (created with ``rabbitmqctl`` on this host at start, deleted at stop); otherwise every
    process shares the login of ``LOCKSTEP_AMQP_URL`` (``LOCKSTEP_BUS_SHARED_LOGIN``)."""
    processes: list[ServiceProcess] = field(default_factory=list)
    _logins: dict[str, str] = field(default_factory=dict)
    _users: list[BusUser] = field(default_factory=list)

    def __post_init__(self) -> None:
        port = self.base_port
        logs = self.var_dir / "logs"
        watcher_port = self.base_port + self.orchestrators + self.gateways
        watcher_url = f"http://127.0.0.1:{watcher_port}"
        base = {**self.env, "LOCKSTEP_VAR_DIR": str(self.var_dir)}
        # The orchestrator calls the gateway's internal code API (D8) with a shared token.
        # The same token opens the watcher's internal routes (the packages) to the gateway and
        # the agents.
        token = (base.get("LOCKSTEP_INTERNAL_TOKEN") or base.get("LOCKSTEP_GATEWAY_INTERNAL_TOKEN")
                 or base.get("LOCKSTEP_ORCHESTRATOR_INTERNAL_TOKEN") or secrets.token_urlsafe(24))
        base["LOCKSTEP_INTERNAL_TOKEN"] = token
        base["LOCKSTEP_GATEWAY_INTERNAL_TOKEN"] = token
        base["LOCKSTEP_ORCHESTRATOR_INTERNAL_TOKEN"] = token
        if self.bus_users:
            self._plan_bus_users(base)
        else:
            # One machine, one RabbitMQ login for every process: consumers then accept
            # messages from that login only. Deployments give each service its own user
            # (`lockstep-bus-users`, deploy/), as ``bus_users=True`` does here.
            base.setdefault("LOCKSTEP_BUS_SHARED_LOGIN", "true")
        base.setdefault("LOCKSTEP_ORCHESTRATOR_GATEWAY_URL",
                        f"http://127.0.0.1:{self.base_port + self.orchestrators}")
        for i in range(self.orchestrators):
            self._add("orchestrator", i, "lockstep-orchestrator", port, base, logs,
                      {"LOCKSTEP_ORCHESTRATOR_HOST": "127.0.0.1",
                       "LOCKSTEP_ORCHESTRATOR_PORT": str(port)})
            port += 1
        for i in range(self.gateways):
            self._add("device-gateway", i, "lockstep-device-gateway", port, base, logs,
                      {"LOCKSTEP_GATEWAY_HOST": "127.0.0.1", "LOCKSTEP_GATEWAY_PORT": str(port),
                       "LOCKSTEP_GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}",
                       "LOCKSTEP_GATEWAY_ARTIFACTS_DIR": str(self.var_dir / f"gateway-{i}")})
            port += 1
        self._add("release-watcher", 0, "lockstep-release-watcher", port, base, logs,
                  {"LOCKSTEP_WATCHER_HOST": "127.0.0.1", "LOCKSTEP_WATCHER_PORT": str(port),
                   "LOCKSTEP_WATCHER_PUBLIC_URL": watcher_url,
                   "LOCKSTEP_WATCHER_ARTIFACTS_DIR": str(self.var_dir / "watcher-artifacts")})
        port += 1
        if self.agent_site:
            self._add("installer-agent", 0, "lockstep-installer-agent", port, base, logs,
                      {"LOCKSTEP_AGENT_HOST": "127.0.0.1", "LOCKSTEP_AGENT_PORT": str(port),
                       "LOCKSTEP_AGENT_SITE_ID": self.agent_site,
                       # it confirms every install command with the orchestrator (issue 10)
                       "LOCKSTEP_AGENT_ORCHESTRATOR_URL": base.get(
                           "LOCKSTEP_AGENT_ORCHESTRATOR_URL",
                           f"http://127.0.0.1:{self.base_port}"),
                       "LOCKSTEP_AGENT_ARTIFACTS_DIR": str(self.var_dir / "agent-artifacts")})

    def _plan_bus_users(self, base: dict[str, str]) -> None:
        namespace = base.get("LOCKSTEP_BUS_NAMESPACE", "lockstep")
        sites = [self.agent_site] if self.agent_site else []
        self._users = bus_users(namespace, sites=sites)
        parts = urlsplit(base["LOCKSTEP_AMQP_URL"])
        server = f"{parts.hostname}:{parts.port or 5672}"
        self._vhost = unquote(parts.path[1:]) or "/"
        self._passwords = {u.name: secrets.token_hex(16) for u in self._users}
        for user in self._users:
            self._logins[user.service] = (f"amqp://{quote(user.name, '')}:"
                                          f"{self._passwords[user.name]}@{server}{parts.path}")
        base.pop("LOCKSTEP_BUS_SHARED_LOGIN", None)

    def _add(self, name: str, index: int, command: str, port: int, base: dict[str, str],
             logs: Path, extra: dict[str, str]) -> None:
        label = f"{name}-{index}"
        env = {**base, **extra}
        if name in self._logins:
            env["LOCKSTEP_AMQP_URL"] = self._logins[name]
        self.processes.append(ServiceProcess(label, command, port, env, logs / f"{label}.log"))

    def urls(self, name: str) -> list[str]:
        return [p.url for p in self.processes if p.name.startswith(name + "-")]

    @property
    def orchestrator_url(self) -> str:
        return self.urls("orchestrator")[0]

    @property
    def gateway_url(self) -> str:
        return self.urls("device-gateway")[0]

    async def start(self, timeout: float = 90) -> None:
        if self._users:
            await asyncio.to_thread(apply_with_rabbitmqctl, self._users, self._passwords,
                                    self._vhost)
        for process in self.processes:
            process.start()
        await self.wait_ready(timeout)

    async def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            for process in self.processes:
                while True:
                    assert process.process is not None
                    if process.process.poll() is not None:
                        raise RuntimeError(
                            f"{process.name} exited with {process.process.returncode}; "
                            f"see {process.log_path}:\n{tail(process.log_path)}"
                        )
                    try:
                        if (await client.get(f"{process.url}/readyz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{process.name} not ready; see {process.log_path}:\n"
                                           f"{tail(process.log_path)}")
                    await asyncio.sleep(0.2)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        for user in self._users:
            subprocess.run(["rabbitmqctl", "-q", "delete_user", user.name], capture_output=True,
                           check=False, timeout=60)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_cluster_forever(common: LockstepSettings, base_port: int = 8000) -> int:
    """``lockstep-node`` in distributed mode: start, print the URLs, stop on Ctrl-C/SIGTERM.
    The orchestrator listens on ``base_port``, the gateway, watcher and agent on the next."""
    cluster = Cluster(dict(os.environ), common.var_dir.resolve(),
                      agent_site=os.environ.get("LOCKSTEP_AGENT_SITE_ID"), base_port=base_port)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await cluster.start()
            print(f"Lockstep distributed is up. Admin API: {cluster.orchestrator_url}/api/v1; "
                  f"device API: {cluster.gateway_url}/device/v1; logs in {common.var_dir}/logs",
                  flush=True)
            await stop.wait()
        finally:
            cluster.stop()

    asyncio.run(run())
    return 0
