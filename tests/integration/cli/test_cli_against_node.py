"""The real ``lockstep`` executable against a real single-node Lockstep (vendor feed with a
release, node, simulated devices): log in, onboard a site, follow a whole update, codes,
disable/enable, audit, and the errors a person gets for bad input."""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lockstep_tools.demo.environment import DemoEnvironment, Release
from lockstep_tools.simulator.fleet import Fleet
from lockstep_tools.simulator.gateway_api import RegistrationRefused

pytestmark = pytest.mark.integration

BIN = Path(__file__).resolve().parents[3] / ".venv" / "bin"
PRODUCT, FROM_VERSION, TO_VERSION = "shop", "03.01.00_030", "03.01.00_031"
NEXT_VERSION = "03.01.00_032"
PASSWORDS = {"anna": "anna-admin-pw", "bruno": "bruno-admin-pw"}
FAST_HASHING = {"LOCKSTEP_ORCHESTRATOR_ARGON2_TIME_COST": "1",
                "LOCKSTEP_ORCHESTRATOR_ARGON2_MEMORY_KIB": "1024"}


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """Runs ``lockstep`` as a subprocess with its own session file."""

    def __init__(self, config: Path) -> None:
        self.config = config

    async def __call__(self, *args: str, stdin: str | None = None,
                       env: dict[str, str] | None = None) -> Run:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("LOCKSTEP_")}
        environment["LOCKSTEP_CLI_CONFIG"] = str(self.config)
        environment.update(env or {})
        process = await asyncio.create_subprocess_exec(
            str(BIN / "lockstep"), *args, env=environment, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await asyncio.wait_for(
            process.communicate(stdin.encode() if stdin is not None else b""), 60)
        assert process.returncode is not None
        return Run(process.returncode, out.decode(), err.decode())

    async def ok(self, *args: str, stdin: str | None = None) -> Run:
        run = await self(*args, stdin=stdin)
        assert run.code == 0, f"lockstep {' '.join(args)} → {run.code}\n{run.out}\n{run.err}"
        assert "Traceback" not in run.err
        return run

    async def refused(self, code: int, *args: str, stdin: str | None = None,
                      env: dict[str, str] | None = None) -> str:
        run = await self(*args, stdin=stdin, env=env)
        assert run.code == code, f"lockstep {' '.join(args)} → {run.code}\n{run.out}\n{run.err}"
        assert "Traceback" not in run.err
        return run.err

    async def until(self, what: str, args: tuple[str, ...], done: Callable[[Any], bool],
                    timeout: float = 40) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            last = (await self.ok("--json", *args)).json()
            if done(last):
                return last
            assert time.monotonic() < deadline, f"{what}: not reached; last: {last}"
            await asyncio.sleep(0.3)


async def test_an_admin_runs_a_whole_update_from_the_command_line(tmp_path: Path) -> None:
    env = DemoEnvironment(mode="single", work_dir=tmp_path / "node",
                          release=Release(PRODUCT, FROM_VERSION, TO_VERSION),
                          agent_env={"LOCKSTEP_GATEWAY_DELIVERY_DEADLINE_S": "5",
                                     **FAST_HASHING})
    cli = Cli(tmp_path / "cli" / "session.json")
    async with env:
        site, url = env.site_id, env.orchestrator_url
        enrolment = f"enrol-{env.run_id}"
        env.create_user("vera", "support", [])  # the first account, on the server (S1)

        # --- logging in ---------------------------------------------------------------------
        err = await cli.refused(1, "login", "--url", url, "--username", "vera",
                                "--password-stdin", stdin="not-her-password\n")
        assert "wrong username or password" in err
        assert not cli.config.exists()
        await cli.refused(2, "login", "--url", "ftp://x", "--username", "vera",
                          "--password-stdin", stdin="x\n")
        err = await cli.refused(1, "banner", site)
        assert "not logged in" in err
        run = await cli.ok("login", "--url", url, "--username", "vera", "--password-stdin",
                           stdin=env.password("vera") + "\n")
        assert "as vera (support)" in run.out
        assert stat.S_IMODE(cli.config.stat().st_mode) == 0o600
        assert env.password("vera") not in cli.config.read_text()

        # --- onboarding the site (support) --------------------------------------------------
        product = f"{PRODUCT}={FROM_VERSION}"
        site_args = ("sites", "create", site, "--name", "Negozio Centro",
                     "--license-key", env.license_key, "--enrolment-code", enrolment,
                     "--product", product, "--check-interval", "3600")
        run = await cli.ok(*site_args)
        assert f"site {site} created" in run.out
        err = await cli.refused(1, *site_args)
        assert "exists already" in err
        err = await cli.refused(2, "sites", "create", "other", "--name", "x", "--license-key",
                                "k", "--enrolment-code", "c", "--product", PRODUCT)
        assert "PRODUCT=VERSION" in err
        err = await cli.refused(1, "sites", "create", "other", "--name", "x", "--license-key",
                                "k", "--enrolment-code", "c", "--product", "shop=3.x")
        assert "invalid version" in err
        shown = (await cli.ok("sites", "show", site, "--json")).json()
        assert shown["products"] == [{"product": PRODUCT, "version": FROM_VERSION}]
        assert "Negozio Centro" in (await cli.ok("sites", "list")).out
        for admin in ("anna", "bruno"):
            run = await cli.ok("users", "create", admin, "--role", "admin", "--site", site,
                               "--password-stdin", stdin=PASSWORDS[admin] + "\n")
            assert run.out.strip() == f"created admin {admin} ({site})"
        await cli.ok("logout")
        assert not cli.config.exists()

        # --- the site admin ---------------------------------------------------------------
        await cli.ok("login", "--url", url, "--username", "anna", "--password-stdin",
                     stdin=PASSWORDS["anna"] + "\n")
        run = await cli.ok("users", "create", "carl", "--role", "user", "--site", site,
                           "--password-stdin", stdin="carl-user-pw\n")
        assert run.out.strip() == f"created user carl ({site})"
        await cli.refused(2, "users", "create", "dora", "--role", "boss", "--password-stdin")
        err = await cli.refused(1, "users", "create", "dora", "--role", "user", "--site",
                                site, "--password-stdin", stdin="short\n")
        assert "password" in err
        listed = (await cli.ok("users", "list")).out
        assert "anna" in listed and "carl" in listed
        carl = Cli(tmp_path / "carl.json")
        await carl.ok("login", "--url", url, "--username", "carl", "--password-stdin",
                      stdin="carl-user-pw\n")
        await carl.ok("banner", site)  # a site user reads the banner (N2)…
        err = await carl.refused(1, "sites", "check", site)  # …but manages nothing (U1)
        assert "carl" in err
        err = await cli.refused(1, "sites", "create", "mine", "--name", "x", "--license-key",
                                "k", "--enrolment-code", "c", "--product", product)
        assert "anna" in err  # 403: an admin of one site does not onboard sites

        fleet = Fleet(env.gateway_urls[0], site, enrolment, 2, FROM_VERSION, wait_s=2)
        await fleet.register()
        await fleet.run()
        try:
            await cli.ok("sites", "check", site)
            banner = await cli.until("release downloaded", ("banner", site),
                                     lambda b: b["state"] == "green")
            assert banner["version"] == TO_VERSION
            assert "[GREEN] green" in (await cli.ok("banner", site)).out
            assert "gate open" in (await cli.ok("gate", site)).out
            grid = (await cli.ok("devices", site)).out
            assert all(serial in grid for serial in fleet.serials)
            assert "SERIAL" in grid.splitlines()[0]

            # phase 1
            err = await cli.refused(2, "update", "open", site, "--product", PRODUCT)
            assert "--backups-confirmed" in err
            update = (await cli.ok("--json", "update", "open", site, "--product", PRODUCT,
                                   "--backups-confirmed")).json()
            update_id = update["update_id"]
            assert update["to_version"] == TO_VERSION
            err = await cli.refused(1, "update", "start", update_id)  # nobody waiting yet
            assert err.startswith("lockstep: ") and len(err.splitlines()) == 1
            await cli.ok("update", "start-push", update_id)
            await cli.until("every device waiting", ("update", "show", site),
                            lambda u: u["fleet"]["waiting"] == 2)
            err = await cli.refused(1, "update", "cancel", update_id)  # START was sent

            # phase 2 and 3
            await cli.ok("update", "start", update_id)
            run = await cli.ok("update", "wait", update_id, "--state", "server_updated",
                               "--timeout", "40")
            assert "server_updated (phase 3)" in run.out
            await cli.ok("update", "finish", update_id)
            await cli.until("every device updated", ("update", "show", update_id),
                            lambda u: u["fleet"]["on_target"] == 2)
            updated = (await cli.ok("--json", "devices", site, "--filter", "updated")).json()
            assert len(updated["devices"]) == 2
            run = await cli.ok("update", "conclude", update_id)
            assert "update concluded" in run.out

            # disable/enable (U10)
            serial = fleet.serials[0]
            err = await cli.refused(2, "devices", "disable", site, serial, "--yes")
            assert "--yes-really" in err
            await cli.ok("devices", "disable", site, serial, "--yes", "--yes-really")
            grid_after = (await cli.ok("--json", "devices", site)).json()
            assert serial not in [d["serial"] for d in grid_after["devices"]]
            managed = (await cli.ok("--json", "devices", "manage", site)).json()["devices"]
            assert {d["serial"]: d["enabled"] for d in managed}[serial] is False
            await cli.ok("devices", "enable", site, serial)
        finally:
            await fleet.stop()

        # --- audit, errors, overrides ------------------------------------------------------
        entries = (await cli.ok("--json", "audit", "--site", site)).json()["entries"]
        actions = {e["action"] for e in entries}
        assert {"update.open", "update.start_push", "update.server_update", "update.end_push",
                "update.conclude", "device.disable", "device.enable"} <= actions
        opened = (await cli.ok("--json", "audit", "--action", "update.open")).json()["entries"]
        assert [e["actor"] for e in opened] == ["anna"]
        later = (await cli.ok("--json", "audit", "--since", "2999-01-01")).json()["entries"]
        assert later == []
        table = (await cli.ok("audit", "--site", site, "--action", "device.disable")).out
        assert "anna" in table and "device.disable" in table
        err = await cli.refused(2, "audit", "--since", "yesterday")
        assert "ISO" in err

        err = await cli.refused(1, "update", "show", "no-such-thing")
        assert "no-such-thing" in err
        err = await cli.refused(1, "banner", site, env={"LOCKSTEP_TOKEN": "forged"})
        assert "lockstep login" in err
        # the stored token only goes to the server that issued it
        elsewhere = url.replace("127.0.0.1", "localhost")
        err = await cli.refused(1, "banner", site, env={"LOCKSTEP_URL": elsewhere})
        assert "log in" in err
        run = await cli("banner", site, "--json", env={"LOCKSTEP_URL": url,
                        "LOCKSTEP_TOKEN": json.loads(cli.config.read_text())["token"]})
        assert run.code == 0 and run.json()["state"] == "none"
        await a_failed_update_forced_reported_and_resolved(env, cli, Cli(tmp_path / "bruno"))
        await cli.ok("logout")


async def a_failed_update_forced_reported_and_resolved(env: DemoEnvironment, anna: Cli,
                                                       bruno: Cli) -> None:
    """The vendor publishes a broken package with ``lockstep vendor``; an offline device
    means the update must be forced by two admins; the install fails; the admin reactivates
    the devices and reports; support resolves it."""
    site, feed = env.site_id, str(env.work_dir / "feed")
    package = (await anna.ok("vendor", "package", str(env.work_dir / "broken"), "--product",
                             PRODUCT, "--version", "03.01.00_099")).out.strip()
    await anna.ok("vendor", "publish", feed, "--product", PRODUCT, "--version", NEXT_VERSION,
                  "--package", package)
    offline = Fleet(env.gateway_urls[0], site, f"enrol-{env.run_id}", 1, TO_VERSION,
                    serial_prefix="OFF")
    await offline.register()  # registered, never listens: it will not be waiting
    await anna.ok("sites", "check", site)
    await anna.until("the next release downloaded", ("banner", site),
                     lambda b: b["state"] == "green" and b["version"] == NEXT_VERSION)
    update_id = (await anna.ok("--json", "update", "open", site, "--product", PRODUCT,
                               "--backups-confirmed")).json()["update_id"]
    await anna.ok("update", "start-push", update_id)
    await codes_exchange(anna, offline, site, "block")  # the push cannot reach it (U5)
    run = await anna.ok("update", "force", update_id)
    assert "force requested" in run.out and "force requested: by anna" in run.out
    await bruno.ok("login", "--url", env.orchestrator_url, "--username", "bruno",
                   "--password-stdin", stdin=PASSWORDS["bruno"] + "\n")
    forced = (await bruno.ok("--json", "update", "force-approve", update_id)).json()
    assert forced["forced"] is True and set(forced["authorized_by"]) == {"anna", "bruno"}
    await anna.refused(1, "update", "wait", update_id, "--state", "server_updated",
                       "--timeout", "40")  # it fails instead: the update ended
    run = await anna.ok("update", "show", update_id)
    assert "failure:" in run.out and "03.01.00_099" in run.out
    assert "[RED] red" in (await anna.ok("banner", site)).out
    err = await anna.refused(1, "update", "open", site, "--product", PRODUCT,
                             "--backups-confirmed")  # no retry until resolved
    await anna.ok("update", "reactivate", update_id)
    await codes_exchange(anna, offline, site, "unblock")  # unreachable: by codes (U12)
    report = (await anna.ok("--json", "update", "report", update_id)).json()
    assert report["status"] in ("pending", "delivered")
    assert "report for:" in (await anna.ok("update", "report", update_id, "--status")).out
    err = await anna.refused(1, "update", "resolve", update_id)  # support only
    assert "anna" in err
    vera = Cli(env.work_dir / "vera-session.json")
    await vera.ok("login", "--url", env.orchestrator_url, "--username", "vera",
                  "--password-stdin", stdin=env.password("vera") + "\n")
    resolved = (await vera.ok("--json", "update", "resolve", update_id)).json()
    assert resolved["state"] == "resolved"
    assert (await anna.ok("--json", "banner", site)).json()["state"] != "red"
    approvals = (await vera.ok("--json", "audit", "--site", site, "--action",
                               "update.force_approval")).json()["entries"]
    assert [e["actor"] for e in approvals] == ["bruno"]
    await offline.stop()

    # the app of the offline device was reinstalled (its secret lost): the enrolment code
    # alone does not register its serial again, the admin's approval does (issue 10 §3)
    reinstalled = Fleet(env.gateway_urls[0], site, f"enrol-{env.run_id}", 1, TO_VERSION,
                        serial_prefix="OFF")
    with pytest.raises(RegistrationRefused, match="already registered"):
        await reinstalled.register()
    run = await anna.ok("devices", "approve-reregistration", site, offline.serials[0])
    assert "may register again within 60 minutes" in run.out
    await reinstalled.register()
    await reinstalled.stop()
    audited = await anna.until("the re-registration audited", (
        "audit", "--site", site, "--action", "device.reregistered"),
        lambda a: len(a["entries"]) > 0)
    assert [e["details"]["proved_by"] for e in audited["entries"]] == ["admin_approval"]


async def codes_exchange(cli: Cli, fleet: Fleet, site: str, action: str) -> None:
    """Manual block/unblock by codes (D8): code 1 from the device → code 2 → code 3 verified.
    The test plays the device with the gateway's published formulas and the device secret."""
    from device_gateway.domain import codes

    serial = fleet.serials[0]
    secret = fleet.secret(serial)
    assert secret is not None
    await cli.refused(2, "devices", "code", site, serial, "--action", action, "--code1", "12ab")
    code1 = codes.code1_from_nonce(424242 if action == "block" else 171717)
    issued = (await cli.ok("devices", "code", site, serial, "--action", action,
                           "--code1", code1, "--json")).json()
    assert issued["code2"] == codes.code2(secret, action, code1)  # what the device checks
    code3 = codes.code3(secret, action, code1, issued["code2"])
    wrong = f"{(int(code3) + 1) % 10**len(code3):0{len(code3)}d}"
    await cli.refused(1, "devices", "verify", site, serial, issued["exchange_id"],
                      "--code3", wrong)
    run = await cli.ok("devices", "verify", site, serial, issued["exchange_id"],
                       "--code3", code3)
    assert f"is now {action}ed" in run.out


async def test_the_vendor_commands_are_the_vendor_tool() -> None:
    cli = Cli(Path("/nonexistent/session.json"))
    run = await cli.ok("vendor", "confirmation-response", "--license-key", "LIC-1",
                       "--challenge", "12345-67890-13579", "--product", PRODUCT,
                       "--version", TO_VERSION)
    assert re.fullmatch(r"\d{5}-\d{5}-\d{5}\n", run.out)
    direct = subprocess.run(
        [str(BIN / "lockstep-vendor"), "confirmation-response", "--license-key", "LIC-1",
         "--challenge", "12345-67890-13579", "--product", PRODUCT, "--version", TO_VERSION],
        capture_output=True, text=True, check=True)
    assert run.out == direct.stdout
    await cli.refused(2, "vendor", "publish", "--product", PRODUCT)
