"""Off-the-shelf device agents through the barrier (D14, issue 15): a single-node Lockstep on a
free port, two simulated Lockstep apps beside one device running a real hawkBit DDI agent —
SWUpdate's suricatta mode, or rauc-hawkbit — each from its own command line and config file,
through a whole coordinated update.

The vendor's release is the device image (a CMS-signed .swu built with swugenerator, or a
signed RAUC bundle); the site server's installer checks its version (``ddi/host_install.py``).
Both agents cannot stage a package before END (``tests/integration/ddi``), so their model's
waiting rule is ``admin``: in phase 1 they are offered nothing and the site admin blocks them
in the grid; after END they install, report ``closed/success`` — their version report — and the
update concludes with every device, the DDI one included, on the new version. Two failures with
the real agents: an image SWUpdate refuses (its failure lines in the grid), and a server install
that fails (ERROR UPDATE acknowledged by rauc-hawkbit's poll, the device unblocked).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from ddi_agents import (
    RaucHawkbitDevice,
    SigningKey,
    SwupdateDevice,
    build_rauc_bundle,
    build_swu,
    missing_tools,
)

from lockstep_tools.demo.environment import DemoEnvironment, Release
from lockstep_tools.demo.scenarios.stage import Stage
from lockstep_tools.vendor.repository import VendorRepository

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(bool(missing_tools()),
                                 reason=f"needs {missing_tools()} (.ci/run installs them)")]

HERE = Path(__file__).resolve().parent
VENV_BIN = HERE.parents[1] / ".venv" / "bin"
RELEASE = Release(product="shop", from_version="03.01.00_030", to_version="03.01.00_031")
SERIAL = "DDI-0001"


def environment(work: Path, image: Path) -> DemoEnvironment:
    def publish(repo: VendorRepository, env: DemoEnvironment) -> None:
        repo.publish(product=RELEASE.product, version=RELEASE.to_version, package=image,
                     notes_url="https://vendor.example/notes/shop")
        repo.entitle(env.license_key)

    return DemoEnvironment(
        "single", work / "lockstep", RELEASE, prepare_feed=publish,
        agent_env={"LOCKSTEP_AGENT_INSTALLER_COMMAND":
                   f"{sys.executable} {HERE / 'ddi' / 'host_install.py'} "
                   "{package} {version} {product}"},
        extra_env={"LOCKSTEP_GATEWAY_DDI_POLL_S": "1"})


async def register_ddi(stage: Stage, model: str) -> str:
    """The device is registered once, for its agent (its token is the TargetToken)."""
    async with httpx.AsyncClient(base_url=stage.env.gateway_urls[0], timeout=30) as http:
        response = await http.post("/device/v1/registrations", json={
            "site_id": stage.site_id, "enrolment_code": stage.enrolment_code,
            "serial": SERIAL, "model": model, "app_version": RELEASE.from_version,
            "agent": "ddi"})
    assert response.status_code == 201, response.text
    return str(response.json()["device_token"])


def ddi_line(grid: dict[str, Any]) -> dict[str, Any]:
    return next(d for d in grid["devices"] if d["serial"] == SERIAL)


async def phase_one(stage: Stage, installed_version: Callable[[], str]) -> str:
    """START, the apps block and hand in, the DDI device blocked by the admin: the update's
    id once every device is waiting."""
    admin, site = stage.admin, stage.site_id
    await stage.banner("green")
    await stage.grid_has(3)
    assert ddi_line(await admin.devices(site))["agent"] == "ddi"
    update = await stage.open_update()
    uid = str(update["update_id"])
    await admin.send_start(uid)
    # the two apps block and hand in; the agent's poll acknowledges START
    await stage.update_until(uid, "the apps waiting, START delivered to the agent",
                             lambda u: u["fleet"]["waiting"] == 2
                             and u["fleet"]["delivered"] == 3)
    assert installed_version() == RELEASE.from_version  # nothing offered before END
    await admin.call("POST", f"/sites/{site}/devices/{SERIAL}/ddi-block", {})
    await stage.update_until(uid, "every device waiting",
                             lambda u: u["fleet"]["waiting"] == 3)
    line = ddi_line(await admin.devices(site))
    assert (line["blocked"], line["waiting_for_update"], line["ddi_waiting"]) == (
        True, True, "admin")
    return uid


async def coordinated_update(stage: Stage, installed_version: Callable[[], str],
                             after_end: Callable[[], Any] | None = None) -> dict[str, Any]:
    """The admin's steps, with the DDI device blocked by the admin in phase 1."""
    admin, site = stage.admin, stage.site_id
    uid = await phase_one(stage, installed_version)
    await admin.start_server_update(uid)
    await stage.server_updated(uid)
    assert installed_version() == RELEASE.from_version
    await admin.send_end(uid)
    if after_end is not None:
        await after_end()
    await stage.update_until(uid, "every device on the new version",
                             lambda u: u["fleet"]["on_target"] == 3, extra_s=60)
    assert installed_version() == RELEASE.to_version
    await admin.conclude(uid)
    grid = await admin.devices(site, "updated")
    return {"state": (await admin.update(uid))["state"],
            "updated": sorted(d["serial"] for d in grid["devices"]),
            "ddi": ddi_line(grid), "banner": (await admin.banner(site))["state"]}


