"""Who may publish what, enforced by RabbitMQ itself and checked again by every consumer.

Each test module gets its own vhost with the services' users provisioned exactly as
``lockstep-bus-users apply`` does (through ``rabbitmqctl`` on this host); vhost and users are
deleted afterwards (the broker is shared)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

import aio_pika
import aiormq
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from lockstep_shared.bus.bus_users_cli import apply_with_rabbitmqctl
from lockstep_shared.bus.identity import PublisherCheck, bus_user
from lockstep_shared.bus.port import Outgoing
from lockstep_shared.bus.provisioning import bus_users
from lockstep_shared.bus.rabbit import RabbitBus
from lockstep_shared.catalogue import (
    DeviceBlocked,
    InstallRequested,
    PackageRef,
    ReleaseDownloaded,
    binding,
)
from lockstep_shared.envelope import Envelope
from lockstep_shared.message_factory import MessageFactory

pytestmark = pytest.mark.integration

SITE = "site-a"
factory = MessageFactory("forger")


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


class Broker:
    """A vhost of its own with the services' users; ``url(service)`` logs in as one of them."""

    def __init__(self, amqp_url: str) -> None:
        self.namespace = f"lockstep-test-{uuid.uuid4().hex[:10]}"
        self.vhost = self.namespace
        parts = urlsplit(amqp_url)
        self.server = f"{parts.hostname}:{parts.port or 5672}"
        self.admin = (parts.username or "guest", parts.password or "guest")
        self.users = bus_users(self.namespace, sites=[SITE])
        self.passwords = {u.name: secrets.token_hex(12) for u in self.users}

    def url(self, service: str, site_id: str | None = None) -> str:
        name = bus_user(service, self.namespace, site_id)  # type: ignore[arg-type]
        return self._url(name, self.passwords[name])

    def admin_url(self) -> str:
        return self._url(*self.admin)

    def _url(self, user: str, password: str) -> str:
        return f"amqp://{quote(user)}:{quote(password)}@{self.server}/{quote(self.vhost, '')}"

    def create(self) -> None:
        _ctl("add_vhost", self.vhost)
        _ctl("set_permissions", "-p", self.vhost, self.admin[0], ".*", ".*", ".*")
        apply_with_rabbitmqctl(self.users, self.passwords, self.vhost)

    def delete(self) -> None:
        for user in self.users:
            subprocess.run(["rabbitmqctl", "-q", "delete_user", user.name], capture_output=True,
                           check=False, timeout=60)
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", self.vhost], capture_output=True,
                       check=False, timeout=60)


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    made = Broker(os.environ.get("LOCKSTEP_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/"))
    try:
        made.create()
        yield made
    finally:
        made.delete()


def package() -> PackageRef:
    data = b"not signed by anyone"
    return PackageRef(product="shop", version="9.9.9", sha256=hashlib.sha256(data).hexdigest(),
                      size=len(data), url="http://attacker.example/shop.tar.gz")


def install_requested() -> Envelope:
    return factory.new(InstallRequested(site_id=SITE, update_id="u-forged", package=package()))


def release_downloaded() -> Envelope:
    return factory.new(ReleaseDownloaded(site_id=SITE, product="shop", version="9.9.9",
                                         package=package()))


def device_blocked() -> Envelope:
    return factory.new(DeviceBlocked(site_id=SITE, update_id="u1", serial="SN1",
                                     blocked_at=datetime.now(UTC)))


