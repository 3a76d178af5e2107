"""The catalogue's ROUTES say who consumes each message type; every service's subscription
registry must bind exactly those types (a consumer missing from either side is a message that
is silently dropped or a route document that lies). Every service is built one way: its loops
and its adapters (the watcher's package client) are made by ``build``."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep_shared.bus.memory import InProcessBus
from lockstep_shared.catalogue import ROUTES, consumed_by
from lockstep_shared.loops import Loop
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


def test_every_background_loop_is_a_loop_that_build_named_after_its_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each ``Service.loops`` entry is a ``Loop`` (or the shared relay/retention running one),
    made by ``build`` and named ``<service>-<loop>``: no part of a service runs a loop of its
    own that ``build`` cannot see."""
    for name, service in _built(tmp_path, monkeypatch).items():
        loops = [loop if isinstance(loop, Loop) else loop.loop  # type: ignore[attr-defined]
                 for loop in service.loops]  # type: ignore[attr-defined]
        assert all(isinstance(loop, Loop) for loop in loops), name
        names = [loop.name for loop in loops]
        assert all(n.startswith(f"{name}-") for n in names), names
        assert len(set(names)) == len(names), names
    agent = _built(tmp_path, monkeypatch)["installer-agent"]
    assert {loop.name for loop in agent.loops if isinstance(loop, Loop)} == {  # type: ignore[attr-defined]
        "installer-agent-install-worker", "installer-agent-heartbeat"}


async def test_the_watchers_package_client_is_opened_by_build_and_closed_by_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    watcher = _built(tmp_path, monkeypatch)["release-watcher"]
    source = watcher.handlers.downloads.source  # type: ignore[attr-defined]
    assert not source.http.is_closed
    await watcher.stop()  # type: ignore[attr-defined]
    assert source.http.is_closed
