"""Demo scenarios (``make demo SCENARIO=<name>``): each drives Lockstep through the admin API
with simulated devices and returns the figures that prove its expected end state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from lockstep_tools.demo.environment import DemoEnvironment
from lockstep_tools.demo.scenarios import (
    confirmation_code,
    downgrade,
    forced,
    happy,
    install_failure,
    manual_codes,
    platform_first,
    stop_time,
    subscription_expired,
)
from lockstep_tools.demo.scenarios.stage import Stage
from lockstep_tools.vendor.repository import VendorRepository


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[Stage], Awaitable[dict[str, Any]]]
    ok: Callable[[dict[str, Any]], bool]
    summary: str
    prepare_feed: Callable[[VendorRepository, DemoEnvironment], None] | None = None
    lockstep_env: dict[str, str] = field(default_factory=dict)


SCENARIOS = {s.name: s for s in [
    Scenario("happy", happy.happy, happy.happy_ok,
             "one coordinated update: every device on the new version, concluded"),
    Scenario("forced", forced.forced, forced.forced_ok,
             "3 devices offline; two admins force; the late ones are refused their data "
             "hand-in and then update themselves"),
    Scenario("install-failure", install_failure.install_failure,
             install_failure.install_failure_ok,
             "the installer fails: red banner, ERROR UPDATE unblocks every device, the report "
             "reaches support, no retry until resolved",
             lockstep_env={"LOCKSTEP_DEMO_INSTALL_FAIL": "1"}),
    Scenario("manual-codes", manual_codes.manual_codes, manual_codes.manual_codes_ok,
             "2 devices without notifications are blocked by the three-code exchange; a "
             "replayed code is refused"),
    Scenario("confirmation-code", confirmation_code.confirmation_code,
             confirmation_code.confirmation_code_ok,
             "the release needs the vendor's code: a wrong response is refused, the right one "
             "unlocks it", prepare_feed=confirmation_code.prepare_feed),
    Scenario("downgrade", downgrade.downgrade, downgrade.downgrade_ok,
             "a device registers with a newer app version and ends on the site's version",
             prepare_feed=downgrade.prepare_feed),
    Scenario("platform-first", platform_first.platform_first,
             platform_first.platform_first_ok,
             "the shop release needs a newer platform: shown, opening it refused naming the "
             "platform version; the platform update runs, then the shop update",
             prepare_feed=platform_first.prepare_feed),
    Scenario("subscription-expired", subscription_expired.subscription_expired,
             subscription_expired.subscription_expired_ok,
             "the site's subscription has expired: nothing offered, status visible, no update",
             prepare_feed=subscription_expired.prepare_feed),
    Scenario("stop-time", stop_time.stop_time, stop_time.stop_time_ok,
             "the same fleet through two updates on a shared shop Wi-Fi: without staging, then "
             "with the package staged in the background; the stop is shorter with staging",
             prepare_feed=stop_time.prepare_feed),
]}