def swupdate_and_its_image(tmp_path: Path, *,
                           hardware_revision: str) -> tuple[SwupdateDevice, Path]:
    """A SWUpdate device (hardware revision 1.0) on the old version, and the signed image of
    the new one built for ``hardware_revision``."""
    signer = SigningKey.create(tmp_path / "keys")
    device = SwupdateDevice(tmp_path / "swupdate", SERIAL, "", "", "", signer,
                            app_version=RELEASE.from_version, poll_s=2)
    image = build_swu(tmp_path / "shop.swu", version=RELEASE.to_version,
                      hardware_revision=hardware_revision, install_into=device.root,
                      files={"etc/app-version": RELEASE.to_version + "\n"}, signer=signer)
    return device, image


async def swupdate_on_the_site(stage: Stage, env: DemoEnvironment, device: SwupdateDevice) -> None:
    """The site with its two native devices, and the SWUpdate device registered to it."""
    await stage.create_site()
    await stage.start_fleet(2)
    device.tenant, device.server_url = stage.site_id, env.gateway_urls[0]
    device.token = await register_ddi(stage, "handheld")


async def rauc_hawkbit_on_the_site(stage: Stage, env: DemoEnvironment, root: Path,
                                   signer: SigningKey) -> RaucHawkbitDevice:
    """The site with its two native devices, its rauc-box model blocked by the admin, and a
    rauc-hawkbit device registered to it (not started)."""
    await stage.create_site()
    await stage.start_fleet(2)
    await stage.admin.call("PUT", f"/sites/{stage.site_id}/ddi-models/rauc-box",
                           {"waiting": "admin", "artifact_suffix": ".raucb"})
    token = await register_ddi(stage, "rauc-box")
    host = env.gateway_urls[0].split("://", 1)[1]
    return RaucHawkbitDevice(root, SERIAL, stage.site_id, host, token, signer,
                             app_version=RELEASE.from_version)


def say(line: str) -> None:
    print(f"[ddi e2e] {line}", flush=True)


async def test_swupdate_device_through_a_coordinated_update(tmp_path: Path) -> None:
    device, image = swupdate_and_its_image(tmp_path, hardware_revision="1.0")
    async with environment(tmp_path, image) as env, Stage(env, 2, say) as stage:
        await swupdate_on_the_site(stage, env, device)
        device.start()

        async def reboot_when_installed() -> None:
            await stage.admin.wait_for("SWUpdate installs and asks for a reboot",
                                       _async(device.reboot_requested), bool,
                                       timeout=90)
            device.reboot()  # the new image boots; SWUpdate confirms with -c 2

        try:
            result = await coordinated_update(stage, device.installed_version,
                                              reboot_when_installed)
        except BaseException:
            print(device.log()[-6000:], file=sys.stderr)
            raise
        finally:
            device.stop()
    assert result["state"] == "concluded" and result["banner"] == "none"
    assert len(result["updated"]) == 3 and SERIAL in result["updated"]
    assert result["ddi"]["app_version"] == RELEASE.to_version


async def test_rauc_hawkbit_device_through_a_coordinated_update(tmp_path: Path) -> None:
    signer = SigningKey.create(tmp_path / "keys")
    image = build_rauc_bundle(tmp_path / "shop.raucb", version=RELEASE.to_version,
                              compatible="lockstep-handheld",
                              files={"etc/motd": "new image\n"}, signer=signer)
    async with environment(tmp_path, image) as env, Stage(env, 2, say) as stage:
        device = await rauc_hawkbit_on_the_site(stage, env, tmp_path / "rauc", signer)
        device.start(VENV_BIN)
        try:
            result = await coordinated_update(stage, device.installed_version)
        except BaseException:
            print(device.log()[-6000:], file=sys.stderr)
            raise
        finally:
            device.stop()
    assert result["state"] == "concluded" and result["banner"] == "none"
    assert len(result["updated"]) == 3 and SERIAL in result["updated"]
    assert (device.root / "etc" / "motd").read_text() == "new image\n"


