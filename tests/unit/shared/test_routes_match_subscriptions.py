"""The catalogue's ROUTES say who consumes each message type; every service's subscription
registry must bind exactly those types (a consumer missing from either side is a message that
is silently dropped or a route document that lies)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep_shared.bus.memory import InProcessBus
from lockstep_shared.catalogue import ROUTES, consumed_by
from lockstep_shared.settings import LockstepSettings


def _built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    from device_gateway.bootstrap import build as build_gateway
    from device_gateway.settings import GatewaySettings
    from installer_agent.bootstrap import build as build_agent
    from installer_agent.settings import AgentSettings
    from orchestrator.bootstrap import build as build_orchestrator
    from orchestrator.settings import OrchestratorSettings
    from release_watcher.bootstrap import build as build_watcher
    from release_watcher.settings import WatcherSettings

    monkeypatch.setenv("LOCKSTEP_AGENT_SITE_ID", "shop-1")
    monkeypatch.setenv("LOCKSTEP_AGENT_INSECURE_UNVERIFIED_INSTALLS", "true")
    common = LockstepSettings(var_dir=tmp_path)
    bus = InProcessBus(tmp_path / "bus.db")
    return {
        "orchestrator": build_orchestrator(common, OrchestratorSettings(), bus),
        "release-watcher": build_watcher(common, WatcherSettings(), bus),
        "device-gateway": build_gateway(common, GatewaySettings(), bus),
        "installer-agent": build_agent(common, AgentSettings(), bus),
    }


def _type(model: type) -> str:
    return str(model.model_fields["type"].default)  # type: ignore[attr-defined]


def test_each_service_binds_exactly_what_the_catalogue_routes_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, service in _built(tmp_path, monkeypatch).items():
        bound = {t for s in service.subscriptions for t in s.types}  # type: ignore[attr-defined]
        assert bound == {_type(m) for m in consumed_by(name)}, name  # type: ignore[arg-type]
        broadcast = {_type(m) for m, r in ROUTES.items() if r.broadcast and name in r.consumers}
        listened = {t for s in service.subscriptions  # type: ignore[attr-defined]
                    for t in s._broadcast}
        assert listened == broadcast, name
