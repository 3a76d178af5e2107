"""Every rule of the update saga, as decisions of the pure ``decide`` / ``open_update``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from lockstep_shared.catalogue import (
    AgentHeartbeat,
    DeviceNotificationRequested,
    DevicesReleased,
    InstallFailed,
    InstallProgressed,
    InstallRequested,
    InstallStarted,
    InstallSucceeded,
    PackageRef,
    ServerUpdated,
    ServerUpdateStarted,
    UpdateCancelled,
    UpdateConcluded,
    UpdateFailed,
    UpdateOpened,
    UpdateResolved,
)
from orchestrator.domain.commands import (
    ApproveForce,
    Cancel,
    Conclude,
    OpenUpdate,
    ReactivateDevices,
    RequestForce,
    ResolveFailure,
    SendEnd,
    SendStart,
    StartServerUpdate,
)
from orchestrator.domain.decisions import (
    MarkNotificationsPending,
    PublishSiteConfiguration,
    ResetDeviceFlags,
    SetProductVersion,
    SettleDevices,
)
from orchestrator.domain.model import (
    ConfirmationNeeded,
    FleetSummary,
    InvalidCommand,
    NotAllowed,
    Update,
    UpdateState,
    agent_not_responding,
)
from orchestrator.domain.releases import Release, ReleaseStatus
from orchestrator.domain.saga import decide, open_update

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
PACKAGE = PackageRef(product="shop", version="03.01.00_031", sha256="a" * 64, size=1000,
                     url="http://watcher/artifacts/" + "a" * 64)
ALL_WAITING = FleetSummary(enabled=3, notified=3, delivered=3, blocked=3, waiting=3)
TWO_WAITING = FleetSummary(enabled=3, notified=3, delivered=3, blocked=3, waiting=2)
S = UpdateState
CHALLENGE = "12345-67890-13579"


def downloaded(**overrides: object) -> Release:
    values: dict[str, object] = dict(site_id="shop-1", product="shop",
                                     status=ReleaseStatus.DOWNLOADED, version="03.01.00_031",
                                     notes_url="http://wiki/fix", package=PACKAGE)
    values.update(overrides)
    return Release(**values)  # type: ignore[arg-type]


def opened(**overrides: object) -> Update:
    command = OpenUpdate(update_id="u1", site_id="shop-1", product="shop",
                         backups_confirmed=True, actor="anna", challenge=CHALLENGE)
    decision = open_update(command, active=None, release=downloaded(**overrides),
                           installed_version="03.01.00_030", now=T0)
    return decision.state


def in_state(state: UpdateState) -> Update:
    update = opened()
    fleet = FleetSummary(enabled=3, waiting=3, on_target=3)
    start = StartServerUpdate("anna", fleet=fleet)
    steps = {
        S.OPEN: [],
        S.NOTIFYING: [SendStart("r1", "anna")],
        S.SERVER_UPDATING: [SendStart("r1", "anna"), start],
        S.SERVER_UPDATED: [SendStart("r1", "anna"), start,
                           InstallSucceeded(site_id="shop-1", update_id="u1",
                                            installed_version="03.01.00_031", duration_s=3)],
        S.FAILED: [SendStart("r1", "anna"), start,
                   InstallFailed(site_id="shop-1", update_id="u1", reason="exit 2")],
        S.CONCLUDED: [SendStart("r1", "anna"), start,
                      InstallSucceeded(site_id="shop-1", update_id="u1",
                                       installed_version="03.01.00_031", duration_s=3),
                      Conclude("anna", fleet=fleet)],
        S.CANCELLED: [Cancel("anna")],
    }[state]
    for step in steps:
        update = decide(update, step, T0).state
    assert update.state is state
    return update


# --- opening (U2, U13, U14) -----------------------------------------------------------------


def test_open_needs_backups_confirmed() -> None:
    command = OpenUpdate("u1", "shop-1", "shop", backups_confirmed=False, actor="anna")
    with pytest.raises(InvalidCommand, match="backups"):
        open_update(command, active=None, release=downloaded(),
                    installed_version="03.01.00_030", now=T0)


def test_open_publishes_update_opened_and_resets_device_flags() -> None:
    command = OpenUpdate("u1", "shop-1", "shop", backups_confirmed=True, actor="anna")
    decision = open_update(command, active=None, release=downloaded(),
                           installed_version="03.01.00_030", now=T0)
    assert decision.state.state is S.OPEN and decision.state.phase == 1
    assert decision.state.from_version == "03.01.00_030"
    assert decision.state.to_version == "03.01.00_031"
    assert decision.messages == (UpdateOpened(site_id="shop-1", update_id="u1",
                                              from_version="03.01.00_030", package=PACKAGE),)
    assert decision.effects == (ResetDeviceFlags("u1"),)


def test_only_one_active_update_per_site() -> None:
    command = OpenUpdate("u2", "shop-1", "shop", backups_confirmed=True, actor="bruno")
    for state in (S.OPEN, S.NOTIFYING, S.SERVER_UPDATING, S.SERVER_UPDATED, S.FAILED):
        with pytest.raises(NotAllowed, match=r"already active|support must resolve it"):
            open_update(command, active=in_state(state), release=downloaded(),
                        installed_version="03.01.00_030", now=T0)


@pytest.mark.parametrize("release", [
    None,
    Release(site_id="shop-1", product="shop", status=ReleaseStatus.DOWNLOADING,
            version="03.01.00_031"),
    Release(site_id="shop-1", product="shop", status=ReleaseStatus.UP_TO_DATE),
])
def test_open_needs_a_downloaded_release(release: Release | None) -> None:
    command = OpenUpdate("u1", "shop-1", "shop", backups_confirmed=True, actor="anna")
    with pytest.raises(NotAllowed, match="no downloaded release"):
        open_update(command, active=None, release=release, installed_version="03.01.00_030",
                    now=T0)


def test_open_refuses_a_release_that_is_not_newer() -> None:
    command = OpenUpdate("u1", "shop-1", "shop", backups_confirmed=True, actor="anna")
    with pytest.raises(NotAllowed, match="not newer"):
        open_update(command, active=None, release=downloaded(),
                    installed_version="03.01.00_031", now=T0)


def test_release_with_confirmation_code_waits_for_the_code() -> None:
    update = opened(requires_confirmation_code=True)
    assert update.state is S.AWAITING_CODE and update.phase is None
    with pytest.raises(NotAllowed):
        decide(update, SendStart("r1", "anna"), T0)
    assert update.challenge == CHALLENGE and not update.code_attempts


def test_unlocked_code_release_opens_directly() -> None:
    assert opened(requires_confirmation_code=True, code_unlocked=True).state is S.OPEN


# --- phase 1: START, cancel (U2, U4) --------------------------------------------------------


def test_first_start_moves_to_notifying_and_requests_notifications() -> None:
    decision = decide(opened(), SendStart("r1", "anna"), T0)
    assert decision.state.state is S.NOTIFYING and decision.state.notifying_since == T0
    assert decision.messages == (DeviceNotificationRequested(
        site_id="shop-1", update_id="u1", kind="start", serials=None, request_id="r1"),)
    assert decision.effects == (MarkNotificationsPending("start", None),)


def test_start_again_to_one_device_keeps_phase_1() -> None:
    first = decide(opened(), SendStart("r1", "anna"), T0).state
    decision = decide(first, SendStart("r2", "anna", ("IMEI1",)), T0 + timedelta(minutes=5))
    assert decision.state.state is S.NOTIFYING and decision.state.notifying_since == T0
    assert decision.messages[0].serials == ("IMEI1",)  # type: ignore[union-attr]


@pytest.mark.parametrize("state", [S.SERVER_UPDATING, S.SERVER_UPDATED, S.FAILED, S.CONCLUDED,
                                   S.CANCELLED])
def test_start_only_in_phase_1(state: UpdateState) -> None:
    with pytest.raises(NotAllowed, match="phase 1"):
        decide(in_state(state), SendStart("r9", "anna"), T0)


def test_cancel_before_any_start() -> None:
    decision = decide(opened(), Cancel("anna"), T0)
    assert decision.state.state is S.CANCELLED and not decision.state.active
    assert decision.messages == (UpdateCancelled(site_id="shop-1", update_id="u1"),)


def test_cannot_cancel_after_start() -> None:
    with pytest.raises(NotAllowed, match="no longer be cancelled"):
        decide(in_state(S.NOTIFYING), Cancel("anna"), T0)
    with pytest.raises(NotAllowed):
        decide(in_state(S.SERVER_UPDATED), Cancel("anna"), T0)


# --- phase 2 (U6, U7, U8) -------------------------------------------------------------------


def test_server_update_only_when_every_enabled_device_waits() -> None:
    with pytest.raises(NotAllowed, match="1 of 3 enabled devices are not waiting"):
        decide(in_state(S.NOTIFYING), StartServerUpdate("anna", fleet=TWO_WAITING), T0)
    decision = decide(in_state(S.NOTIFYING),
                      StartServerUpdate("anna", ("A", "B", "C"), fleet=ALL_WAITING), T0)
    assert decision.state.state is S.SERVER_UPDATING and decision.state.phase == 2
    assert decision.messages == (
        ServerUpdateStarted(site_id="shop-1", update_id="u1", forced=False,
                            waiting_serials=("A", "B", "C")),
        InstallRequested(site_id="shop-1", update_id="u1", package=PACKAGE),
    )


def test_server_update_with_no_enabled_devices_is_allowed() -> None:
    decision = decide(opened(), StartServerUpdate("anna", fleet=FleetSummary()), T0)
    assert decision.state.state is S.SERVER_UPDATING


def test_commands_that_count_devices_cannot_be_made_without_the_fleet_summary() -> None:
    """A handler cannot forget to read the fleet: the command does not exist without it."""
    for make in (lambda: StartServerUpdate("anna"), lambda: RequestForce("anna"),  # type: ignore[call-arg]
                 lambda: ApproveForce("bruno", site_admins=2),  # type: ignore[call-arg]
                 lambda: Conclude("anna")):  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="fleet"):
            make()


def test_server_update_not_twice() -> None:
    with pytest.raises(NotAllowed):
        decide(in_state(S.SERVER_UPDATING), StartServerUpdate("anna", fleet=ALL_WAITING), T0)


def test_force_needs_two_distinct_admins_or_password_reconfirmation() -> None:
    requested = decide(in_state(S.NOTIFYING), RequestForce("anna", fleet=TWO_WAITING), T0).state
    assert requested.force_requested_by == "anna" and requested.state is S.NOTIFYING
    two = decide(requested, ApproveForce("bruno", site_admins=2, waiting_serials=("A", "B"),
                                         fleet=TWO_WAITING), T0)
    assert two.state.forced and two.state.authorized_by == ("anna", "bruno")
    assert two.messages[0] == ServerUpdateStarted(site_id="shop-1", update_id="u1", forced=True,
                                                  waiting_serials=("A", "B"))
    one = decide(requested, ApproveForce("anna", site_admins=1, password_reentered=True,
                                         fleet=TWO_WAITING), T0)
    assert one.state.authorized_by == ("anna", "anna (single admin, password re-entered)")


def test_force_is_for_when_not_every_device_waits() -> None:
    with pytest.raises(NotAllowed, match="start the update normally"):
        decide(in_state(S.NOTIFYING), RequestForce("anna", fleet=ALL_WAITING), T0)


def test_installer_progress_and_heartbeat_are_recorded() -> None:
    update = in_state(S.SERVER_UPDATING)
    started = decide(update, InstallStarted(site_id="shop-1", update_id="u1", started_at=T0),
                     T0).state
    progressed = decide(started, InstallProgressed(site_id="shop-1", update_id="u1",
                                                   line="copying", percent=40),
                        T0 + timedelta(seconds=5)).state
    beat = decide(progressed, AgentHeartbeat(site_id="shop-1", update_id="u1",
                                             at=T0 + timedelta(seconds=9)), T0).state
    assert beat.agent.install_started_at == T0
    assert (beat.agent.last_progress, beat.agent.last_percent) == ("copying", 40)
    assert beat.agent.last_heartbeat == T0 + timedelta(seconds=9)
    older = decide(beat, AgentHeartbeat(site_id="shop-1", update_id="u1", at=T0), T0)
    assert not older.changed


def test_silent_agent_is_not_responding_but_not_failed() -> None:
    update = decide(in_state(S.SERVER_UPDATING),
                    AgentHeartbeat(site_id="shop-1", update_id="u1", at=T0), T0).state
    assert not agent_not_responding(update, T0 + timedelta(seconds=60), 60)
    assert agent_not_responding(update, T0 + timedelta(seconds=61), 60)
    assert update.state is S.SERVER_UPDATING
    assert not agent_not_responding(in_state(S.SERVER_UPDATED), T0 + timedelta(hours=1), 60)


def test_install_succeeded_moves_to_phase_3() -> None:
    event = InstallSucceeded(site_id="shop-1", update_id="u1", installed_version="03.01.00_031",
                             duration_s=12)
    decision = decide(in_state(S.SERVER_UPDATING), event, T0)
    assert decision.state.state is S.SERVER_UPDATED and decision.state.phase == 3
    assert not decision.state.devices_released
    assert decision.messages == (ServerUpdated(site_id="shop-1", update_id="u1", product="shop",
                                               installed_version="03.01.00_031"),)
    assert decision.effects == (SetProductVersion("shop", "03.01.00_031"),)
    assert not decide(decision.state, event, T0).changed  # redelivered: nothing happens


def test_install_failed_fails_the_update_until_resolved() -> None:
    event = InstallFailed(site_id="shop-1", update_id="u1", reason="installer exited with 2",
                          exit_code=2, log_tail="boom")
    decision = decide(in_state(S.SERVER_UPDATING), event, T0)
    failed = decision.state
    assert failed.state is S.FAILED and failed.active
    assert failed.failure is not None and failed.failure.exit_code == 2
    assert failed.failed_at == T0  # since when it waits for support (the vendor's view)
    assert decision.messages == (UpdateFailed(site_id="shop-1", update_id="u1",
                                              reason="installer exited with 2"),)
    for command in (SendStart("r", "anna"), SendEnd("r", "anna"),
                    Conclude("anna", True, fleet=ALL_WAITING), Cancel("anna")):
        with pytest.raises(NotAllowed, match="waits for vendor support: reactivate the devices"):
            decide(failed, command, T0)  # says what may be done instead
    command = OpenUpdate("u2", "shop-1", "shop", backups_confirmed=True, actor="anna")
    with pytest.raises(NotAllowed, match="vendor support must resolve it"):  # no retry before
        open_update(command, active=failed, release=downloaded(),
                    installed_version="03.01.00_030", now=T0)
    resolution = decide(failed, ResolveFailure("support"), T0)
    resolved = resolution.state
    assert resolved.state is S.RESOLVED and not resolved.active
    assert resolution.messages == (UpdateResolved(site_id="shop-1", update_id="u1",
                                                  resolved_by="support"),)


def test_reactivate_devices_after_failure_pushes_error_update() -> None:
    decision = decide(in_state(S.FAILED), ReactivateDevices("r5", "anna"), T0)
    assert decision.messages[0].kind == "error"  # type: ignore[union-attr]
    with pytest.raises(NotAllowed):
        decide(in_state(S.SERVER_UPDATED), ReactivateDevices("r5", "anna"), T0)


def test_installer_events_of_another_update_are_ignored() -> None:
    event = InstallSucceeded(site_id="shop-1", update_id="other", installed_version="03.01.00_031",
                             duration_s=1)
    assert not decide(in_state(S.SERVER_UPDATING), event, T0).changed


# --- phase 3 (U9, U11) ----------------------------------------------------------------------


def test_end_only_in_phase_3_and_first_end_releases_devices() -> None:
    for state in (S.OPEN, S.NOTIFYING, S.SERVER_UPDATING, S.FAILED):
        with pytest.raises(NotAllowed, match="phase 3"):
            decide(in_state(state), SendEnd("r1", "anna"), T0)
    first = decide(in_state(S.SERVER_UPDATED), SendEnd("e1", "anna"), T0)
    assert first.state.devices_released
    assert first.messages == (
        DevicesReleased(site_id="shop-1", update_id="u1", package=PACKAGE),
        DeviceNotificationRequested(site_id="shop-1", update_id="u1", kind="end", serials=None,
                                    request_id="e1"),
    )
    again = decide(first.state, SendEnd("e2", "anna", ("IMEI1",)), T0)
    assert [m.type for m in again.messages] == ["lockstep.device.notification-requested"]


def test_conclude_with_devices_not_updated_needs_confirmation() -> None:
    phase3 = in_state(S.SERVER_UPDATED)
    fleet = FleetSummary(enabled=3, on_target=1)
    with pytest.raises(ConfirmationNeeded, match="2 of 3") as refused:
        decide(phase3, Conclude("anna", fleet=fleet), T0)
    assert refused.value.not_updated == 2
    decision = decide(phase3, Conclude("anna", confirm_not_updated=True, fleet=fleet), T0)
    assert decision.state.state is S.CONCLUDED and decision.state.closed_at == T0
    # U11/D10: the package travels along, so late devices install the site's version.
    assert decision.messages == (UpdateConcluded(site_id="shop-1", update_id="u1",
                                                 product="shop", version="03.01.00_031",
                                                 package=PACKAGE),)
    assert decision.effects == (PublishSiteConfiguration(), SettleDevices())


def test_conclude_any_time_in_phase_3_even_before_end() -> None:
    decision = decide(in_state(S.SERVER_UPDATED),
                      Conclude("anna", fleet=FleetSummary(enabled=2, on_target=2)), T0)
    assert decision.state.state is S.CONCLUDED


def test_conclude_only_in_phase_3_and_never_reopened() -> None:
    for state in (S.OPEN, S.NOTIFYING, S.SERVER_UPDATING, S.FAILED):
        with pytest.raises(NotAllowed, match="phase 3"):
            decide(in_state(state), Conclude("anna", True, fleet=ALL_WAITING), T0)
    concluded = in_state(S.CONCLUDED)
    assert not concluded.active
    for command in (SendEnd("e", "anna"), SendStart("s", "anna"),
                    Conclude("anna", True, fleet=ALL_WAITING)):
        with pytest.raises(NotAllowed):
            decide(concluded, command, T0)


def test_persisted_state_values_are_stable() -> None:
    assert [s.value for s in UpdateState] == [
        "awaiting_code", "open", "notifying", "server_updating", "server_updated",
        "concluded", "failed", "resolved", "cancelled",
    ]


def test_a_failed_update_blocks_a_new_one_until_support_resolves_it() -> None:
    failed = replace(opened(), state=S.FAILED)
    command = OpenUpdate(update_id="u2", site_id="shop-1", product="shop",
                         backups_confirmed=True, actor="anna", challenge=CHALLENGE)
    with pytest.raises(NotAllowed, match="vendor support must resolve it") as refused:
        open_update(command, active=failed, release=downloaded(),
                    installed_version="03.01.00_030", now=T0)
    assert "cancel it first" not in str(refused.value)


def test_reactivating_the_devices_is_remembered_for_the_banner() -> None:
    failed = replace(opened(), state=S.FAILED)
    decision = decide(failed, ReactivateDevices("r1", "anna"), T0)
    assert decision.state.devices_reactivated_at == T0
    again = decide(decision.state, ReactivateDevices("r2", "anna"), T0 + timedelta(minutes=1))
    assert again.state.devices_reactivated_at == T0
