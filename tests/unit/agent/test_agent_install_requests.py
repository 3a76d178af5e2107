import pytest

from installer_agent.domain.installs import (
    INTERRUPTED_REASON,
    AfterRestart,
    ConflictingRequest,
    InstallRecord,
    InstallStatus,
    Outcome,
    RequestDecision,
    Stage,
    after_restart,
    interrupted,
    on_request,
    refused,
    stage_of,
)
from lockstep_shared.catalogue import PackageRef

PACKAGE = PackageRef(product="shop", version="1.2.0", sha256="a" * 64, size=10,
                     url="http://watcher/watcher/v1/artifacts/" + "a" * 64)


def record(status: InstallStatus, sha256: str = "a" * 64) -> InstallRecord:
    return InstallRecord("u1", "site-a", "shop", "1.2.0", sha256, status)


def test_a_new_update_is_recorded() -> None:
    assert on_request(None, PACKAGE) is RequestDecision.RECORD


@pytest.mark.parametrize("status", [InstallStatus.REQUESTED, InstallStatus.RUNNING])
def test_a_repeated_command_for_an_install_in_hand_does_nothing(status: InstallStatus) -> None:
    assert on_request(record(status), PACKAGE) is RequestDecision.IN_HAND


@pytest.mark.parametrize(
    "status", [InstallStatus.SUCCEEDED, InstallStatus.FAILED, InstallStatus.INTERRUPTED]
)
def test_a_repeated_command_for_a_finished_install_reports_it_again(status: InstallStatus) -> None:
    assert on_request(record(status), PACKAGE) is RequestDecision.REPORT_AGAIN


def test_a_command_reusing_an_update_id_for_another_package_is_refused() -> None:
    with pytest.raises(ConflictingRequest, match="cannot reuse"):
        on_request(record(InstallStatus.SUCCEEDED, sha256="b" * 64), PACKAGE)


def test_interrupted_is_a_failure_flagged_interrupted_with_the_tail_so_far() -> None:
    message = interrupted("step 1\nstep 2").message("site-a", "u1")
    assert message.type == "lockstep.install.failed"
    assert message.interrupted is True and message.reason == INTERRUPTED_REASON
    assert message.log_tail == "step 1\nstep 2"
    assert message.stage == "installer"
    assert interrupted("", "backup").message("site-a", "u1").stage == "backup"


def test_refused_before_running_has_no_exit_code_and_says_pre_flight() -> None:
    message = refused("package hash mismatch").message("site-a", "u1")
    assert message.exit_code is None and message.reason == "pre-flight: package hash mismatch"
    assert message.stage == "preflight"
    assert refused("pre-flight: disk").reason == "pre-flight: disk"  # never doubled


def test_a_stage_read_back_from_storage() -> None:
    assert stage_of("restore") == "restore"
    assert stage_of(None) == "installer"  # rows from before stages existed
    assert stage_of("garbage", "version") == "version"


def test_a_success_has_no_stage() -> None:
    outcome = Outcome(InstallStatus.SUCCEEDED, installed_version="1.2.0")
    assert outcome.message("site-a", "u1").type == "lockstep.install.succeeded"


def test_an_unfinished_install_has_no_outcome_message() -> None:
    with pytest.raises(ValueError):
        Outcome(InstallStatus.RUNNING).message("site-a", "u1")


@pytest.mark.parametrize(
    ("stage", "launched", "has_status", "running", "expected"),
    [
        ("installer", True, False, True, AfterRestart.FOLLOW),  # still running: re-attach
        ("installer", True, True, False, AfterRestart.FOLLOW),  # finished: its real outcome
        ("version", True, True, False, AfterRestart.FOLLOW),  # read the version again
        ("installer", False, False, False, AfterRestart.INTERRUPTED),  # never launched
        ("installer", True, False, False, AfterRestart.INTERRUPTED),  # status lost
        ("backup", False, False, False, AfterRestart.INTERRUPTED),  # backup cut short
        ("restore", True, True, False, AfterRestart.INTERRUPTED),  # never restore twice
    ],
)
def test_after_a_restart_only_a_launched_installer_with_a_future_is_followed(
    stage: Stage, launched: bool, has_status: bool, running: bool, expected: AfterRestart
) -> None:
    assert after_restart(stage, launched=launched, has_status=has_status,
                         launcher_running=running) is expected
