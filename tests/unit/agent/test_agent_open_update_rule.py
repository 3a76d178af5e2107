"""The rule tying an install command to the orchestrator's record of its update (issue 10)."""

from __future__ import annotations

import pytest

from installer_agent.domain.open_update import UpdateOnRecord, open_update_refusal
from installer_agent.settings import AgentSettings
from lockstep_shared.catalogue import InstallRequested, PackageRef

PACKAGE = PackageRef(product="shop", version="03.01.00_031", sha256="a" * 64, size=10,
                     url="http://watcher/watcher/v1/artifacts/" + "a" * 64)
COMMAND = InstallRequested(site_id="site-a", update_id="u1", package=PACKAGE)


def test_the_orchestrators_own_command_for_the_update_being_installed_passes() -> None:
    moved = PACKAGE.model_copy(update={"url": "http://elsewhere/artifacts/" + "a" * 64})
    assert open_update_refusal("site-a", COMMAND,
                               UpdateOnRecord("u1", "server_updating", moved)) is None


def test_an_update_the_orchestrator_does_not_know_at_this_site_is_refused() -> None:
    refusal = open_update_refusal("site-a", COMMAND, None)
    assert refusal is not None and "has no update u1 at site site-a" in refusal


@pytest.mark.parametrize("state", ["open", "notifying", "server_updated", "failed",
                                   "concluded"])
def test_an_update_outside_its_server_install_phase_is_refused(state: str) -> None:
    refusal = open_update_refusal("site-a", COMMAND, UpdateOnRecord("u1", state, PACKAGE))
    assert refusal is not None and "not in its server-install phase" in refusal


@pytest.mark.parametrize("change", [{"sha256": "b" * 64}, {"size": 11},
                                    {"version": "03.01.00_032"}, {"product": "till"}])
def test_another_package_than_the_updates_is_refused(change: dict[str, object]) -> None:
    record = UpdateOnRecord("u1", "server_updating", PACKAGE.model_copy(update=change))
    refusal = open_update_refusal("site-a", COMMAND, record)
    assert refusal is not None and "the command is forged" in refusal


def test_an_agent_without_a_trusted_root_or_the_orchestrator_refuses_to_start() -> None:
    with pytest.raises(ValueError, match=r"LOCKSTEP_AGENT_TRUSTED_ROOT .* and "
                                          r"LOCKSTEP_AGENT_ORCHESTRATOR_URL"):
        AgentSettings(site_id="site-a")
    with pytest.raises(ValueError, match="set LOCKSTEP_AGENT_ORCHESTRATOR_URL;"):
        AgentSettings(site_id="site-a", trusted_root="/etc/lockstep/root.json",
                      feed_url="https://feed.example")
    assert AgentSettings(site_id="site-a", insecure_unverified_installs=True)