async def publish_raw(url: str, envelope: Envelope, *, user_id: str | None) -> None:
    """Publish as the login of ``url`` with this ``user_id`` property (None: none at all)."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(f"{urlsplit(url).path[1:]}.events", ensure=False)
        await exchange.publish(
            aio_pika.Message(envelope.to_json(), message_id=envelope.id, user_id=user_id),
            routing_key=envelope.routing_key)
    finally:
        await connection.close()


def refused(queue: str, type_: str) -> float:
    return REGISTRY.get_sample_value("lockstep_bus_publisher_refused_total",
                                     {"queue": queue, "type": type_}) or 0.0


async def wait_until(predicate, timeout: float = 15) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


# ------------------------------------------------------------------- the broker's own refusal
@pytest.mark.parametrize("forged", [install_requested, release_downloaded],
                         ids=["install.requested", "release.downloaded"])
async def test_the_gateways_login_cannot_publish_another_services_message_type(
        broker: Broker, forged) -> None:  # type: ignore[no-untyped-def]
    gateway = RabbitBus(broker.url("device-gateway"), broker.namespace)
    await gateway.start()  # declares the exchanges: configure on its own names is allowed
    try:
        await gateway.publish([Outgoing.of(device_blocked())])  # its own type goes through
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused, match="ACCESS_REFUSED"):
            await gateway.publish([Outgoing.of(forged())])
    finally:
        await gateway.close()


async def test_a_login_cannot_claim_another_users_user_id(broker: Broker) -> None:
    orchestrator = bus_user("orchestrator", broker.namespace)
    with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed, match="user_id"):
        await publish_raw(broker.url("device-gateway"), device_blocked(), user_id=orchestrator)


async def test_the_gateways_login_cannot_bind_to_read_everyones_traffic(broker: Broker) -> None:
    connection = await aio_pika.connect(broker.url("device-gateway"))
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"{broker.namespace}.device-gateway", durable=True,
                                            arguments={"x-queue-type": "quorum"})
        exchange = await channel.get_exchange(f"{broker.namespace}.events", ensure=False)
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await queue.bind(exchange, routing_key="#")
    finally:
        await connection.close()


# ----------------------------------------------------------------- the consumer's own check
async def test_a_message_from_the_wrong_publisher_is_dead_lettered_unhandled(
        broker: Broker) -> None:
    consumer = RabbitBus(broker.url("orchestrator"), broker.namespace,
                         publishers=PublisherCheck(broker.namespace))
    handled: list[Envelope] = []

    async def handle(envelope: Envelope) -> None:
        handled.append(envelope)

    before = refused("orchestrator", "lockstep.device.blocked")
    await consumer.start()
    try:
        await consumer.subscribe("orchestrator", [binding(DeviceBlocked)], handle)
        admin = broker.admin_url()
        wrong, absent, genuine = device_blocked(), device_blocked(), device_blocked()
        await publish_raw(admin, wrong, user_id=broker.admin[0])  # an admin's login
        await publish_raw(admin, absent, user_id=None)  # no user_id at all
        await publish_raw(broker.url("device-gateway"), genuine,
                          user_id=bus_user("device-gateway", broker.namespace))

        async def settled() -> bool:
            return bool(handled) and refused("orchestrator", "lockstep.device.blocked") \
                >= before + 2

        await wait_until(settled)
        await asyncio.sleep(0.3)
        assert [e.id for e in handled] == [genuine.id]
        dead = await consumer.dead_letters("orchestrator")
        assert sorted(Envelope.from_json(d.body).id for d in dead) == sorted([wrong.id,
                                                                              absent.id])
    finally:
        await consumer.close()


async def test_a_forged_install_command_installs_nothing_and_the_signed_one_installs(
        broker: Broker, tmp_path: Path) -> None:
    """The agent on its site's login, verifying packages against the vendor's TUF feed from
    its own pinned root. An install command not published by the orchestrator's login is
    dead-lettered before anything is recorded; one from the orchestrator's login whose package
    (a valid-looking sha256) the vendor did not sign is refused before anything is downloaded
    or run; the vendor-signed package installs."""
    from installer_agent.adapters.tables import installs
    from installer_agent.bootstrap import build
    from installer_agent.settings import AgentSettings
    from lockstep_shared.artifacts import ArtifactStore
    from lockstep_shared.bus import connect
    from lockstep_shared.settings import LockstepSettings
    from lockstep_tools.vendor import VendorRepository, running_feed

    vendor = VendorRepository.init(tmp_path / "vendor")
    signed_file = tmp_path / "shop-9.9.9.tar.gz"
    signed_file.write_bytes(b"the vendor's real package")
    vendor.publish(product="shop", version="9.9.9", package=signed_file)
    signed_data = signed_file.read_bytes()
    signed = PackageRef(product="shop", version="9.9.9",
                        sha256=hashlib.sha256(signed_data).hexdigest(), size=len(signed_data),
                        url="http://127.0.0.1:9/never-fetched")
    ran = tmp_path / "installer-ran"
    store = ArtifactStore(tmp_path / "artifacts")
    for data in (signed_data, b"not signed by anyone"):  # both on the host: no download needed
        store.path_for(hashlib.sha256(data).hexdigest()).write_bytes(data)
    common = LockstepSettings(amqp_url=broker.url("installer-agent", SITE),
                              bus_namespace=broker.namespace,
                              database_url=f"sqlite:///{tmp_path / 'agent.db'}",
                              var_dir=tmp_path / "var")
    orchestrator = RabbitBus(broker.url("orchestrator"), broker.namespace)
    unsigned_before = REGISTRY.get_sample_value(
        "lockstep_agent_unsigned_packages_refused_total") or 0.0
    with running_feed(vendor.repo_dir) as feed:
        settings = AgentSettings(site_id=SITE, installer_command=f"touch {ran}",
                                 version_command="echo 9.9.9", artifacts_dir=store.root,
                                 required_stopped_processes=[], min_free_disk_mb=1,
                                 heartbeat_interval_s=60, idle_heartbeat_interval_s=60,
                                 trusted_root=vendor.root_path, feed_url=feed.url,
                                 # no orchestrator here: its check has its own test
                                 # (tests/integration/agent/test_agent_open_update.py)
                                 insecure_unverified_installs=True)
        bus = connect(common)
        await bus.start()
        agent = build(common, settings, bus)
        before = refused(f"installer-agent.{SITE}", "lockstep.install.requested")
        try:
            await agent.migrate()
            await agent.start()
            await orchestrator.start()

            async def statuses() -> dict[str, tuple[str, str | None]]:
                async with agent.engine.connect() as conn:
                    rows = await conn.execute(select(installs.c.update_id, installs.c.status,
                                                     installs.c.reason))
                    return {r.update_id: (r.status, r.reason) for r in rows}

            # 1. not from the orchestrator's login: dead-lettered, nothing recorded
            await publish_raw(broker.admin_url(), install_requested(), user_id=None)

            async def counted() -> bool:
                return refused(f"installer-agent.{SITE}", "lockstep.install.requested") > before

            await wait_until(counted)
            assert await statuses() == {}

            # 2. from the orchestrator's login, but a package the vendor did not sign
            await orchestrator.publish([Outgoing.of(install_requested())])

            async def refused_unsigned() -> bool:
                return (await statuses()).get("u-forged", ("",))[0] == "failed"

            await wait_until(refused_unsigned, timeout=30)
            _, reason = (await statuses())["u-forged"]
            assert "not the one the vendor signed" in (reason or ""), reason
            assert not ran.exists()
            assert REGISTRY.get_sample_value(
                "lockstep_agent_unsigned_packages_refused_total") == unsigned_before + 1

            # 3. the vendor-signed package installs
            await orchestrator.publish([Outgoing.of(factory.new(InstallRequested(
                site_id=SITE, update_id="u-signed", package=signed)))])

            async def installed() -> bool:
                return ran.exists()

            await wait_until(installed, timeout=30)
        finally:
            await orchestrator.close()
            await agent.stop()
            await bus.close()


async def test_the_orchestrator_records_a_release_downloaded_only_from_the_watchers_login(
        broker: Broker, pg_database: str, tmp_path: Path) -> None:
    """The orchestrator's own consumer path (issue 10): a ``release.downloaded`` that does not
    come from the release watcher's login — the broker's administrator with no ``user_id``,
    or with its own — is dead-lettered unhandled: the banner does not turn green ("Manage
    update"). The watcher's own message is recorded."""
    from lockstep_shared.bus import connect
    from lockstep_shared.settings import LockstepSettings
    from orchestrator.bootstrap import build
    from orchestrator.domain.accounts import Account, Role
    from orchestrator.settings import OrchestratorSettings

    common = LockstepSettings(amqp_url=broker.url("orchestrator"),
                              bus_namespace=broker.namespace, database_url=pg_database,
                              var_dir=tmp_path / "var")
    bus = connect(common)
    orchestrator = build(common, OrchestratorSettings(argon2_time_cost=1,
                                                      argon2_memory_kib=64), bus)
    watcher = RabbitBus(broker.url("release-watcher"), broker.namespace)
    before = refused("orchestrator", "lockstep.release.downloaded")
    await bus.start()
    try:
        await orchestrator.migrate()
        await orchestrator.start()
        await watcher.start()
        await orchestrator.handlers.sites.create(SITE, "Site A", "LIC-1", "ENROL-1",
                                                 {"shop": "9.9.8"}, None,
                                                 Account("vendor", Role.SUPPORT))

        async def banner() -> str:
            return (await orchestrator.handlers.views.banner(SITE)).state

        await publish_raw(broker.admin_url(), release_downloaded(), user_id=None)
        await publish_raw(broker.admin_url(), release_downloaded(), user_id=broker.admin[0])

        async def both_refused() -> bool:
            return refused("orchestrator", "lockstep.release.downloaded") >= before + 2

        await wait_until(both_refused)
        assert await banner() != "green"
        dead = await bus.dead_letters("orchestrator")
        assert len([d for d in dead if "release.downloaded" in d.body.decode()]) == 2

        await watcher.publish([Outgoing.of(release_downloaded())])

        async def green() -> bool:
            return await banner() == "green"

        await wait_until(green)
    finally:
        await watcher.close()
        await orchestrator.stop()
        await bus.close()
