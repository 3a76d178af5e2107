"""The simulated device's decisions, without a network."""

from __future__ import annotations

import pytest

from lockstep_tools.simulator.behaviour import Behaviour, assign_behaviours, serial_for
from lockstep_tools.simulator.device_state import (
    Acknowledge,
    Acknowledged,
    BlockedReported,
    DataHandedIn,
    DeviceState,
    Directive,
    DirectiveReceived,
    Disabled,
    Download,
    DownloadFailed,
    DownloadStale,
    DownloadVerified,
    FetchDirective,
    HandInData,
    NothingToInstall,
    Notification,
    Outcome,
    Phase,
    ReportBlocked,
    ReportVersion,
    RequestFailed,
    SyncNamedUnknownUpdate,
    SyncRefused,
    UpdateInPreparation,
    VersionReported,
    directive_backoff,
)

OLD, NEW = "03.01.00_030", "03.01.00_031"
START = Notification("n1", "start", "u1")
END = Notification("n2", "end", "u1")
ERROR = Notification("n3", "error", "u1")
DIRECTIVE = Directive("u1", NEW, 1234, "ab" * 32, "/device/v1/package")


def device(behaviour: Behaviour | None = None, records: int = 7) -> DeviceState:
    state = DeviceState("SIM000001", OLD, records, behaviour or Behaviour())
    state.registered(site_version=OLD)
    return state


def test_registration_puts_the_device_to_work_and_start_asks_for_a_directive() -> None:
    state = DeviceState("SIM000001", OLD, 3)
    assert state.phase == Phase.UNREGISTERED
    state.registered(site_version=OLD)
    assert state.phase == Phase.WORKING
    assert state.started() == [FetchDirective()]


def test_nothing_to_install_at_start_changes_nothing() -> None:
    state = device()
    assert state.apply(NothingToInstall()) == []
    assert state.phase == Phase.WORKING and state.outcome is None


def test_start_is_acknowledged_then_blocked_then_unsent_data_handed_in() -> None:
    state = device(records=7)
    assert state.receive([START]) == [
        Acknowledge("n1"),
        ReportBlocked("u1"),
        HandInData("u1", 7),
    ]
    assert state.start_received and state.blocked and state.phase == Phase.BLOCKED
    assert state.update_id == "u1"


def test_accepted_sync_makes_the_device_wait_for_the_update() -> None:
    state = device()
    state.receive([START])
    state.apply(Acknowledged("n1"))
    state.apply(BlockedReported("u1"))
    state.apply(DataHandedIn(waiting_for_update=True))
    assert state.block_reported and state.synced and state.waiting_for_update
    assert state.phase == Phase.WAITING and state.unsent_records == 0


def test_refused_sync_records_the_reason_and_keeps_the_device_blocked() -> None:
    state = device()
    state.receive([START])
    state.apply(SyncRefused("HTTP 409: the server update has already started without this device"))
    assert state.phase == Phase.SYNC_REFUSED and state.blocked and not state.synced
    assert state.sync_refused_reason is not None
    assert "already started" in state.sync_refused_reason


def test_a_hand_in_naming_an_unknown_update_is_repeated_naming_none() -> None:
    state = device(records=7)
    state.receive([START])
    assert state.apply(SyncNamedUnknownUpdate()) == [HandInData(None, 7)]
    assert state.update_id is None and state.phase == Phase.BLOCKED
    assert state.sync_refused_reason is None


def test_a_notification_seen_twice_is_acted_on_once_and_reacknowledged_if_unacked() -> None:
    state = device()
    state.receive([START])
    assert state.receive([START]) == [Acknowledge("n1")]
    state.apply(Acknowledged("n1"))
    assert state.receive([START]) == []


