"""The bus users provisioned from the catalogue: each may publish exactly the routing keys of
the types it owns and bind exactly the keys it consumes (RabbitMQ applies these regexes as
topic permissions; Python's ``re`` reads these simple ones the same way)."""

from __future__ import annotations

import re

import pytest

from lockstep_shared.bus.identity import PUBLISHER_OF, bus_user
from lockstep_shared.bus.provisioning import (
    MissingPassword,
    bus_user_of,
    bus_users,
    passwords_of,
    rabbitmqctl_script,
)
from lockstep_shared.bus.topology import Topology
from lockstep_shared.catalogue import ROUTES, SERVICES

NS = "lockstep"


def _user(service: str, site: str | None = "acme-milano"):  # type: ignore[no-untyped-def]
    return bus_user_of(service, NS, site if service == "installer-agent" else None)  # type: ignore[arg-type]


@pytest.mark.parametrize("type_name", sorted(PUBLISHER_OF))
def test_only_the_catalogues_publisher_may_write_a_types_routing_key(type_name: str) -> None:
    key = f"{type_name}.acme-milano"
    allowed = {s for s in SERVICES if re.fullmatch(_user(s).publish, key)}
    assert allowed == {PUBLISHER_OF[type_name]}


def test_a_sites_agent_may_publish_only_for_its_own_site() -> None:
    agent = _user("installer-agent")
    assert re.fullmatch(agent.publish, "lockstep.install.succeeded.acme-milano")
    assert not re.fullmatch(agent.publish, "lockstep.install.succeeded.acme-roma")
    assert not re.fullmatch(agent.bind, "lockstep.install.requested.*")
    assert re.fullmatch(agent.bind, "lockstep.install.requested.acme-milano")


@pytest.mark.parametrize("service", SERVICES)
def test_each_user_may_bind_exactly_the_keys_its_service_consumes(service: str) -> None:
    user = _user(service)
    for message_type, route in ROUTES.items():
        name = str(message_type.model_fields["type"].default)
        site = "acme-milano" if route.per_site or service == "installer-agent" else "*"
        assert bool(re.fullmatch(user.bind, f"{name}.{site}")) == (service in route.consumers)
    assert not re.fullmatch(user.bind, "#")


@pytest.mark.parametrize("service", SERVICES)
def test_each_user_may_declare_its_own_queues_and_no_other_services(service: str) -> None:
    topology = Topology(NS)
    user = _user(service)
    queue = "installer-agent.acme-milano" if service == "installer-agent" else service
    for name in (topology.exchange_name, topology.dead_letter_exchange_name,
                 topology.queue_name(queue), topology.dead_queue_name(queue)):
        assert re.fullmatch(user.resources, name), name
    for other in SERVICES:
        if other != service:
            assert not re.fullmatch(user.resources, topology.queue_name(other))
    assert not re.fullmatch(user.resources, topology.queue_name("installer-agent.acme-roma"))


def test_user_names_come_from_one_mapping() -> None:
    assert [u.name for u in bus_users(NS, sites=["acme-milano"])] == [
        bus_user("orchestrator", NS), bus_user("release-watcher", NS),
        bus_user("device-gateway", NS), bus_user("installer-agent", NS, "acme-milano")]
    assert bus_user("device-gateway", NS) == "lockstep-device-gateway"
    assert bus_user("installer-agent", NS, "acme-milano") == "lockstep-site-acme-milano"
    with pytest.raises(ValueError):
        bus_user("installer-agent", NS)


def test_the_printed_script_reads_passwords_from_the_environment() -> None:
    users = bus_users(NS, sites=["acme-milano"])
    script = rabbitmqctl_script(users)
    for user in users:
        assert f'"${{{user.password_variable}:?}}" | rabbitmqctl add_user {user.name!r}' \
            in script
    assert "BUS_PASSWORD_SITE_ACME_MILANO" in script
    assert "set_topic_permissions -p '/' 'lockstep-device-gateway' 'lockstep.events'" in script


def test_apply_names_every_missing_password() -> None:
    users = bus_users(NS)
    with pytest.raises(MissingPassword, match="BUS_PASSWORD_DEVICE_GATEWAY"):
        passwords_of(users, {"BUS_PASSWORD_ORCHESTRATOR": "x"})


def test_an_invalid_site_id_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid site id"):
        bus_user_of("installer-agent", NS, "a.b|c")


def _envelope(message):  # type: ignore[no-untyped-def]
    from lockstep_shared.message_factory import MessageFactory

    return MessageFactory("test").new(message)


def test_a_consumer_accepts_a_type_only_from_its_publishers_user() -> None:
    from datetime import UTC, datetime

    from lockstep_shared.bus.identity import PublisherCheck
    from lockstep_shared.catalogue import AgentHeartbeat, ReleaseCheckRequested

    check = PublisherCheck(NS)
    command = _envelope(ReleaseCheckRequested(site_id="acme-milano", requested_by="x"))
    assert check.refusal(command, "lockstep-orchestrator") is None
    for user in ("lockstep-device-gateway", "guest", None):
        reason = check.refusal(command, user)
        assert reason and "may be published only by orchestrator" in reason
    beat = _envelope(AgentHeartbeat(site_id="acme-milano", at=datetime.now(UTC)))
    assert check.refusal(beat, "lockstep-site-acme-milano") is None
    assert check.refusal(beat, "lockstep-site-acme-roma")  # another site's agent


def test_with_a_shared_login_only_that_login_is_accepted() -> None:
    from lockstep_shared.bus.identity import PublisherCheck
    from lockstep_shared.catalogue import ReleaseCheckRequested

    check = PublisherCheck(NS, shared_login="guest")
    command = _envelope(ReleaseCheckRequested(site_id="acme-milano", requested_by="x"))
    assert check.refusal(command, "guest") is None
    assert check.refusal(command, None) and check.refusal(command, "lockstep-orchestrator")


def test_the_command_prints_the_script_and_refuses_to_apply_without_passwords(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from lockstep_shared.bus.bus_users_cli import main

    assert main(["print", "--site", "acme-milano", "--namespace", "prod"]) == 0
    out = capsys.readouterr().out
    assert "rabbitmqctl add_user 'prod-site-acme-milano'" in out
    assert "'prod.events'" in out
    for variable in ("BUS_PASSWORD_ORCHESTRATOR", "BUS_PASSWORD_DEVICE_GATEWAY",
                     "BUS_PASSWORD_RELEASE_WATCHER"):
        monkeypatch.delenv(variable, raising=False)
    assert main(["apply"]) == 2
    assert "BUS_PASSWORD_ORCHESTRATOR" in capsys.readouterr().err
