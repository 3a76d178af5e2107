"""deploy/compose.yaml (X6): valid against the Compose Specification schema (vendored in
tests/deploy/schemas/compose-spec.json, from compose-spec/compose-spec schema/compose-spec.json),
and shaped as the deployment needs: migrations before services, health checks on /readyz,
restart policies, no secret in the file, every variable documented in deploy/.env.example."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"
LOCKSTEP = {"orchestrator": 8000, "device-gateway": 8001, "release-watcher": 8002,
            "installer-agent": 8003}
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}")


def load_compose(text: str | None = None) -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text() if text is None else text)


def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def errors(document: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator().iter_errors(document)]


def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$, as `docker compose` does."""

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        value = env.get(name, "")
        if operator and operator.endswith("?") and not value:
            raise KeyError(f"{name} is required: {argument}")
        if operator and operator.endswith("-") and not value:
            return argument
        return value

    return VARIABLE.sub(one, text).replace("$$", "$")


# ------------------------------------------------------------------------------ validity
def test_vendored_schema_is_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    assert schema["title"] == "Compose Specification"
    assert {"service", "healthcheck", "deployment"} <= set(schema["definitions"])


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    assert errors(load_compose()) == []


def test_compose_file_is_valid_once_interpolated_with_the_example_env() -> None:
    document = load_compose(interpolate(COMPOSE.read_text(), env_example()))
    assert errors(document) == []
    env = document["services"]["orchestrator"]["environment"]
    amqp, database = urlsplit(env["LOCKSTEP_AMQP_URL"]), urlsplit(env["LOCKSTEP_DATABASE_URL"])
    assert (amqp.scheme, amqp.hostname, amqp.port) == ("amqp", "rabbitmq", 5672)
    assert (database.scheme, database.hostname, database.port) == ("postgresql", "postgres", 5432)
    assert (amqp.username, amqp.password) == (
        "lockstep-orchestrator", env_example()["BUS_PASSWORD_ORCHESTRATOR"])
    assert database.password == env_example()["POSTGRES_PASSWORD"]


@pytest.mark.parametrize("service", LOCKSTEP)
def test_each_service_logs_in_to_rabbitmq_as_its_own_user(service: str) -> None:
    """One login per service (never the administrator's), the one the consumers' publisher
    check and the broker's topic permissions expect; its migration uses the same."""
    from lockstep_shared.bus.identity import bus_user

    env = env_example()
    services = load_compose(interpolate(COMPOSE.read_text(), env))["services"]
    site = env["LOCKSTEP_AGENT_SITE_ID"]
    logins = {}
    for name in (service, f"migrate-{service}"):
        amqp = urlsplit(services[name]["environment"]["LOCKSTEP_AMQP_URL"])
        logins[name] = (amqp.username, amqp.password)
    expected = bus_user(service, env["LOCKSTEP_BUS_NAMESPACE"],  # type: ignore[arg-type]
                        site if service == "installer-agent" else None)
    assert set(logins.values()) == {(expected, logins[service][1])}
    assert logins[service][0] != env["RABBITMQ_USER"]
    others = {urlsplit(services[o]["environment"]["LOCKSTEP_AMQP_URL"]).password
              for o in LOCKSTEP if o != service}
    assert logins[service][1] not in others, "a password shared with another service"


def test_the_bus_users_are_created_before_any_service_from_the_catalogue() -> None:
    env = env_example()
    services = load_compose(interpolate(COMPOSE.read_text(), env))["services"]
    central, agent = services["bus-users"], services["bus-user-agent"]
    for init in (central, agent):
        assert init["entrypoint"] == ["lockstep-bus-users"]
        assert init["command"][:3] == ["apply", "--management-url", "http://rabbitmq:15672"]
        assert init["restart"] == "no"
        assert init["environment"]["BUS_ADMIN_USER"] == env["RABBITMQ_USER"]
        assert init["depends_on"] == {"rabbitmq": {"condition": "service_healthy"}}
    for variable in ("BUS_PASSWORD_ORCHESTRATOR", "BUS_PASSWORD_DEVICE_GATEWAY",
                     "BUS_PASSWORD_RELEASE_WATCHER"):
        assert central["environment"][variable] == env[variable]
    assert agent["command"][3:] == ["--only-sites", "--site", env["LOCKSTEP_AGENT_SITE_ID"],
                                    "--password-env", "BUS_PASSWORD_AGENT"]
    assert agent["environment"]["BUS_PASSWORD_AGENT"] == env["BUS_PASSWORD_AGENT"]
    for service in LOCKSTEP:
        for name in (service, f"migrate-{service}"):
            needs = services[name]["depends_on"]
            assert needs["bus-users"] == {"condition": "service_completed_successfully"}
            if service == "installer-agent":
                assert needs["bus-user-agent"] == {"condition": "service_completed_successfully"}