def test_end_fetches_the_directive_and_retries_with_backoff_while_in_preparation() -> None:
    state = device()
    state.receive([START])
    assert state.receive([END]) == [Acknowledge("n2"), FetchDirective()]
    assert state.phase == Phase.UPDATING and state.end_received
    assert state.apply(UpdateInPreparation()) == [FetchDirective(0.5)]
    assert state.apply(UpdateInPreparation()) == [FetchDirective(1.0)]


def test_backoff_is_capped() -> None:
    assert [directive_backoff(n) for n in (1, 2, 3, 4, 5, 6, 20)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0
    ]  # fmt: skip


def test_in_preparation_at_app_start_waits_for_end_instead_of_retrying() -> None:
    state = device()
    assert state.apply(UpdateInPreparation()) == []


def test_directive_download_install_and_version_report() -> None:
    state = device()
    state.receive([START, END])
    assert state.apply(DirectiveReceived(DIRECTIVE)) == [Download(DIRECTIVE)]
    assert state.phase == Phase.DOWNLOADING
    assert state.apply(DownloadVerified(DIRECTIVE)) == [ReportVersion(NEW)]
    assert state.app_version == NEW and state.outcome == Outcome.UPDATED
    assert state.phase == Phase.WORKING and not state.blocked
    state.apply(VersionReported(NEW))
    assert state.reported_version == NEW and state.finished


def test_interrupting_device_asks_for_a_cut_download() -> None:
    state = device(Behaviour(interrupt_download=True))
    state.receive([START, END])
    assert state.apply(DirectiveReceived(DIRECTIVE)) == [Download(DIRECTIVE, interrupt_once=True)]


def test_failing_install_stays_on_the_old_version_and_reports_nothing() -> None:
    state = device(Behaviour(fail_install=True))
    state.receive([START, END])
    state.apply(DirectiveReceived(DIRECTIVE))
    assert state.apply(DownloadVerified(DIRECTIVE)) == []
    assert state.app_version == OLD and state.outcome == Outcome.INSTALL_FAILED
    assert state.phase == Phase.FAILED


def test_failed_download_ends_the_update_as_failed() -> None:
    state = device()
    state.receive([START, END])
    state.apply(DirectiveReceived(DIRECTIVE))
    assert state.apply(DownloadFailed("sha256 differs")) == []
    assert state.outcome == Outcome.DOWNLOAD_FAILED and state.app_version == OLD
    assert state.errors == 1 and "sha256" in (state.last_error or "")


def test_self_update_at_start_when_the_site_runs_another_version() -> None:
    state = device()
    directive = Directive(None, "03.01.00_029", 10, "cd" * 32, "/device/v1/package")
    assert state.apply(DirectiveReceived(directive)) == [Download(directive)]
    assert state.apply(DownloadVerified(directive)) == [ReportVersion("03.01.00_029")]
    assert state.app_version == "03.01.00_029"


def test_error_notification_unblocks_the_device() -> None:
    state = device()
    state.receive([START])
    state.apply(DataHandedIn(waiting_for_update=True))
    assert state.receive([ERROR]) == [Acknowledge("n3")]
    assert not state.blocked and not state.waiting_for_update
    assert state.phase == Phase.WORKING and state.outcome == Outcome.ERRORED
    assert state.error_received


def test_never_ack_device_notes_notifications_but_does_nothing() -> None:
    state = device(Behaviour(never_ack=True))
    assert state.receive([START]) == []
    assert state.receive([START]) == []
    assert state.start_received and not state.blocked and state.ignored_notifications == 1


def test_end_with_nothing_to_install_ends_as_up_to_date() -> None:
    state = device()
    state.receive([START, END])
    state.apply(NothingToInstall())
    assert state.outcome == Outcome.UP_TO_DATE and not state.blocked


def test_a_new_update_forgets_the_previous_one() -> None:
    state = device()
    state.receive([START, END])
    state.apply(DirectiveReceived(DIRECTIVE))
    state.apply(DownloadVerified(DIRECTIVE))
    state.receive([Notification("n9", "start", "u2")])
    assert state.update_id == "u2" and state.outcome is None and not state.end_received
    assert state.blocked and state.app_version == NEW


