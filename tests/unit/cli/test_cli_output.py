"""What a person reads: tables, fields, and the renderings of the API's answers."""

from __future__ import annotations

from typing import Any

from lockstep_tools.cli import output
from lockstep_tools.cli.devices import render_grid
from lockstep_tools.cli.sites import render_banner, render_gate, render_site
from lockstep_tools.cli.updates import render_update


def test_cells_read_as_words() -> None:
    assert output.cell(None) == "-"
    assert output.cell("") == "-"
    assert output.cell(True) == "yes"
    assert output.cell(False) == "no"
    assert output.cell(["a", "b"]) == "a, b"
    assert output.cell([]) == "-"
    assert output.cell({"serial": "X", "n": None}) == "serial=X, n=-"
    assert output.cell("2026-11-21T05:53:09.123456+00:00") == "2026-11-21 05:53:09Z"
    assert output.cell("2026-11-21T05:53:09+01:00") == "2026-11-21 05:53:09+0100"
    assert output.cell("not-a-timeT00:00:00000") == "not-a-timeT00:00:00000"


def test_a_table_aligns_its_columns_under_the_headings() -> None:
    text = output.table([{"a": "x", "b": 1}, {"a": "longer", "b": None}],
                        [("a", "A"), ("b", "B")])
    assert text.splitlines() == ["A       B", "x       1", "longer  -"]
    assert output.table([], [("a", "A")], empty="nothing") == "nothing"


def test_fields_align_their_values() -> None:
    assert output.fields([("site", "s1"), ("subscription", True)]).splitlines() == [
        "site:         s1", "subscription: yes"]


def update(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "update_id": "u1", "site_id": "shop-1", "product": "shop",
        "from_version": "03.01.00_030", "to_version": "03.01.00_031", "state": "notifying",
        "phase": 1, "devices_released": False, "forced": False, "authorized_by": [],
        "fleet": {"enabled": 3, "notified": 3, "delivered": 2, "blocked": 2, "waiting": 1,
                  "on_target": 0},
        "agent": {"last_heartbeat": None, "last_progress": None, "last_percent": None,
                  "not_responding": False},
        "failure": None, "notes_url": None, "opened_at": "2026-11-21T05:00:00+00:00",
        "opened_by": "anna", "concluded_at": None, "challenge": None,
        "code_attempts_left": None, "force_request": None, "version": 4}
    return base | changes


def test_an_update_shows_its_phase_fleet_and_who_opened_it() -> None:
    text = render_update(update())
    assert "release: shop 03.01.00_030 → 03.01.00_031" in text
    assert "state:   notifying (phase 1)" in text
    assert "enabled 3, notified 3, delivered 2, blocked 2, waiting 1, on target 0" in text
    assert "2026-11-21 05:00:00Z by anna" in text
    assert "challenge" not in text and "failure" not in text


def test_an_update_shows_how_long_the_devices_were_stopped() -> None:
    running = render_update(update(stop_time={
        "first_blocked_at": "2026-11-21T05:01:00Z", "last_back_at": None, "seconds": None,
        "complete": False}))
    assert "devices stopped: since 2026-11-21 05:01:00Z, some devices not back at work" \
        in running
    done = render_update(update(state="concluded", phase=None, stop_time={
        "first_blocked_at": "2026-11-21T05:01:00Z", "last_back_at": "2026-11-21T05:01:19Z",
        "seconds": 19.0, "complete": True}))
    assert "19.0 s (from 2026-11-21 05:01:00Z to 2026-11-21 05:01:19Z)" in done
    assert "devices stopped" not in render_update(update(stop_time=None))


def test_a_failed_update_shows_the_reason_and_the_log_tail() -> None:
    text = render_update(update(state="failed", phase=None, failure={
        "reason": "installer exited 3", "exit_code": 3, "log_tail": "line 1\nline 2\n"}))
    assert "failure:" in text and "installer exited 3 (exit code 3)" in text
    assert text.endswith("installer log tail:\nline 1\nline 2")


def test_a_silent_agent_is_not_responding_not_failed() -> None:
    text = render_update(update(state="server_updating", phase=2, agent={
        "last_heartbeat": "2026-11-21T05:01:00+00:00", "last_progress": "installing",
        "last_percent": 40, "not_responding": True}))
    assert "installing (40%) — NOT RESPONDING: do not interrupt" in text


