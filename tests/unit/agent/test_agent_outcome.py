import pytest

from installer_agent.domain.installs import InstallStatus
from installer_agent.domain.outcome import (
    CommandRun,
    ProgressThrottle,
    decide_outcome,
    log_tail,
    progress_percent,
    reported_version,
)


def decide(installer: CommandRun, probe: CommandRun | None, version: str = "1.2.0"):
    return decide_outcome(
        requested_version=version,
        installer=installer,
        version_probe=probe,
        installer_timeout_s=30,
        version_timeout_s=5,
        duration_s=2.5,
        tail="a\nb",
    )


OK = CommandRun(exit_code=0, output=("done",))


def test_success_reports_the_version_the_host_printed() -> None:
    outcome = decide(OK, CommandRun(0, output=("", "01.02.00", "")), version="1.2.0")
    assert outcome.status is InstallStatus.SUCCEEDED
    assert outcome.installed_version == "01.02.00"  # numerically equal, reported as printed
    assert outcome.duration_s == 2.5 and outcome.log_tail == "a\nb"


def test_non_zero_exit_fails_with_its_code_and_tail() -> None:
    outcome = decide(CommandRun(3, output=("boom",)), None)
    assert outcome.status is InstallStatus.FAILED
    assert outcome.exit_code == 3 and outcome.reason == "the installer exited with code 3"
    assert outcome.log_tail == "a\nb"


def test_timeout_fails_saying_so() -> None:
    outcome = decide(CommandRun(-15, timed_out=True), None)
    assert outcome.status is InstallStatus.FAILED
    assert outcome.reason == "the installer did not finish within 30 s and was killed"


def test_killed_by_a_signal_fails_saying_which() -> None:
    assert "signal 9" in (decide(CommandRun(-9), None).reason or "")


def test_installer_that_could_not_start_fails() -> None:
    outcome = decide(CommandRun(None, output=("cannot start 'x'",)), None)
    assert outcome.status is InstallStatus.FAILED and outcome.exit_code is None


def test_version_command_failing_fails_the_install() -> None:
    outcome = decide(OK, CommandRun(1, output=("shop is not installed",)))
    assert outcome.status is InstallStatus.FAILED and outcome.exit_code == 0
    assert "version command failed" in (outcome.reason or "")
    assert "shop is not installed" in (outcome.reason or "")


def test_version_command_printing_another_version_fails_the_install() -> None:
    outcome = decide(OK, CommandRun(0, output=("1.1.9",)))
    assert outcome.status is InstallStatus.FAILED
    assert outcome.reason == (
        "the installer finished but the host reports version 1.1.9, not the requested 1.2.0"
    )


@pytest.mark.parametrize("printed", [(), ("  ",), ("version one",)])
def test_version_command_printing_no_version_fails_the_install(printed: tuple[str, ...]) -> None:
    assert decide(OK, CommandRun(0, output=printed)).status is InstallStatus.FAILED


def test_outcomes_become_the_catalogue_messages() -> None:
    ok = decide(OK, CommandRun(0, output=("1.2.0",))).message("site-a", "u1")
    assert ok.type == "lockstep.install.succeeded" and ok.installed_version == "1.2.0"
    bad = decide(CommandRun(2), None).message("site-a", "u1")
    assert bad.type == "lockstep.install.failed" and bad.exit_code == 2 and not bad.interrupted


def test_log_tail_keeps_the_last_lines() -> None:
    assert log_tail([str(i) for i in range(10)], 3) == "7\n8\n9"
    assert reported_version(["x", "1.0", " "]) == "1.0"


@pytest.mark.parametrize(
    ("line", "percent"),
    [("progress 40% copying", 40), ("50 % then 60%", 60), ("no number", None),
     ("disk 250% full", None), ("100%", 100)],
)
def test_progress_percent(line: str, percent: int | None) -> None:
    assert progress_percent(line) == percent


def test_progress_is_throttled_to_the_newest_line_per_interval() -> None:
    throttle = ProgressThrottle(0.5)
    assert throttle.offer("a", now=10.0) == "a"
    assert throttle.offer("b", now=10.1) is None
    assert throttle.offer("c", now=10.2) is None
    assert throttle.due(now=10.3) is None
    assert throttle.due(now=10.6) == "c"
    assert throttle.offer("d", now=10.7) is None
    assert throttle.flush() == "d"
    assert throttle.flush() is None
    assert throttle.offer("e", now=11.2) == "e"


def test_a_failed_backup_fails_the_install_saying_nothing_was_installed() -> None:
    from installer_agent.domain.outcome import backup_failed

    outcome = backup_failed(CommandRun(4), 60, tail="no space", duration_s=1.0)
    assert outcome.status is InstallStatus.FAILED and outcome.exit_code == 4
    assert outcome.reason == (
        "backup failed: the backup command exited with code 4; nothing was installed"
    )
    assert outcome.stage == "backup"


def test_the_restore_result_is_added_to_the_failure_reason() -> None:
    from installer_agent.domain.outcome import with_restore

    failed = decide(CommandRun(2), None)
    restored = with_restore(failed, CommandRun(0), 60)
    assert restored.reason == "the installer exited with code 2; the restore command completed"
    assert restored.exit_code == 2 and restored.stage == "installer"
    broken = with_restore(failed, CommandRun(None, timed_out=True), 60)
    assert broken.reason is not None
    assert broken.reason.endswith(
        "the restore command FAILED too: the restore command did not finish within 60 s and "
        "was killed"
    )
    assert broken.stage == "restore"  # the host's state is unknown now


def test_a_failing_installer_is_stage_installer_a_wrong_version_is_stage_version() -> None:
    assert decide(CommandRun(3), None).stage == "installer"
    assert decide(CommandRun(None, timed_out=True), None).stage == "installer"
    assert decide(OK, None).stage == "version"
    assert decide(OK, CommandRun(1, output=("no",))).stage == "version"
    assert decide(OK, CommandRun(0, output=("1.1.0",))).stage == "version"
    assert decide(OK, CommandRun(0, output=("1.2.0",))).stage is None
