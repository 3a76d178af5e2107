"""The command line itself: arguments, defaults, and usage errors (exit 2) before any call."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
from pathlib import Path

import pytest

from lockstep_tools.cli import audit, devices, sites
from lockstep_tools.cli.main import main, parser, vendor_arguments


def parse(*argv: str) -> argparse.Namespace:
    return parser().parse_args(devices.with_default_action(list(argv)))


@pytest.fixture(autouse=True)
def no_session(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOCKSTEP_CLI_CONFIG", str(tmp_path / "none.json"))
    monkeypatch.delenv("LOCKSTEP_URL", raising=False)
    monkeypatch.delenv("LOCKSTEP_TOKEN", raising=False)


def run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):  # argparse writes its usage errors there
        code = main(list(argv), out=io.StringIO(), err=err)
    return code, err.getvalue()


def test_devices_site_is_short_for_devices_list() -> None:
    assert devices.with_default_action(["devices", "shop-1"]) == ["devices", "list", "shop-1"]
    assert devices.with_default_action(["--json", "devices", "shop-1", "--filter", "updated"]) \
        == ["--json", "devices", "list", "shop-1", "--filter", "updated"]
    for unchanged in (["devices", "disable", "s", "x"], ["devices", "-h"], ["devices"],
                      ["sites", "devices"], ["banner", "devices"]):
        assert devices.with_default_action(unchanged) == unchanged
    args = parse("devices", "shop-1", "--filter", "not_updated")
    assert (args.action, args.site, args.filter) == ("list", "shop-1", "not_updated")


def test_an_unknown_grid_filter_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse("devices", "shop-1", "--filter", "some")
    assert exit_.value.code == 2
    assert "invalid choice: 'some'" in capsys.readouterr().err
    assert main(["devices", "shop-1", "--filter", "some"]) == 2
    assert main(["--help"]) == 0


def test_json_is_accepted_before_and_after_the_command() -> None:
    assert parse("--json", "sites", "list").json is True
    assert parse("sites", "list", "--json").json is True
    assert parse("update", "show", "u1", "--json").json is True
    assert parse("sites", "list").json is False


def test_products_are_product_equals_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert sites.product_version(" shop = 03.01.00_030") == ("shop", "03.01.00_030")
    for bad in ("shop", "=1.0", "shop=", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            sites.product_version(bad)
    with pytest.raises(SystemExit) as exit_:
        parse("sites", "create", "s", "--name", "n", "--license-key", "k",
              "--enrolment-code", "c", "--product", "shop")
    assert exit_.value.code == 2
    assert "'shop' is not PRODUCT=VERSION" in capsys.readouterr().err


def test_a_site_is_created_with_every_product_once() -> None:
    args = parse("sites", "create", "shop-1", "--name", "Shop 1", "--license-key", "LIC",
                 "--enrolment-code", "E", "--product", "shop=03.01.00_030",
                 "--product", "platform=2.0", "--check-interval", "600")
    assert sites.create_body(args) == {
        "site_id": "shop-1", "name": "Shop 1", "license_key": "LIC", "enrolment_code": "E",
        "products": [{"product": "shop", "version": "03.01.00_030"},
                     {"product": "platform", "version": "2.0"}],
        "check_interval_s": 600}
    twice = parse("sites", "create", "s", "--name", "n", "--license-key", "k",
                  "--enrolment-code", "c", "--product", "shop=1", "--product", "shop=2")
    code, err = run("sites", "create", "s", "--name", "n", "--license-key", "k",
                    "--enrolment-code", "c", "--product", "shop=1", "--product", "shop=2")
    assert twice.products == [("shop", "1"), ("shop", "2")]
    assert code == 2 and "a --product is given twice" in err


@pytest.mark.parametrize("interval", ["0", "-5", "soon"])
def test_a_check_interval_is_positive_seconds(interval: str) -> None:
    with pytest.raises(SystemExit):
        parse("sites", "create", "s", "--name", "n", "--license-key", "k",
              "--enrolment-code", "c", "--product", "shop=1", "--check-interval", interval)


def test_disabling_needs_both_confirmations_before_anything_is_sent() -> None:
    code, err = run("devices", "disable", "shop-1", "SN1", "--yes")
    assert code == 2
    assert "usage: lockstep devices disable" in err
    assert "needs both --yes and --yes-really" in err


def test_opening_an_update_needs_the_backups_confirmed() -> None:
    code, err = run("update", "open", "shop-1", "--product", "shop")
    assert code == 2
    assert "--backups-confirmed" in err


def test_device_codes_are_digits(capsys: pytest.CaptureFixture[str]) -> None:
    assert devices.device_code("123 456") == "123456"
    assert devices.device_code("123-456") == "123456"
    assert parse("devices", "code", "s", "SN", "--action", "block", "--code1", "123456"
                 ).code1 == "123456"
    with pytest.raises(SystemExit):
        parse("devices", "code", "s", "SN", "--action", "block", "--code1", "12ab56")
    assert "is not the digits the device shows" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse("devices", "code", "s", "SN", "--action", "wipe", "--code1", "123456")


def test_audit_times_are_iso_and_taken_as_utc_without_a_zone() -> None:
    assert audit.moment("2026-11-21") == "2026-11-21T00:00:00+00:00"
    assert audit.moment("2026-11-21T10:00:00Z") == "2026-11-21T10:00:00+00:00"
    assert audit.moment("2026-11-21T10:00:00+01:00") == "2026-11-21T10:00:00+01:00"
    code, err = run("audit", "--since", "yesterday")
    assert code == 2 and "is not an ISO date or time" in err
    args = parse("audit", "--site", "s", "--action", "login", "--limit", "5")
    assert audit.query(args) == {"site_id": "s", "update_id": None, "since": None,
                                 "until": None, "action": "login", "limit": 5}
    assert run("audit", "--limit", "0")[0] == 2


def test_serials_are_sent_once_each_or_null_for_every_device() -> None:
    from lockstep_tools.cli.updates import serials_body

    assert serials_body(None) == {"serials": None}
    assert serials_body(["A", "B", "A"]) == {"serials": ["A", "B"]}
    args = parse("update", "start-push", "u1", "--serial", "A", "--serial", "B")
    assert args.serials == ["A", "B"]


def test_force_approval_takes_the_password_one_way_only() -> None:
    with pytest.raises(SystemExit):
        parse("update", "force-approve", "u1", "--password-stdin", "--reenter-password")


def test_vendor_commands_go_to_the_vendor_tool(capsys: pytest.CaptureFixture[str]) -> None:
    assert vendor_arguments(["vendor", "publish", "repo"]) == ["publish", "repo"]
    assert vendor_arguments(["--json", "vendor"]) == []
    assert vendor_arguments(["sites", "vendor"]) is None
    code = main(["vendor", "confirmation-response", "--license-key", "LIC-1", "--challenge",
                 "12345 67890 13579", "--product", "shop", "--version", "03.01.00_031"])
    assert code == 0
    assert re.fullmatch(r"\d{5}-\d{5}-\d{5}\n", capsys.readouterr().out)


def test_not_logged_in_says_how_to_log_in() -> None:
    code, err = run("banner", "shop-1")
    assert code == 1
    assert err.startswith("lockstep: not logged in: run 'lockstep login --url URL")
