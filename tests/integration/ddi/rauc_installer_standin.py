"""A stand-in for RAUC's D-Bus installer (``de.pengutronix.rauc.Installer`` on ``/``), for the
rauc-hawkbit test: RAUC itself needs a bootloader and slots, this needs neither.

It is a real D-Bus service (GLib's GDBus, on the bus named by ``DBUS_SYSTEM_BUS_ADDRESS``, a
private ``dbus-daemon`` the test starts) with the members rauc-hawkbit uses — method
``Install(s)``, properties ``Operation``, ``Progress`` (isi), ``LastError``, ``Compatible``,
signal ``Completed(i)`` — and it really checks what it installs, as RAUC would: the test's bundle
is a tar of ``manifest.raucm``, its CMS signature ``manifest.raucm.sig`` (DER, detached) and the
payload named in the manifest. It verifies the signature against the keyring with ``openssl cms
-verify``, the ``compatible`` string, the payload's sha256, then unpacks the payload (a tar) into
the device root and writes the manifest's version to ``<root>/etc/app-version``. A bundle that
fails any check sets ``LastError`` and completes with 1; nothing is written.

Run: ``python rauc_installer_standin.py --root DIR --keyring CERT --compatible STRING`` with
``from gi.repository import Gio`` importable (Debian's python3-gi).
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import subprocess
import tarfile
import tempfile
from pathlib import Path

from gi.repository import Gio, GLib  # type: ignore[import-not-found]

NAME = "de.pengutronix.rauc"
INTERFACE = "de.pengutronix.rauc.Installer"
INTROSPECTION = f"""
<node>
  <interface name="{INTERFACE}">
    <method name="Install"><arg type="s" name="source" direction="in"/></method>
    <signal name="Completed"><arg type="i" name="result"/></signal>
    <property name="Operation" type="s" access="read"/>
    <property name="LastError" type="s" access="read"/>
    <property name="Progress" type="(isi)" access="read"/>
    <property name="Compatible" type="s" access="read"/>
    <property name="BootSlot" type="s" access="read"/>
  </interface>
</node>
"""


class BundleRefused(Exception):
    pass


def install_bundle(bundle: Path, *, root: Path, keyring: Path, compatible: str) -> str:
    """Check and install one bundle; its version. Raises ``BundleRefused`` with the reason."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        try:
            with tarfile.open(bundle) as tar:
                tar.extractall(work, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise BundleRefused(f"not a bundle: {exc}") from exc
        manifest, signature = work / "manifest.raucm", work / "manifest.raucm.sig"
        if not manifest.is_file() or not signature.is_file():
            raise BundleRefused("bundle has no signed manifest")
        verify = subprocess.run(
            ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(signature),
             "-content", str(manifest), "-CAfile", str(keyring), "-purpose", "any",
             "-out", "/dev/null"], capture_output=True, text=True, check=False)
        if verify.returncode != 0:
            raise BundleRefused(f"signature verification failed: {verify.stderr.strip()}")
        parsed = configparser.ConfigParser()
        parsed.read_string(manifest.read_text())
        if parsed.get("update", "compatible", fallback=None) != compatible:
            raise BundleRefused(f"compatible mismatch: this device is {compatible!r}")
        version = parsed.get("update", "version")
        filename = parsed.get("image.rootfs", "filename")
        payload = work / filename
        if hashlib.sha256(payload.read_bytes()).hexdigest() != parsed.get("image.rootfs",
                                                                         "sha256"):
            raise BundleRefused(f"payload {filename} does not match the manifest's sha256")
        with tarfile.open(payload) as tar:
            tar.extractall(root, filter="data")
        (root / "etc").mkdir(parents=True, exist_ok=True)
        (root / "etc" / "app-version").write_text(version + "\n")
        return version


class Installer:
    def __init__(self, connection: Gio.DBusConnection, root: Path, keyring: Path,
                 compatible: str) -> None:
        self.connection = connection
        self.root, self.keyring, self.compatible = root, keyring, compatible
        self.properties = {"Operation": GLib.Variant("s", "idle"),
                           "LastError": GLib.Variant("s", ""),
                           "Progress": GLib.Variant("(isi)", (0, "", 0)),
                           "Compatible": GLib.Variant("s", compatible),
                           "BootSlot": GLib.Variant("s", "A")}

    def method_call(self, _conn, _sender, _path, _iface, method, params, invocation) -> None:
        if method != "Install":
            invocation.return_dbus_error(f"{INTERFACE}.Error", f"unknown method {method}")
            return
        (source,) = params.unpack()
        invocation.return_value(None)
        GLib.idle_add(self._install, source)

    def get_property(self, _conn, _sender, _path, _iface, name):
        return self.properties[name]

    def _install(self, source: str) -> bool:
        self._set(Operation=GLib.Variant("s", "installing"),
                  Progress=GLib.Variant("(isi)", (0, "Installing", 1)))
        try:
            version = install_bundle(Path(source), root=self.root, keyring=self.keyring,
                                     compatible=self.compatible)
        except BundleRefused as refused:
            self._set(LastError=GLib.Variant("s", f"Installation error: {refused}"),
                      Operation=GLib.Variant("s", "idle"))
            self._completed(1)
            return False
        self._set(Progress=GLib.Variant("(isi)", (100, f"Installing done ({version})", 1)),
                  Operation=GLib.Variant("s", "idle"))
        self._completed(0)
        return False

    def _set(self, **changed: GLib.Variant) -> None:
        self.properties.update(changed)
        self.connection.emit_signal(
            None, "/", "org.freedesktop.DBus.Properties", "PropertiesChanged",
            GLib.Variant("(sa{sv}as)", (INTERFACE, changed, [])))

    def _completed(self, result: int) -> None:
        self.connection.emit_signal(None, "/", INTERFACE, "Completed",
                                    GLib.Variant("(i)", (result,)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--keyring", type=Path, required=True)
    parser.add_argument("--compatible", required=True)
    args = parser.parse_args()
    connection = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
    installer = Installer(connection, args.root, args.keyring, args.compatible)
    node = Gio.DBusNodeInfo.new_for_xml(INTROSPECTION)
    connection.register_object("/", node.interfaces[0], installer.method_call,
                               installer.get_property, None)
    loop = GLib.MainLoop()
    Gio.bus_own_name_on_connection(connection, NAME, Gio.BusNameOwnerFlags.NONE,
                                   lambda *_: print("ready", flush=True),
                                   lambda *_: loop.quit())
    loop.run()


if __name__ == "__main__":
    main()