@pytest.mark.parametrize(
    "breakage",
    [
        "ports-not-a-list",
        "unknown-service-key",
        "depends-on-without-condition",
        "bad-condition",
        "healthcheck-unknown-key",
        "unknown-top-level-key",
    ],
)
def test_a_broken_compose_file_is_rejected(breakage: str) -> None:
    document = copy.deepcopy(load_compose())
    orchestrator = document["services"]["orchestrator"]
    if breakage == "ports-not-a-list":
        orchestrator["ports"] = "8000:8000"
    elif breakage == "unknown-service-key":
        orchestrator["replica"] = 2
    elif breakage == "depends-on-without-condition":
        orchestrator["depends_on"]["postgres"] = {}
    elif breakage == "bad-condition":
        orchestrator["depends_on"]["postgres"] = {"condition": "service_ready"}
    elif breakage == "healthcheck-unknown-key":
        orchestrator["healthcheck"]["command"] = ["true"]
    elif breakage == "unknown-top-level-key":
        document["service"] = {}
    assert errors(document), f"{breakage} was accepted"


def test_a_broken_yaml_text_is_rejected() -> None:
    with pytest.raises(yaml.YAMLError):
        load_compose(COMPOSE.read_text().replace("services:\n", "services:\n  - oops\n x:"))


# ------------------------------------------------------------------------------ the shape
def test_infrastructure_and_services_are_all_there() -> None:
    services = load_compose()["services"]
    assert {"rabbitmq", "postgres", *LOCKSTEP} <= set(services)
    # The management API (bus-users applies the users through it) stays inside the network.
    assert "ports" not in services["rabbitmq"]
    assert services["installer-agent"]["profiles"] == ["agent"]
    assert services["migrate-installer-agent"]["profiles"] == ["agent"]
    for name in ("orchestrator", "device-gateway", "release-watcher"):
        assert "profiles" not in services[name], f"{name} must start by default"


@pytest.mark.parametrize("service", LOCKSTEP)
def test_each_service_starts_after_its_migration_on_healthy_infrastructure(service: str) -> None:
    services = load_compose()["services"]
    spec, migrate = services[service], services[f"migrate-{service}"]
    assert migrate["command"] == ["migrate"] and migrate["restart"] == "no"
    assert migrate["image"] == spec["image"] and migrate["build"] == spec["build"]
    assert migrate["environment"] == {
        k: v for k, v in spec["environment"].items()
        if not re.search(r"_(HOST|PORT)$|PUBLIC_URL|FEED_URL|TRUSTED_ROOT|ORCHESTRATOR_URL", k)
    }
    assert spec["depends_on"][f"migrate-{service}"] == {
        "condition": "service_completed_successfully"
    }
    for dependency in (spec["depends_on"], migrate["depends_on"]):
        assert dependency["postgres"] == {"condition": "service_healthy"}
        assert dependency["rabbitmq"] == {"condition": "service_healthy"}
    dockerfile = (DEPLOY / spec["build"]["context"] / spec["build"]["dockerfile"]).resolve()
    assert dockerfile == ROOT / "deploy" / "docker" / f"{service}.Dockerfile"


@pytest.mark.parametrize("service", [*LOCKSTEP, "rabbitmq", "postgres"])
def test_every_long_running_service_restarts_and_has_a_health_check(service: str) -> None:
    spec = load_compose()["services"][service]
    assert spec["restart"] in {"unless-stopped", "always"}
    test = spec["healthcheck"]["test"]
    assert test[0] in {"CMD", "CMD-SHELL"}
    if service in LOCKSTEP:
        assert test[:3] == ["CMD", "python", "-c"], "no curl in the images: Python's urllib"
        assert "urllib.request.urlopen" in test[3]
        assert f"http://127.0.0.1:{LOCKSTEP[service]}/readyz" in test[3]
        assert spec["environment"][f"LOCKSTEP_{prefix(service)}_PORT"] == str(LOCKSTEP[service])
        assert spec["environment"][f"LOCKSTEP_{prefix(service)}_HOST"] == "0.0.0.0"


