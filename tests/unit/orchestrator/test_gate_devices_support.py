"""N3 gate, R4 banner without subscription, U10 double confirmation, U12 report and retries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from lockstep_shared.catalogue import DeviceDisabled, PackageRef
from orchestrator.domain.banner import BannerState, banner, site_gate
from orchestrator.domain.devices import disable_device
from orchestrator.domain.model import Failure, InvalidCommand, NotAllowed, Update, UpdateState
from orchestrator.domain.releases import Release, ReleaseStatus
from orchestrator.domain.stop_time import StopTime
from orchestrator.domain.support import MAX_RETRY_S, retry_delay, support_report

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
PACKAGE = PackageRef(product="shop", version="03.01.00_031", sha256="a" * 64, size=1000,
                     url="http://watcher/artifacts/x")
UPDATE = Update(update_id="u1", site_id="shop-1", product="shop", from_version="03.01.00_030",
                to_version="03.01.00_031", package=PACKAGE, state=UpdateState.OPEN,
                opened_at=T0, opened_by="anna")


@pytest.mark.parametrize("state", list(UpdateState))
def test_the_gate_is_closed_only_while_the_server_is_updated(state: UpdateState) -> None:
    gate = site_gate(replace(UPDATE, state=state))
    assert gate.open is (state is not UpdateState.SERVER_UPDATING)
    if not gate.open:
        assert gate.reason and "being updated" in gate.reason
    assert site_gate(None).open


def test_without_subscription_the_banner_offers_nothing_but_an_update_still_shows() -> None:
    downloaded = Release(site_id="shop-1", product="shop", status=ReleaseStatus.DOWNLOADED,
                         version="03.01.00_031", package=PACKAGE)
    installed = {"shop": "03.01.00_030"}
    assert banner([downloaded], installed, None).state is BannerState.GREEN
    shown = banner([downloaded], installed, None, entitled=False)
    assert shown.state is BannerState.NONE and "subscription" in shown.message
    failed = replace(UPDATE, state=UpdateState.FAILED)
    assert banner([downloaded], installed, failed, entitled=False).state is BannerState.RED


def test_disabling_a_device_needs_two_confirmations() -> None:
    for confirm, again in ((False, False), (True, False), (False, True)):
        with pytest.raises(InvalidCommand, match="confirm twice"):
            disable_device("shop-1", "IMEI1", "anna", confirm=confirm, confirm_again=again)
    assert disable_device("shop-1", "IMEI1", "anna", confirm=True, confirm_again=True) == (
        DeviceDisabled(site_id="shop-1", serial="IMEI1", disabled_by="anna"))


def test_report_only_for_a_failed_update_with_failure_and_history() -> None:
    with pytest.raises(NotAllowed, match="failed update"):
        support_report(UPDATE, [], site_name="Shop 1", requested_by="anna", now=T0)
    failed = replace(UPDATE, state=UpdateState.FAILED,
                     failure=Failure("installer exited with 3", 3, "E: disk full"))
    history = [{"action": "update.open", "actor": "anna"}]
    report = support_report(failed, history, site_name="Shop 1", requested_by="anna", now=T0)
    assert report["failure"] == {"reason": "installer exited with 3", "exit_code": 3,
                                 "log_tail": "E: disk full", "interrupted": False}
    assert report["history"] == history and report["to_version"] == "03.01.00_031"
    assert report["stop_time"] is None  # no device was blocked


def test_the_report_says_how_long_the_devices_were_stopped() -> None:
    failed = replace(UPDATE, state=UpdateState.FAILED, failure=Failure("exit 3", 3, ""))
    still = support_report(failed, [], site_name="Shop 1", requested_by="anna", now=T0,
                           stop=StopTime(first_blocked_at=T0))
    assert still["stop_time"] == {"first_blocked_at": T0.isoformat(), "last_back_at": None,
                                  "seconds": None, "complete": False}
    back = T0 + timedelta(seconds=95)
    done = support_report(failed, [], site_name="Shop 1", requested_by="anna", now=back,
                          stop=StopTime(first_blocked_at=T0, last_back_at=back, complete=True))
    assert done["stop_time"] == {"first_blocked_at": T0.isoformat(),
                                 "last_back_at": back.isoformat(), "seconds": 95.0,
                                 "complete": True}


def test_delivery_retries_back_off_exponentially_up_to_a_cap() -> None:
    delays = [retry_delay(n) for n in range(1, 6)]
    assert delays == [timedelta(seconds=s) for s in (2, 4, 8, 16, 32)]
    assert retry_delay(100) == timedelta(seconds=MAX_RETRY_S)