def test_failed_directive_request_after_end_is_retried_then_gives_up() -> None:
    state = device()
    state.receive([START, END])
    for _ in range(19):
        retry = state.apply(RequestFailed(FetchDirective(), "HTTP 500"))
        assert isinstance(retry[0], FetchDirective)
    assert state.apply(RequestFailed(FetchDirective(), "HTTP 500")) == []
    assert state.outcome == Outcome.DOWNLOAD_FAILED and state.errors == 20


def test_disabled_device_stops() -> None:
    state = device()
    state.apply(Disabled("HTTP 403: device disabled"))
    assert state.phase == Phase.DISABLED and state.errors == 1


def test_behaviours_are_assigned_in_blocks_from_the_end() -> None:
    serials = [serial_for("SIM", i) for i in range(10)]
    chosen = assign_behaviours(serials, offline=2, slow=1, never_ack=1, fail_install=1,
                               interrupt_download=1, slow_delay_s=3)  # fmt: skip
    assert serial_for("SIM", 0) not in chosen
    assert chosen["SIM000009"].offline and chosen["SIM000008"].offline
    assert chosen["SIM000007"].slow_s == 3
    assert chosen["SIM000006"].never_ack
    assert chosen["SIM000005"].fail_install
    assert chosen["SIM000004"].interrupt_download
    assert len(chosen) == 6
    assert chosen == assign_behaviours(serials, offline=2, slow=1, never_ack=1, fail_install=1,
                                       interrupt_download=1, slow_delay_s=3)  # fmt: skip


def test_asking_for_more_misbehaving_devices_than_the_fleet_has_is_an_error() -> None:
    with pytest.raises(ValueError, match="only 3"):
        assign_behaviours(["a", "b", "c"], offline=2, slow=2)


def test_a_stale_directive_at_download_asks_for_the_directive_again() -> None:
    state = device()
    state.receive([END])
    state.apply(DirectiveReceived(DIRECTIVE))
    assert state.phase == Phase.DOWNLOADING
    again = state.apply(DownloadStale("HTTP 404: no package is meant for this device now"))
    assert again == [FetchDirective(directive_backoff(1))]
    assert state.phase == Phase.UPDATING and state.directive is None and state.outcome is None


STAGED = Directive(None, NEW, 1234, "ab" * 32, "/device/v1/staging/package")


def test_a_staged_package_is_installed_after_end_without_downloading() -> None:
    state = device()
    state.package_staged(STAGED)
    state.receive([START, END])
    said_staged = Directive("u1", NEW, 1234, "ab" * 32, "/device/v1/package", staged=True)
    assert state.apply(DirectiveReceived(said_staged)) == [ReportVersion(NEW)]
    assert state.app_version == NEW and state.outcome == Outcome.UPDATED
    assert state.installed_from_staged == 1


def test_a_staged_copy_of_another_package_is_not_installed() -> None:
    state = device()
    state.package_staged(Directive(None, NEW, 1234, "cd" * 32, "/device/v1/staging/package"))
    state.receive([START, END])
    said_staged = Directive("u1", NEW, 1234, "ab" * 32, "/device/v1/package", staged=True)
    assert state.apply(DirectiveReceived(said_staged)) == [Download(said_staged)]
    assert state.installed_from_staged == 0


def test_without_the_gateways_word_a_staged_copy_is_downloaded_again() -> None:
    state = device()
    state.package_staged(STAGED)
    state.receive([START, END])
    assert state.apply(DirectiveReceived(DIRECTIVE)) == [Download(DIRECTIVE)]


def test_staging_is_asked_at_work_and_while_stopped_not_while_installing() -> None:
    state = device()
    assert state.may_stage
    state.receive([START])
    assert state.may_stage
    state.receive([END])
    assert not state.may_stage  # updating: it asks for the directive now
    assert not device(Behaviour(offline=True)).may_stage