def _async(check: Callable[[], bool]) -> Callable[[], Any]:
    async def fetch() -> bool:
        return check()
    return fetch


async def test_swupdate_install_failure_shows_in_the_grid_with_its_details(
        tmp_path: Path) -> None:
    """An image SWUpdate refuses (built for another hardware revision; the site server's
    installer accepts it): after END SWUpdate reports ``closed/failure``, the grid says the
    install failed with SWUpdate's own details lines, the device stays on its version, and the
    admin concludes with it not updated (U11)."""
    device, image = swupdate_and_its_image(tmp_path, hardware_revision="9.9")
    async with environment(tmp_path, image) as env, Stage(env, 2, say) as stage:
        await swupdate_on_the_site(stage, env, device)
        device.start()
        admin = stage.admin
        try:
            uid = await phase_one(stage, device.installed_version)
            await admin.start_server_update(uid)
            await stage.server_updated(uid)
            await admin.send_end(uid)
            grid = await admin.wait_for(
                "SWUpdate's failure in the grid", lambda: admin.devices(stage.site_id),
                lambda g: (ddi_line(g)["notes"] or "").startswith("install of"), timeout=90)
            await stage.update_until(uid, "the apps on the new version",
                                     lambda u: u["fleet"]["on_target"] == 2)
            await admin.conclude(uid, confirm_not_updated=True)
            not_updated = await admin.devices(stage.site_id, "not_updated")
        except BaseException:
            print(device.log()[-6000:], file=sys.stderr)
            raise
        finally:
            device.stop()
    line = ddi_line(grid)
    assert line["notes"].startswith(f"install of {RELEASE.to_version} failed: ")
    say(f"the grid's note: {line['notes']}")
    # SWUpdate's own lines: the installer's error (progress), then its closing summary
    assert "ERROR : SW not compatible with hardware" in line["notes"]
    assert line["notes"].endswith("No suitable .swu image found")
    assert line["app_version"] == RELEASE.from_version and not line["on_target_version"]
    assert device.installed_version() == RELEASE.from_version and not device.reboot_requested()
    assert [d["serial"] for d in not_updated["devices"]] == [SERIAL]


async def test_rauc_hawkbit_device_reactivated_by_error_update(tmp_path: Path) -> None:
    """The site server's install fails (the vendor's image is not the version released): the
    update fails, the admin reactivates the devices, and the rauc-hawkbit device — blocked by
    the admin in phase 1 — acknowledges ERROR UPDATE with its next poll and is unblocked in the
    grid. Its model's rule ``admin`` never showed it the package, so no action is open and
    there is nothing to cancel: it installs nothing."""
    signer = SigningKey.create(tmp_path / "keys")
    image = build_rauc_bundle(tmp_path / "shop.raucb", version="03.01.00_029",
                              compatible="lockstep-handheld",
                              files={"etc/motd": "new image\n"}, signer=signer)
    async with environment(tmp_path, image) as env, Stage(env, 2, say) as stage:
        device = await rauc_hawkbit_on_the_site(stage, env, tmp_path / "rauc", signer)
        admin, site = stage.admin, stage.site_id
        device.start(VENV_BIN)
        try:
            uid = await phase_one(stage, device.installed_version)
            await admin.start_server_update(uid)
            await stage.update_until(uid, "the update failed",
                                     lambda u: u["state"] == "failed", extra_s=60)
            await admin.call("POST", f"/updates/{uid}/error-notifications", {"serials": None})
            grid = await admin.wait_for(
                "ERROR UPDATE acknowledged by every device", lambda: admin.devices(site),
                lambda g: all(d["notification_kind"] == "error"
                              and d["notification_outcome"] == "delivered"
                              and not d["blocked"] for d in g["devices"]),
                timeout=90)
        except BaseException:
            print(device.log()[-6000:], file=sys.stderr)
            raise
        finally:
            device.stop()
    line = ddi_line(grid)
    assert (line["agent"], line["notes"], line["waiting_for_update"]) == (
        "ddi", "unblocked_after_error", False)
    assert device.installed_version() == RELEASE.from_version
    assert "Deployment found" not in device.log()  # never offered anything, nothing to cancel
