"""``lockstep-bus-users apply --management-url`` (what Compose and the Kubernetes Job run) on a
real broker's management API. The shared broker has no management plugin, so this test starts
a private RabbitMQ node with it (own ports, own data directory) and stops it afterwards."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import aiormq
import httpx
import pytest

from lockstep_shared.bus.bus_users_cli import main
from lockstep_shared.bus.identity import bus_user
from lockstep_shared.bus.port import Outgoing
from lockstep_shared.bus.provisioning import bus_users
from lockstep_shared.bus.rabbit import RabbitBus
from lockstep_shared.catalogue import InstallRequested, PackageRef
from lockstep_shared.message_factory import MessageFactory

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("rabbitmq-server") is None, reason="no rabbitmq-server here"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PrivateNode:
    name: str
    amqp_port: int
    management_url: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def node() -> Iterator[PrivateNode]:
    # Not under pytest's temporary directory: the server runs as the rabbitmq user, who must
    # reach its data directory.
    base = Path(tempfile.mkdtemp(prefix="lockstep-test-rabbit-"))
    amqp, http, dist = _free_port(), _free_port(), _free_port()
    (base / "enabled_plugins").write_text("[rabbitmq_management].\n")
    (base / "rabbitmq.conf").write_text(
        f"listeners.tcp.local = 127.0.0.1:{amqp}\n"
        f"management.tcp.port = {http}\nmanagement.tcp.ip = 127.0.0.1\n")
    for sub in ("mnesia", "log"):
        (base / sub).mkdir()
    shutil.chown(base, "rabbitmq", "rabbitmq")
    for path in base.rglob("*"):
        shutil.chown(path, "rabbitmq", "rabbitmq")
    name = f"lockstep-test-{uuid.uuid4().hex[:8]}@localhost"
    env = {**os.environ, "HOME": str(base), "RABBITMQ_NODENAME": name,
           "RABBITMQ_MNESIA_BASE": str(base / "mnesia"), "RABBITMQ_LOG_BASE": str(base / "log"),
           "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
           "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
           "RABBITMQ_DIST_PORT": str(dist)}
    server = subprocess.Popen(["nice", "-n", "10", "rabbitmq-server"], env=env,
                              stdout=(base / "out.log").open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{http}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):  # not listening yet
                if httpx.get(f"{url}/api/overview", auth=("guest", "guest"),
                             timeout=2).status_code == 200:
                    break
            assert server.poll() is None, (base / "out.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the private RabbitMQ node did not start"
            time.sleep(1)
        yield PrivateNode(name, amqp, url, env)
    finally:
        subprocess.run(["rabbitmqctl", "-n", name, "stop"], env=env, capture_output=True,
                       timeout=60, check=False)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(base, ignore_errors=True)


def test_apply_through_the_management_api_creates_users_the_broker_enforces(
        node: PrivateNode, monkeypatch: pytest.MonkeyPatch) -> None:
    namespace = "mgmt"
    users = bus_users(namespace)
    passwords = {u.password_variable: uuid.uuid4().hex for u in users}
    for variable, value in {**passwords, "BUS_ADMIN_USER": "guest",
                            "BUS_ADMIN_PASSWORD": "guest"}.items():
        monkeypatch.setenv(variable, value)
    args = ["apply", "--management-url", node.management_url, "--namespace", namespace]
    assert main(args) == 0
    assert main(args) == 0  # applying again only updates

    admin = httpx.Client(base_url=node.management_url, auth=("guest", "guest"))
    found = {t["user"]: t for t in admin.get("/api/topic-permissions").json()}
    for user in users:
        assert found[user.name]["exchange"] == f"{namespace}.events"
        assert (found[user.name]["write"], found[user.name]["read"]) == (user.publish, user.bind)
        permissions = admin.get(f"/api/permissions/%2F/{user.name}").json()
        assert permissions["configure"] == permissions["write"] == user.resources

    gateway = bus_user("device-gateway", namespace)
    password = passwords["BUS_PASSWORD_DEVICE_GATEWAY"]

    async def forge() -> None:
        bus = RabbitBus(f"amqp://{gateway}:{password}@127.0.0.1:{node.amqp_port}/", namespace)
        await bus.start()
        try:
            package = PackageRef(product="shop", version="1.0.0", sha256="0" * 64, size=1,
                                 url="http://attacker.example/p")
            forged = MessageFactory("x").new(InstallRequested(site_id="s1", update_id="u1",
                                                              package=package))
            with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
                await bus.publish([Outgoing.of(forged)])
        finally:
            await bus.close()

    import asyncio

    asyncio.run(forge())
    with pytest.raises(aio_pika.exceptions.ProbableAuthenticationError):
        asyncio.run(aio_pika.connect(
            f"amqp://{gateway}:wrong@127.0.0.1:{node.amqp_port}/"))
