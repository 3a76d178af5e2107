"""The hawkBit DDI mapping of the coordinated update (D14, issue 15): pure rules."""

from __future__ import annotations

import pytest

from device_gateway.domain.ddi import (
    Action,
    FeedbackRefused,
    Handling,
    Outcome,
    Purpose,
    Waiting,
    action_to_show,
    counts_as_waiting,
    decide_deployment,
    details_note,
    failure_note,
    interpret_cancel_feedback,
    interpret_feedback,
    polling_sleep,
    to_cancel,
    version_in_attributes,
    version_reported,
)
from device_gateway.domain.updates import Package, Phase, SiteUpdate

OLD, NEW = "03.01.00_030", "03.01.00_031"
PKG = Package("shop", NEW, "a" * 64, 100, "http://watcher/a")
SITE_PKG = Package("shop", OLD, "b" * 64, 90, "http://watcher/b")


def update(phase: Phase, update_id: str = "u1") -> SiteUpdate:
    return SiteUpdate(update_id, phase, PKG)


# --- what a DDI device is offered, phase by phase ------------------------------------------


@pytest.mark.parametrize("phase", [Phase.PREPARING, Phase.SERVER_UPDATING])
def test_before_end_a_staging_model_stages_and_never_installs(phase: Phase) -> None:
    shown = decide_deployment(update(phase), app_version=OLD, waiting=Waiting.STAGED)
    assert shown is not None
    assert (shown.download, shown.update, shown.maintenance_window) == (
        Handling.FORCED, Handling.SKIP, "unavailable")
    assert shown.package == PKG and shown.update_id == "u1" and shown.stages_only


@pytest.mark.parametrize("phase", [Phase.PREPARING, Phase.SERVER_UPDATING])
def test_before_end_an_admin_blocked_model_is_offered_nothing(phase: Phase) -> None:
    """rauc-hawkbit installs whatever it is offered, whatever `update` says: before END such
    an agent must not see the package at all."""
    assert decide_deployment(update(phase), app_version=OLD, waiting=Waiting.ADMIN) is None


def test_after_end_the_update_is_forced_with_the_window_open() -> None:
    shown = decide_deployment(update(Phase.RELEASED), app_version=OLD, waiting=Waiting.STAGED)
    assert shown is not None
    assert (shown.download, shown.update, shown.maintenance_window) == (
        Handling.FORCED, Handling.FORCED, "available")
    assert shown.purpose is Purpose.UPDATE
    admin = decide_deployment(update(Phase.RELEASED), app_version=OLD, waiting=Waiting.ADMIN)
    assert admin is not None and admin.update is Handling.FORCED
    assert admin.maintenance_window is None  # no window was ever announced to it


@pytest.mark.parametrize("phase", list(Phase))
def test_a_device_on_the_target_version_is_offered_nothing(phase: Phase) -> None:
    assert decide_deployment(update(phase), app_version=NEW, waiting=Waiting.STAGED) is None


def test_outside_an_update_the_site_version_is_a_forced_deployment_downgrade_included() -> None:
    shown = decide_deployment(None, app_version="03.02.00_001", waiting=Waiting.ADMIN,
                              site_package=SITE_PKG)
    assert shown is not None and shown.package == SITE_PKG
    assert (shown.purpose, shown.update, shown.update_id) == (
        Purpose.SITE_VERSION, Handling.FORCED, None)
    assert decide_deployment(None, app_version=OLD, waiting=Waiting.ADMIN,
                             site_package=SITE_PKG) is None


def test_the_resource_parameter_changes_when_the_deployment_does() -> None:
    staging = decide_deployment(update(Phase.PREPARING), app_version=OLD, waiting=Waiting.STAGED)
    forced = decide_deployment(update(Phase.RELEASED), app_version=OLD, waiting=Waiting.STAGED)
    assert staging is not None and forced is not None
    assert staging.resource(7) != forced.resource(7)
    assert staging.resource(7) == staging.resource(7)


# --- which action carries it ---------------------------------------------------------------


def action(closed: Outcome | None = None, **more: object) -> Action:
    return Action(7, Purpose.UPDATE, "u1", PKG.sha256, closed=closed, **more)  # type: ignore[arg-type]


def test_the_open_action_carries_the_deployment_from_phase_1_to_phase_3() -> None:
    staging = decide_deployment(update(Phase.PREPARING), app_version=OLD, waiting=Waiting.STAGED)
    assert action_to_show(staging, []).new
    forced = decide_deployment(update(Phase.RELEASED), app_version=OLD, waiting=Waiting.STAGED)
    assert action_to_show(forced, [action(staged=True)]).action == action(staged=True)
    assert action_to_show(None, [action()]).nothing


def test_a_skipped_staging_is_not_offered_again_but_the_install_is_a_new_action() -> None:
    skipped = [action(Outcome.SKIPPED)]
    staging = decide_deployment(update(Phase.PREPARING), app_version=OLD, waiting=Waiting.STAGED)
    forced = decide_deployment(update(Phase.RELEASED), app_version=OLD, waiting=Waiting.STAGED)
    assert action_to_show(staging, skipped).nothing
    assert action_to_show(forced, skipped).new


def test_a_failed_install_is_offered_again_only_after_a_new_end_update() -> None:
    forced = decide_deployment(update(Phase.RELEASED), app_version=OLD, waiting=Waiting.ADMIN)
    failed = [action(Outcome.FAILED)]
    assert action_to_show(forced, failed).nothing
    assert action_to_show(forced, failed, end_pushed_after_failure=True).new


