"""Every procedure of the source documents, end to end, in both modes: the scenario scripts of
``make demo SCENARIO=<name>`` against real processes and simulated devices. Each scenario
checks its own expected end state (``ok``); the assertions here name the figures that prove it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep_tools.demo.cli import run_scenario

pytestmark = pytest.mark.e2e
DEVICES = 8

PROOF = {
    "forced": lambda r: (r["saga_state"] == "concluded"
                         and r["devices_on_target_version"] == DEVICES
                         and r["late_devices_refused_hand_in"] == 3),
    "install-failure": lambda r: (r["saga_state"] == "failed" and r["banner"] == "red"
                                  and r["devices_unblocked"] == DEVICES
                                  and r["support_reports_received"] == 1
                                  and r["stop_time_s"] > 0
                                  and r["report_stop_time_s"] == r["stop_time_s"]
                                  and r["retry_refused"]),
    "manual-codes": lambda r: (r["saga_state"] == "concluded"
                               and r["devices_blocked_by_codes"] == 2
                               and r["replayed_codes_refused"] == 2),
    "confirmation-code": lambda r: (r["saga_state"] == "concluded"
                                    and r["wrong_response_refused"]),
    "downgrade": lambda r: r["downgraded_device_version"] == r["site_version"],
    "platform-first": lambda r: (r["refusal_code"] == "platform_required"
                                 and r["refusal_platform_version"] == "05.01"
                                 and r["platform_update"]["state"] == "concluded"
                                 and r["platform_update"]["stop_time_s"] > 0
                                 and r["stop_time_s"] > 0
                                 and r["platform_on_host"] == "05.01"
                                 and r["saga_state"] == "concluded"
                                 and r["devices_on_target_version"] == DEVICES),
    "stop-time": lambda r: (r["installed_from_staged"] == DEVICES
                            and 0 < r["stop_time_with_staging_s"]
                            < r["stop_time_without_staging_s"]),
    "subscription-expired": lambda r: (not r["entitlement_active"]
                                       and r["releases_offered"] == 0 and r["update_refused"]),
}


@pytest.mark.parametrize("mode", ["single", "distributed"])
@pytest.mark.parametrize("scenario", sorted(PROOF))
async def test_scenario(scenario: str, mode: str, tmp_path: Path) -> None:
    result = await run_scenario(scenario, mode, DEVICES, work_dir=tmp_path / "demo")
    assert PROOF[scenario](result), result
    assert result["ok"], result
