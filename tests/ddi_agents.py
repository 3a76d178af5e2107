"""Off-the-shelf hawkBit DDI agents driven by the tests (issue 15), each from its own command
line and configuration file, unchanged:

- SWUpdate in suricatta mode (Debian's ``swupdate``): a signed ``.swu`` built with
  ``swugenerator`` and a throwaway CMS key pair (``openssl``), ``hardware-compatibility`` set; its
  ``archive`` handler unpacks the payload into the device's root directory; SWUpdate verifies
  the CMS signature against the test's certificate (``public-key-file`` in its config).
- rauc-hawkbit (PyPI ``rauc-hawkbit``, a dev dependency): its D-Bus install call goes to
  ``rauc_installer_standin.py`` on a private ``dbus-daemon`` (RAUC itself needs a bootloader).

Each device lives in its own directory: its config, its root (what the installs change), its
logs, and the ``TMPDIR`` where SWUpdate keeps its IPC sockets (so two of them never clash).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
STANDIN = HERE / "integration" / "ddi" / "rauc_installer_standin.py"
DEBIAN_GI = Path("/usr/lib/python3/dist-packages/gi")

AGENT_TOOLS = ("swupdate", "swugenerator", "cpio", "openssl", "dbus-daemon")


def missing_tools() -> list[str]:
    """What the agents' tests need and this machine lacks (``.ci/run`` installs it)."""
    missing = [tool for tool in AGENT_TOOLS if shutil.which(tool) is None]
    if not DEBIAN_GI.is_dir():
        missing.append("python3-gi")
    return missing


@dataclass(frozen=True)
class SigningKey:
    """A throwaway CMS signing key and its self-signed certificate (the device's keyring)."""

    key: Path
    cert: Path

    @classmethod
    def create(cls, directory: Path, name: str = "lockstep-test-signer") -> SigningKey:
        directory.mkdir(parents=True, exist_ok=True)
        key, cert = directory / "signer.key", directory / "signer.crt"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
             "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
             "-addext", "keyUsage=digitalSignature",
             "-addext", "extendedKeyUsage=emailProtection"],
            check=True, capture_output=True)
        return cls(key, cert)


def _tar_gz(source: Path, out: Path) -> Path:
    with tarfile.open(out, "w:gz") as tar:
        for path in sorted(source.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(source)), recursive=False)
    return out


def build_swu(out: Path, *, version: str, hardware_revision: str, install_into: Path,
              files: dict[str, str], signer: SigningKey) -> Path:
    """A signed ``.swu``: one ``archive`` image that unpacks ``files`` into ``install_into``."""
    work = out.parent / f"{out.stem}-build"
    payload, artifacts = work / "payload", work / "artifacts"
    for relative, text in files.items():
        (payload / relative).parent.mkdir(parents=True, exist_ok=True)
        (payload / relative).write_text(text)
    artifacts.mkdir(parents=True, exist_ok=True)
    _tar_gz(payload, artifacts / "rootfs.tar.gz")
    description = work / "sw-description"
    description.write_text(f"""software =
{{
    version = "{version}";
    description = "Lockstep test device image";
    hardware-compatibility = [ "{hardware_revision}" ];
    images: (
        {{
            filename = "rootfs.tar.gz";
            type = "archive";
            path = "{install_into}";
            preserve-attributes = false;
        }}
    );
}}
""")
    subprocess.run(["swugenerator", "-s", str(description), "-a", str(artifacts), "-o", str(out),
                    "-k", f"CMS,{signer.key},{signer.cert}", "create"],
                   check=True, capture_output=True)
    return out


