"""A2 pre-flight decisions: desktop processes still running, free disk, tasklist parsing."""

from __future__ import annotations

import pytest

from installer_agent.domain.preflight import (
    MB,
    RunningProcess,
    cmdline_program,
    disk_refusal,
    parse_tasklist,
    process_key,
    processes_refusal,
    required_free_bytes,
    still_running,
)
from installer_agent.settings import AgentSettings

HOST = [
    RunningProcess(1, ("systemd", "systemd")),
    RunningProcess(410, ("sleep", "shopdesk")),  # exec -a shopdesk sleep 30
    RunningProcess(411, ("shopdesk", "/opt/shop/bin/shopdesk")),
    RunningProcess(500, ("shopdesk-client", "shopdesk-client-gui")),
    RunningProcess(600, ("ShopDesk.exe",)),
    RunningProcess(700, ("shopdesk-helper", "/usr/bin/shopdesk-helper")),
]


def test_nothing_configured_refuses_nothing() -> None:
    assert still_running([], HOST) == {}
    assert still_running(["", "  "], HOST) == {}
    assert processes_refusal({}) is None


def test_a_configured_process_is_found_by_comm_or_argv0_and_case_or_exe_do_not_matter() -> None:
    assert still_running(["shopdesk"], HOST) == {"shopdesk": [410, 411, 600]}
    assert still_running(["SHOPDESK.EXE"], HOST) == {"SHOPDESK.EXE": [410, 411, 600]}


def test_a_similar_name_is_not_the_configured_process() -> None:
    assert still_running(["shop"], HOST) == {}
    assert still_running(["shopdesk-help"], HOST) == {}


def test_a_long_name_truncated_by_proc_comm_still_matches() -> None:
    only_comm = [RunningProcess(900, ("shopdesk-client",))]  # comm keeps 15 characters
    assert still_running(["shopdesk-client-gui"], only_comm) == {"shopdesk-client-gui": [900]}
    # The kernel's truncation makes "shopdesk-client…" ambiguous: refusing is the safe side.
    assert still_running(["shopdesk-client-cli"], HOST) == {"shopdesk-client-cli": [500]}
    short = [RunningProcess(901, ("shopdesk-clien",))]  # 14 characters: not a truncation
    assert still_running(["shopdesk-client-gui"], short) == {}


def test_the_agent_itself_is_never_a_reason_to_refuse() -> None:
    assert still_running(["shopdesk"], HOST, own_pid=411) == {"shopdesk": [410, 600]}


def test_the_refusal_names_the_processes_their_pids_and_what_to_do() -> None:
    reason = processes_refusal({"shopdesk": [410, 411], "report-viewer": [7]})
    assert reason == (
        "shopdesk (pid 410, 411), report-viewer (pid 7) still running on the server; close "
        "them on every desktop of the server host (ask the users to quit), then start the "
        "update again"
    )
    assert "close it on every desktop" in (processes_refusal({"shopdesk": [1]}) or "")


@pytest.mark.parametrize(
    ("name", "key"),
    [("ShopDesk.exe", "shopdesk"), ("/opt/shop/bin/shopdesk", "shopdesk"),
     ("C:\\Program Files\\Shop\\ShopDesk.EXE", "shopdesk"), ("shop.exe.bak", "shop.exe.bak")],
)
def test_process_names_compare_by_basename_without_case_or_exe(name: str, key: str) -> None:
    assert process_key(name) == key


def test_tasklist_csv_output_is_parsed_into_processes() -> None:
    output = (
        '\r\n"System Idle Process","0","Services","0","8 K"\r\n'
        '"ShopDesk.exe","4312","Console","1","120,456 K"\r\n'
        '"Image, with comma.exe","77","Console","1","1.024 K"\r\n'
        "INFO: No tasks are running which match the specified criteria.\r\n"
    )
    processes = parse_tasklist(output)
    assert processes == [
        RunningProcess(0, ("System Idle Process",)),
        RunningProcess(4312, ("ShopDesk.exe",)),
        RunningProcess(77, ("Image, with comma.exe",)),
    ]
    assert still_running(["shopdesk"], processes) == {"shopdesk": [4312]}


def test_argv0_is_read_from_a_nul_separated_cmdline() -> None:
    assert cmdline_program(b"/usr/bin/shopdesk\0--fullscreen\0") == "/usr/bin/shopdesk"
    assert cmdline_program(b"") is None  # kernel thread


def test_by_default_twice_the_package_and_at_least_100_mb_are_needed() -> None:
    assert required_free_bytes(10 * MB, None) == 100 * MB
    assert required_free_bytes(300 * MB, None) == 600 * MB
    assert required_free_bytes(300 * MB, 50) == 50 * MB  # configured: exactly that
    assert required_free_bytes(300 * MB, 0) == 0


def test_disk_refusal_says_how_much_is_free_needed_and_to_free() -> None:
    assert disk_refusal(600 * MB, 600 * MB, "/srv/shop") is None
    assert disk_refusal(150 * MB, 600 * MB, "/srv/shop") == (
        "not enough free disk on /srv/shop: 150 MB free, 600 MB needed; free at least 450 MB "
        "there (old backups, logs, downloads), then start the update again"
    )


@pytest.mark.parametrize(
    ("env", "names"),
    [('["ShopDesk.exe", "report viewer"]', ["ShopDesk.exe", "report viewer"]),
     ("shopdesk, report-viewer ,", ["shopdesk", "report-viewer"]),
     ("", [])],
)
def test_processes_setting_takes_a_json_list_or_comma_separated_names(
    env: str, names: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKSTEP_AGENT_REQUIRED_STOPPED_PROCESSES", env)
    monkeypatch.setenv("LOCKSTEP_AGENT_SITE_ID", "site-a")
    monkeypatch.setenv("LOCKSTEP_AGENT_INSECURE_UNVERIFIED_INSTALLS", "true")
    settings = AgentSettings()  # type: ignore[call-arg]
    assert settings.required_stopped_processes == names
    assert settings.min_free_disk_mb is None
