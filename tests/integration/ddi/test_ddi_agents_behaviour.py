"""What the off-the-shelf DDI agents really do with a deployment (issue 15), measured with the
real programs against a recording hawkBit stand-in — the facts the gateway's DDI mapping rests
on (docs/ddi.md). Not a test of Lockstep: if a new agent version behaves otherwise, this fails
and the mapping's defaults must be looked at again.

- SWUpdate answers ``update: skip`` with ``closed/success "Skipped Update."`` and never
  downloads: it cannot stage. With ``update: forced`` it verifies the CMS signature, installs,
  asks for a reboot, and reports ``closed/success`` only when it starts again confirming (-c 2).
  It reads neither ``download`` nor ``maintenanceWindow``: ``update: attempt`` with the window
  ``unavailable`` is installed at once (its suricatta has no download-only mode: it streams
  the artifact into the installer).
  It confirms a ``cancelAction`` with ``closed/success``.
- rauc-hawkbit installs a deployment even when it says ``update: skip`` and the window is
  ``unavailable`` (it reads neither). It rejects every ``cancelAction``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from ddi_agents import (
    RaucHawkbitDevice,
    SigningKey,
    SwupdateDevice,
    build_rauc_bundle,
    build_swu,
    missing_tools,
)

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(bool(missing_tools()),
                                 reason=f"needs {missing_tools()} (.ci/run installs them)")]

VENV_BIN = Path(__file__).resolve().parents[3] / ".venv" / "bin"
TENANT, SERIAL, VERSION = "shop-1", "dev-1", "03.01.00_031"


class RecordingHawkbit:
    """Offers one deployment (action 7) of ``package`` with the given ``update`` handling (and
    ``maintenanceWindow``, if given) and records every request; a closed action is no longer
    offered."""

    def __init__(self, package: Path, update: str, window: str | None = None, *,
                 cancel: bool = False) -> None:
        self.package = package.read_bytes()
        self.update = update
        self.window = window
        self.cancel = cancel  # link cancelAction (of action 7) instead, until it is answered
        self.requests: list[tuple[str, str, Any]] = []
        self.closed = False
        server = self
        base = f"/{TENANT}/controller/v1/{SERIAL}"

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, body: Any = None, raw: bytes | None = None) -> None:
                data = raw if raw is not None else json.dumps(body or {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream" if raw is not None
                                 else "application/json")  # aiohttp's json() insists
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                server.requests.append(("GET", self.path, None))
                url = f"http://127.0.0.1:{self.server.server_address[1]}{base}"
                if self.path.startswith(base + "/softwaremodules/"):
                    return self._answer(200, raw=server.package)
                if self.path.startswith(base + "/deploymentBase/7"):
                    return self._answer(200, server.deployment(url))
                if self.path == base + "/cancelAction/7":
                    return self._answer(200, {"id": "7", "cancelAction": {"stopId": "7"}})
                if self.path == base:
                    links = {} if server.closed else (
                        {"cancelAction": {"href": f"{url}/cancelAction/7"}} if server.cancel
                        else {"deploymentBase": {"href": f"{url}/deploymentBase/7?c=1"}})
                    return self._answer(200, {"config": {"polling": {"sleep": "00:00:01"}},
                                              "_links": links})
                return self._answer(404)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(("POST", self.path, body))
                if body["status"]["execution"] == "closed" or "/cancelAction/" in self.path:
                    server.closed = True
                self._answer(200)

            def do_PUT(self) -> None:  # configData: SWUpdate sends it at every start
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(("PUT", self.path, body))
                self._answer(200)

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def deployment(self, url: str) -> dict[str, Any]:
        data = self.package
        href = f"{url}/softwaremodules/7/artifacts/shop-{VERSION}.swu"
        window = {} if self.window is None else {"maintenanceWindow": self.window}
        return {"id": "7", "deployment": {
            "download": "forced", "update": self.update, **window,
            "chunks": [{"part": "os", "name": "shop", "version": VERSION, "artifacts": [{
                "filename": f"shop-{VERSION}.swu", "size": len(data),
                "hashes": {"sha1": hashlib.sha1(data).hexdigest(),
                           "md5": hashlib.md5(data).hexdigest(),
                           "sha256": hashlib.sha256(data).hexdigest()},
                "_links": {"download-http": {"href": href}}}]}]}}

    def feedback(self, resource: str = "/deploymentBase/") -> list[tuple[str, str, list[str]]]:
        return [(b["status"]["execution"], b["status"]["result"]["finished"],
                 b["status"].get("details", [])) for m, path, b in self.requests
                if m == "POST" and resource in path]

    def downloads(self) -> int:
        return sum(1 for m, p, _ in self.requests if m == "GET" and "/softwaremodules/" in p)


@pytest.fixture
def signer(tmp_path: Path) -> SigningKey:
    return SigningKey.create(tmp_path / "keys")


@pytest.fixture
def servers() -> Iterator[list[RecordingHawkbit]]:
    started: list[RecordingHawkbit] = []
    yield started
    for server in started:
        server.http.shutdown()


def wait_until(condition: Callable[[], bool], what: str, log: Callable[[], str],
               timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout_s:.0f} s; the agent's log:\n{log()[-4000:]}")


def swupdate_and_its_image(root: Path, signer: SigningKey,
                           app_version: str = "0") -> tuple[SwupdateDevice, Path]:
    """A SWUpdate device polling nobody yet (its server set when started), and a signed image
    of ``VERSION`` for its hardware (``shop.swu`` beside its root)."""
    device = SwupdateDevice(root, SERIAL, TENANT, "", "token-1", signer,
                            app_version=app_version)
    swu = build_swu(root.parent / "shop.swu", version=VERSION, hardware_revision="1.0",
                    install_into=device.root, files={"etc/app-version": VERSION + "\n"},
                    signer=signer)
    return device, swu


def test_swupdate_skips_a_staging_deployment_and_installs_a_forced_one(
        tmp_path: Path, signer: SigningKey, servers: list[RecordingHawkbit]) -> None:
    device, swu = swupdate_and_its_image(tmp_path / "device", signer,
                                         app_version="03.01.00_030")
    staging = RecordingHawkbit(swu, "skip", "unavailable")  # the gateway's phase 1
    servers.append(staging)
    device.server_url = f"http://127.0.0.1:{staging.port}"
    try:
        device.start()
        wait_until(lambda: staging.closed, "SWUpdate closes the staging deployment", device.log)
        assert staging.feedback() == [("closed", "success", ["Skipped Update."])]
        assert staging.downloads() == 0
        assert device.installed_version() == "03.01.00_030"
        device.stop()

        forced = RecordingHawkbit(swu, "forced")
        servers.append(forced)
        device.server_url = f"http://127.0.0.1:{forced.port}"
        device.start()
        wait_until(device.reboot_requested, "SWUpdate installs and asks for a reboot",
                   device.log)
        assert device.installed_version() == VERSION
        assert ("closed", "success", ["Update Installed."]) not in forced.feedback()
        assert ("proceeding", "none", ["All Chunks Installed."]) in forced.feedback()
        device.reboot()
        wait_until(lambda: forced.closed, "SWUpdate confirms after the reboot", device.log)
        assert forced.feedback()[-1] == ("closed", "success", ["Update Installed."])
    finally:
        device.stop()


def test_rauc_hawkbit_installs_even_what_it_is_told_to_skip(
        tmp_path: Path, signer: SigningKey, servers: list[RecordingHawkbit]) -> None:
    bundle = build_rauc_bundle(tmp_path / "shop.raucb", version=VERSION,
                               compatible="lockstep-handheld",
                               files={"etc/motd": "new image\n"}, signer=signer)
    server = RecordingHawkbit(bundle, "skip", "unavailable")
    servers.append(server)
    device = RaucHawkbitDevice(tmp_path / "device", SERIAL, TENANT, f"127.0.0.1:{server.port}",
                               "token-2", signer, app_version="03.01.00_030")
    try:
        device.start(VENV_BIN)
        wait_until(lambda: server.closed, "rauc-hawkbit closes the deployment", device.log)
        assert server.feedback()[-1] == (
            "closed", "success", ["Rauc bundle update completed with result: 0"])
        assert device.installed_version() == VERSION
        assert (device.root / "etc" / "motd").read_text() == "new image\n"
    finally:
        device.stop()


def test_swupdate_installs_an_attempt_even_with_the_window_unavailable(
        tmp_path: Path, signer: SigningKey, servers: list[RecordingHawkbit]) -> None:
    device, swu = swupdate_and_its_image(tmp_path / "device", signer,
                                         app_version="03.01.00_030")
    server = RecordingHawkbit(swu, "attempt", "unavailable")
    servers.append(server)
    device.server_url = f"http://127.0.0.1:{server.port}"
    try:
        device.start()
        wait_until(device.reboot_requested, "SWUpdate installs the attempt", device.log)
        assert device.installed_version() == VERSION
        assert server.downloads() == 1
        assert not any(execution == "downloaded" for execution, _, _ in server.feedback())
    finally:
        device.stop()


def test_swupdate_confirms_a_cancel_and_rauc_hawkbit_rejects_it(
        tmp_path: Path, signer: SigningKey, servers: list[RecordingHawkbit]) -> None:
    swupdate, swu = swupdate_and_its_image(tmp_path / "swupdate", signer)
    for_swupdate = RecordingHawkbit(swu, "forced", cancel=True)
    for_rauc = RecordingHawkbit(swu, "forced", cancel=True)
    servers.extend([for_swupdate, for_rauc])
    swupdate.server_url = f"http://127.0.0.1:{for_swupdate.port}"
    rauc = RaucHawkbitDevice(tmp_path / "rauc", SERIAL, TENANT,
                             f"127.0.0.1:{for_rauc.port}", "token-2", signer)
    try:
        swupdate.start()
        rauc.start(VENV_BIN)
        wait_until(lambda: for_swupdate.closed, "SWUpdate answers the cancel", swupdate.log)
        wait_until(lambda: for_rauc.closed, "rauc-hawkbit answers the cancel", rauc.log)
    finally:
        swupdate.stop()
        rauc.stop()
    assert for_swupdate.feedback("/cancelAction/7/") == [
        ("closed", "success", ["cancellation acknowledged."])]
    assert for_rauc.feedback("/cancelAction/7/") == [
        ("rejected", "success", ["Cancelling not supported"])]
    assert for_swupdate.downloads() == for_rauc.downloads() == 0


def test_swupdate_reads_a_token_starting_with_a_dash_as_its_own_options(
        tmp_path: Path, signer: SigningKey, servers: list[RecordingHawkbit]) -> None:
    """``-k -Xd…``: suricatta's own option parser takes ``d`` for "disabled" and it never
    polls — so the gateway never issues a token starting with ``-`` (``auth.new_token``)."""
    package = tmp_path / "any.swu"
    package.write_bytes(b"not polled for")
    tokens = {"plain": "Xd" + "A" * 41, "dashed": "-Xd" + "A" * 40}
    started = {name: RecordingHawkbit(package, "forced") for name in tokens}
    servers.extend(started.values())
    devices = {name: SwupdateDevice(tmp_path / name, SERIAL, TENANT,
                                    f"http://127.0.0.1:{started[name].port}", token, signer)
               for name, token in tokens.items()}
    try:
        for device in devices.values():
            device.start()
        wait_until(lambda: len(started["plain"].requests) >= 3, "SWUpdate polls",
                   devices["plain"].log)
        time.sleep(2)
        assert started["dashed"].requests == []
    finally:
        for device in devices.values():
            device.stop()