def build_rauc_bundle(out: Path, *, version: str, compatible: str, files: dict[str, str],
                      signer: SigningKey) -> Path:
    """The stand-in's bundle: a tar of a manifest, its detached CMS signature and the payload."""
    work = out.parent / f"{out.stem}-build"
    payload, bundle = work / "payload", work / "bundle"
    for relative, text in files.items():
        (payload / relative).parent.mkdir(parents=True, exist_ok=True)
        (payload / relative).write_text(text)
    bundle.mkdir(parents=True, exist_ok=True)
    rootfs = _tar_gz(payload, bundle / "rootfs.tar.gz")
    manifest = bundle / "manifest.raucm"
    manifest.write_text(
        f"[update]\ncompatible={compatible}\nversion={version}\n\n[image.rootfs]\n"
        f"filename=rootfs.tar.gz\nsha256={hashlib.sha256(rootfs.read_bytes()).hexdigest()}\n")
    subprocess.run(["openssl", "cms", "-sign", "-binary", "-in", str(manifest), "-signer",
                    str(signer.cert), "-inkey", str(signer.key), "-outform", "DER", "-out",
                    str(bundle / "manifest.raucm.sig")], check=True, capture_output=True)
    with tarfile.open(out, "w") as tar:
        for name in ("manifest.raucm", "manifest.raucm.sig", "rootfs.tar.gz"):
            tar.add(bundle / name, arcname=name)
    return out


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@dataclass
class SwupdateDevice:
    """One handheld running ``swupdate -u`` (suricatta) against a hawkBit DDI server.

    Its ``postupdatecmd`` only records that a reboot was asked for; ``reboot()`` plays the
    device's boot: the old process ends and SWUpdate starts again, with ``-c 2`` when the new
    image came up (SWUpdate's documented way to confirm an update when the state is not kept in
    a bootloader environment), which makes it report ``closed/success`` to the server.
    """

    directory: Path
    serial: str
    tenant: str
    server_url: str
    token: str
    signer: SigningKey
    hardware: str = "handheld:1.0"
    app_version: str = "0"
    poll_s: int = 1
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    boots: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.root = self.directory / "root"
        self.tmp = self.directory / "tmp"
        for path in (self.root / "etc", self.tmp):
            path.mkdir(parents=True, exist_ok=True)
        (self.root / "etc" / "app-version").write_text(self.app_version + "\n")
        self.reboot_marker = self.directory / "reboot-requested"
        self.config = self.directory / "swupdate.cfg"
        self.config.write_text(f"""globals :
{{
    verbose = true;
    loglevel = 5;
    public-key-file = "{self.signer.cert}";
    postupdatecmd = "/bin/sh -c 'date > {self.reboot_marker}'";
}};
identify : (
    {{ name = "model"; value = "{self.hardware.split(':')[0]}"; }}
);
""")

    @property
    def command(self) -> list[str]:
        suricatta = (f"-t {self.tenant} -u {self.server_url} -i {self.serial} -k {self.token} "
                     f"-p {self.poll_s}")
        return ["swupdate", "-f", str(self.config), "-H", self.hardware, "-u", suricatta]

    def start(self, *, confirm_success: bool = False) -> None:
        command = self.command
        if confirm_success:
            command[-1] += " -c 2"
        self.boots += 1
        log = (self.directory / f"swupdate-boot{self.boots}.log").open("wb")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                        env={**os.environ, "TMPDIR": str(self.tmp)},
                                        start_new_session=True)

    def reboot_requested(self) -> bool:
        return self.reboot_marker.exists()

    def reboot(self) -> None:
        """The device restarts on its new image and SWUpdate confirms the update."""
        self.stop()
        self.reboot_marker.unlink(missing_ok=True)
        self.start(confirm_success=True)

    def installed_version(self) -> str:
        return (self.root / "etc" / "app-version").read_text().strip()

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace")
                         for p in sorted(self.directory.glob("swupdate-boot*.log")))

    def stop(self) -> None:
        _stop(self.process)
        self.process = None


@dataclass
class RaucHawkbitDevice:
    """One device running ``rauc-hawkbit-client -c config.cfg`` with RAUC's installer stood in
    by ``rauc_installer_standin.py`` on a private bus (``DBUS_SYSTEM_BUS_ADDRESS``)."""

    directory: Path
    serial: str
    tenant: str
    server_host: str  # host:port, as rauc-hawkbit's ``hawkbit_server`` wants it
    token: str
    signer: SigningKey
    compatible: str = "lockstep-handheld"
    app_version: str = "0"
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.root = self.directory / "root"
        (self.root / "etc").mkdir(parents=True, exist_ok=True)
        (self.root / "etc" / "app-version").write_text(self.app_version + "\n")
        (self.directory / "downloads").mkdir(exist_ok=True)
        self.gi_path = self.directory / "gi-path"  # Debian's GLib binding, and nothing else
        self.gi_path.mkdir(exist_ok=True)
        with contextlib.suppress(FileExistsError):
            (self.gi_path / "gi").symlink_to(DEBIAN_GI)
        self.bus_socket = self.directory / "system_bus_socket"
        self.config = self.directory / "config.cfg"
        self.config.write_text(f"""[client]
hawkbit_server = {self.server_host}
ssl = false
tenant_id = {self.tenant}
target_name = {self.serial}
auth_token = {self.token}
mac_address = 02:00:00:00:00:01
bundle_download_location = {self.directory / "downloads" / "bundle.raucb"}
log_level = debug
""")

    def start(self, venv_bin: Path) -> None:
        env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={self.bus_socket}",
               "PYTHONPATH": str(self.gi_path), "PYTHONUNBUFFERED": "1"}
        self._spawn("dbus-daemon", ["dbus-daemon", "--session", "--nofork",
                                    f"--address=unix:path={self.bus_socket}"], env)
        _wait_for(self.bus_socket.exists, "the private D-Bus daemon", 10)
        standin = self._spawn("rauc-standin", [
            str(venv_bin / "python"), str(STANDIN), "--root", str(self.root), "--keyring",
            str(self.signer.cert), "--compatible", self.compatible], env)
        _wait_for(lambda: "ready" in (self.directory / "rauc-standin.log").read_text(),
                  "the RAUC installer stand-in", 15, process=standin)
        self._spawn("rauc-hawkbit", [str(venv_bin / "rauc-hawkbit-client"), "-c",
                                     str(self.config)], env)

    def _spawn(self, name: str, command: list[str], env: dict[str, str]
               ) -> subprocess.Popen[bytes]:
        log = (self.directory / f"{name}.log").open("wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                   cwd=self.directory, start_new_session=True)
        self.processes.append(process)
        return process

    def installed_version(self) -> str:
        return (self.root / "etc" / "app-version").read_text().strip()

    def log(self) -> str:
        return "\n".join(f"== {p.name}\n" + p.read_text(errors="replace")
                         for p in sorted(self.directory.glob("*.log")))

    def stop(self) -> None:
        for process in reversed(self.processes):
            _stop(process)
        self.processes.clear()


def _wait_for(condition: object, what: str, timeout_s: float,
              process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if condition():  # type: ignore[operator]
                return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not come up within {timeout_s:.0f} s")
