"""The simulated device's own update checks and its operator's actions, without a network."""

from __future__ import annotations

import pytest

from lockstep_tools.simulator.behaviour import Behaviour, assign_behaviours, serial_for
from lockstep_tools.simulator.device_state import (
    Acknowledge,
    DataHandedIn,
    DeviceState,
    Directive,
    DirectiveReceived,
    Download,
    DownloadVerified,
    FetchDirective,
    HandInData,
    NothingToInstall,
    Notification,
    Outcome,
    Phase,
    ReportBlocked,
    ReportVersion,
    SyncRefused,
    UpdateInPreparation,
)

OLD, NEW = "03.01.00_030", "03.01.00_031"
START = Notification("n1", "start", "u1")
END = Notification("n2", "end", "u1")
DIRECTIVE = Directive("u1", NEW, 1234, "ab" * 32, "/device/v1/package")
REFUSAL = "HTTP 409: the server update has already started without this device"


def device(behaviour: Behaviour | None = None, records: int = 4) -> DeviceState:
    state = DeviceState("SIM000001", OLD, records, behaviour or Behaviour())
    state.registered(site_version=OLD)
    return state


# --- periodic checks (seed 000: on every exchange with the server) -------------------------


def test_a_working_device_checks_and_a_409_or_204_changes_nothing() -> None:
    state = device()
    assert state.periodic_check() == [FetchDirective()]
    assert state.apply(UpdateInPreparation()) == []  # no retry loop: the next check will come
    assert state.apply(NothingToInstall()) == []
    assert state.phase == Phase.WORKING and state.outcome is None and not state.blocked


def test_a_periodic_check_that_gets_a_directive_installs_it_downgrade_included() -> None:
    state = DeviceState("NEW000000", NEW, 0)
    state.registered(site_version=OLD)
    site = Directive(None, OLD, 10, "cd" * 32, "/device/v1/package")
    assert state.periodic_check() == [FetchDirective()]
    assert state.apply(DirectiveReceived(site)) == [Download(site)]
    assert state.apply(DownloadVerified(site)) == [ReportVersion(OLD)]
    assert state.app_version == OLD and state.phase == Phase.WORKING


@pytest.mark.parametrize(
    "behaviour", [Behaviour(never_ack=True), Behaviour(offline=True)], ids=["never_ack", "offline"]
)
def test_a_broken_or_unreachable_app_does_not_check(behaviour: Behaviour) -> None:
    assert device(behaviour).periodic_check() == []


def test_no_periodic_check_while_updating_downloading_after_a_failure_or_disabled() -> None:
    state = device()
    state.receive([START, END])
    assert state.phase == Phase.UPDATING and state.periodic_check() == []
    state.apply(DirectiveReceived(DIRECTIVE))
    assert state.phase == Phase.DOWNLOADING and state.periodic_check() == []
    failing = device(Behaviour(fail_install=True))
    failing.receive([START, END])
    failing.apply(DirectiveReceived(DIRECTIVE))
    failing.apply(DownloadVerified(DIRECTIVE))
    assert failing.phase == Phase.FAILED and failing.periodic_check() == []
    assert DeviceState("SIM000009", OLD, 0).periodic_check() == []  # not registered


def test_a_device_stopped_for_an_update_checks_only_when_its_notifications_are_off() -> None:
    pushed = device()
    pushed.receive([START])
    pushed.apply(DataHandedIn(waiting_for_update=True))
    assert pushed.phase == Phase.WAITING and pushed.periodic_check() == []  # END will come
    silent = device(Behaviour(notifications_disabled=True))
    silent.manually_blocked()
    assert silent.periodic_check() == [FetchDirective()]
    silent.apply(DirectiveReceived(DIRECTIVE))
    assert silent.apply(DownloadVerified(DIRECTIVE)) == [ReportVersion(NEW)]
    assert silent.outcome == Outcome.UPDATED and not silent.blocked


def test_end_after_the_app_restart_installed_the_update_is_only_acknowledged() -> None:
    state = device()
    state.receive([START])
    state.apply(DataHandedIn(waiting_for_update=True))
    assert state.operator_checks_for_update() == [FetchDirective()]
    state.apply(DirectiveReceived(DIRECTIVE))
    state.apply(DownloadVerified(DIRECTIVE))
    assert state.outcome == Outcome.UPDATED and not state.blocked
    assert state.receive([END]) == [Acknowledge("n2")]
    assert state.outcome == Outcome.UPDATED and state.phase == Phase.WORKING
    assert state.end_received


# --- the operator restarts the app ----------------------------------------------------------