def test_a_code_release_shows_the_challenge_and_what_to_do() -> None:
    text = render_update(update(state="awaiting_code", phase=None,
                                challenge="12345-67890-13579", code_attempts_left=5))
    assert "12345-67890-13579 (give it to the vendor; then lockstep update code u1" in text
    assert "attempts left: 5" in text


def test_a_forced_update_names_both_admins() -> None:
    text = render_update(update(forced=True, authorized_by=["anna", "bruno"],
                                force_request={"requested_by": "anna", "requested_at": None}))
    assert "authorized by anna, bruno" in text
    assert "force requested: by anna" in text


def test_banners_and_the_gate() -> None:
    none = render_banner({"state": "none", "colour": "none", "message": "Up to date.",
                          "details_url": None, "product": None, "version": None,
                          "update_id": None})
    assert none.splitlines() == ["banner:  no banner", "message: Up to date."]
    red = render_banner({"state": "red", "colour": "red", "message": "Update failed",
                         "details_url": "https://x/notes", "product": "shop",
                         "version": "2.0", "update_id": "u1"})
    assert "[RED] red" in red and "release: shop 2.0" in red and "update:  u1" in red
    assert render_gate({"open": True, "reason": None}).startswith("gate open")
    assert render_gate({"open": False, "reason": "server update"}) == \
        "gate CLOSED: server update"


def test_a_site_shows_its_releases_with_download_progress() -> None:
    text = render_site({
        "site_id": "shop-1", "name": "Shop", "check_interval_s": 14400,
        "products": [{"product": "shop", "version": "1.0"}],
        "entitlement": {"active": False, "reason": "expired", "valid_until": None,
                        "checked_at": None},
        "releases": [{"product": "shop", "version": "1.1", "status": "downloading",
                      "received_bytes": 50, "total_bytes": 200, "notes_url": None,
                      "requires_confirmation_code": True, "reason": None}]})
    assert "subscription: inactive: expired" in text
    release_line = text.splitlines()[-1].split()
    assert release_line[:5] == ["shop", "1.1", "downloading", "25%", "of"]


def test_the_grid_joins_operator_and_notification() -> None:
    text = render_grid({"target_version": "1.1", "counts": {"enabled": 1, "on_target": 0},
                        "devices": [{
                            "serial": "SN1", "model": "TC52", "operator_code": "OP1",
                            "operator_name": "Ada", "operator_phone": None, "last_sync": None,
                            "notifications_enabled": True, "notification_sent": True,
                            "notification_kind": "start",
                            "notification_outcome": "not_delivered",
                            "notification_note": "offline", "blocked": False,
                            "waiting_for_update": False, "app_version": "1.0",
                            "on_target_version": False, "notes": None}]})
    header, row = text.splitlines()[:2]
    assert header.split()[:3] == ["SERIAL", "MODEL", "OPERATOR"]
    assert "OP1 Ada" in row and "start: not_delivered (offline)" in row
    assert text.endswith("target version 1.1; enabled 1, on target 0")


def test_a_new_site_is_not_called_subscribed_before_anything_was_checked() -> None:
    site = {"site_id": "shop-1", "name": "Shop", "check_interval_s": 14400,
            "products": [{"product": "shop", "version": "1.0"}], "releases": [],
            "entitlement": {"active": True, "valid_until": None, "reason": None,
                            "checked_at": None}}
    assert "subscription: not checked yet" in render_site(site)
    checked = {**site, "entitlement": {**site["entitlement"],
                                       "checked_at": "2026-12-03T10:00:00Z"}}
    assert "subscription: active" in render_site(checked)


def test_an_empty_filtered_grid_says_what_it_means() -> None:
    grid = {"target_version": "1.1", "counts": {"enabled": 2, "on_target": 2}, "devices": []}
    assert render_grid(grid, "not_updated").startswith(
        "no device behind: every enabled device runs 1.1")
    assert render_grid(grid, "updated").startswith("no device runs 1.1 yet")
    assert render_grid(grid).startswith("no enabled devices")


def test_a_banner_waiting_for_the_platform_names_it() -> None:
    text = render_banner({"state": "green", "colour": "green", "message": "…",
                          "product": "shop", "version": "3.1", "platform_required": "05.01"})
    assert "first:   platform 05.01" in text