def test_error_update_cancels_the_open_action_of_the_failed_update_only() -> None:
    assert to_cancel(update(Phase.FAILED), [action()]) == action()
    assert to_cancel(update(Phase.FAILED), [action(Outcome.SKIPPED)]) is None
    assert to_cancel(update(Phase.FAILED, "u2"), [action()]) is None
    assert to_cancel(update(Phase.RELEASED), [action()]) is None


# --- feedback ------------------------------------------------------------------------------


def test_closed_success_is_a_version_report_only_after_a_forced_deployment() -> None:
    installed = interpret_feedback(action(), served_update=Handling.FORCED, execution="closed",
                                   finished="success")
    assert installed is Outcome.INSTALLED and version_reported(installed, NEW) == NEW
    skipped = interpret_feedback(action(), served_update=Handling.SKIP, execution="closed",
                                 finished="success")  # SWUpdate's answer to `update: skip`
    assert skipped is Outcome.SKIPPED and version_reported(skipped, NEW) is None


def test_downloaded_stages_a_staging_deployment_and_is_mere_progress_otherwise() -> None:
    assert interpret_feedback(action(), served_update=Handling.SKIP, execution="downloaded",
                              finished="none") is Outcome.STAGED
    assert interpret_feedback(action(), served_update=Handling.FORCED, execution="downloaded",
                              finished="none") is Outcome.PROGRESS


@pytest.mark.parametrize(("execution", "finished", "outcome"), [
    ("closed", "failure", Outcome.FAILED),
    ("proceeding", "failure", Outcome.PROGRESS),  # rauc-hawkbit's LastError: not final yet
    ("proceeding", "none", Outcome.PROGRESS),
    ("scheduled", "none", Outcome.PROGRESS),
    ("resumed", "none", Outcome.PROGRESS),
    ("rejected", "none", Outcome.REJECTED),
    ("canceled", "success", Outcome.CANCELED),
])
def test_feedback_outcomes(execution: str, finished: str, outcome: Outcome) -> None:
    assert interpret_feedback(action(), served_update=Handling.FORCED, execution=execution,
                              finished=finished) is outcome


def test_feedback_outside_ddi_is_refused_with_what_was_wrong() -> None:
    with pytest.raises(FeedbackRefused, match=r"status\.execution 'done'"):
        interpret_feedback(action(), served_update=None, execution="done", finished="success")
    with pytest.raises(FeedbackRefused, match="finished 'ok'"):
        interpret_feedback(action(), served_update=None, execution="closed", finished="ok")


def test_cancel_feedback_confirmed_or_rejected() -> None:
    assert interpret_cancel_feedback("closed", "success") is Outcome.CANCELED  # SWUpdate
    assert interpret_cancel_feedback("canceled", "success") is Outcome.CANCELED
    assert interpret_cancel_feedback("rejected", "success") is Outcome.REJECTED  # rauc-hawkbit
    assert interpret_cancel_feedback("proceeding", "none") is Outcome.PROGRESS


# --- waiting for update (issue 9 §1) --------------------------------------------------------


def test_a_staged_package_counts_as_waiting_only_by_the_models_rule_in_phase_1() -> None:
    staged = action(staged=True)
    assert counts_as_waiting(Outcome.STAGED, waiting=Waiting.STAGED, action=staged,
                             update=update(Phase.PREPARING))
    assert not counts_as_waiting(Outcome.STAGED, waiting=Waiting.ADMIN, action=staged,
                                 update=update(Phase.PREPARING))
    assert not counts_as_waiting(Outcome.STAGED, waiting=Waiting.STAGED, action=staged,
                                 update=update(Phase.SERVER_UPDATING))
    assert not counts_as_waiting(Outcome.STAGED, waiting=Waiting.STAGED, action=staged,
                                 update=update(Phase.PREPARING, "u2"))
    assert not counts_as_waiting(Outcome.PROGRESS, waiting=Waiting.STAGED, action=staged,
                                 update=update(Phase.PREPARING))


# --- small formats ------------------------------------------------------------------------


def test_polling_sleep_is_hh_mm_ss() -> None:
    assert polling_sleep(2) == "00:00:02"
    assert polling_sleep(3725) == "01:02:05"
    assert polling_sleep(0) == "00:00:01"
    assert polling_sleep(10**9) == "23:59:59"


def test_the_version_an_agent_states_in_its_attributes() -> None:
    assert version_in_attributes({"MAC": "ff", "app_version": NEW}) == NEW
    assert version_in_attributes({"swVersion": " 2.0 "}) == "2.0"
    assert version_in_attributes({"MAC": "ff"}) is None
    assert version_in_attributes({"version": "build #7 (beta)", "sw_version": "2.1"}) == "2.1"
    assert version_in_attributes({"version": "1" * 65}) is None


def test_details_note_keeps_the_last_lines_short() -> None:
    lines = [f"line {i}" for i in range(20)] + ["", "ERROR : checksum\n mismatch"]
    note = details_note(lines, limit=3)
    assert note == "line 18 | line 19 | ERROR : checksum mismatch"
    assert len(details_note(["x" * 1000], width=50)) == 50


def test_a_failure_note_keeps_the_agents_lines_before_the_close() -> None:
    earlier = "Installing Update Chunk Artifacts. | ERROR : SW not compatible with hardware"
    assert failure_note(earlier, ["No suitable .swu image found"]) == (
        "Installing Update Chunk Artifacts. | ERROR : SW not compatible with hardware | "
        "No suitable .swu image found")
    assert failure_note(None, ["Installation failed"]) == "Installation failed"
    assert failure_note(" | ".join(f"l{i}" for i in range(10)), ["end"]).startswith("l3 | ")