def test_restarting_the_app_retries_while_the_update_is_in_preparation() -> None:
    state = device()
    state.manually_blocked()
    assert state.operator_checks_for_update() == [FetchDirective()]
    assert state.phase == Phase.UPDATING
    assert state.apply(UpdateInPreparation()) == [FetchDirective(0.5)]
    assert state.apply(UpdateInPreparation()) == [FetchDirective(1.0)]
    assert state.apply(DirectiveReceived(DIRECTIVE)) == [Download(DIRECTIVE)]
    assert state.apply(DownloadVerified(DIRECTIVE)) == [ReportVersion(NEW)]
    assert state.outcome == Outcome.UPDATED and not state.blocked
    assert state.update_id == "u1"  # learnt from the directive


def test_restarting_a_working_app_with_nothing_to_install_keeps_it_working() -> None:
    state = device()
    state.operator_checks_for_update()
    assert state.apply(NothingToInstall()) == []
    assert state.phase == Phase.WORKING and state.outcome is None


def test_restarting_a_blocked_app_with_nothing_to_install_ends_its_update() -> None:
    state = device()
    state.manually_blocked()
    state.operator_checks_for_update()
    state.apply(NothingToInstall())
    assert state.phase == Phase.WORKING and state.outcome == Outcome.UP_TO_DATE
    assert not state.blocked


def test_restarting_while_already_fetching_or_downloading_does_not_start_twice() -> None:
    state = device()
    state.receive([START, END])
    assert state.operator_checks_for_update() == []
    state.apply(DirectiveReceived(DIRECTIVE))
    assert state.operator_checks_for_update() == []


# --- the operator sends unsent data ----------------------------------------------------------


def test_hand_in_after_a_block_by_codes_names_no_update() -> None:
    state = device(records=9)
    state.manually_blocked()
    assert state.operator_hands_in_data() == [HandInData(None, 9)]
    state.apply(DataHandedIn(waiting_for_update=False))
    assert state.synced and state.unsent_records == 0 and state.blocked


def test_hand_in_names_the_update_the_device_knows() -> None:
    state = device(records=3)
    state.receive([START])
    assert state.operator_hands_in_data() == [HandInData("u1", 3)]


def test_a_refused_hand_in_is_recorded_on_a_working_device_too() -> None:
    state = device()
    state.operator_hands_in_data()
    state.apply(SyncRefused(REFUSAL))
    assert state.sync_refused_reason == REFUSAL and state.phase == Phase.WORKING


def test_nothing_to_hand_in_before_registration() -> None:
    assert DeviceState("SIM000009", OLD, 2).operator_hands_in_data() == []


# --- push after the fact ----------------------------------------------------------------------


def test_end_of_an_update_whose_start_never_arrived_forgets_the_previous_outcome() -> None:
    state = device()
    state.receive([Notification("n0", "end", "u0")])
    state.apply(DirectiveReceived(Directive("u0", OLD, 1, "ef" * 32, "/device/v1/package")))
    state.apply(DownloadVerified(Directive("u0", OLD, 1, "ef" * 32, "/device/v1/package")))
    assert state.outcome == Outcome.UPDATED
    state.manually_blocked()  # the next update: START did not reach it, codes did
    assert state.receive([END]) == [Acknowledge("n2"), FetchDirective()]
    assert state.update_id == "u1" and state.outcome is None and state.blocked


def test_a_device_back_online_acts_on_what_it_missed_and_counts_again() -> None:
    state = device(Behaviour(offline=True), records=5)
    assert not state.behaviour.expected_to_finish
    state.back_online()
    assert state.behaviour.expected_to_finish and state.periodic_check() == [FetchDirective()]
    commands = state.receive([START, END])
    assert commands == [
        Acknowledge("n1"),
        ReportBlocked("u1"),
        HandInData("u1", 5),
        Acknowledge("n2"),
        FetchDirective(),
    ]
    state.apply(SyncRefused(REFUSAL))
    assert state.phase == Phase.UPDATING and state.sync_refused_reason == REFUSAL


# --- behaviours ---------------------------------------------------------------------------


def test_notifications_disabled_is_the_last_block_from_the_end() -> None:
    serials = [serial_for("SIM", i) for i in range(6)]
    chosen = assign_behaviours(serials, offline=1, interrupt_download=1, notifications_disabled=2)
    assert chosen["SIM000005"].offline and chosen["SIM000004"].interrupt_download
    assert chosen["SIM000003"].notifications_disabled
    assert chosen["SIM000002"].notifications_disabled
    assert len(chosen) == 4
    assert chosen["SIM000003"].describe() == "notifications_disabled"
    assert chosen["SIM000003"].expected_to_finish  # it updates through its checks