def prefix(service: str) -> str:
    return {"orchestrator": "ORCHESTRATOR", "device-gateway": "GATEWAY",
            "release-watcher": "WATCHER", "installer-agent": "AGENT"}[service]


def test_the_watcher_serves_artifacts_from_its_own_volume_and_pins_the_root() -> None:
    document = load_compose()
    watcher = document["services"]["release-watcher"]
    assert watcher["environment"]["LOCKSTEP_WATCHER_PUBLIC_URL"].endswith(
        ":-http://release-watcher:8002}"
    )
    root = watcher["environment"]["LOCKSTEP_WATCHER_TRUSTED_ROOT"]
    binds = [v for v in watcher["volumes"] if isinstance(v, dict) and v["type"] == "bind"]
    assert [(b["target"], b["read_only"], b["bind"]["create_host_path"]) for b in binds] == [
        (root, True, False)
    ]
    assert "watcher-data:/var/lib/lockstep" in watcher["volumes"]


def test_no_volume_is_shared_between_services() -> None:
    document = load_compose()
    owners: dict[str, str] = {}
    for name, spec in document["services"].items():
        for volume in spec.get("volumes", []):
            if isinstance(volume, str):
                source = volume.split(":")[0]
                assert source in document["volumes"], f"{name}: undeclared volume {source}"
                assert owners.setdefault(source, name) == name, f"{source} shared with {name}"


def test_the_file_holds_no_secret_and_every_variable_is_in_the_env_example() -> None:
    text = COMPOSE.read_text()
    example = env_example()
    used = {m.group(1) for m in VARIABLE.finditer(text)}
    assert used - set(example) == set(), "variables missing from deploy/.env.example"
    assert set(example) - used == set(), "deploy/.env.example documents unused variables"
    for name, spec in load_compose()["services"].items():
        for key, value in (spec.get("environment") or {}).items():
            value = str(value)
            if re.search(r"PASS|SECRET|TOKEN|KEY", key):
                assert VARIABLE.fullmatch(value), f"{name}.{key} must come from deploy/.env"
            credentials = urlsplit(value).password if "://" in value else None
            if credentials is not None:
                assert VARIABLE.fullmatch(credentials), f"{name}.{key} has a literal password"


def test_interpolation_refuses_a_missing_required_variable() -> None:
    env = env_example()
    del env["POSTGRES_PASSWORD"]
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        interpolate(COMPOSE.read_text(), env)


def test_every_lockstep_variable_set_in_the_file_is_a_real_setting() -> None:
    from device_gateway.settings import GatewaySettings
    from installer_agent.settings import AgentSettings
    from lockstep_shared.settings import LockstepSettings
    from orchestrator.settings import OrchestratorSettings
    from release_watcher.settings import WatcherSettings

    classes = {"LOCKSTEP_ORCHESTRATOR_": OrchestratorSettings, "LOCKSTEP_GATEWAY_": GatewaySettings,
               "LOCKSTEP_WATCHER_": WatcherSettings, "LOCKSTEP_AGENT_": AgentSettings,
               "LOCKSTEP_": LockstepSettings}
    for name, spec in load_compose()["services"].items():
        for key in spec.get("environment") or {}:
            if not key.startswith("LOCKSTEP_"):
                continue
            prefix = next(p for p in classes if key.startswith(p))
            field = key[len(prefix):].lower()
            assert field in classes[prefix].model_fields, f"{name}: {key} is not a setting"


def test_the_example_agent_verifies_packages_against_the_vendors_pinned_root() -> None:
    services = load_compose()["services"]
    agent, watcher = services["installer-agent"], services["release-watcher"]
    assert agent["environment"]["LOCKSTEP_AGENT_FEED_URL"] == \
        watcher["environment"]["LOCKSTEP_WATCHER_FEED_URL"]
    root = agent["environment"]["LOCKSTEP_AGENT_TRUSTED_ROOT"]
    # and confirms every install command with the orchestrator (issue 10)
    assert agent["environment"]["LOCKSTEP_AGENT_ORCHESTRATOR_URL"] == "http://orchestrator:8000"
    assert "LOCKSTEP_AGENT_INSECURE_UNVERIFIED_INSTALLS" not in agent["environment"]
    [bind] = [v for v in agent["volumes"] if isinstance(v, dict)]
    watcher_bind = next(v for v in watcher["volumes"] if isinstance(v, dict))
    assert (bind["target"], bind["read_only"], bind["source"]) == (
        root, True, watcher_bind["source"])
